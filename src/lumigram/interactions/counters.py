"""Like counts that stay cheap under a burst of likes on one post.

A like never touches its post's row: the request writes the ``favourites`` row and the
outbox event, and adds ±1 to the cache counter ``count:fav:{status_id}`` just before it
commits (taking it back if the commit fails), so the counter holds the likes not yet
folded into ``statuses.favourites_count`` by the time any consumer sees the event. Readers show
the column (read with the row anyway) plus that pending delta, so the liker sees their
like at once while concurrent likes of a viral post do not queue on one row lock.

The ``interactions.counters`` consumer folds each event in: it recomputes the column
from the ``favourites`` table (so it is idempotent and repairs any drift), then cancels
the request's ±1 in the cache. Between the two steps a reader may see the count off by
the likes in flight; once the consumer has caught up, column + delta is exact again.
If the cache loses a delta (restart, eviction, the key's TTL), the column alone is still
right as soon as the consumer has run; the TTL bounds how long a stray delta can last.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from sqlalchemy import func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.bootstrap import Services
from lumigram.infra.tables import favourites, statuses
from lumigram.posts.models import HydratedPost

log = logging.getLogger(__name__)

#: Seconds a pending delta lives. The consumer folds a like in within milliseconds; the
#: TTL only limits how long a delta stranded by a crash can skew the shown count.
DELTA_TTL = 300


def favourites_key(status_id: int) -> str:
    return f"count:fav:{status_id}"


async def bump(services: Services, status_id: int, delta: int) -> None:
    """Record a committed like (+1) or unlike (-1) as pending. Best effort: the like is
    already committed, and the consumer brings the column up to date without this."""
    try:
        await services.cache.incr(favourites_key(status_id), delta, ttl=DELTA_TTL)
    except Exception:
        log.warning("could not record a pending like count for %s", status_id, exc_info=True)




def parse_pending(status_ids: Sequence[int], values: Sequence[bytes | None]) -> dict[int, int]:
    """The deltas among fetched ``favourites_key(i)`` values."""
    deltas: dict[int, int] = {}
    for status_id, raw in zip(status_ids, values, strict=True):
        if raw is None:
            continue
        try:
            deltas[status_id] = int(raw)
        except ValueError:
            continue
    return deltas


def with_pending(items: list[HydratedPost], deltas: dict[int, int]) -> list[HydratedPost]:
    """``items`` with each favourites_count raised (or lowered) by its pending delta.

    Read the deltas *before* the rows: the consumer commits the column first and
    cancels the delta second, so in this order a reader can never miss a like that is in
    neither (it may count one twice for the instant between the consumer's two steps).
    """
    if not deltas:
        return items
    result = []
    for item in items:
        delta = deltas.get(item.post.id, 0)
        if delta:
            shown = max(0, item.post.favourites_count + delta)
            item = dataclasses.replace(item, post=dataclasses.replace(item.post, favourites_count=shown))
        result.append(item)
    return result


async def recount_favourites(conn: AsyncConnection, status_id: int) -> None:
    """Set the post's favourites_count to the number of its likes, inside ``conn``'s transaction."""
    if conn.dialect.name == "postgresql":
        # Lock first, count second: each count then runs after every earlier recount has
        # committed, so a slow recount cannot overwrite a newer one with an older number.
        await conn.execute(select(statuses.c.id).where(statuses.c.id == status_id).with_for_update())
    count = select(func.count()).select_from(favourites).where(favourites.c.status_id == status_id).scalar_subquery()
    await conn.execute(update(statuses).where(statuses.c.id == status_id).values(favourites_count=count))
