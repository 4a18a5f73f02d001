"""Records the post service hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from lumigram.accounts.models import Account
from lumigram.uploads.models import MediaRecord

VISIBILITIES = ("public", "unlisted", "private", "direct")
#: An album holds at most ten photos or videos, as on Instagram and Mastodon 4.x.
MAX_MEDIA = 10


@dataclass(frozen=True, slots=True)
class Post:
    id: int
    account_id: int
    in_reply_to_id: int | None
    in_reply_to_account_id: int | None
    text: str
    spoiler_text: str
    sensitive: bool
    visibility: str
    language: str | None
    kind: str
    comments_disabled: bool
    replies_count: int
    favourites_count: int
    reblogs_count: int
    created_at: datetime
    edited_at: datetime | None
    #: Whether a poll hangs from it (``HydratedPost.poll`` then holds it).
    has_poll: bool = False
    #: Times a reel was played (folded in periodically; 0 for other posts).
    plays_count: int = 0


@dataclass(frozen=True, slots=True)
class PollDraft:
    """A poll asked for with a new post, already checked (``lumigram.polls.models``)."""

    options: tuple[str, ...]
    #: Seconds from posting until voting ends.
    expires_in: int
    multiple: bool = False
    hide_totals: bool = False


@dataclass(frozen=True, slots=True)
class PollView:
    """A post's poll as read: its options with their counts, and the viewer's choices."""

    id: int
    account_id: int
    options: tuple[str, ...]
    #: Votes for each option, in the order of ``options``.
    counts: tuple[int, ...]
    votes_count: int
    voters_count: int
    multiple: bool
    hide_totals: bool
    expires_at: datetime
    #: The options the viewer chose (empty: not voted); None for an anonymous reader.
    own_votes: tuple[int, ...] | None


@dataclass(frozen=True, slots=True)
class Mention:
    id: int
    username: str


@dataclass(frozen=True, slots=True)
class Thread:
    """What is above a comment, as far as its audience goes (``lumigram.posts.threads``)."""

    #: The post the thread hangs from; None when a post above the comment is gone.
    root_id: int | None
    #: The authors of the posts above the comment, the thread's post's included.
    accounts: frozenset[int]
    #: Whether the thread's post's author is locked (its photos are then private too).
    locked: bool


@dataclass(frozen=True, slots=True)
class Repost:
    """Who reposted a post into a feed, and when: ``id`` is the repost's own id (its place
    in feeds and its page cursor)."""

    id: int
    account: Account
    created_at: datetime


@dataclass(frozen=True, slots=True)
class FilterMatch:
    """One of the viewer's hidden-word filters a post matched, and with which keywords."""

    filter_id: int
    title: str
    contexts: tuple[str, ...]
    action: str
    expires_at: datetime | None
    keywords: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class HydratedPost:
    """A post with everything a client shows: author, media, tags, mentions and the
    viewer's own state."""

    post: Post
    account: Account
    media: list[MediaRecord] = field(default_factory=list)
    tags: list[str] = field(default_factory=list)
    mentions: list[Mention] = field(default_factory=list)
    pinned: bool = False
    favourited: bool = False
    bookmarked: bool = False
    #: For a comment, what is above it; None for a post.
    thread: Thread | None = None
    #: Whether the viewer reposted it.
    reblogged: bool = False
    #: Set when this item is a repost of the post into a feed (Mastodon's reblog wrapper).
    repost: Repost | None = None
    #: The viewer's warn filters it matched, where the read applies them.
    filtered: tuple[FilterMatch, ...] = ()
    #: Its poll, if it has one.
    poll: PollView | None = None

    @property
    def key(self) -> int:
        """Its place in a timeline: the repost's id for a repost, else the post's."""
        return self.repost.id if self.repost is not None else self.post.id


@dataclass(frozen=True, slots=True)
class MediaChange:
    """Alt text or focus of one attached photo, changed with an edit."""

    id: int
    description: str | None = None
    focus: tuple[float, float] | None = None


@dataclass(frozen=True, slots=True)
class Draft:
    """What a client sends to make a post or a comment."""

    text: str = ""
    media_ids: list[int] = field(default_factory=list)
    in_reply_to_id: int | None = None
    visibility: str | None = None
    sensitive: bool = False
    spoiler_text: str = ""
    language: str | None = None
    comments_disabled: bool = False
    poll: PollDraft | None = None
    #: Post it as a reel (``lumigram.posts.reel_rules``).
    reel: bool = False


@dataclass(frozen=True, slots=True)
class Edit:
    """An edit: None leaves a field as it is."""

    text: str | None = None
    spoiler_text: str | None = None
    sensitive: bool | None = None
    media_ids: list[int] | None = None
    media_changes: list[MediaChange] = field(default_factory=list)
    language: str | None = None
    comments_disabled: bool | None = None


@dataclass(frozen=True, slots=True)
class Version:
    """One entry of a post's edit history."""

    text: str
    spoiler_text: str
    sensitive: bool
    media: list[dict[str, Any]]
    created_at: datetime
    account: Account
