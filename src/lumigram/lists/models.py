"""Records the lists service hands out and takes in."""

from __future__ import annotations

from dataclasses import dataclass

#: Mastodon's replies policies: which replies a list timeline shows.
REPLIES_POLICIES = ("followed", "list", "none")
MAX_TITLE = 100
#: Lists per account, and members per list (Mastodon's own limits are of this order).
MAX_LISTS = 100
MAX_MEMBERS = 1000
#: The title of the close-friends list made for an account that adds a close friend without one.
CLOSE_FRIENDS_TITLE = "Close friends"


@dataclass(frozen=True, slots=True)
class AccountList:
    id: int
    account_id: int
    title: str
    replies_policy: str
    exclusive: bool
    #: The owner's close-friends list (at most one per account): an audience for stories.
    close_friends: bool


@dataclass(frozen=True, slots=True)
class ListDraft:
    """A list to make, or (None: unchanged) the change to one."""

    title: str | None = None
    replies_policy: str | None = None
    exclusive: bool | None = None
    close_friends: bool | None = None
