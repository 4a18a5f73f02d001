"""Prebuilt statements sent to SQLite past SQLAlchemy's execution layer.

A prebuilt statement (``lumigram.infra.sql.Prebuilt``) is compiled once, yet each run
through SQLAlchemy still builds an execution context, looks its compiled form up in the
cache, processes its parameters, dispatches events and wraps the cursor in a result:
on SQLite that was about a fifth of a write request's CPU and a third of the embedded
consumers', for statements whose SQL never changes. Here the SQL SQLAlchemy compiled
for it, and the type processing it would apply, are kept once per statement, and each
run hands the values straight to the connection (``sqlite_driver.run_statement``: in
place on the writer inside its open transaction, else one hop to the connection's
thread), then applies the same processors to the rows.

The types that need processing keep it, because it is SQLAlchemy's own: each parameter
goes through its type's bind processor (datetimes to ISO text) and each column of a row
through its result processor (text back to an aware ``datetime``, 0/1 back to ``bool``).
A list bound with ``among`` (an expanding ``IN``) gets one ``?`` per item, the SQL for
each length kept; an empty list, and any statement whose shape this does not take
(SQL written as text, values rendered into the SQL), go through SQLAlchemy as before.

Statements sent this way are still reported to ``before_cursor_execute`` listeners,
when there are any (the tests count statements with them), and their errors are raised
as SQLAlchemy raises them (``IntegrityError`` for a unique violation).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from operator import itemgetter
from typing import Any, cast

from sqlalchemy import ClauseElement
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.sqltypes import TupleType

from lumigram.infra.sqlite_driver import adapted_connection, run_statement

Processor = Callable[[Any], Any]
RowBuilder = Callable[[list[Any]], list[Any]]


def _row_class(names: Sequence[str]) -> type[tuple[Any, ...]]:
    """A tuple whose columns are also read by name (``row.id``), as SQLAlchemy's rows
    are: the readers of ``Prebuilt`` rows use positions, unpacking and names only."""
    fields: dict[str, Any] = {"__slots__": ()}
    for index, name in enumerate(names):
        if name.isidentifier() and not hasattr(tuple, name) and name not in fields:
            fields[name] = property(itemgetter(index))
    return type("Row", (tuple,), fields)


@dataclass(slots=True)
class SqliteSql:
    """A statement as SQLite's connection takes it, with what SQLAlchemy would do around it."""

    #: The SQL, with ``__[POSTCOMPILE_name]`` where an expanding list goes.
    template: str
    #: Each ``?``'s parameter name, in order (an expanding one stands for its whole list).
    names: tuple[str, ...]
    #: The bind processor of each name in ``names``, or None.
    binds: tuple[Processor | None, ...]
    #: Values of parameters the statement carries itself (``limit(1)``).
    defaults: Mapping[str, Any]
    expanding: frozenset[str]
    #: Makes the rows from the driver's: each column through its result processor, if
    #: any, into a row read by name (``_row_builder``).
    rows: RowBuilder
    #: The SQL for each combination of the expanding lists' lengths met so far.
    rendered: dict[tuple[int, ...], str] = field(default_factory=dict)

    def arguments(self, params: Mapping[str, Any]) -> tuple[str, list[Any]] | None:
        """The SQL and its positional values for ``params``; None when an expanding list
        is empty (SQLAlchemy renders an empty ``IN`` its own way) or a value is missing
        (SQLAlchemy says which)."""
        values: list[Any] = []
        lengths: list[int] = []
        for name, process in zip(self.names, self.binds, strict=True):
            if name in params:
                value = params[name]
            elif name in self.defaults:
                value = self.defaults[name]
            else:
                return None
            if name in self.expanding:
                items = list(value)
                if not items:
                    return None
                lengths.append(len(items))
                values.extend(items if process is None else [process(item) for item in items])
            else:
                values.append(value if process is None else process(value))
        if not lengths:
            return self.template, values
        key = tuple(lengths)
        sql = self.rendered.get(key)
        if sql is None:
            sql = self.template
            for name, length in zip((n for n in self.names if n in self.expanding), lengths, strict=True):
                sql = sql.replace(f"__[POSTCOMPILE_{name}]", ", ".join("?" * length), 1)
            self.rendered[key] = sql
        return sql, values


