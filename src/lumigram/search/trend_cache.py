"""Trends computed once a minute, not once a request.

A trend ranking reads a week of hashtag uses or two days of likes and comments, and it
is the same for every reader: only the page sliced from it, the reader's follows and the
accounts they hide differ. So each ranking (hashtags, posts) is kept in the cache port
for ``TTL_SECONDS`` under one key per kind, and every page and reader is cut from it.

Concurrent reads in one process that find the ranking missing wait for the one
computation under way instead of each starting their own, so a burst of reads after
the ranking expired costs one computation per process. Hiding something from trends
forgets both rankings, so an admin's hide shows at once; it also renews a generation
token, and a computation stores its ranking only if the token is still the one it
started under, so a ranking computed before the hide never outlives it.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Awaitable, Callable, Coroutine
from typing import Any, TypeVar

import orjson
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.cache import Swap
from lumigram.search.trends import TrendingPost, TrendingTag, trending_posts, trending_tags
from lumigram.services import Services

TTL_SECONDS = 60
#: The format's version is in the key, so a server of another version never reads it.
TAGS_KEY = "trends:v1:tags"
POSTS_KEY = "trends:v1:statuses"
#: Renewed by every hide; a ranking is stored only under the token it was computed under.
GENERATION_KEY = "trends:v1:generation"

T = TypeVar("T")

#: (the database's identity, cache key) → the computation under way in this process.
_pending: dict[tuple[int, str], asyncio.Task[bytes]] = {}


def _settled(task: asyncio.Task[bytes]) -> None:
    if not task.cancelled():
        task.exception()  # seen here, so a failure every reader gave up on is not logged as lost


async def _computed_once(services: Services, key: str, compute: Callable[[], Coroutine[Any, Any, bytes]]) -> bytes:
    """The computation's bytes, started by the first caller; later callers wait for it.

    It runs as a task of its own, so a caller that goes away (a client hanging up)
    does not cancel it under the others."""
    slot = (id(services.db), key)
    running = _pending.get(slot)
    if running is None:
        running = services.spawn(compute(), name=f"trends {key}")
        _pending[slot] = running
        running.add_done_callback(_settled)
        running.add_done_callback(lambda done: _pending.pop(slot) if _pending.get(slot) is done else None)
    return await asyncio.shield(running)


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
    kept = await services.cache.get(key)
    if kept is not None:
        return kept

    async def fresh() -> bytes:
        generation = await _generation(services)
        async with services.db.connect() as conn:
            found = await compute(conn)
        value = orjson.dumps([encode(item) for item in found])
        # Stored only if no hide renewed the token meanwhile (then the next read computes).
        await services.cache.swap_many(
            [Swap(GENERATION_KEY, generation, generation, None, {key: (value, TTL_SECONDS)})]
        )
        return value

    return await _computed_once(services, key, fresh)


async def tags(services: Services) -> list[TrendingTag]:
    """Trending hashtags, best first (``trends.trending_tags``), at most a minute old."""
    raw = await _ranking(services, TAGS_KEY, trending_tags, lambda t: [t.id, t.name, t.score, t.recent, t.baseline])
    return [TrendingTag(int(i), str(name), float(s), float(r), float(b)) for i, name, s, r, b in orjson.loads(raw)]


async def posts(services: Services) -> list[TrendingPost]:
    """Trending posts, best first (``trends.trending_posts``), at most a minute old."""
    raw = await _ranking(services, POSTS_KEY, trending_posts, lambda p: [p.id, p.score])
    return [TrendingPost(int(i), float(score)) for i, score in orjson.loads(raw)]


async def forget(services: Services) -> None:
    """Drop the kept rankings, and any computed before now (see the module)."""
    await services.cache.set(GENERATION_KEY, secrets.token_hex(8).encode())
    await services.cache.delete(TAGS_KEY, POSTS_KEY)
    for key in (TAGS_KEY, POSTS_KEY):
        _pending.pop((id(services.db), key), None)
