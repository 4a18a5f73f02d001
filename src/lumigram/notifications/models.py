"""Records the notifications service hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from lumigram.accounts.models import Account
from lumigram.posts.models import HydratedPost

#: Mastodon's types we make, then Lumigram's extensions (namespaced, as Mastodon asks of
#: extensions): a comment on your post, and a direct message to you.
MENTION = "mention"
STATUS = "status"
FAVOURITE = "favourite"
REBLOG = "reblog"
FOLLOW = "follow"
FOLLOW_REQUEST = "follow_request"
#: A poll one made or voted in has ended.
POLL = "poll"
COMMENT = "lumigram.comment"
DIRECT = "lumigram.direct"
TYPES = (MENTION, STATUS, FAVOURITE, REBLOG, FOLLOW, FOLLOW_REQUEST, POLL, COMMENT, DIRECT)
#: Types that carry a post (the post must still be visible to the recipient).
POST_TYPES = frozenset({MENTION, STATUS, FAVOURITE, REBLOG, POLL, COMMENT, DIRECT})
#: Types about a post the sender wrote: a muted account's posts never notify (Mastodon
#: filters mentions from muted accounts whatever the mute's notifications switch).
AUTHORED = frozenset({MENTION, STATUS, COMMENT, DIRECT})
#: Types whose notifications are shown as one ("alice and 12 others liked your post"),
#: as Mastodon 4.3 groups favourites, reblogs and follows.
GROUPABLE = (FAVOURITE, REBLOG, FOLLOW)
#: Mastodon's page size for notifications, and its largest.
DEFAULT_LIMIT = 40
MAX_LIMIT = 80


@dataclass(frozen=True, slots=True)
class Notification:
    id: int
    type: str
    created_at: datetime
    group_key: str
    account: Account
    status: HydratedPost | None = None


@dataclass(frozen=True, slots=True)
class Filter:
    """Which notifications a listing shows: ``types`` (None: every type), minus
    ``exclude_types``, optionally only those from ``account_id``."""

    types: frozenset[str] | None = None
    exclude_types: frozenset[str] = frozenset()
    account_id: int | None = None


@dataclass(frozen=True, slots=True)
class NotificationPage:
    """Notifications newest first. ``newest_id``/``oldest_id`` bound what was read (a
    notification hidden from the page still moves the cursor past it); ``more`` is
    False once the list is known to end here."""

    items: list[Notification] = field(default_factory=list)
    newest_id: int | None = None
    oldest_id: int | None = None
    more: bool = False


@dataclass(frozen=True, slots=True)
class Group:
    """Mastodon 4.3's NotificationGroup, with the records to render it."""

    group_key: str
    type: str
    notifications_count: int
    most_recent_notification_id: int
    page_min_id: int
    page_max_id: int
    latest_page_notification_at: datetime
    sample_accounts: list[Account]
    status: HydratedPost | None = None


@dataclass(frozen=True, slots=True)
class GroupPage:
    groups: list[Group] = field(default_factory=list)
    newest_id: int | None = None
    oldest_id: int | None = None
    more: bool = False


@dataclass(frozen=True, slots=True)
class Marker:
    timeline: str
    last_read_id: int
    version: int
    updated_at: datetime
