"""A database operation cancelled at any point (a client gone, a shutdown) leaves nothing
broken behind: no pooled connection that loses later writes, no task that never ends."""

from __future__ import annotations

import asyncio
import contextlib
from pathlib import Path
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
    # A cancellation landing while BEGIN waited for its answer once left the driver holding
    # the failed transaction as its current one; back in the pool, every later ``begin``
    # on that connection became a savepoint in a transaction that never commits.
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


async def test_an_invalidation_cut_off_by_a_cancellation_leaves_no_task_behind(tmp_path: Path) -> None:
    # SQLite's connections each have a thread of their own. A cancellation landing while
    # an invalidated one was being closed once left a task waiting for that thread after
    # it had ended: it never finished, and held the event loop's shutdown for good.
    db = Database(f"sqlite+aiosqlite:///{tmp_path / 'lumigram.db'}")
    queried = asyncio.Event()

    async def invalidate() -> None:
        async with db.connect() as conn:
            await conn.execute(text("SELECT 1"))
            queried.set()
            await conn.invalidate()

    try:
        for turns in range(40):
            queried.clear()
            task = asyncio.create_task(invalidate())
            await queried.wait()
            for _ in range(turns % 4):  # lands before, during and after the close
                await asyncio.sleep(0)
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        others = asyncio.all_tasks() - {asyncio.current_task()}
        if others:
            _, pending = await asyncio.wait(others, timeout=2)
            assert not pending, pending
    finally:
        await db.close()
