"""SQLite statements in one hop to the connection's thread, not four.

aiosqlite runs each SQLite connection in a thread of its own and every call on it is a
hop there and back: a queue put, a thread wake-up, and a wake-up of the event loop for
the answer. SQLAlchemy's adapter makes four such hops per statement (open a cursor,
execute, fetch the rows, close the cursor), and in the embedded shape every request and
every consumer runs on the serving loop, so those hops were a large share of a write's
cost. This module's cursor does the four in one function in the connection's thread.

It is given to SQLAlchemy's aiosqlite dialect as its DBAPI module (``module=`` of
``create_async_engine``), so the dialect, its SQL and its pool stay SQLAlchemy's own;
only where statements run changes. It relies on aiosqlite's ``_execute`` (run a function
in the connection's thread), as SQLAlchemy's own adapter relies on its queue: both are
pinned in ``pyproject.toml``.
"""

from __future__ import annotations

import collections
import sqlite3
from collections.abc import Sequence
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
        connection: Any = self._connection  # an aiosqlite.Connection; ``_execute`` is untyped
        async with self._adapt_connection._execute_mutex:
            outcome: _Outcome = await connection._execute(_run, connection._conn, operation, parameters, many)
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


class OneHopDBAPI(AsyncAdapt_aiosqlite_dbapi):
    """SQLAlchemy's aiosqlite DBAPI adapter, with connections whose cursors make one hop."""

    def connect(self, *arg: Any, **kw: Any) -> AsyncAdapt_aiosqlite_connection:
        adapted = super().connect(*arg, **kw)
        # The same object with this module's cursor: the class differs in that alone
        # (both have empty ``__slots__``), and SQLAlchemy builds it in one place.
        adapted.__class__ = _OneHopConnection
        return adapted


def one_hop_dbapi() -> OneHopDBAPI:
    """The DBAPI module to give SQLAlchemy's aiosqlite dialect (``module=``)."""
    return OneHopDBAPI(aiosqlite, sqlite3)
