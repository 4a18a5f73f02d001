"""The database port: one async SQLAlchemy engine over SQLite (WAL) or PostgreSQL (asyncpg).

Services use SQLAlchemy Core on ``Database.engine`` (``async with db.begin() as conn``);
no ORM sessions, so each query is exactly what it says. Migrations are Alembic's,
run by ``Database.migrate`` (and ``lumigram migrate``).

SQLite has one writer at a time. Left to itself, each connection that wants to write
polls for the lock (the busy handler) and gives up after the busy timeout, so under a
few dozen concurrent writers some waited out the timeout and the request got a 503.
In the embedded shape every write transaction therefore runs on one writer connection,
taken in turn through an ``asyncio.Lock`` (first come, first served, no polling), and
starts with ``BEGIN IMMEDIATE`` so that it holds the file's write lock from its first
statement. Reads run on their own pool beside it (WAL lets them).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sqlalchemy import event, text
from sqlalchemy.engine import Connection, make_url
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from sqlalchemy.util.concurrency import in_greenlet

from lumigram.infra.sql import driver_error
from lumigram.infra.sqlite_driver import (
    BUSY_TIMEOUT_MS,
    OneHopDBAPI,
    adapted_connection,
    begin_immediate,
    end_transaction,
    in_transaction,
    one_hop_dbapi,
    writer_dbapi,
)
from lumigram.infra.sqlite_prebuilt import report, report_commit, sqlite_target

MIGRATIONS_DIR = Path(__file__).parent / "migrations"


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    # WAL lets readers run beside the writer; NORMAL is durable across process
    # crashes in WAL mode and ~8x cheaper per commit than FULL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # Writers in this process take turns through ``Database._write_lock``; the busy
    # timeout only matters against another process (a ``lumigram`` command) writing.
    cursor.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    cursor.close()


def _sqlite_writer_connect(dbapi_connection: Any, record: Any) -> None:
    _sqlite_pragmas(dbapi_connection, record)
    # No implicit BEGIN from the driver: ``_begin_immediate`` says how each transaction starts.
    dbapi_connection.isolation_level = None


def _begin_immediate(conn: Connection) -> None:
    # A deferred transaction that reads first and writes later fails at once with
    # "database is locked" when another writer got in between (no busy wait helps);
    # IMMEDIATE takes the write lock up front. Inside a transaction ``Database`` opened
    # on the driver itself, SQLAlchemy's own (begun at its first statement) joins it.
    adapted = adapted_connection(conn.connection.dbapi_connection)
    if adapted is not None and in_transaction(adapted):
        return
    conn.exec_driver_sql("BEGIN IMMEDIATE")


def _close_when_invalidating(engine: AsyncEngine) -> None:
    """Make an aiosqlite engine close an invalidated connection in the calling task.

    SQLAlchemy's asyncio terminate runs the graceful close as a shielded task of its own
    and, when the caller is cancelled meanwhile (a request cut off, a consumer stopped at
    shutdown), stops aiosqlite's thread beside it. The shielded close then queued its own
    stop behind the thread's last item and waited for it forever: a task that never
    ends, which held shutdown (and a test's event loop) until a timeout. aiosqlite's own
    close is safe against a cancellation and needs nothing else; the garbage collector's
    clean-up, outside any task, still takes the forced path.
    """
    dialect = engine.sync_engine.dialect
    force = dialect.do_terminate

    def terminate(dbapi_connection: Any) -> None:
        if in_greenlet():
            dialect.do_close(dbapi_connection)
        else:
            force(dbapi_connection)

    setattr(dialect, "do_terminate", terminate)  # noqa: B010 (an instance's method, on purpose)


def _raise_as_sqlalchemy(conn: AsyncConnection, error: BaseException, statement: str) -> None:
    """Raise the driver's ``error`` as SQLAlchemy would have (``driver_error``), if it is
    one it says otherwise; a cancellation, or an error already SQLAlchemy's, is left."""
    if isinstance(error, Exception):
        said = driver_error(conn, error, statement)
        if said is not error:
            raise said from error


@dataclass(slots=True)
class WriteGroup:
    """A write transaction open on SQLite's writer, and the task whose it is."""

    task: asyncio.Task[Any] | None
    conn: AsyncConnection
    #: Opened by ``begin_group``: ``begin`` blocks inside it join it without a savepoint.
    group: bool = False
    #: A joined block was left by an exception: the group must not commit.
    spoiled: bool = False


#: How long a write waits for its turn at SQLite's one writer before the request is
#: answered 503: far beyond any queue a family's instance builds, short of a hung client.
SQLITE_WRITE_WAIT_SECONDS = 60.0


log = logging.getLogger(__name__)

#: PostgreSQL connections each serving process opens and readies as it starts (``warm``).
WARM_CONNECTIONS = 8
_WARM_ARRAYS = text("SELECT CAST(:ids AS BIGINT[]), CAST(:names AS VARCHAR[])")


class Database:
    def __init__(self, url: str, echo: bool = False, pool_size: int = 20, pool_timeout: float = 10.0) -> None:
        parsed = make_url(url)
        self.url = url
        self.dialect = parsed.get_backend_name()
        kwargs: dict[str, Any] = {"echo": echo}
        # An in-memory SQLite database lives in its one connection (SQLAlchemy's static
        # pool): no reader pool and no writer of its own.
        on_file = self.dialect == "sqlite" and parsed.database not in (None, "", ":memory:")
        if self.dialect == "sqlite" and parsed.get_driver_name() == "aiosqlite":
            # Each statement one hop to the connection's thread, not four (``sqlite_driver``).
            kwargs["module"] = one_hop_dbapi()
        #: The readers' DBAPI module on SQLite, whose loop connections ``close`` closes.
        self._sqlite_module: OneHopDBAPI | None = kwargs.get("module")
        if on_file:
            Path(parsed.database or "").parent.mkdir(parents=True, exist_ok=True)
            # A fixed pool of readers: SQLAlchemy's default (5, with 10 overflow) closed
            # each overflow connection when it was given back, so under load connections
            # (each a thread and a cold page cache) were opened and closed by the hundred.
            kwargs.update(pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout)
        elif self.dialect != "sqlite":
            # No pre-ping: on asyncpg it costs three round trips (begin, a query, rollback)
            # on every checkout, more than many reads themselves. A connection the server
            # dropped fails the one statement that finds out; SQLAlchemy then discards the
            # pool's older connections, and the API answers that request with a 503.
            # A fixed pool, no overflow: an overflow connection is closed when it is given
            # back, so under a burst connections were opened and dropped by the hundred a
            # second, and each new one prepared every statement again (7 % of serve CPU in
            # the DSB mix, and the tail latency). A request that finds every connection busy
            # waits for one instead (a 503 after ``pool_timeout``).
            # Last in, first out: the connection given back last is the next one lent, so
            # a load that needs five at a time keeps using the same five. First in, first
            # out (SQLAlchemy's default) lent every connection of the pool in turn, and
            # each had to prepare every statement and plan it afresh five times (PostgreSQL
            # settles on a generic plan after that): when a new kind of request came, all
            # 40 connections of two processes paid it.
            kwargs.update(
                pool_size=pool_size, max_overflow=0, pool_timeout=pool_timeout, pool_recycle=1800, pool_use_lifo=True
            )
            # Each length of an ``IN (...)`` list is a statement of its own; with pages of
            # 1-40 posts and a few dozen query shapes, the default 100 prepared statements
            # per connection churned, and every miss cost a prepare round trip.
            kwargs["connect_args"] = {"prepared_statement_cache_size": 2000}
        if on_file:
            # The engine reads run on, its connections autocommit from the start: as an
            # option taken per use, SQLAlchemy set and reset each reader's isolation
            # level on every checkout, two hops to its thread each time. Writes have a
            # connection of their own (below); migrations ask for a transaction.
            kwargs["isolation_level"] = "AUTOCOMMIT"
        self.engine: AsyncEngine = create_async_engine(url, **kwargs)
        #: SQLite's one writer connection, and the turn to use it; None on PostgreSQL.
        self._writer: AsyncEngine | None = None
        #: The writer's DBAPI module on SQLite, whose threads ``close`` waits for.
        self._writer_module: OneHopDBAPI | None = None
        #: The writer's one connection, kept checked out between transactions (``_sqlite_write``).
        self._writer_conn: AsyncConnection | None = None
        self._write_lock = asyncio.Lock()
        #: Set by ``close``: a write still running then closes the kept connection itself.
        self._closed = False
        self._writing: contextvars.ContextVar[WriteGroup | None] = contextvars.ContextVar(
            f"writing_{id(self)}", default=None
        )
        if self.dialect == "sqlite":
            event.listen(self.engine.sync_engine, "connect", _sqlite_pragmas)
            _close_when_invalidating(self.engine)
        # Reads run without a transaction: no BEGIN and ROLLBACK round trips around them.
        self._reads = self.engine if on_file else self.engine.execution_options(isolation_level="AUTOCOMMIT")
        if on_file:
            # The writer's transactions run their statements in place (``sqlite_driver``).
            self._writer_module = writer_dbapi() if "module" in kwargs else None
            module = {"module": self._writer_module} if self._writer_module is not None else {}
            self._writer = create_async_engine(url, echo=echo, pool_size=1, max_overflow=0, **module)
            _close_when_invalidating(self._writer)
            event.listen(self._writer.sync_engine, "connect", _sqlite_writer_connect)
            event.listen(self._writer.sync_engine, "begin", _begin_immediate)

    @property
    def transactional(self) -> AsyncEngine:
        """``engine`` with transactions as the driver makes them, for whole-schema work
        (migrations, bulk loads) outside the writer's turns: on a SQLite file ``engine``
        is the readers' and autocommits."""
        if self._writer is not None:
            return self.engine.execution_options(isolation_level="SERIALIZABLE")
        return self.engine

    @property
    def is_postgres(self) -> bool:
        return self.dialect == "postgresql"

    @property
    def nests_writes(self) -> bool:
        """Whether a ``begin`` inside a task's open ``begin`` joins its transaction (as a
        savepoint): SQLite's one writer. Several writes can then share one commit."""
        return self._writer is not None

    @asynccontextmanager
    async def begin(self) -> AsyncIterator[AsyncConnection]:
        """A connection inside a transaction, committed on success."""
        if self._writer is not None:
            async with self._sqlite_write() as held:
                yield held.conn
            return
        if not self.is_postgres:
            async with self.engine.begin() as conn:
                yield conn
            return
        # On PostgreSQL the driver holds the transaction, on a connection SQLAlchemy sees
        # as autocommit: its statements run inside it as before, and prebuilt reads
        # (``lumigram.infra.sql.Prebuilt.rows``) can go to the driver directly, which
        # they could not while SQLAlchemy began its transaction lazily, at its first
        # statement.
        async with self._reads.connect() as conn:
            driver: Any = (await conn.get_raw_connection()).driver_connection
            transaction = driver.transaction()
            #: Whether the transaction ended in a COMMIT or ROLLBACK the server answered.
            ended = False
            try:
                try:
                    await transaction.start()
                except Exception as error:
                    raise driver_error(conn, error, "BEGIN") from error
                try:
                    yield conn
                except BaseException:
                    # Also when cancelled; if the rollback cannot run (a statement was cut
                    # off mid-way), the check below throws the connection away.
                    with contextlib.suppress(Exception):
                        await transaction.rollback()
                        ended = True
                    raise
                try:
                    await transaction.commit()
                except Exception as error:
                    raise driver_error(conn, error, "COMMIT") from error
                ended = True
            finally:
                # Never back in the pool unless the transaction surely ended. A BEGIN cut
                # off by a cancellation (a client gone, a shutdown) leaves the driver with
                # the failed transaction as its current one, and the server possibly inside
                # it: every later transaction on that connection became a savepoint in one
                # that never commits, and its writes were lost without an error.
                if not ended or driver.is_closed() or driver.is_in_transaction():
                    await conn.invalidate()

    @asynccontextmanager
    async def begin_group(self) -> AsyncIterator[WriteGroup]:
        """One write transaction on SQLite's writer that the ``begin`` blocks of this task
        inside it join as they are, without a savepoint each (two round trips saved per
        block). A block left by an exception therefore cannot be undone alone: it marks
        the group ``spoiled``, and the caller must raise out of the group (rolling all of
        it back) and do its parts again one by one. Only where ``nests_writes``."""
        async with self._sqlite_write(group=True) as group:
            yield group

    @asynccontextmanager
    async def _sqlite_write(self, group: bool = False) -> AsyncIterator[WriteGroup]:
        """A transaction on the writer connection, once it is this task's turn."""
        assert self._writer is not None
        task = asyncio.current_task()
        held = self._writing.get()
        if held is not None and task is not None and held.task is task:
            # A write inside this task's own write: the writer is this task's already
            # (waiting for it would wait forever). In a group it joins the transaction;
            # otherwise it nests as a savepoint.
            if held.group:
                try:
                    yield held
                except BaseException:
                    held.spoiled = True
                    raise
                return
            async with held.conn.begin_nested():
                yield held
            return
        try:
            async with asyncio.timeout(SQLITE_WRITE_WAIT_SECONDS):
                await self._write_lock.acquire()
        except TimeoutError:
            raise PoolTimeout(f"no turn at the database writer within {SQLITE_WRITE_WAIT_SECONDS:.0f} s") from None
        conn: AsyncConnection | None = None
        try:
            conn = await self._writer_connection()
            adapted = sqlite_target(conn)
            async with self._writer_transaction(conn, adapted):
                opened = WriteGroup(task, conn, group)
                token = self._writing.set(opened if task is not None else None)
                try:
                    yield opened
                finally:
                    self._writing.reset(token)
        finally:
            try:
                if self._closed and conn is not None:
                    # Closed while this write ran: nobody takes the kept connection again,
                    # and left to the garbage collector its thread would call back into a
                    # loop that may be gone.
                    if self._writer_conn is conn:
                        self._writer_conn = None
                    with contextlib.suppress(Exception):
                        await conn.close()
            finally:
                self._write_lock.release()

    async def _writer_connection(self) -> AsyncConnection:
        """The writer's connection, kept from one transaction to the next: checking it out
        of SQLAlchemy's pool and back in (with the pool's reset) around every transaction
        cost about as much CPU as a like's statements. One that SQLAlchemy invalidated (a
        lost connection) or closed is replaced. Only in the writer's turn."""
        assert self._writer is not None
        conn = self._writer_conn
        if conn is not None and (conn.closed or conn.invalidated):
            self._writer_conn = None
            with contextlib.suppress(Exception):
                await conn.close()
            conn = None
        if conn is None:
            conn = self._writer_conn = await self._writer.connect()
        return conn

    @asynccontextmanager
    async def _writer_transaction(self, conn: AsyncConnection, adapted: Any) -> AsyncIterator[None]:
        """A transaction the writer's driver opens and ends itself (``BEGIN IMMEDIATE`` and
        ``COMMIT`` in its thread), with ``conn`` on it: SQLAlchemy's transaction objects,
        events and greenlet switches around each were most of a consumer's cost per event,
        and prebuilt statements (``lumigram.infra.sqlite_prebuilt``) need none of them. A
        statement sent through SQLAlchemy begins SQLAlchemy's transaction, which joins this
        one (``_begin_immediate``) and is then ended through SQLAlchemy, as before.
        ``adapted`` is None for a driver other than ``sqlite_driver``'s: SQLAlchemy's then."""
        if adapted is None:
            async with conn.begin():
                yield
            return
        report(conn, "BEGIN IMMEDIATE", (), False)
        try:
            await begin_immediate(adapted)
        except BaseException as error:
            # Cut off (a cancellation) while waiting in the thread, the BEGIN may still
            # run there: roll back behind it rather than leave its transaction open.
            await self._abandon(conn, adapted)
            _raise_as_sqlalchemy(conn, error, "BEGIN IMMEDIATE")
            raise
        try:
            yield
        except BaseException:
            await self._abandon(conn, adapted)
            raise
        try:
            if conn.in_transaction():
                await conn.commit()
            else:
                await end_transaction(adapted, commit=True)
                report_commit(conn)
        except BaseException as error:
            await self._abandon(conn, adapted)
            _raise_as_sqlalchemy(conn, error, "COMMIT")
            raise

    async def _abandon(self, conn: AsyncConnection, adapted: Any) -> None:
        """Roll the writer's transaction back; a connection that cannot is given up (the
        next transaction takes a new one) rather than trusted with the next writes."""
        try:
            if conn.in_transaction():
                await conn.rollback()
            await end_transaction(adapted, commit=False)
        except Exception:
            self._writer_conn = None
            with contextlib.suppress(Exception):
                await conn.invalidate()

    @asynccontextmanager
    async def connect(self) -> AsyncIterator[AsyncConnection]:
        """A connection for reads, each statement on its own (autocommit): a read that needs
        several statements to agree uses ``begin``.

        Inside this task's own write on SQLite's writer, reads go through that transaction.
        Taking a reader instead could wait forever in effect: every reader held by tasks
        that wait for the writer this task holds (until the pool's timeout answered 503).
        They also see the transaction's own writes, as a read in it would."""
        held = self._writing.get()
        if held is not None and held.task is not None and held.task is asyncio.current_task():
            yield held.conn
            return
        async with self._reads.connect() as conn:
            yield conn

    @asynccontextmanager
    async def connect_unhurried(self) -> AsyncIterator[AsyncConnection]:
        """A reads' connection (``connect``) for a computation no request waits on, such
        as a kept ranking's renewal. On PostgreSQL its statements get no parallel workers:
        a large scan then takes one core for longer rather than every core of the box for
        a while, from under the requests being served (a trend ranking's scan of a week of
        posts took three cores for 200 ms, and the requests of that moment waited behind
        it). The setting is the session's, put back before the connection is returned."""
        async with self.connect() as conn:
            if conn.dialect.name != "postgresql":
                yield conn
                return
            await conn.execute(text("SET max_parallel_workers_per_gather = 0"))
            try:
                yield conn
            finally:
                await conn.execute(text("RESET max_parallel_workers_per_gather"))

    async def warm(self, connections: int = WARM_CONNECTIONS) -> None:
        """Open ``connections`` of the PostgreSQL pool as a server starts, each made ready
        for the arrays the statements bind (``= ANY(:ids)``): on a new connection asyncpg
        first asks the server what ``bigint[]`` and ``varchar[]`` are, a catalog query of
        5 ms alone and 20 ms with ten others, which otherwise fell on the first requests
        after a start, when the pool grows under them. Nothing on SQLite."""
        if self.dialect != "postgresql":
            return

        count = min(connections, self.engine.pool.size())  # type: ignore[attr-defined]
        ready = 0
        all_open = asyncio.Event()

        async def one() -> None:
            nonlocal ready
            try:
                async with self._reads.connect() as conn:
                    await conn.execute(_WARM_ARRAYS, {"ids": [0], "names": [""]})
                    ready += 1
                    if ready == count:
                        all_open.set()
                    # Held until all are open, so that each is a connection of its own.
                    await all_open.wait()
            finally:
                all_open.set()  # one that failed lets the others go

        try:
            await asyncio.gather(*(one() for _ in range(count)))
        except Exception:  # the first requests open them as before
            log.warning("could not ready the database's connections at start", exc_info=True)

    async def ping(self) -> None:
        async with self.engine.connect() as conn:
            await conn.execute(text("SELECT 1"))

    async def migrate(self, revision: str = "head") -> None:
        """Bring the schema to ``revision`` with Alembic."""
        async with self.transactional.begin() as conn:
            await conn.run_sync(_upgrade, revision)

    async def close(self) -> None:
        self._closed = True
        held, self._writer_conn = self._writer_conn, None
        # Not from under a write still running: its task closes it when done.
        if held is not None and not self._write_lock.locked():
            with contextlib.suppress(Exception):
                await held.close()
        if self._writer is not None:
            await self._writer.dispose()
        await self.engine.dispose()
        # The connections' threads end before the loop may: see ``OneHopDBAPI.settle``.
        # Not the writer's while a write still runs on it (its task closes it when done).
        writer_module = None if self._write_lock.locked() else self._writer_module
        for module in (self._sqlite_module, writer_module):
            if module is not None:
                await module.settle()
        if self._sqlite_module is not None:
            self._sqlite_module.close_loop_readers()


def alembic_config(connection: Connection | None = None) -> Any:
    from alembic.config import Config

    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _upgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.upgrade(alembic_config(connection), revision)
