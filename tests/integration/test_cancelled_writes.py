"""A write transaction cancelled at any point (a client gone, a shutdown) leaves no
connection behind that loses the writes of later transactions.

On PostgreSQL a cancellation landing while ``BEGIN`` was in flight once left the driver
holding the failed transaction as its current one: the connection went back to the pool,
every later ``begin`` on it became a savepoint inside a transaction that never commits,
and those writes vanished without an error."""

from __future__ import annotations

import asyncio
import contextlib
from typing import Any

import pytest
from sqlalchemy import event, text

from lumigram.infra.database import Database
from lumigram.services import Services


async def _write(services: Services, n: int) -> None:
    async with services.db.begin() as conn:
        await conn.execute(text("INSERT INTO test_writes (n) VALUES (:n)"), {"n": n})


async def _committed(observer: Database) -> list[int]:
    async with observer.connect() as conn:
        return [row.n for row in await conn.execute(text("SELECT n FROM test_writes ORDER BY n"))]


@pytest.mark.parametrize("shape", ["scaled"], indirect=True)
async def test_a_write_cancelled_inside_begin_never_swallows_a_later_one(services: Services) -> None:
    async with services.db.begin() as conn:
        await conn.execute(text("CREATE TABLE test_writes (n INTEGER NOT NULL)"))
    checked_out: list[Any] = []
    event.listen(services.db.engine.sync_engine, "checkout", lambda dbapi, record, proxy: checked_out.append(dbapi))

    cancelled = asyncio.create_task(_write(services, -1))
    # The driver makes the transaction its current one just before it sends BEGIN: the
    # cancellation then lands while BEGIN waits for its answer.
    while not (checked_out and checked_out[-1].driver_connection._top_xact is not None):
        await asyncio.sleep(0)
    cancelled.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await cancelled

    for n in range(3):  # the pool's connections in turn: the one left behind among them
        await _write(services, n)
    # Another engine reads: it sees only what was committed, not what sits in a
    # transaction some pooled connection still holds open.
    observer = Database(services.settings.database_url)
    try:
        assert await _committed(observer) == [0, 1, 2]
    finally:
        await observer.close()
