"""Trends computed once a minute, not once a request.

A trend ranking reads a week of hashtag uses or two days of likes and comments, and it
is the same for every reader: only the page sliced from it, the reader's follows and the
accounts they hide differ. So each ranking (hashtags, posts) is kept in the cache port
under one key per kind, with the time it was computed (``ahead.stamp``), and every page
and reader is cut from it.

Once a ranking is ``TTL_SECONDS`` old the next read starts its renewal in the
background and is answered from the kept one, as every read is until the renewal has
stored the new one (``lumigram.ahead``'s way): on the 1M-post world a hashtag
ranking takes half a second, and readers waited for it once a minute while it expired.
A ranking is kept ``ahead.KEEP_FACTOR`` times longer than it is fresh, so only reads
after a quiet spell find none. Reads in one process that find none wait for the one
computation under way instead of each starting their own. Hiding something from trends
forgets both rankings, so an admin's hide shows at once; it also renews a generation
token, and a computation stores its ranking only if the token is still the one it
started under, so a ranking computed before the hide never outlives it.
"""

from __future__ import annotations

import secrets
from collections.abc import Awaitable, Callable
from typing import TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram import ahead
from lumigram.infra.cache import Swap
from lumigram.search.trends import TrendingPost, TrendingTag, trending_posts, trending_tags
from lumigram.services import Services

TTL_SECONDS = 60
#: The format's version is in the key, so a server of another version never reads it.
TAGS_KEY = "trends:v2:tags"
POSTS_KEY = "trends:v2:statuses"
#: Renewed by every hide; a ranking is stored only under the token it was computed under.
GENERATION_KEY = "trends:v1:generation"

T = TypeVar("T")


async def _generation(services: Services) -> bytes:
    """The current generation token, made first if there is none yet."""
    token = await services.cache.get(GENERATION_KEY)
    if token is None:
        await services.cache.swap_many([Swap(GENERATION_KEY, None, b"0", None, {})])  # unless a hide made one
        token = await services.cache.get(GENERATION_KEY)
    return token or b"0"


async def _ranking(
    services: Services,
    key: str,
    compute: Callable[[AsyncConnection], Awaitable[list[T]]],
    encode: Callable[[T], list[object]],
) -> bytes:
    async def fresh() -> bytes:
        generation = await _generation(services)
        async with services.db.connect_unhurried() as conn:
            found = await compute(conn)
        value = orjson.dumps([encode(item) for item in found])
        kept = ahead.stamped(value, services.now().timestamp())
        # Stored only if no hide renewed the token meanwhile (then the next read computes).
        await services.cache.swap_many(
            [Swap(GENERATION_KEY, generation, generation, None, {key: (kept, TTL_SECONDS * ahead.KEEP_FACTOR)})]
        )
        return value

    return await ahead.read_kept(services, key, TTL_SECONDS, fresh)


async def tags(services: Services) -> list[TrendingTag]:
    """Trending hashtags, best first (``trends.trending_tags``), about a minute old at most
    (see the module)."""
    raw = await _ranking(services, TAGS_KEY, trending_tags, lambda t: [t.id, t.name, t.score, t.recent, t.baseline])
    return [TrendingTag(int(i), str(name), float(s), float(r), float(b)) for i, name, s, r, b in orjson.loads(raw)]


async def posts(services: Services) -> list[TrendingPost]:
    """Trending posts, best first (``trends.trending_posts``), about a minute old at most
    (see the module)."""
    raw = await _ranking(services, POSTS_KEY, trending_posts, lambda p: [p.id, p.score])
    return [TrendingPost(int(i), float(score)) for i, score in orjson.loads(raw)]


async def forget(services: Services) -> None:
    """Drop the kept rankings, and any computed before now (see the module)."""
    await services.cache.set(GENERATION_KEY, secrets.token_hex(8).encode())
    await services.cache.delete(TAGS_KEY, POSTS_KEY)
    for key in (TAGS_KEY, POSTS_KEY):
        ahead.forget_pending(services, key)
