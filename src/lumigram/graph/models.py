"""Immutable records the graph service hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Generic, TypeVar

from lumigram.accounts.models import Account

T = TypeVar("T")

#: Mastodon's default and largest page sizes for account lists.
DEFAULT_LIMIT = 40
MAX_LIMIT = 80
#: Ids are signed 64-bit: nothing at or above this exists (and PostgreSQL would reject it).
MAX_ID = 2**63 - 1


@dataclass(frozen=True, slots=True)
class Relationship:
    """How ``viewer`` and the account ``id`` relate (Mastodon's Relationship, minus constants)."""

    id: int
    following: bool = False
    showing_reblogs: bool = False
    notifying: bool = False
    followed_by: bool = False
    blocking: bool = False
    blocked_by: bool = False
    muting: bool = False
    muting_notifications: bool = False
    requested: bool = False
    requested_by: bool = False


@dataclass(frozen=True, slots=True)
class PageRequest:
    """A window on a newest-first list, by edge id (Mastodon's max_id/since_id/min_id).

    ``max_id``: older than; ``since_id``: newer than, newest first; ``min_id``: newer
    than, the ones just after it (for walking forwards).
    """

    max_id: int | None = None
    since_id: int | None = None
    min_id: int | None = None
    limit: int = DEFAULT_LIMIT

    def clamped_limit(self) -> int:
        return max(1, min(self.limit, MAX_LIMIT))

    def is_empty(self) -> bool:
        """True when no id could satisfy the window (a lower bound past the last possible id)."""
        return any(bound is not None and bound >= MAX_ID for bound in (self.since_id, self.min_id))


@dataclass(frozen=True, slots=True)
class Page(Generic[T]):
    """Items newest first, each with its cursor (the edge id) in ``cursors``."""

    items: list[T] = field(default_factory=list)
    cursors: list[int] = field(default_factory=list)
    limit: int = DEFAULT_LIMIT

    @property
    def full(self) -> bool:
        """A full page: there may be more past its end."""
        return len(self.items) >= self.limit


@dataclass(frozen=True, slots=True)
class MutedAccount:
    """An entry of the mutes list: the account and when its mute ends (None: never)."""

    account: Account
    expires_at: datetime | None
