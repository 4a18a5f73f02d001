"""Small SQL building blocks the hot read paths share.

Building a SQLAlchemy statement is not free: constructing the expression and computing
its cache key cost about as much as the round trip to PostgreSQL for a small read
(0.09 ms of 0.2 ms measured here). The reads every page makes are therefore built once
per dialect (``Prebuilt``) with named parameters, and executed with the values.

Executing one is not free either: SQLAlchemy's execution context, its greenlet hop and
its result rows cost about 0.1 ms of CPU per statement on PostgreSQL, against 0.035 ms
for the same prepared statement sent by asyncpg itself. ``Prebuilt.rows`` therefore
sends a read straight through the pooled connection's driver, with the SQL SQLAlchemy
compiled for it once, on PostgreSQL: outside a transaction (``Database.connect``) and
inside one, which the driver holds (``Database.begin``). On SQLite, ``rows`` and
``execute`` send to the connection past SQLAlchemy's execution as well, with its type
processing kept (``lumigram.infra.sqlite_prebuilt``). Other statements go through
SQLAlchemy.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, Generic, TypeVar, cast

import asyncpg
from sqlalchemy import BigInteger, ClauseElement, ColumnElement, Executable, Insert, Table, any_, bindparam, insert
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.types import TypeEngine

from lumigram.infra import sqlite_prebuilt

log = logging.getLogger(__name__)

S = TypeVar("S", bound=Executable)


def one_of(conn: AsyncConnection, column: ColumnElement[int], ids: Collection[int]) -> ColumnElement[bool]:
    """``column IN (ids)``, written so that PostgreSQL sees one statement whatever the count.

    ``IN`` expands to one placeholder per id, so every list length is a different
    statement: SQLAlchemy renders it anew on each execution and asyncpg prepares it again
    on each pooled connection (a round trip and a parse in the server). ``= ANY($1)``
    with the ids as one array parameter is prepared once. SQLite has no arrays and no
    prepare round trip, so it keeps ``IN``.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger), unique=True))
    return column.in_(list(ids))


def among(
    dialect: str, column: ColumnElement[Any], name: str, item_type: TypeEngine[Any] | None = None
) -> ColumnElement[bool]:
    """``one_of`` for a prebuilt statement: ``column`` among the list bound as ``name``
    (of ids, unless ``item_type`` says what else)."""
    if dialect == "postgresql":
        return column == any_(bindparam(name, type_=ARRAY(item_type if item_type is not None else BigInteger())))
    return column.in_(bindparam(name, expanding=True))


def insert_columns(table: Table, columns: Sequence[str]) -> Insert:
    """``insert(table)`` writing exactly ``columns``, each from the parameter of its name:
    what ``Prebuilt.execute`` sends (a bare ``insert(table)`` takes its columns from each
    call's parameters, which only SQLAlchemy does)."""
    return insert(table).values({name: bindparam(name) for name in columns})


class Row(asyncpg.Record):  # type: ignore[misc]  # the driver ships no types
    """A driver's row read by name as SQLAlchemy's rows are (``row.id``), by position and
    by unpacking."""

    def __getattr__(self, name: str) -> Any:
        try:
            return self[name]
        except KeyError:
            raise AttributeError(name) from None


def _row_class(statement: ClauseElement) -> type[Row]:
    """``Row`` with the statement's columns as properties: a name found on the class is
    read in C, where ``__getattr__`` (called only after a failed lookup) cost about
    0.5 µs per read, and hydrating a page reads sixteen columns of each of its posts."""
    columns = getattr(statement, "exported_columns", None)  # a select's, or what a write returns
    names = [] if columns is None else [name for name in columns.keys() if isinstance(name, str)]  # noqa: SIM118
    fields = {name: property(itemgetter(name)) for name in names if name.isidentifier() and not hasattr(Row, name)}
    return type("Row", (Row,), fields)


