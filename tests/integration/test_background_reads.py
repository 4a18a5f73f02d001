"""The embedded shape's consumers read on readers of their own, so neither a burst of
requests nor a backlog of events starves the other of connections."""

from __future__ import annotations

import contextlib

import pytest
from sqlalchemy import text

from lumigram.infra.bus import Consumer, Event
from lumigram.infra.outbox import emit
from lumigram.services import Services
from tests.conftest import eventually


async def test_consumers_read_while_requests_hold_every_reader(services: Services) -> None:
    if services.db.dialect != "sqlite":
        pytest.skip("on PostgreSQL the consumers run in worker processes, with pools of their own")
    seen: list[int] = []

    async def reads_then_records(event: Event) -> None:
        async with services.db.connect() as conn:
            await conn.execute(text("SELECT 1"))
        seen.append(event.id)

    await services.bus.start_consumers([Consumer("background-reader", ["test.read_behind"], reads_then_records)])
    async with contextlib.AsyncExitStack() as held:
        # Every reader the requests have, taken as a burst of requests would take them.
        for _ in range(services.db.engine.pool.size()):  # type: ignore[attr-defined]
            conn = await held.enter_async_context(services.db.connect())
            await conn.execute(text("SELECT 1"))
        async with services.db.begin() as conn:
            event = await emit(conn, services.ids, "test.read_behind", {})
        services.committed()
        # Well inside the requests' pool timeout (10 s), which a consumer on their pool
        # would have waited out before failing.
        await eventually(lambda: event.id in seen, timeout=5)
