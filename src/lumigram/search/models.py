"""Records the search package hands out."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date
from typing import Any

from lumigram.accounts.models import Account
from lumigram.posts.models import HydratedPost

TYPES = ("accounts", "hashtags", "statuses")
MAX_LIMIT = 40
#: How deep ``offset`` may page into one kind of result.
MAX_OFFSET = 10_000


@dataclass(frozen=True, slots=True)
class SearchRequest:
    q: str
    type: str | None = None
    limit: int = 20
    offset: int = 0
    following: bool = False
    account_id: int | None = None
    min_id: int | None = None
    max_id: int | None = None


@dataclass(frozen=True, slots=True)
class AccountHit:
    account: Account
    following: bool
    score: float


@dataclass(frozen=True, slots=True)
class TagDay:
    day: date
    uses: int
    accounts: int


@dataclass(frozen=True, slots=True)
class TagHit:
    id: int
    name: str
    #: Posts tagged with it, all time.
    uses: int
    history: list[TagDay] = field(default_factory=list)
    following: bool = False


@dataclass(frozen=True, slots=True)
class Results:
    accounts: list[AccountHit] = field(default_factory=list)
    hashtags: list[TagHit] = field(default_factory=list)
    statuses: list[HydratedPost] = field(default_factory=list)
    #: The posts found as the viewer's Statuses, instead of ``statuses``, when asked for.
    rendered_statuses: list[dict[str, Any]] = field(default_factory=list)
