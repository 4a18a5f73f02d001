"""The first page of each home timeline, kept rendered.

Most home reads ask for the newest page again (an app opened, a pull to refresh). That
page is stored as the exact response bytes, so a repeated read costs one cache round
trip instead of a dozen queries and the rendering (DeathStarBench's social network
answers from memcached the same way).

A page is valid for two generations: the reader's own (``feed:pagegen:{account}``) and a
global one for posts of accounts above the celebrity threshold (merged at read time, so
no fan-out would announce them). Both are read before the page is computed and stored
inside it; a reader fetches the generations and the page in one ``MGET`` and uses the
page only when they still match. ``forget`` replaces a generation, so a page computed
while that happened (even one written after it) is never served again.

What replaces the reader's generation: every feed consumer (through ``store``), and,
synchronously, the reader's own follows, blocks, mutes, hashtag follows, posts, likes and
bookmarks. Which posts a page holds is therefore always current. What only changes a
post's numbers or its author's profile (someone else's like, an edit, a new avatar) is
refreshed on a timer instead: a page is *fresh* for about ``PAGE_FRESH`` seconds (spread
a little, so pages built together do not all expire together); a reader who finds it
older still gets it, and one reader at a time (``claim_refresh``) has it rendered again
in the background. A page nobody refreshed is dropped after ``PAGE_MAX_AGE`` seconds.
Numbers shown are thus at most about ``PAGE_FRESH`` seconds plus one rendering old
while someone reads the page, and never older than ``PAGE_MAX_AGE``: eventual
consistency, as the design allows.
"""

from __future__ import annotations

import random
import secrets
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

import orjson

from lumigram.bootstrap import Services

PAGE_FRESH = 10
PAGE_MAX_AGE = 40
#: How long a reader's claim to refresh a page lasts (a failed refresh is retried after it).
_REFRESH_CLAIM_TTL = 5
#: Page sizes kept rendered: the ones clients use (as sent: ``limit=10``, ``20``, ``40``,
#: or none, which is 20). Others are always computed.
CACHED_LIMITS = (10, 20, 40)
DEFAULT_VARIANT = "default"
_CELEBRITY_GENERATION = "feed:pagegen:celebrities"
_GENERATION_TTL = 3600
_NO_GENERATION = b"0"


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    link: str | None
    #: False once the page is older than its freshness: serve it, and have it refreshed.
    fresh: bool = True


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a reader's page lives, the generations current when it was looked up, and
    the page itself when one was stored for exactly those generations."""

    key: str | None
    generations: bytes = b""
    cached: CachedPage | None = None


def _generation_key(account_id: int) -> str:
    return f"feed:pagegen:{account_id}"


def variant(limit: str | None) -> str | None:
    """Which kept page answers a request's ``limit`` parameter as sent (None: not kept).
    The parameter's absence is its own variant, because the page's Link header echoes
    the request's parameters."""
    if limit is None:
        return DEFAULT_VARIANT
    return limit if limit in {str(n) for n in CACHED_LIMITS} else None


def keys(account_id: int, page_variant: str) -> list[str]:
    """What to fetch (in one ``MGET``) to find a reader's page: see ``from_values``."""
    return [_generation_key(account_id), _CELEBRITY_GENERATION, f"feed:page:{account_id}:{page_variant}"]


def from_values(key: str, values: Sequence[bytes | None], now: float | None = None) -> Slot:
    """The slot found by fetching ``keys(...)``; ``key`` is the last of those keys."""
    own, celebrities, raw = values
    generations = (own or _NO_GENERATION) + b"/" + (celebrities or _NO_GENERATION)
    if raw is None:
        return Slot(key, generations)
    stored_length = raw[0]
    if raw[1 : 1 + stored_length] != generations:
        return Slot(key, generations)
    offset = 1 + stored_length
    fresh_until = int.from_bytes(raw[offset : offset + 8], "big")
    offset += 8
    link_length = int.from_bytes(raw[offset : offset + 2], "big")
    offset += 2
    link = raw[offset : offset + link_length].decode() if link_length else None
    fresh = (time.time() if now is None else now) * 1000 < fresh_until
    return Slot(key, generations, CachedPage(raw[offset + link_length :], link, fresh))


async def lookup(services: Services, account_id: int, page_variant: str | None) -> Slot:
    if page_variant is None:
        return Slot(None)
    wanted = keys(account_id, page_variant)
    return from_values(wanted[-1], await services.cache.get_many(wanted))


async def put(services: Services, slot: Slot, body: bytes, link: str | None, fresh_for: float | None = None) -> None:
    """Keep a rendered page, fresh for ``fresh_for`` seconds (by default about PAGE_FRESH)."""
    if slot.key is None:
        return
    encoded = (link or "").encode()
    if fresh_for is None:
        fresh_for = PAGE_FRESH * random.uniform(0.8, 1.2)  # noqa: S311 (a jitter, not a secret)
    fresh_until = int((time.time() + fresh_for) * 1000)
    header = (
        bytes([len(slot.generations)])
        + slot.generations
        + fresh_until.to_bytes(8, "big")
        + len(encoded).to_bytes(2, "big")
        + encoded
    )
    await services.cache.set(slot.key, header + body, ttl=PAGE_MAX_AGE)


async def claim_refresh(services: Services, slot: Slot) -> bool:
    """True for the one reader (across processes) who should render a stale page again."""
    if slot.key is None:
        return False
    return await services.cache.incr(f"{slot.key}:refresh", 1, ttl=_REFRESH_CLAIM_TTL) == 1


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
