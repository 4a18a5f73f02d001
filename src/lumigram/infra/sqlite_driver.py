"""SQLite statements in one hop to the connection's thread, not four.

aiosqlite runs each SQLite connection in a thread of its own and every call on it is a
hop there and back: a queue put, a thread wake-up, and a wake-up of the event loop for
the answer. SQLAlchemy's adapter makes four such hops per statement (open a cursor,
execute, fetch the rows, close the cursor), and in the embedded shape every request and
every consumer runs on the serving loop, so those hops were a large share of a write's
cost. This module's cursor does the four in one function in the connection's thread.

The writer's connection goes one step further (``writer_dbapi``): once its transaction is
open, SQLite's write lock is this connection's and no statement in it can wait for another
(WAL: readers never block the writer), so the statements run right where they are called,
on the event loop, with no hop at all. Each hop cost about half a millisecond of waiting
here, and the one writer was held through all of them: a like's transaction held it for
about 5.5 ms, of which about 1 ms was work, so the writer passed at most ~180
transactions a second. ``COMMIT`` (which may checkpoint the log to disk) still hops, so
the loop never waits on a disk sync; ``BEGIN IMMEDIATE`` (which may wait for another
process's write) runs in place with no busy wait when it can, and hops to wait only when
SQLite answers busy (``begin_immediate``), so the loop never waits on a lock either.

A reader's statement runs on the event loop too when it is quick: when its recent runs
took at most ``IN_PLACE_MS`` (a post's row by id, a page's Statuses). Under load a hop
costs far more than such a statement: the thread must win the interpreter lock back from
the busy loop for each row it steps, and a home page's dozen statements then took
40-70 ms where they ran in a few. Such a statement runs on a connection of the event
loop's own thread (``_LoopReader``), opened there and used by no other thread, never on a
pooled reader: a pooled reader stays its thread's alone, as before. A statement on the
loop's connection is prepared, stepped to its end and reset in one call, so no read
transaction is ever left open on it between statements, and every statement reads the
database as the last commit left it. A slower statement (a feed pulled from the
database, a full-text search) hops to a pooled reader's thread, so its C work runs beside
the loop; a statement not seen before hops once to be measured. The loop's connection
never waits for another process's lock: answered busy, the statement hops and waits in
the thread. What the thread measures is its CPU time, so a statement that waited there
for the disk may still be tried in place; its first slow run there marks it slow again.

It is given to SQLAlchemy's aiosqlite dialect as its DBAPI module (``module=`` of
``create_async_engine``), so the dialect, its SQL and its pool stay SQLAlchemy's own;
only where statements run changes. It relies on aiosqlite's ``_execute`` (run a function
in the connection's thread), as SQLAlchemy's own adapter relies on its queue: both are
pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import asyncio
import collections
import math
import sqlite3
import threading
import time
import weakref
from collections.abc import Callable, Sequence
from typing import Any

import aiosqlite
from sqlalchemy.dialects.sqlite.aiosqlite import (
    AsyncAdapt_aiosqlite_connection,
    AsyncAdapt_aiosqlite_cursor,
    AsyncAdapt_aiosqlite_dbapi,
)
from sqlalchemy.util import EMPTY_DICT
from sqlalchemy.util.concurrency import await_

#: What one statement leaves behind: its description, rows, rowcount and lastrowid.
_Outcome = tuple[Any, list[Any], int, int | None]


def _run(conn: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> _Outcome:
    """One statement, start to end, in the connection's own thread."""
    cursor = conn.cursor()
    try:
        if many:
            cursor.executemany(operation, parameters)
        elif parameters is None:
            cursor.execute(operation)
        else:
            cursor.execute(operation, parameters)
        description = cursor.description
        rows = cursor.fetchall() if description else []
        return description, rows, cursor.rowcount, cursor.lastrowid
    finally:
        cursor.close()


