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

The pending counter can vanish with events still in flight (a restart, eviction, a
flush, its TTL). A cancel must then not land on a counter that never held its ±1: with
the worker behind, eight cancels on an empty key made it -8 and hid eight likes the
column already counted. So each counter is tagged when it is made, the event carries
the tag its ±1 went into, and the consumer cancels only in that same counter
(``Cache.incr_if_tagged``). A lost counter is rebuilt from the database: with no key the
count shown is the column alone, and the next like starts a new counter at its own ±1.
Likes in flight when it was lost show once the consumer has folded them in.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence

from sqlalchemy import BigInteger, bindparam, func, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram import ids
from lumigram.infra.cache import parse_tagged
from lumigram.infra.sql import Prebuilt
from lumigram.infra.tables import favourites, statuses
from lumigram.posts.models import HydratedPost
from lumigram.services import Services

log = logging.getLogger(__name__)

#: Seconds a pending delta lives. The consumer folds a like in within milliseconds; the
#: TTL only limits how long a delta stranded by a crash can skew the shown count.
DELTA_TTL = 300


def favourites_key(status_id: int) -> str:
    return f"count:fav:{status_id}"


#: The event payload field naming the pending counter the request's ±1 went into.
TAG_FIELD = "count_tag"


def new_tag() -> str:
    return ids.token(6)


async def bump(services: Services, status_id: int, delta: int) -> str | None:
    """Record a like (+1) or unlike (-1) about to commit as pending; the tag of the counter
    it went into (for the event, so the consumer cancels it there), None if the cache
    failed. Best effort: the consumer brings the column up to date without this."""
    try:
        return await services.cache.incr_tagged(favourites_key(status_id), delta, new_tag(), DELTA_TTL)
    except Exception:
        log.warning("could not record a pending like count for %s", status_id, exc_info=True)
        return None


async def cancel(services: Services, status_id: int, delta: int, tag: object) -> None:
    """Add ``delta`` to the pending counter ``tag`` names, only if it is still that counter
    (not lost and remade since): a counter never holds a correction for a change it
    did not count."""
    if not isinstance(tag, str) or not tag:
        return
    try:
        await services.cache.incr_if_tagged(favourites_key(status_id), delta, tag)
    except Exception:
        log.warning("could not take back a pending like count for %s", status_id, exc_info=True)


def parse_pending(status_ids: Sequence[int], values: Sequence[bytes | None]) -> dict[int, int]:
    """The deltas among fetched ``favourites_key(i)`` values."""
    deltas: dict[int, int] = {}
    for status_id, raw in zip(status_ids, values, strict=True):
        if raw is None:
            continue
        found = parse_tagged(raw)
        if found is not None:
            deltas[status_id] = found[1]
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


# Built once (the like counter's consumer runs them for every like and unlike).
_LOCK_POST = Prebuilt(
    lambda _dialect: (
        # NO KEY UPDATE: recounting changes no key, and likes, comments and notifications
        # inserted about the post meanwhile check their foreign key without waiting.
        select(statuses.c.id)
        .where(statuses.c.id == bindparam("status", type_=BigInteger))
        .with_for_update(key_share=True)
    )
)
_RECOUNT_FAVOURITES = Prebuilt(
    lambda _dialect: (
        update(statuses)
        .where(statuses.c.id == bindparam("status", type_=BigInteger))
        .values(
            favourites_count=select(func.count())
            .select_from(favourites)
            .where(favourites.c.status_id == bindparam("status", type_=BigInteger))
            .scalar_subquery()
        )
    )
)


async def recount_favourites(conn: AsyncConnection, status_id: int) -> None:
    """Set the post's favourites_count to the number of its likes, inside ``conn``'s transaction."""
    params = {"status": status_id}
    if conn.dialect.name == "postgresql":
        # Lock first, count second: each count then runs after every earlier recount has
        # committed, so a slow recount cannot overwrite a newer one with an older number.
        await _LOCK_POST.rows(conn, params)
    await _RECOUNT_FAVOURITES.execute(conn, params)