@dataclass(frozen=True, slots=True)
class _DriverSql:
    """A statement as PostgreSQL's driver takes it: the SQL, and for each ``$n`` the
    parameter's name and the value it has when the caller gives none."""

    sql: str
    names: tuple[str, ...]
    defaults: Mapping[str, Any]
    row_class: type[Row]
    #: A select: safe to send again when the driver failed outside a transaction.
    reads_only: bool

    def arguments(self, params: Mapping[str, Any]) -> list[Any]:
        return [params[name] if name in params else self.defaults[name] for name in self.names]


class Prebuilt(Generic[S]):
    """A statement built on first use for each dialect, then reused: call it with the
    connection it will run on. ``build`` gets the dialect's name (for ``among``)."""

    def __init__(self, build: Callable[[str], S]) -> None:
        self._build = build
        self._built: dict[str, S] = {}
        self._driver_sql: _DriverSql | None = None
        #: SQLite's form (``sqlite_prebuilt``), False once found to be a shape it does not take.
        self._sqlite_sql: sqlite_prebuilt.SqliteSql | bool | None = None

    def __call__(self, conn: AsyncConnection) -> S:
        dialect = conn.dialect.name
        statement = self._built.get(dialect)
        if statement is None:
            statement = self._built[dialect] = self._build(dialect)
        return statement

    async def rows(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Sequence[Any]:
        """Every row the statement reads with ``params``: by the driver itself on a
        PostgreSQL connection outside a transaction, else through SQLAlchemy. Rows are
        read as SQLAlchemy's are (by name, position or unpacking)."""
        if conn.dialect.name == "postgresql":
            driver = _autocommit_driver(conn)
            if driver is not None:
                compiled = self._driver_sql or self._compile(conn)
                try:
                    found: Sequence[Any] = await driver.fetch(
                        compiled.sql, *compiled.arguments(params), record_class=compiled.row_class
                    )
                    return found
                except Exception as error:
                    if driver.is_in_transaction() or not compiled.reads_only:
                        # The transaction is aborted now (or a write may have been done):
                        # said as SQLAlchemy says it, not sent again.
                        raise driver_error(conn, error, compiled.sql) from error
                    # A read on its own is safe to send again: SQLAlchemy does, and if the
                    # connection is gone, says so in its own exceptions and takes it out
                    # of the pool.
                    log.debug("driver read failed; retrying through SQLAlchemy", exc_info=True)
        elif conn.dialect.name == "sqlite":
            sent = await self._on_sqlite(conn, params, many=False)
            if sent is not None:
                return sent
        return (await conn.execute(self(conn), params)).all()

    async def execute(self, conn: AsyncConnection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]]) -> None:
        """Run a write that reads nothing back, with one set of parameters or a list of
        them (``executemany``): by the driver on PostgreSQL (inside ``Database.begin``'s
        transaction, or on its own on a ``Database.connect`` connection), else through
        SQLAlchemy. Statements for the driver name every column they write
        (``insert(table).values(column=bindparam(...))``): SQLAlchemy is not there to fill
        in the ones a caller leaves out."""
        if conn.dialect.name == "postgresql":
            driver = _autocommit_driver(conn)
            if driver is not None:
                compiled = self._driver_sql or self._compile(conn)
                try:
                    if isinstance(params, Mapping):
                        await driver.execute(compiled.sql, *compiled.arguments(params))
                    else:
                        await driver.executemany(compiled.sql, [compiled.arguments(one) for one in params])
                except Exception as error:
                    raise driver_error(conn, error, compiled.sql) from error
                return
        elif (
            conn.dialect.name == "sqlite"
            and await self._on_sqlite(conn, params, many=not isinstance(params, Mapping)) is not None
        ):
            return
        await conn.execute(self(conn), params)

    async def _on_sqlite(
        self, conn: AsyncConnection, params: Mapping[str, Any] | Sequence[Mapping[str, Any]], many: bool
    ) -> list[Any] | None:
        """The statement's rows, sent past SQLAlchemy's execution (``sqlite_prebuilt``);
        None, having sent nothing, when it must go through SQLAlchemy."""
        if self._sqlite_sql is False:
            return None
        adapted = sqlite_prebuilt.sqlite_target(conn)
        if adapted is None:
            return None
        compiled = self._sqlite_sql
        if not isinstance(compiled, sqlite_prebuilt.SqliteSql):
            compiled = sqlite_prebuilt.compile_for_sqlite(cast(ClauseElement, self(conn)), conn.dialect)
            if compiled is None:
                self._sqlite_sql = False
                return None
            self._sqlite_sql = compiled
        values: Any
        if many:
            batch = [compiled.arguments(one) for one in cast(Sequence[Mapping[str, Any]], params)]
            first = batch[0] if batch else None
            if first is None or any(one is None or one[0] != first[0] for one in batch):
                return None  # nothing to send, an empty list, or lists of different lengths
            sql, values = first[0], [one[1] for one in batch if one is not None]
        else:
            prepared = compiled.arguments(cast(Mapping[str, Any], params))
            if prepared is None:
                return None
            sql, values = prepared
        try:
            return await sqlite_prebuilt.send(conn, adapted, compiled, sql, values, many)
        except Exception as error:
            raise driver_error(conn, error, sql) from error

    async def first(self, conn: AsyncConnection, params: Mapping[str, Any]) -> Any:
        """The first row ``rows`` reads, or None."""
        found = await self.rows(conn, params)
        return found[0] if found else None

    def _compile(self, conn: AsyncConnection) -> _DriverSql:
        statement: ClauseElement = cast(ClauseElement, self(conn))
        compiled = cast(SQLCompiler, statement.compile(dialect=conn.dialect))
        if compiled.positiontup is None or compiled.post_compile_params:
            raise TypeError("only statements with plain (not expanding) parameters can go to the driver")
        defaults = {name: bind.value for name, bind in compiled.binds.items() if not bind.required}
        reads_only = not (compiled.isinsert or compiled.isupdate or compiled.isdelete)
        self._driver_sql = _DriverSql(
            compiled.string, tuple(compiled.positiontup), defaults, _row_class(statement), reads_only
        )
        return self._driver_sql