class OneHopCursor(AsyncAdapt_aiosqlite_cursor):
    """A buffered cursor whose statement, rows and close are one call in the thread."""

    __slots__ = ("_description", "_lastrowid", "_rowcount")

    def __init__(self, adapt_connection: Any) -> None:
        # No aiosqlite cursor is opened here: ``_run`` opens and closes its own.
        self._adapt_connection = adapt_connection
        self._connection = adapt_connection._connection
        self._cursor = None  # type: ignore[assignment]
        self._soft_closed_memoized = EMPTY_DICT
        self._rows = collections.deque()
        self._description: Any = None
        self._rowcount = -1
        self._lastrowid: int | None = None

    @property
    def description(self) -> Any:
        return self._description

    @property
    def rowcount(self) -> int:
        return self._rowcount

    @property
    def lastrowid(self) -> Any:
        return self._lastrowid

    async def _async_soft_close(self) -> None:
        return None  # nothing is open in the thread between statements

    def close(self) -> None:
        self._rows.clear()

    def execute(self, operation: Any, parameters: Any = None) -> Any:
        try:
            return await_(self._run(operation, parameters, many=False))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    def executemany(self, operation: Any, seq_of_parameters: Sequence[Any]) -> Any:
        try:
            return await_(self._run(operation, seq_of_parameters, many=True))
        except Exception as error:
            self._adapt_connection._handle_exception(error)

    async def _run(self, operation: Any, parameters: Any, many: bool) -> None:
        outcome = await run_statement(self._adapt_connection, operation, parameters, many)
        self._description, rows, self._rowcount, self._lastrowid = outcome
        self._rows = collections.deque(rows)

    def nextset(self) -> None:
        return None  # SQLite answers one result set per statement

    def setinputsizes(self, *inputsizes: Any) -> None:
        return None


class _OneHopConnection(AsyncAdapt_aiosqlite_connection):
    __slots__ = ()
    _cursor_cls = OneHopCursor

    def rollback(self) -> None:
        # SQLAlchemy rolls back a connection given back to the pool, and an autocommit
        # one after every use, trusting the driver to ignore it; here it is a hop each.
        # With no transaction open (SQLite says so without a hop) there is nothing to undo.
        connection: Any = self._connection
        if connection._connection is not None and not connection._connection.in_transaction:
            return
        super().rollback()


class _Hops:
    """How many functions were handed to a connection's thread, and how many it finished.

    Each count is written by one thread only (the loop counts what it hands over, the
    connection's thread what it finished), so neither loses an update."""

    __slots__ = ("finished", "started")

    def __init__(self) -> None:
        self.started = 0
        self.finished = 0

    @property
    def idle(self) -> bool:
        """Nothing queued for or running in the thread: the connection is the caller's."""
        return self.started == self.finished

    def counted(self, fn: Callable[..., Any]) -> Callable[..., Any]:
        self.started += 1

        def run(*args: Any) -> Any:
            try:
                return fn(*args)
            finally:
                self.finished += 1

        return run


_hops: weakref.WeakKeyDictionary[aiosqlite.Connection, _Hops] = weakref.WeakKeyDictionary()


def _hops_of(connection: aiosqlite.Connection) -> _Hops:
    hops = _hops.get(connection)
    if hops is None:
        hops = _hops[connection] = _Hops()
    return hops


class WriterCursor(OneHopCursor):
    """The writer's cursor: inside an open transaction a statement runs in place.

    Only when nothing is queued for or running in the connection's thread (a COMMIT or
    ROLLBACK cut off by a cancellation may still be running there): otherwise it hops
    and takes its turn behind it, as every statement did before. (``run_statement``
    decides, by the connection it is given.)"""

    __slots__ = ()


