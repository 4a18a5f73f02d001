"""On SQLite's one writer, a read made inside a task's own write goes through that write's
transaction: it never waits for a reader that a task waiting for the writer holds."""

from __future__ import annotations

import asyncio
import contextlib

import pytest
from sqlalchemy import text

from lumigram.services import Services


async def test_a_read_inside_a_write_needs_no_reader_and_sees_the_write(services: Services) -> None:
    db = services.db
    if not db.nests_writes:
        pytest.skip("PostgreSQL has no single writer: a read inside a write takes a connection of its own")
    async with db.begin() as conn:
        await conn.execute(text("CREATE TABLE test_marks (n INTEGER NOT NULL)"))

    async with contextlib.AsyncExitStack() as held:
        # Every reader taken, as by requests that read and then wait for the writer.
        for _ in range(db.engine.pool.size()):  # type: ignore[attr-defined]
            reader = await held.enter_async_context(db.connect())
            await reader.execute(text("SELECT 1"))
        async with asyncio.timeout(5), db.begin() as conn:  # well inside the pool's 10 s
            await conn.execute(text("INSERT INTO test_marks (n) VALUES (7)"))
            async with db.connect() as inside:
                assert (await inside.execute(text("SELECT n FROM test_marks"))).scalars().all() == [7]

    async def elsewhere() -> list[int]:
        async with db.connect() as other:
            return list((await other.execute(text("SELECT n FROM test_marks"))).scalars())

    # Another task's read, during a write, still sees only what was committed.
    async with db.begin() as conn:
        await conn.execute(text("INSERT INTO test_marks (n) VALUES (8)"))
        assert await asyncio.create_task(elsewhere()) == [7]
    assert sorted(await elsewhere()) == [7, 8]