def driver_error(conn: AsyncConnection, error: Exception, statement: str) -> Exception:
    """``error``, raised by the driver under ``conn``, as SQLAlchemy would have raised it
    (``IntegrityError`` for a unique violation, ``DBAPIError`` for a lost connection), so
    callers catch one family of exceptions whichever way a statement went."""
    dbapi_base = conn.dialect.loaded_dbapi.Error
    try:
        adapted = conn.sync_connection.connection.dbapi_connection if conn.sync_connection is not None else None
    except Exception:  # invalidated meanwhile
        adapted = None
    if isinstance(error, DBAPIError) or adapted is None:
        return error
    try:
        adapted._handle_exception(error)  # raises the error in DBAPI terms
    except Exception as translated:
        if isinstance(translated, dbapi_base):
            wrapped = DBAPIError.instance(statement, None, translated, dbapi_base, dialect=conn.dialect)
            return cast(Exception, wrapped)
    return error  # not a database error (an OSError, say): as it came


def _autocommit_driver(conn: AsyncConnection) -> Any:
    """The asyncpg connection under ``conn`` when SQLAlchemy's statements on it run as
    the driver runs them (no transaction SQLAlchemy would begin lazily around them: on
    their own, or in the driver's transaction of ``Database.begin``), else None."""
    try:
        pooled = conn.sync_connection.connection if conn.sync_connection is not None else None
    except Exception:  # closed or invalidated: SQLAlchemy's own path reports it
        return None
    if pooled is None or not getattr(pooled.dbapi_connection, "autocommit", False):
        return None
    return pooled.driver_connection