async def run_statement(adapted: Any, operation: str, parameters: Any, many: bool) -> _Outcome:
    """One statement on a connection of this module (``adapted``, SQLAlchemy's adapter of
    it), start to end: in place on the writer inside its open transaction (``WriterCursor``
    says when); a reader's quick one in place on the event loop's own connection
    (``OneHopDBAPI.loop_reader``); else in one hop to the connection's thread. The cursors
    send theirs through here, and so do prebuilt statements sent past SQLAlchemy's
    execution (``lumigram.infra.sqlite_prebuilt``)."""
    connection: Any = adapted._connection  # an aiosqlite.Connection; ``_execute`` is untyped
    async with adapted._execute_mutex:
        raw: sqlite3.Connection = connection._conn
        if isinstance(adapted, _WriterConnection):
            hops = _hops_of(connection)
            if raw.in_transaction and hops.idle:
                return _run(raw, operation, parameters, many)
            outcome: _Outcome = await connection._execute(hops.counted(_run), raw, operation, parameters, many)
            return outcome
        if raw is not None and not raw.in_transaction and _cost_ms.get(operation, IN_PLACE_MS + 1) <= IN_PLACE_MS:
            loop_reader = adapted.dbapi.loop_reader() if isinstance(adapted.dbapi, OneHopDBAPI) else None
            if loop_reader is not None:
                began = time.perf_counter()
                try:
                    outcome = _run(loop_reader, operation, parameters, many)
                except sqlite3.OperationalError as error:
                    code = error.sqlite_errorcode & 0xFF
                    if code == sqlite3.SQLITE_READONLY:
                        # A write sent on a reader (it autocommits there): the loop's
                        # connection only reads, so it runs where it did, from now on.
                        _cost_ms[operation] = math.inf
                    elif code != sqlite3.SQLITE_BUSY:
                        raise
                    # Else locked by another process (rare in WAL: a recovery, an exclusive
                    # lock). Either way nothing was done; the statement hops, and waits
                    # in the thread, not on the loop.
                else:
                    _note_cost(operation, (time.perf_counter() - began) * 1000)
                    return outcome
        outcome, spent_ms = await connection._execute(_run_timed, raw, operation, parameters, many)
        _note_cost(operation, spent_ms)
        return outcome


#: A reader's statement whose recent runs took at most this long (ms) runs in place on the
#: event loop; a longer one in a pooled reader's thread, where its C work runs beside it.
IN_PLACE_MS = 1.0
#: Each statement's recent cost (ms, by its SQL): the longest run at once, decaying as
#: shorter runs follow. A statement not yet seen hops once, to be measured there.
_cost_ms: dict[str, float] = {}
#: The most statements remembered (lists of every length are statements of their own).
_COSTS_KEPT = 10_000
#: Prepared statements the loop's connection keeps (sqlite3's default is 128): it runs
#: every quick read of the process, and each length of an ``IN (...)`` list is one more.
LOOP_STATEMENTS_KEPT = 1024
#: How long closing waits for connection threads still running a statement (``settle``).
SETTLE_SECONDS = 2.0


def _note_cost(operation: str, spent_ms: float) -> None:
    before = _cost_ms.get(operation)
    if before is None and len(_cost_ms) >= _COSTS_KEPT:
        _cost_ms.clear()
    if before is None and not operation.lstrip()[:6].upper().startswith(("SELECT", "WITH")):
        # Not a read: a write or a schema change sent on a reader's connection (bulk
        # loads, migrations) runs where it did, inside that connection's transaction.
        spent_ms = math.inf
    _cost_ms[operation] = spent_ms if before is None or spent_ms > before else before * 0.75 + spent_ms * 0.25


def _run_timed(raw: sqlite3.Connection, operation: str, parameters: Any, many: bool) -> tuple[_Outcome, float]:
    """``_run`` in a pooled reader's thread, and the thread's CPU time it took (ms)."""
    began = time.thread_time()
    return _run(raw, operation, parameters, many), (time.thread_time() - began) * 1000


class _LoopReader(threading.local):
    """A reading connection of the calling thread's own (the event loop's), opened on
    first use with the pool's arguments. SQLite checks that no other thread uses it."""

    connection: sqlite3.Connection | None = None


