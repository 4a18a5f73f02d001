"""OAuth scopes, Mastodon's set: broad (``read``), granular (``read:accounts``) and admin ones.

A broad scope covers its granular children (``read`` covers ``read:statuses``;
``admin:read`` covers ``admin:read:accounts``). The deprecated ``follow`` covers the
follow/block/mute children, and ``profile`` is covered by ``read:accounts``.
"""

from __future__ import annotations

from collections.abc import Iterable

_READ = (
    "accounts",
    "blocks",
    "bookmarks",
    "favourites",
    "filters",
    "follows",
    "lists",
    "mutes",
    "notifications",
    "search",
    "statuses",
)
_WRITE = (
    "accounts",
    "blocks",
    "bookmarks",
    "conversations",
    "favourites",
    "filters",
    "follows",
    "lists",
    "media",
    "mutes",
    "notifications",
    "reports",
    "statuses",
)
_ADMIN = (
    "accounts",
    "reports",
    "domain_allows",
    "domain_blocks",
    "ip_blocks",
    "email_domain_blocks",
    "canonical_email_blocks",
)

BROAD_SCOPES = ("read", "write", "follow", "push", "profile", "admin:read", "admin:write")

ALL_SCOPES: tuple[str, ...] = (
    *BROAD_SCOPES,
    *(f"read:{name}" for name in _READ),
    *(f"write:{name}" for name in _WRITE),
    *(f"admin:read:{name}" for name in _ADMIN),
    *(f"admin:write:{name}" for name in _ADMIN),
)
KNOWN_SCOPES = frozenset(ALL_SCOPES)

#: Mastodon's legacy ``follow`` scope stands for these.
FOLLOW_SCOPES = frozenset({"read:blocks", "read:follows", "read:mutes", "write:blocks", "write:follows", "write:mutes"})

DEFAULT_SCOPES = ("read",)


class InvalidScope(ValueError):
    """A scope string names something we do not know."""


def parse_scopes(value: str | Iterable[str] | None, default: tuple[str, ...] = DEFAULT_SCOPES) -> tuple[str, ...]:
    """Split a space- (or ``+``-) separated scope string, de-duplicated in order; raises InvalidScope."""
    if value is None:
        return default
    parts = value.replace("+", " ").split() if isinstance(value, str) else [str(part) for part in value]
    if not parts:
        return default
    seen: dict[str, None] = {}
    for part in parts:
        if part not in KNOWN_SCOPES:
            raise InvalidScope(part)
        seen[part] = None
    return tuple(seen)


def _covering(scope: str) -> Iterable[str]:
    """Every scope that, held, allows ``scope``: itself and its ancestors."""
    yield scope
    head = scope
    while ":" in head:
        head = head.rsplit(":", 1)[0]
        yield head
    if scope in FOLLOW_SCOPES:
        yield "follow"
    if scope == "profile":
        yield from ("read:accounts", "read")


def grants(held: Iterable[str], required: str) -> bool:
    """Whether holding ``held`` allows ``required``."""
    held_set = held if isinstance(held, frozenset | set) else frozenset(held)
    return any(scope in held_set for scope in _covering(required))


def grants_any(held: Iterable[str], alternatives: Iterable[str]) -> bool:
    held_set = frozenset(held)
    return any(grants(held_set, scope) for scope in alternatives)


def within(requested: Iterable[str], allowed: Iterable[str]) -> bool:
    """Whether every requested scope is allowed (granular scopes fall within broad ones)."""
    allowed_set = frozenset(allowed)
    return all(grants(allowed_set, scope) for scope in requested)


#: What reading posts and timelines needs.
READ_STATUSES = ("read:statuses",)
