"""Bus consumers of the interactions service: folding likes into the post's counter."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.events import FavouriteCreated, FavouriteRemoved
from lumigram.infra.outbox import run_once
from lumigram.posts import counters
from lumigram.services import Services

COUNTERS = "interactions.counters"


async def fold_like_into_counter(services: Services, event: FavouriteCreated | FavouriteRemoved) -> None:
    """Recount the post's likes into its column, then take the request's pending ±1 back."""

    async def effect(conn: AsyncConnection) -> None:
        await counters.recount_favourites(conn, event.status_id)

    # The recount is idempotent on its own; run_once makes the cache step below
    # happen once per event, so a redelivered event does not cancel a delta twice.
    if await run_once(services.db, COUNTERS, event.id, effect):
        # The column now includes this like (or unlike): take the request's pending ±1
        # back, from the counter it went into and only from that one.
        delta = -1 if isinstance(event, FavouriteCreated) else 1
        await counters.cancel(services, event.status_id, delta, event.count_tag)
