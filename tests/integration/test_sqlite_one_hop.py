"""The embedded shape's SQLite statements: one hop to the connection's thread each, and
none for the statements of the writer's open transaction or a reader's quick ones.

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
import threading
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
    # Which statements are quick is learned per process: each test starts knowing none.
    monkeypatch.setattr(sqlite_driver, "_cost_ms", {})
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


async def test_a_quick_read_runs_on_the_loops_own_connection_once_measured_and_a_slow_one_hops(
    db: Database, hops: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A statement not seen before hops, to be measured in a pooled reader's thread; once
    it has proved quick it runs in place on a connection of the event loop's thread, never
    on the pooled reader (whose thread alone uses it). One whose runs take longer than
    ``IN_PLACE_MS`` goes on hopping, so its C work runs beside the event loop."""
    async with db.begin() as conn:
        await conn.execute(text("INSERT INTO t (name) VALUES ('n'), ('o')"))
    used: list[sqlite3.Connection] = []
    real_run = sqlite_driver._run

    def noted(raw: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Any:
        used.append(raw)
        return real_run(raw, operation, parameters, many)

    monkeypatch.setattr(sqlite_driver, "_run", noted)
    quick = text("SELECT name FROM t WHERE id = :id")
    hops.clear()
    async with db.connect() as conn:
        first = (await conn.execute(quick, {"id": 1})).scalars().all()
        assert hops == ["_run_timed"], hops
        again = [(await conn.execute(quick, {"id": i})).scalars().all() for i in (1, 2)]
    assert hops == ["_run_timed"], hops  # the second and third ran in place
    assert (first, again) == (["n"], [["n"], ["o"]])
    pooled, *in_place = used
    assert in_place[0] is in_place[1]
    assert in_place[0] is not pooled
    with pytest.raises(sqlite3.OperationalError, match="readonly"):
        in_place[0].execute("DELETE FROM t")  # it only reads

    slow = "SELECT count(*) FROM t AS a, t AS b"
    sqlite_driver._cost_ms[slow] = sqlite_driver.IN_PLACE_MS * 5  # as if it had taken 5 ms
    hops.clear()
    async with db.connect() as conn:
        for _ in range(3):
            assert (await conn.execute(text(slow))).scalar_one() == 4
    assert hops == ["_run_timed"] * 3, hops
    # Each hop measured it again (far quicker than 5 ms here): its cost comes down, so a
    # statement slow once is not kept off the loop for good.
    assert sqlite_driver._cost_ms[slow] < sqlite_driver.IN_PLACE_MS * 5


async def test_every_quick_read_sees_the_last_commit(db: Database, hops: list[str]) -> None:
    """Read, write, read again, in turn: each read in place starts from the last commit,
    as each read in a thread does (no read transaction is left open between them)."""
    quick = text("SELECT count(*), max(name) FROM t")
    async with db.connect() as conn:
        await conn.execute(quick)  # measured in the thread: quick from now on
    hops.clear()
    for n in range(1, 41):
        async with db.begin() as conn:
            await conn.execute(text("INSERT INTO t (name) VALUES (:name)"), {"name": f"{n:03}"})
        async with db.connect() as conn:
            assert tuple((await conn.execute(quick)).one()) == (n, f"{n:03}")
    assert hops == ["run"] * 40, hops  # the writes' COMMITs (``_Hops.counted``'s): every read ran in place


async def test_a_quick_read_answered_busy_or_writing_in_place_runs_in_the_thread(
    db: Database, hops: list[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A WAL reader is answered busy only in rare moments (another process recovering the
    log, or holding the file in exclusive mode before this one opened it), too rare to
    bring about beside an open pool. Here SQLite's answer is given in their place to the
    first run in place: the read, which did nothing, hops and runs in the thread, where
    waiting for a lock would not hold up the event loop. A write sent on a reader's
    connection (it autocommits there) is refused by the loop's, which only reads, and
    runs in the thread from then on."""
    quick = text("SELECT count(*) FROM t")
    async with db.connect() as conn:
        await conn.execute(quick)  # measured in the thread: quick from now on
    real_run = sqlite_driver._run
    answered: list[str] = []

    def busy_once(raw: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> Any:
        if not answered:
            answered.append(operation)
            error = sqlite3.OperationalError("database is locked")
            error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # what SQLite's busy answer carries
            raise error
        return real_run(raw, operation, parameters, many)

    monkeypatch.setattr(sqlite_driver, "_run", busy_once)
    hops.clear()
    async with db.connect() as conn:
        assert (await conn.execute(quick)).scalar_one() == 0
    assert answered == ["SELECT count(*) FROM t"]
    assert hops == ["_run_timed"], hops

    write = text("UPDATE t SET name = name WHERE id < 0")
    async with db.connect() as conn:
        await conn.execute(write)  # measured in the thread: quick
        hops.clear()
        for _ in range(2):
            await conn.execute(write)
    assert hops == ["_run_timed"] * 2, hops  # refused in place once, then never tried there


async def test_a_statement_still_running_in_its_thread_has_ended_when_the_database_closes(
    tmp_path: Path,
) -> None:
    """A read still running in a connection's thread at close (a request or a consumer cut
    off at shutdown, a connection left to the garbage collector) has ended when ``close``
    returns, so that thread never hands its answer to an event loop already closed."""
    before = set(threading.enumerate())
    database = Database(f"sqlite+aiosqlite:///{tmp_path / 'left.db'}", pool_size=2)
    # About a second of work in the thread: a statement not measured before always hops.
    slow = "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 2000000) SELECT sum(i) FROM n"
    answers: list[Any] = []

    async def read() -> None:
        async with database.connect() as conn:
            answers.append((await conn.execute(text(slow))).scalar())

    task = asyncio.create_task(read())
    await asyncio.sleep(0.2)
    running = [thread for thread in set(threading.enumerate()) - before if thread.is_alive()]
    assert running, "the statement should be running in its connection's thread"
    await database.close()
    assert not [thread for thread in running if thread.is_alive()]
    await asyncio.wait([task], timeout=5)
    assert task.done()
    assert task.exception() is None
    assert answers == [2000000 * 2000001 // 2]  # the read got its answer