def _row_builder(processors: tuple[Processor | None, ...] | None, make: type[tuple[Any, ...]]) -> RowBuilder:
    """A function that makes a statement's rows, written for its columns: each column
    with a processor passed through it by name, the others as they are. Zipping every
    value with its processor in a loop took 30–40 % longer per row, and a search or a
    page reads hundreds of rows. The source holds only names and positions made here."""
    if processors is None:
        return lambda raw: [make(row) for row in raw]
    columns = ", ".join(f"p{i}(row[{i}])" if process else f"row[{i}]" for i, process in enumerate(processors))
    namespace: dict[str, Any] = {"make": make, **{f"p{i}": p for i, p in enumerate(processors) if p}}
    exec(f"def build(raw):\n    return [make(({columns},)) for row in raw]\n", namespace)  # noqa: S102
    return cast(RowBuilder, namespace["build"])


def compile_for_sqlite(statement: ClauseElement, dialect: Dialect) -> SqliteSql | None:
    """``statement`` as ``SqliteSql``, or None when its shape is not one this takes."""
    compiled = cast(SQLCompiler, statement.compile(dialect=dialect))
    if compiled.positiontup is None or compiled.literal_execute_params:
        return None
    if compiled.insert_prefetch or compiled.update_prefetch:
        return None  # column defaults SQLAlchemy computes in Python before the statement
    if compiled._textual_ordered_columns or not compiled._ordered_columns:
        return None  # columns not known by position: SQLAlchemy matches them by name
    binds_by_name = compiled.binds
    expanding = set()
    for bind in compiled.post_compile_params:
        if not bind.expanding or isinstance(bind.type, TupleType):
            return None
        expanding.add(bind.key)
    processors = compiled._bind_processors
    names = tuple(compiled.positiontup)
    defaults: dict[str, Any] = {}
    for name, bind in binds_by_name.items():
        if bind.callable is not None:
            return None
        if not bind.required:
            defaults[name] = bind.value
    columns = compiled._result_columns
    if not columns and not (compiled.isinsert or compiled.isupdate or compiled.isdelete):
        return None  # SQL written as text: SQLAlchemy names its columns from the cursor
    results = tuple(entry[3]._cached_result_processor(dialect, None) for entry in columns)
    kept = results if any(process is not None for process in results) else None
    row_class = _row_class([entry[0] for entry in columns])
    return SqliteSql(
        template=compiled.string,
        names=names,
        binds=tuple(cast(Processor | None, processors.get(name)) for name in names),
        defaults=defaults,
        expanding=frozenset(expanding),
        rows=_row_builder(kept, row_class),
    )


def sqlite_target(conn: AsyncConnection) -> Any:
    """The connection adapter under ``conn`` that ``run_statement`` can send to, or None
    (another driver, or a connection closed or invalidated: SQLAlchemy reports that)."""
    try:
        pooled = conn.sync_connection.connection if conn.sync_connection is not None else None
    except Exception:
        return None
    return None if pooled is None else adapted_connection(pooled.dbapi_connection)


def report(conn: AsyncConnection, sql: str, values: Any, many: bool) -> None:
    """Tell ``conn``'s ``before_cursor_execute`` listeners of ``sql``, sent past
    SQLAlchemy: statements are watched (tests count them), and see it as SQLAlchemy's."""
    sync = conn.sync_connection
    if sync is not None:
        for listener in sync.dispatch.before_cursor_execute:
            listener(sync, None, sql, values, None, many)


def report_commit(conn: AsyncConnection) -> None:
    """Tell ``conn``'s ``commit`` listeners of a COMMIT the driver made past SQLAlchemy:
    commits are counted (tests, the write census) as SQLAlchemy's are."""
    sync = conn.sync_connection
    if sync is not None:
        for listener in sync.dispatch.commit:
            listener(sync)


async def send(
    conn: AsyncConnection,
    adapted: Any,
    compiled: SqliteSql,
    sql: str,
    values: Any,
    many: bool,
) -> list[Any]:
    """Run ``sql`` with ``values`` (a list of them when ``many``) on ``adapted``, the
    adapter under ``conn``: its rows, processed. The driver's errors come as they are
    (``lumigram.infra.sql.driver_error`` says them as SQLAlchemy would)."""
    report(conn, sql, values, many)
    _description, raw, _count, _last = await run_statement(adapted, sql, values, many)
    return compiled.rows(raw) if raw else []
