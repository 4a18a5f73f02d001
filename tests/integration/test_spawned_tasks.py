"""Tasks a request starts and does not wait for (a feed rebuilt after a read, a token's
last use, a kept value renewed) end with the services, before the database closes: left
running, such a task kept its connection checked out past the pool's disposal, and the
connection's thread later answered an event loop already closed."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from sqlalchemy import text

from lumigram.bootstrap import build_services
from lumigram.config import Settings


async def test_close_ends_spawned_tasks_and_gives_back_their_connections(
    make_settings: Callable[..., Settings],
) -> None:
    services = build_services(make_settings())
    await services.db.migrate()
    reading = asyncio.Event()

    async def held_read() -> None:
        async with services.db.connect() as conn:
            await conn.execute(text("SELECT 1"))
            reading.set()
            await asyncio.Event().wait()  # a read that is still under way at shutdown

    task = services.spawn(held_read(), name="held read")
    await reading.wait()
    pool = services.db.engine.pool
    assert pool.checkedout() == 1

    await services.close()

    assert task.cancelled()
    assert pool.checkedout() == 0
