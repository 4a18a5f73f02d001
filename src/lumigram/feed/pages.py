"""The first page of each home timeline, kept rendered for a few seconds.

Most home reads ask for the newest page again (an app opened, a pull to refresh). That
page is stored as the exact response bytes for ``PAGE_TTL`` seconds, so a repeated read
costs two cache round trips instead of a dozen queries and the rendering (DeathStarBench's
social network answers from memcached the same way).

Pages are keyed by two generations read before the page is computed: the reader's own
(``feed:pagegen:{account}``) and a global one for posts of accounts above the celebrity
threshold (merged at read time, so no fan-out would announce them). ``forget`` replaces
a generation; a page computed while that happened is stored under the old one, which no
reader asks for again, so a stale page can never be put back after an invalidation.

What replaces the reader's generation: every feed consumer (through ``store``), and,
synchronously, the reader's own follows, blocks, mutes, hashtag follows, posts, likes and
bookmarks. What only changes a post's numbers or its author's profile (someone else's
like, an edit, a new avatar) shows within ``PAGE_TTL`` seconds: eventual consistency, as
the design allows.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass

import orjson

from lumigram.bootstrap import Services

PAGE_TTL = 10
#: Page sizes kept rendered: the ones clients use. Others are always computed.
CACHED_LIMITS = (10, 20, 40)
_CELEBRITY_GENERATION = "feed:pagegen:celebrities"
_GENERATION_TTL = 3600


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    link: str | None


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a reader's page lives for the generations current when it was looked up."""

    key: str | None
    cached: CachedPage | None = None


def _generation_key(account_id: int) -> str:
    return f"feed:pagegen:{account_id}"


async def lookup(services: Services, account_id: int, limit: int) -> Slot:
    if limit not in CACHED_LIMITS:
        return Slot(None)
    own, celebrities = await services.cache.get_many([_generation_key(account_id), _CELEBRITY_GENERATION])
    key = f"feed:page:{account_id}:{limit}:{(own or b'0').decode()}:{(celebrities or b'0').decode()}"
    raw = await services.cache.get(key)
    if raw is None:
        return Slot(key)
    link_length = int.from_bytes(raw[:2], "big")
    link = raw[2 : 2 + link_length].decode() if link_length else None
    return Slot(key, CachedPage(raw[2 + link_length :], link))


async def put(services: Services, slot: Slot, body: bytes, link: str | None) -> None:
    if slot.key is None:
        return
    encoded = (link or "").encode()
    await services.cache.set(slot.key, len(encoded).to_bytes(2, "big") + encoded + body, ttl=PAGE_TTL)


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
