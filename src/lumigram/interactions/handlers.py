"""Bus consumers of the interactions service: folding likes into the post's counter."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.events import FavouriteCreated, FavouriteRemoved
from lumigram.infra.outbox import run_once
from lumigram.posts import counters
from lumigram.services import Services

COUNTERS = "interactions.counters"

LikeEvent = FavouriteCreated | FavouriteRemoved


async def recount_likes(services: Services, event: LikeEvent) -> LikeEvent | None:
    """Recount the post's likes into its column; the event if this was its first time."""

    async def effect(conn: AsyncConnection) -> None:
        await counters.recount_favourites(conn, event.status_id)

    # The recount is idempotent on its own; run_once makes the cache step that follows
    # happen once per event, so a redelivered event does not cancel a delta twice.
    return event if await run_once(services.db, COUNTERS, event.id, effect) else None


async def cancel_pending_like(services: Services, applied: LikeEvent | None) -> None:
    """The column now includes this like (or unlike): take the request's pending ±1 back,
    from the counter it went into and only from that one. Run once the recount has
    committed, never before: a recount rolled back would leave the like counted nowhere."""
    if applied is None:
        return
    delta = -1 if isinstance(applied, FavouriteCreated) else 1
    await counters.cancel(services, applied.status_id, delta, applied.count_tag)


async def fold_like_into_counter(services: Services, event: LikeEvent) -> None:
    """Recount the post's likes into its column, then take the request's pending ±1 back."""
    await cancel_pending_like(services, await recount_likes(services, event))
