"""The first page of each home timeline, kept rendered for a few seconds.

Most home reads ask for the newest page again (an app opened, a pull to refresh). That
page is stored as the exact response bytes for ``PAGE_TTL`` seconds, so a repeated read
costs one cache round trip instead of a dozen queries and the rendering (DeathStarBench's
social network answers from memcached the same way).

A page is valid for two generations: the reader's own (``feed:pagegen:{account}``) and a
global one for posts of accounts above the celebrity threshold (merged at read time, so
no fan-out would announce them). Both are read before the page is computed and stored
inside it; a reader fetches the generations and the page in one ``MGET`` and uses the
page only when they still match. ``forget`` replaces a generation, so a page computed
while that happened (even one written after it) is never served again.

What replaces the reader's generation: every feed consumer (through ``store``), and,
synchronously, the reader's own follows, blocks, mutes, hashtag follows, posts, likes and
bookmarks. What only changes a post's numbers or its author's profile (someone else's
like, an edit, a new avatar) shows within ``PAGE_TTL`` seconds: eventual consistency, as
the design allows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from lumigram.bootstrap import Services

PAGE_TTL = 10
#: Page sizes kept rendered: the ones clients use. Others are always computed.
CACHED_LIMITS = (10, 20, 40)
_CELEBRITY_GENERATION = "feed:pagegen:celebrities"
_GENERATION_TTL = 3600
_NO_GENERATION = b"0"


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    link: str | None


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a reader's page lives, the generations current when it was looked up, and
    the page itself when one was stored for exactly those generations."""

    key: str | None
    generations: bytes = b""
    cached: CachedPage | None = None


def _generation_key(account_id: int) -> str:
    return f"feed:pagegen:{account_id}"


def keys(account_id: int, limit: int) -> list[str]:
    """What to fetch (in one ``MGET``) to find a reader's page: see ``from_values``."""
    return [_generation_key(account_id), _CELEBRITY_GENERATION, f"feed:page:{account_id}:{limit}"]


def from_values(key: str, values: Sequence[bytes | None]) -> Slot:
    """The slot found by fetching ``keys(...)``; ``key`` is the last of those keys."""
    own, celebrities, raw = values
    generations = (own or _NO_GENERATION) + b"/" + (celebrities or _NO_GENERATION)
    if raw is None:
        return Slot(key, generations)
    stored_length = raw[0]
    if raw[1 : 1 + stored_length] != generations:
        return Slot(key, generations)
    offset = 1 + stored_length
    link_length = int.from_bytes(raw[offset : offset + 2], "big")
    offset += 2
    link = raw[offset : offset + link_length].decode() if link_length else None
    return Slot(key, generations, CachedPage(raw[offset + link_length :], link))


async def lookup(services: Services, account_id: int, limit: int) -> Slot:
    if limit not in CACHED_LIMITS:
        return Slot(None)
    wanted = keys(account_id, limit)
    return from_values(wanted[-1], await services.cache.get_many(wanted))


async def put(services: Services, slot: Slot, body: bytes, link: str | None) -> None:
    if slot.key is None:
        return
    encoded = (link or "").encode()
    header = bytes([len(slot.generations)]) + slot.generations + len(encoded).to_bytes(2, "big") + encoded
    await services.cache.set(slot.key, header + body, ttl=PAGE_TTL)


async def forget(services: Services, account_ids: Iterable[int]) -> None:
    """Make these readers' rendered pages unreachable (one round trip for any number)."""
    fresh = secrets.token_hex(4).encode()
    wanted = {_generation_key(account): fresh for account in set(account_ids)}
    if wanted:
        await services.cache.set_many(wanted, ttl=_GENERATION_TTL)


async def forget_celebrity_posts(services: Services) -> None:
    """A post by an account above the fan-out threshold: every rendered page may miss it."""
    await services.cache.set(_CELEBRITY_GENERATION, secrets.token_hex(4).encode(), ttl=_GENERATION_TTL)


def dumps(body: object) -> bytes:
    return orjson.dumps(body)
