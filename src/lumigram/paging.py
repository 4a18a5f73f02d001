"""Newest-first pages, Mastodon's way: a window by id in (max_id/since_id/min_id/limit),
items with their cursors out, and the ``Link`` value that leads to the pages around one.

Every list pages like this (accounts, statuses, notifications), so it is its own module.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar
from urllib.parse import urlencode

from sqlalchemy import Select

T = TypeVar("T")

#: Mastodon's default and largest page sizes for account lists.
DEFAULT_LIMIT = 40
MAX_LIMIT = 80
#: Ids are signed 64-bit: nothing at or above this exists (and PostgreSQL would reject it).
MAX_ID = 2**63 - 1


#: The query parameters that move a window; every other one is kept in its links.
CURSORS = ("max_id", "since_id", "min_id")


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


def page_links(base: str, kept: Sequence[tuple[str, str]], page: Page[Any]) -> str | None:
    """The ``Link`` value of ``link_header`` for a request to ``base`` whose parameters,
    cursors left out, were ``kept``."""
    if not page.cursors:
        return None
    links = []
    if page.full:
        links.append(f'<{base}?{urlencode([*kept, ("max_id", str(page.cursors[-1]))])}>; rel="next"')
    links.append(f'<{base}?{urlencode([*kept, ("min_id", str(page.cursors[0]))])}>; rel="prev"')
    return ", ".join(links)


def window(query: Select[Any], column: Any, page: PageRequest, limit: int) -> tuple[Select[Any], bool]:
    """Apply max_id/since_id/min_id; True in the second place when rows come oldest first
    (min_id walks forwards) and must be reversed."""
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        return query.where(column > page.min_id).order_by(column.asc()).limit(limit), True
    return query.order_by(column.desc()).limit(limit), False