def adapted_connection(dbapi_connection: Any) -> Any:
    """``dbapi_connection`` (a pooled connection's) if it is one of this module's, whose
    statements ``run_statement`` can send; else None."""
    return dbapi_connection if isinstance(dbapi_connection, _OneHopConnection) else None


class _WriterConnection(_OneHopConnection):
    __slots__ = ()
    _cursor_cls = WriterCursor

    def commit(self) -> None:
        self._end(lambda raw: raw.commit)

    def rollback(self) -> None:
        connection: Any = self._connection
        raw = connection._connection
        # A BEGIN cut off by a cancellation may still be waiting in the thread: roll back
        # after it rather than leave the transaction it opens to the connection's next user.
        if raw is not None and not raw.in_transaction and _hops_of(connection).idle:
            return
        self._end(lambda raw: raw.rollback)

    def _end(self, pick: Callable[[sqlite3.Connection], Callable[[], None]]) -> None:
        # In the thread, counted: a statement of the next transaction must not run in
        # place while this one's end is still running there.
        connection: Any = self._connection
        try:
            await_(connection._execute(_hops_of(connection).counted(pick(connection._conn))))
        except Exception as error:
            self._handle_exception(error)


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter, with connections whose cursors make one hop."""

    _connection_cls: type[AsyncAdapt_aiosqlite_connection] = _OneHopConnection

    def __init__(self, aiosqlite: Any, sqlite: Any) -> None:
        super().__init__(aiosqlite, sqlite)
        #: The database the pool opens its connections to (and whether it is named by a
        #: URI), once it has; None for one in memory, which lives in its one connection.
        self._database: tuple[str, bool] | None = None
        self._loop_reader = _LoopReader()
        #: Every thread's loop connection, for ``close_loop_readers``.
        self._loop_connections: list[sqlite3.Connection] = []
        #: The aiosqlite connections the pool opened whose threads may still run, for ``settle``.
        self._opened: list[aiosqlite.Connection] = []

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        if self._database is None and arg:
            database = str(arg[0])
            if database not in ("", ":memory:") and "mode=memory" not in database:
                self._database = database, bool(kw.get("uri", False))
        adapted = super().connect(*arg, **kw)
        self._opened = [opened for opened in self._opened if opened._thread.is_alive()]
        self._opened.append(adapted._connection)
        # The same object with this module's cursor: the class differs in that alone
        # (all have empty ``__slots__``), and SQLAlchemy builds it in one place.
        adapted.__class__ = self._connection_cls
        return adapted

    def loop_reader(self) -> sqlite3.Connection | None:
        """The calling thread's own reading connection to the pool's database file, opened
        on first use; None for a database in memory (it lives in its one connection)."""
        connection: sqlite3.Connection | None = self._loop_reader.connection
        if connection is not None or self._database is None:
            return connection
        database, uri = self._database
        connection = sqlite3.connect(
            database, uri=uri, isolation_level=None, check_same_thread=True, cached_statements=LOOP_STATEMENTS_KEPT
        )
        # It only reads, and never waits for a lock on the loop (``run_statement``).
        connection.execute("PRAGMA query_only=ON")
        connection.execute("PRAGMA busy_timeout=0")
        self._loop_reader.connection = connection
        self._loop_connections.append(connection)
        return connection

    async def settle(self) -> None:
        """Stop every connection thread this module started and wait, at most
        ``SETTLE_SECONDS``, for them to end; called once the pool is disposed.

        A task cancelled while its statement runs in a connection's thread stops waiting,
        but the statement runs on, and its connection may not have been handed back to
        the pool. When it ends, the thread hands its answer to the event loop, and once
        that loop has closed, the answer becomes an error in the thread. Each thread is
        told to close its connection after the statement in hand, and the loop stays
        open (this waits in a thread of its own) until they have."""
        stopping = [opened.stop() for opened in self._opened if opened._running]
        threads = [opened._thread for opened in self._opened if opened._thread.is_alive()]
        if threads:
            await asyncio.to_thread(_join, threads, time.monotonic() + SETTLE_SECONDS)
        for future in stopping:
            if future is not None and future.done() and not future.cancelled():
                future.exception()  # retrieved: a close that failed has nothing left to tell
        self._opened = [opened for opened in self._opened if opened._thread.is_alive()]

    def close_loop_readers(self) -> None:
        """Close the loop connections this thread can: its own. Another thread's (an event
        loop run elsewhere, as a test client may) closes when that thread ends."""
        self._loop_reader.connection = None
        kept = []
        for connection in self._loop_connections:
            try:
                connection.close()
            except sqlite3.ProgrammingError:  # made in another thread
                kept.append(connection)
        self._loop_connections = kept


def _join(threads: list[threading.Thread], deadline: float) -> None:
    for thread in threads:
        thread.join(max(0.0, deadline - time.monotonic()))


class WriterDBAPI(OneHopDBAPI):
    """``OneHopDBAPI`` for SQLite's one writer: statements of an open transaction in place."""

    _connection_cls = _WriterConnection


