"""Counting how reels are watched: cheaply in the cache as views arrive, folded into the
database by the janitor.

A view is a hot write (every swipe of every viewer), so it never touches the database:
each event adds to a pending counter of its reel in the cache (``INCRBY``), and the reel
is marked pending in one sorted set. ``fold_pending`` adds the pending amounts to the rows
(``statuses.plays_count`` and the ``reels`` counters) and then takes exactly those amounts
back off the counters, so views counted meanwhile stay pending for the next round; a reel
leaves the pending set only once its counters are back to zero. The database is written
before the amounts are taken back: a fold cut off between the two counts those views again
next round rather than losing them (over-counting a few plays beats dropping them).

Starting a reel also marks it seen by the viewer (a capped sorted set per viewer), which
is how the feed leaves out what was already watched.
"""

from __future__ import annotations

import logging

from sqlalchemy import update

from lumigram import ids
from lumigram.infra.cache import Swap
from lumigram.infra.tables import reels, statuses
from lumigram.posts.hydrate import hydrate
from lumigram.reels.models import Counts, ViewEvent
from lumigram.services import Services

log = logging.getLogger(__name__)

PENDING = "reels:pending"
_FIELDS = ("plays", "completes", "loops", "watch_ms")
#: Reels folded per round; the rest wait for the next one (a minute later).
FOLD_BATCH = 500
#: A viewer's seen reels are remembered this long, and this many of them.
SEEN_TTL = 30 * 86400
SEEN_CAP = 2000
#: One fold at a time across processes; a fold that died frees the lock after this.
_LOCK = "reels:fold:lock"
_LOCK_TTL = 120


def _counter(status_id: int, name: str) -> str:
    return f"reels:views:{status_id}:{name}"


def seen_key(viewer_id: int) -> str:
    return f"reels:seen:{viewer_id}"


def _amounts(event: ViewEvent) -> dict[str, int]:
    if event.type == "watch":
        return {"watch_ms": event.watch_ms} if event.watch_ms > 0 else {}
    return {{"play": "plays", "complete": "completes", "loop": "loops"}[event.type]: 1}


async def record_views(services: Services, viewer_id: int, events: list[ViewEvent]) -> int:
    """Count the events on reels the viewer may see; returns how many were counted. Events
    on anything else (a reel deleted since, or never one) are dropped: a player reporting
    late is not at fault."""
    wanted = sorted({event.status_id for event in events})
    visible = {item.post.id: item for item in await hydrate(services, viewer_id, wanted) if item.post.kind == "reel"}
    totals: dict[tuple[int, str], int] = {}
    counted = 0
    started: set[int] = set()
    for event in events:
        item = visible.get(event.status_id)
        if item is None:
            continue
        counted += 1
        if event.type in ("play", "complete"):
            started.add(event.status_id)
        for name, amount in _amounts(event).items():
            totals[(event.status_id, name)] = totals.get((event.status_id, name), 0) + amount
    for (status_id, name), amount in totals.items():
        await services.cache.incr(_counter(status_id, name), amount)
    now = services.now().timestamp()
    if totals:
        # After the counters: a fold that sees the mark finds the amounts already there.
        await services.cache.zadd(PENDING, {str(status_id): now for status_id, _ in totals})
    own = {i for i in started if visible[i].post.account_id == viewer_id}
    if started - own:
        await services.cache.zadd(seen_key(viewer_id), {str(i): now for i in started - own}, cap=SEEN_CAP)
        await services.cache.expire(seen_key(viewer_id), SEEN_TTL)
    return counted


async def seen_by(services: Services, viewer_id: int) -> set[int]:
    members = await services.cache.zrevrange_by_score(seen_key(viewer_id), limit=SEEN_CAP)
    return {int(member) for member, _ in members}


async def pending_counts_of(services: Services, status_ids: list[int]) -> dict[int, Counts]:
    """What the cache holds for each reel and has not been folded yet, in one round trip."""
    keys = [_counter(status_id, name) for status_id in status_ids for name in _FIELDS]
    values = [int(value) if value is not None else 0 for value in await services.cache.get_many(keys)] if keys else []
    width = len(_FIELDS)
    return {
        status_id: Counts(*values[index * width : (index + 1) * width]) for index, status_id in enumerate(status_ids)
    }


async def pending_counts(services: Services, status_id: int) -> Counts:
    return (await pending_counts_of(services, [status_id]))[status_id]


async def _fold_one(services: Services, status_id: int) -> bool:
    """Fold one reel's pending counts; whether it had any."""
    pending = await pending_counts(services, status_id)
    if pending == Counts():
        return False
    async with services.db.begin() as conn:
        await conn.execute(
            update(statuses)
            .where(statuses.c.id == status_id)
            .values(plays_count=statuses.c.plays_count + pending.plays)
        )
        await conn.execute(
            update(reels)
            .where(reels.c.status_id == status_id)
            .values(
                completes_count=reels.c.completes_count + pending.completes,
                loops_count=reels.c.loops_count + pending.loops,
                watch_ms=reels.c.watch_ms + pending.watch_ms,
            )
        )
    for name, amount in zip(_FIELDS, (pending.plays, pending.completes, pending.loops, pending.watch_ms), strict=True):
        if amount:
            await services.cache.incr(_counter(status_id, name), -amount)
    return True


async def fold_pending(services: Services) -> int:
    """Fold the pending view counts of up to ``FOLD_BATCH`` reels; returns how many had some."""
    token = ids.token(8).encode()
    if not (await services.cache.swap_many([Swap(_LOCK, None, token, _LOCK_TTL, {})]))[0]:
        return 0  # another process is folding
    try:
        folded = 0
        for member, _ in await services.cache.zrevrange_by_score(PENDING, limit=FOLD_BATCH):
            status_id = int(member)
            folded += await _fold_one(services, status_id)
            await services.cache.zrem(PENDING, member)
            # Views counted after the amounts were read and before the mark went: put the
            # mark back, or they would wait for the reel's next view to be folded.
            if await pending_counts(services, status_id) != Counts():
                await services.cache.zadd(PENDING, {member: services.now().timestamp()})
        return folded
    finally:
        if await services.cache.get(_LOCK) == token:
            await services.cache.delete(_LOCK)
