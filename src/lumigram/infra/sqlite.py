"""SQLite for the embedded shape: statements on the event loop's thread, one writer in turn.

**Statements run inline.** aiosqlite runs each call (make a cursor, execute, fetch, close)
on a thread of its own and hands the result back to the event loop: four thread hops per
statement, each needing the GIL back from the event loop. While the loop was busy
serving other requests, every hop waited out the interpreter's switch interval (5 ms),
so a home page render of a dozen statements that takes 1 ms on an idle server took
hundreds of milliseconds under load, and held the loop's other work behind it. A
SQLite statement on a local file takes microseconds, far less than one hop: here the
same aiosqlite connection runs every call directly on the loop's thread (its own thread
only opens and closes the file).

**One writer, in turn.** SQLite has one writer at a time. Left to itself, each
connection that wants to write polls for the lock (the busy handler) and gives up after
the busy timeout: under a few dozen concurrent writers, the newcomers kept winning and
some requests waited out the timeout and got 503 "database is locked". Every write
transaction therefore runs on one writer connection, taken first come, first served
through an ``asyncio.Lock``, and opens with ``BEGIN IMMEDIATE`` so it holds the write
lock from its first statement (a deferred transaction that reads first fails outright
when another writer got in between). Only another process (a ``lumigram`` command) can
then hold the lock: ``BEGIN IMMEDIATE`` is retried without blocking the loop until
``BUSY_SECONDS``, then the request gets a 503.

**Checkpoints off the loop.** A commit that fills the write-ahead log past its limit
copies it back into the database file and syncs it to disk, which can take a while on
a busy disk: the writer never does, a worker thread checkpoints (``PASSIVE``, which
blocks neither readers nor the writer) at most every ``CHECKPOINT_EVERY`` seconds after
writes.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from functools import partial
from typing import Any

import aiosqlite
from sqlalchemy.exc import OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine

log = logging.getLogger(__name__)

#: How long a write waits for its turn at the writer before the request is answered 503:
#: far beyond any queue a family's instance builds, short of a hung client.
WRITE_WAIT_SECONDS = 60.0
#: How long a write waits for another process to let go of the database's write lock.
BUSY_SECONDS = 5.0
CHECKPOINT_EVERY = 1.0


def pragmas(dbapi_connection: Any, _record: Any) -> None:
    """Every connection's settings (a SQLAlchemy ``connect`` listener)."""
    # WAL lets readers run beside the writer; NORMAL is durable across process
    # crashes in WAL mode and ~8x cheaper per commit than FULL.
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA foreign_keys=ON")
    # A reader waits out another process's recovery of the log (rare and short), on the
    # event loop: briefly. Writes wait their turn at the writer, never here.
    cursor.execute("PRAGMA busy_timeout=100")
    cursor.close()


def writer_pragmas(dbapi_connection: Any, record: Any) -> None:
    pragmas(dbapi_connection, record)
    cursor = dbapi_connection.cursor()
    # The writer runs on the event loop: it never sleeps in SQLite's busy handler
    # (``SqliteWriter._begin`` retries instead) and never checkpoints (a thread does).
    cursor.execute("PRAGMA busy_timeout=0")
    cursor.execute("PRAGMA wal_autocheckpoint=0")
    cursor.close()


class _RunsInline:
    """Stands in for aiosqlite's queue to its thread once connected: SQLAlchemy hands it
    calls directly (switching a connection in and out of autocommit), run here at once."""

    @staticmethod
    def put_nowait(item: tuple[asyncio.Future[Any] | None, Callable[[], Any]]) -> None:
        future, function = item
        try:
            result = function()
        except Exception as error:
            if future is None:
                raise
            future.set_exception(error)
        else:
            if future is not None:
                future.set_result(result)