def one_hop_dbapi() -> OneHopDBAPI:
    """The DBAPI module to give SQLAlchemy's aiosqlite dialect (``module=``)."""
    return OneHopDBAPI(aiosqlite, sqlite3)


def writer_dbapi() -> WriterDBAPI:
    """The DBAPI module for the writer's engine: its transactions' statements run in place."""
    return WriterDBAPI(aiosqlite, sqlite3)


def in_transaction(adapted: Any) -> bool:
    """Whether the SQLite connection under ``adapted`` (one of this module's) has a
    transaction open; SQLite says so without a hop."""
    raw = adapted._connection._conn
    return raw is not None and bool(raw.in_transaction)


#: How long a connection waits for another process's lock before SQLite says it is busy.
BUSY_TIMEOUT_MS = 5000


def _begin_waiting(raw: sqlite3.Connection) -> None:
    """``BEGIN IMMEDIATE`` that waits out the busy timeout for another process's lock: in
    the connection's thread only."""
    raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    raw.execute("BEGIN IMMEDIATE")


async def begin_immediate(adapted: Any) -> None:
    """``BEGIN IMMEDIATE`` on the writer. Tried first in place with no busy wait: SQLite's
    write lock is free unless another process (a ``lumigram`` command) holds it, since
    this process's writers take turns before they begin, so the hop to the thread and
    back (a quarter of a small transaction's CPU) is saved. Only when SQLite answers busy
    does it hop and wait there, as long as the busy timeout says, which the event loop
    must not. In place only when nothing is queued for or running in the thread."""
    connection: Any = adapted._connection
    raw: sqlite3.Connection = connection._conn
    hops = _hops_of(connection)
    if hops.idle:
        raw.execute("PRAGMA busy_timeout=0")
        try:
            raw.execute("BEGIN IMMEDIATE")
            return
        except sqlite3.OperationalError as error:
            if error.sqlite_errorcode & 0xFF != sqlite3.SQLITE_BUSY:
                raise
        finally:
            raw.execute(f"PRAGMA busy_timeout={BUSY_TIMEOUT_MS}")
    await connection._execute(hops.counted(_begin_waiting), raw)


async def end_transaction(adapted: Any, commit: bool) -> None:
    """``COMMIT`` (which may checkpoint the log to disk) or ``ROLLBACK`` on the writer, in
    its thread and counted, as the connection's own ``commit`` and ``rollback`` do. A
    rollback with nothing open and nothing under way in the thread is no hop at all; one
    behind a ``BEGIN`` still waiting there (cut off by a cancellation) undoes what it opens."""
    connection: Any = adapted._connection
    raw = connection._conn
    hops = _hops_of(connection)
    if not commit and (raw is None or (not raw.in_transaction and hops.idle)):
        return
    await connection._execute(hops.counted(raw.commit if commit else raw.rollback))
