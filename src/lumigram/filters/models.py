"""Records the hidden-words service hands out and takes in."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

#: Where a filter can apply, as Mastodon names the places.
CONTEXTS = ("home", "notifications", "public", "thread", "account")
#: What a match does: show the post behind a warning, or leave it out.
ACTIONS = ("warn", "hide")
MAX_TITLE = 200
MAX_KEYWORD = 200
#: Filters per account, and keywords per filter: bounds on what each read matches.
MAX_FILTERS = 100
MAX_KEYWORDS = 100


@dataclass(frozen=True, slots=True)
class Keyword:
    id: int
    filter_id: int
    keyword: str
    whole_word: bool


@dataclass(frozen=True, slots=True)
class Filter:
    id: int
    account_id: int
    title: str
    contexts: tuple[str, ...]
    action: str
    expires_at: datetime | None
    keywords: list[Keyword] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class KeywordChange:
    """A keyword to add (``id`` None), change, or remove (``destroy``)."""

    keyword: str | None = None
    whole_word: bool | None = None
    id: int | None = None
    destroy: bool = False


@dataclass(frozen=True, slots=True)
class FilterDraft:
    """A filter to make, or (with None for what stays) the change to one.

    ``expires_in``: seconds from now; 0 clears the expiry; None leaves it as it is."""

    title: str | None = None
    contexts: tuple[str, ...] | None = None
    action: str | None = None
    expires_in: int | None = None
    keywords: list[KeywordChange] = field(default_factory=list)
