"""What the message service hands out: threads as one member sees them, and messages."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lumigram.accounts.models import Account
from lumigram.posts.models import HydratedPost
from lumigram.stories.models import Story
from lumigram.uploads.models import MediaRecord

#: Where a thread shows for a member.
INBOX, REQUESTS, DECLINED = "inbox", "requests", "declined"
FOLDERS = (INBOX, REQUESTS)
#: Who may start a thread with an account.
ACCEPT_EVERYONE, ACCEPT_FOLLOWED, ACCEPT_NOBODY = "everyone", "followed", "nobody"
ACCEPT_CHOICES = (ACCEPT_EVERYONE, ACCEPT_FOLLOWED, ACCEPT_NOBODY)
DIRECT, GROUP = "direct", "group"


@dataclass(frozen=True, slots=True)
class Member:
    account_id: int
    admin: bool
    folder: str
    muted: bool
    last_read_id: int


@dataclass(frozen=True, slots=True)
class Reaction:
    account_id: int
    emoji: str


@dataclass(frozen=True, slots=True)
class Message:
    id: int
    thread_id: int
    account_id: int
    text: str
    created_at: datetime
    edited_at: datetime | None
    unsent: bool
    media: list[MediaRecord] = field(default_factory=list)
    #: The shared post, if the viewer may see it (None otherwise, or when none was shared).
    shared_post: HydratedPost | None = None
    shared_account: Account | None = None
    reactions: list[Reaction] = field(default_factory=list)
    #: The story this message replies to, if any; ``story`` only while it is live and the
    #: viewer may see it.
    story_id: int | None = None
    story: Story | None = None


@dataclass(frozen=True, slots=True)
class Thread:
    """A thread as ``viewer_id`` sees it."""

    id: int
    kind: str
    name: str
    created_by: int
    created_at: datetime
    viewer_id: int
    members: list[Member]
    accounts: list[Account]
    unread_count: int
    last_message: Message | None

    @property
    def me(self) -> Member:
        return next(m for m in self.members if m.account_id == self.viewer_id)


@dataclass(frozen=True, slots=True)
class Sent:
    """A message just sent, as its sender sees it (built from what the send wrote), with
    whom it is for: ``audience`` (members who have not declined the thread) and
    ``requested`` (those of them it has just opened a request for)."""

    message: Message
    audience: list[int]
    requested: list[int]
    #: Whether the caller is to publish it to the members' open streams (one rendering
    #: for all of them: no shared post, which each member sees as they may).
    streamed: bool


@dataclass(frozen=True, slots=True)
class Edit:
    text: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class Unread:
    """Unread messages in the inbox (``total``, and in how many threads) and pending requests."""

    total: int
    threads: int
    requests: int
