"""The embedded shape's SQLite statements: one hop to the connection's thread each, and
none for the statements of the writer's open transaction.

Every hop is a queue put, a thread wake-up and a wake-up of the serving loop. SQLAlchemy's
aiosqlite adapter made four per statement (cursor, execute, fetch, close) and a reader's
checkout three more (its isolation level set and reset, a rollback when given back).
The hops are counted on aiosqlite's own call into its thread; the statements run on a
real database file, and what they answer (rows, rowcount, lastrowid, RETURNING, errors)
is checked as well as how many hops they took.
"""

from __future__ import annotations

import asyncio
import sqlite3
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import aiosqlite
import pytest
from sqlalchemy import event, text
from sqlalchemy.exc import IntegrityError

from lumigram.infra import sqlite_driver
from lumigram.infra.database import Database


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The names of the functions aiosqlite ran in its connections' threads."""
    ran: list[str] = []
    original = aiosqlite.Connection._execute

    async def counted(self: aiosqlite.Connection, fn: Any, *args: Any, **kwargs: Any) -> Any:
        ran.append(getattr(fn, "__name__", repr(fn)))
        return await original(self, fn, *args, **kwargs)

    monkeypatch.setattr(aiosqlite.Connection, "_execute", counted)
    return ran


@pytest.fixture
async def db(tmp_path: Path) -> AsyncIterator[Database]:
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'hops.db'}", pool_size=2)
    async with database.begin() as conn:
        await conn.execute(text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT UNIQUE NOT NULL)"))
    async with database.connect() as conn:  # the reader pool holds a connection from now on
        await conn.execute(text("SELECT 1"))
    try:
        yield database
    finally:
        await database.close()


async def test_a_read_is_one_hop_and_a_write_one_in_all(db: Database, hops: list[str]) -> None:
    async with db.connect() as conn:
        rows = (await conn.execute(text("SELECT 1 AS a, 'x' AS b"))).all()
    assert [tuple(row) for row in rows] == [(1, "x")]
    assert len(hops) == 1, hops

    hops.clear()
    async with db.begin() as conn:
        inserted = await conn.execute(text("INSERT INTO t (name) VALUES ('a')"))
        assert inserted.lastrowid == 1
        returned = (await conn.execute(text("INSERT INTO t (name) VALUES ('b') RETURNING id, name"))).all()
        assert [tuple(row) for row in returned] == [(2, "b")]
        changed = await conn.execute(text("UPDATE t SET name = name || '!'"))
        assert changed.rowcount == 2
    # COMMIT; BEGIN IMMEDIATE (the lock free) and the three statements ran in place.
    assert len(hops) == 1, hops

    hops.clear()
    async with db.begin() as conn:
        many = await conn.execute(text("INSERT INTO t (name) VALUES (:name)"), [{"name": "c"}, {"name": "d"}])
        assert many.rowcount == 2
    assert len(hops) == 1, hops

    async with db.connect() as conn:
        names = (await conn.execute(text("SELECT name FROM t ORDER BY id"))).scalars().all()
    assert names == ["a!", "b!", "c", "d"]


async def test_errors_and_rollbacks_are_the_drivers_own(db: Database) -> None:
    async def insert_twice() -> None:
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('e')"))
            await conn.execute(text("INSERT INTO t (name) VALUES ('e')"))

    with pytest.raises(IntegrityError):
        await insert_twice()
    async with db.connect() as conn:
        count = (await conn.execute(text("SELECT count(*) FROM t WHERE name = 'e'"))).scalar_one()
    assert count == 0  # the whole transaction was rolled back, its first insert too
    async with db.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('e')"))
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 1


async def test_a_statement_waits_for_work_still_running_in_the_writers_thread(db: Database, hops: list[str]) -> None:
    """A COMMIT or ROLLBACK cut off by a cancellation may still be running in the writer's
    thread when the next transaction has begun: a statement then hops and takes its turn
    behind it, instead of running in place beside it."""
    order: list[str] = []
    async with db.begin() as conn:
        raw: Any = (await conn.get_raw_connection()).driver_connection

        def still_running() -> None:
            time.sleep(0.1)
            order.append("earlier work")

        earlier = asyncio.ensure_future(raw._execute(sqlite_driver._hops_of(raw).counted(still_running)))
        await asyncio.sleep(0)
        hops.clear()
        await conn.execute(text("INSERT INTO t (name) VALUES ('h')"))
        order.append("statement")
        assert len(hops) == 1, hops  # it hopped
        await earlier
        hops.clear()
        await conn.execute(text("INSERT INTO t (name) VALUES ('i')"))
        assert hops == []  # and with the thread idle again, in place
    assert order == ["earlier work", "statement"]


async def test_the_writers_connection_stays_checked_out_between_transactions(db: Database) -> None:
    # A pool checkout and checkin around each transaction cost as much as a small
    # transaction's statements; the writer keeps its one connection instead.
    writer = db._writer
    assert writer is not None
    checkouts: list[object] = []
    event.listen(writer.sync_engine, "checkout", lambda *args: checkouts.append(args))
    for name in ("j", "k", "l"):
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": name})
    assert checkouts == []  # the fixture's first transaction took it, for good
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT count(*) FROM t"))).scalar_one() == 3


async def test_a_begin_that_finds_the_lock_taken_waits_for_it_in_the_thread(
    db: Database, tmp_path: Path, hops: list[str]
) -> None:
    # Another process's writer holds SQLite's lock: BEGIN IMMEDIATE in place answers busy
    # at once, and the write waits for the lock in the thread, not on the event loop.
    holder = sqlite3.connect(tmp_path / "hops.db", isolation_level=None)
    try:
        holder.execute("BEGIN IMMEDIATE")

        async def write() -> None:
            async with db.begin() as conn:
                await conn.execute(text("INSERT INTO t (name) VALUES ('m')"))

        writing = asyncio.create_task(write())
        while not hops and not writing.done():  # until its BEGIN has gone to the thread to wait
            await asyncio.sleep(0)
        assert not writing.done()  # the lock is still the other writer's
        holder.execute("COMMIT")
        await writing
    finally:
        holder.close()
    assert len(hops) == 2, hops  # the waiting BEGIN, then COMMIT
    async with db.connect() as conn:
        assert (await conn.execute(text("SELECT name FROM t"))).scalars().all() == ["m"]


async def test_a_write_running_when_the_database_closes_closes_the_kept_connection(db: Database) -> None:
    """The writer's connection is kept between transactions, so ``close`` closes it; one
    still in use by a write is left to that write, which closes it when done. Left open
    instead, the garbage collector found it later and its thread called back into a loop
    that was gone."""
    inside, finish = asyncio.Event(), asyncio.Event()
    used: list[Any] = []

    async def write() -> None:
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES ('late')"))
            used.append(conn)
            inside.set()
            await finish.wait()

    task = asyncio.create_task(write())
    await inside.wait()
    await db.close()
    assert not used[0].closed  # the write still has it
    finish.set()
    await task
    assert used[0].closed
