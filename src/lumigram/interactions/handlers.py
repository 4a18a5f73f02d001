"""Bus consumers of the interactions service: folding likes into the post's counter."""

from __future__ import annotations

import logging

from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.bus import Consumer, Event
from lumigram.infra.outbox import run_once
from lumigram.posts import counters
from lumigram.services import Services

log = logging.getLogger(__name__)

COUNTERS = "interactions.counters"


def consumers(services: Services) -> list[Consumer]:
    async def fold_in(event: Event) -> None:
        try:
            status_id = int(event.payload["status_id"])
        except (KeyError, TypeError, ValueError):
            log.error("event %s (%s) has no usable status_id; skipping", event.id, event.type)
            return

        async def effect(conn: AsyncConnection) -> None:
            await counters.recount_favourites(conn, status_id)

        # The recount is idempotent on its own; run_once makes the cache step below
        # happen once per event, so a redelivered event does not cancel a delta twice.
        if await run_once(services.db, COUNTERS, event, effect):
            # The column now includes this like (or unlike): take the request's pending ±1
            # back, from the counter it went into and only from that one.
            delta = -1 if event.type == "favourite.created" else 1
            await counters.cancel(services, status_id, delta, event.payload.get(counters.TAG_FIELD))

    return [Consumer(COUNTERS, ("favourite.created", "favourite.removed"), fold_in)]