class InlineConnection(aiosqlite.Connection):
    """An aiosqlite connection whose calls run on the calling (event loop's) thread; its
    own thread only opens the file and closes it."""

    def __init__(self, connector: Callable[[], sqlite3.Connection], iter_chunk_size: int) -> None:
        super().__init__(connector, iter_chunk_size)
        self._to_thread = self._tx

    async def _connect(self) -> aiosqlite.Connection:
        connected = await super()._connect()
        self._tx = _RunsInline()  # type: ignore[assignment]  # the one method SQLAlchemy calls
        return connected

    async def _execute(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        if not self._running or not self._connection:
            raise ValueError("Connection closed")
        return fn(*args, **kwargs)

    def stop(self) -> asyncio.Future[Any] | None:
        self._tx = self._to_thread  # the thread's last call: close and end
        return super().stop()


def inline_connector(path: str, **options: Any) -> Callable[[], Awaitable[aiosqlite.Connection]]:
    """An ``async_creator`` for SQLAlchemy: connections to ``path`` that run inline."""

    async def connect() -> aiosqlite.Connection:
        connection = InlineConnection(partial(sqlite3.connect, path, check_same_thread=False, **options), 64)
        connection._thread.daemon = True  # as SQLAlchemy does for aiosqlite's own
        return await connection

    return connect


class SqliteWriter:
    """The one writer connection (an engine with a pool of one) and the turns at it."""

    def __init__(self, engine: AsyncEngine, path: str) -> None:
        self.engine = engine
        self._path = path
        self._turn = asyncio.Lock()
        #: The task whose transaction holds the writer, and its connection.
        self._holder: contextvars.ContextVar[tuple[asyncio.Task[Any], AsyncConnection] | None] = contextvars.ContextVar(
            f"sqlite_writer_{id(self)}", default=None
        )
        self._checkpointer: sqlite3.Connection | None = None
        self._checkpointing: asyncio.Future[None] | None = None
        self._checkpointed_at = 0.0

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[AsyncConnection]:
        """A write transaction on the writer connection, once it is this task's turn."""
        task = asyncio.current_task()
        held = self._holder.get()
        if held is not None and task is not None and held[0] is task:
            # A write inside this task's own write: the writer is this task's already
            # (waiting for it would wait forever), so it nests as a savepoint.
            async with held[1].begin_nested():
                yield held[1]
            return
        try:
            async with asyncio.timeout(WRITE_WAIT_SECONDS):
                await self._turn.acquire()
        except TimeoutError:
            raise PoolTimeout(f"no turn at the database writer within {WRITE_WAIT_SECONDS:.0f} s") from None
        try:
            async with self.engine.connect() as conn:
                await self._begin(conn)
                token = self._holder.set((task, conn) if task is not None else None)
                try:
                    yield conn
                except BaseException:
                    with contextlib.suppress(Exception):
                        await conn.rollback()
                    raise
                else:
                    await conn.commit()
                finally:
                    self._holder.reset(token)
        finally:
            self._turn.release()
        self._checkpoint_soon()

    @staticmethod
    async def _begin(conn: AsyncConnection) -> None:
        deadline = time.monotonic() + BUSY_SECONDS
        pause = 0.001
        while True:
            try:
                await conn.exec_driver_sql("BEGIN IMMEDIATE")
                return
            except OperationalError as error:
                # Only another process holds the lock (this one's writes take turns).
                if "locked" not in str(error.orig) and "busy" not in str(error.orig):
                    raise
                await conn.rollback()
                if time.monotonic() + pause > deadline:
                    raise
                await asyncio.sleep(pause)
                pause = min(pause * 2, 0.05)

    def _checkpoint_soon(self) -> None:
        now = time.monotonic()
        if self._checkpointing is not None or now - self._checkpointed_at < CHECKPOINT_EVERY:
            return
        self._checkpointed_at = now
        self._checkpointing = asyncio.ensure_future(asyncio.to_thread(self._checkpoint))
        self._checkpointing.add_done_callback(self._checkpointed)

    def _checkpoint(self) -> None:
        if self._checkpointer is None:
            self._checkpointer = sqlite3.connect(self._path, check_same_thread=False, isolation_level=None)
            self._checkpointer.execute("PRAGMA busy_timeout=5000")
        self._checkpointer.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()

    def _checkpointed(self, done: asyncio.Future[None]) -> None:
        self._checkpointing = None
        if not done.cancelled() and done.exception() is not None:
            log.warning("checkpointing the database failed: %s", done.exception())

    async def close(self) -> None:
        if self._checkpointing is not None:
            with contextlib.suppress(Exception):
                await self._checkpointing
        if self._checkpointer is not None:
            self._checkpointer.close()
            self._checkpointer = None
        await self.engine.dispose()
