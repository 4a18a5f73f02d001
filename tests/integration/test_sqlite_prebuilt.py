"""Prebuilt statements on SQLite, sent past SQLAlchemy's execution layer
(``lumigram.infra.sqlite_prebuilt``): the same rows, of the same types, as SQLAlchemy
gives for the same statement, on a reader and inside the writer's transaction."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta

import pytest
from sqlalchemy import Boolean, bindparam, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import Prebuilt, among, insert_columns
from lumigram.infra.tables import tags, utcnow
from lumigram.services import Services

_INSERT_TAG = Prebuilt(lambda _dialect: insert_columns(tags, ("id", "name", "name_lower", "created_at")))
_INSERT_TAG_RETURNING = Prebuilt(
    lambda _dialect: insert_columns(tags, ("id", "name", "name_lower", "created_at")).returning(
        tags.c.id, tags.c.created_at
    )
)
#: A list, a datetime and a boolean bound; a datetime and a boolean read back.
_TAGS = Prebuilt(
    lambda dialect: (
        select(tags.c.id, tags.c.name, tags.c.created_at, (tags.c.id > bindparam("above")).label("big"))
        .where(
            among(dialect, tags.c.id, "ids"),
            tags.c.created_at >= bindparam("since"),
            (tags.c.name != "t3") == bindparam("not_t3", type_=Boolean()),
        )
        .order_by(tags.c.id)
        .limit(10)
    )
)


def _tag(n: int, at: datetime) -> dict[str, object]:
    return {"id": n, "name": f"t{n}", "name_lower": f"t{n}", "created_at": at}


@contextmanager
def _past_sqlalchemy(conn: AsyncConnection) -> Iterator[list[bool]]:
    """For each statement sent on ``conn``: whether it went past SQLAlchemy's execution
    (reported to the listeners with no execution context)."""
    seen: list[bool] = []

    def record(_conn: object, _cursor: object, _text: str, _params: object, context: object, _many: bool) -> None:
        seen.append(context is None)

    sync = conn.sync_connection
    assert sync is not None
    event.listen(sync, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(sync, "before_cursor_execute", record)


@pytest.fixture
def on_sqlite(services: Services) -> Services:
    if services.db.is_postgres:
        pytest.skip("PostgreSQL's prebuilt statements go to its driver (tests/integration/test_sql.py)")
    return services


async def test_rows_and_types_are_sqlalchemys_in_the_writer_and_on_a_reader(on_sqlite: Services) -> None:
    services = on_sqlite
    at = utcnow() - timedelta(minutes=5)
    params = {"ids": [1, 3, 4, 6, 99], "since": at - timedelta(seconds=1), "above": 3, "not_t3": True}
    async with services.db.begin() as conn:
        with _past_sqlalchemy(conn) as writer_seen:
            await _INSERT_TAG.execute(conn, _tag(1, at))
            await _INSERT_TAG.execute(conn, [_tag(n, at) for n in range(2, 6)])
            returned = await _INSERT_TAG_RETURNING.rows(conn, _tag(6, at))
            in_writer = await _TAGS.rows(conn, params)
    assert writer_seen == [True, True, True, True]
    assert [(row.id, row.created_at) for row in returned] == [(6, at)]
    assert isinstance(returned[0].created_at, datetime)
    assert returned[0].created_at.tzinfo is not None

    async with services.db.connect() as conn:
        with _past_sqlalchemy(conn) as reader_seen:
            on_reader = await _TAGS.rows(conn, params)
            by_sqlalchemy = (await conn.execute(_TAGS(conn), params)).all()
    assert reader_seen == [True, False]
    assert (
        [tuple(row) for row in on_reader] == [tuple(row) for row in by_sqlalchemy] == [tuple(row) for row in in_writer]
    )
    assert [(row.id, row.name, row.created_at, row.big) for row in on_reader] == [
        (1, "t1", at, False),
        (4, "t4", at, True),
        (6, "t6", at, True),
    ]
    # Of the types SQLAlchemy would give: an aware datetime, a bool (SQLite keeps 0/1).
    assert all(type(row.big) is bool and row.created_at.tzinfo is not None for row in on_reader)


async def test_lists_of_each_length_and_an_empty_one(on_sqlite: Services) -> None:
    services = on_sqlite
    at = utcnow()
    async with services.db.begin() as conn:
        await _INSERT_TAG.execute(conn, [_tag(n, at) for n in range(1, 8)])
    since = at - timedelta(seconds=1)
    async with services.db.connect() as conn:
        for wanted in ([2], [2, 5, 7], [7, 6, 5, 4, 3, 2, 1, 99], [5], []):
            params = {"ids": wanted, "since": since, "above": 0, "not_t3": True}
            found = [row.id for row in await _TAGS.rows(conn, params)]
            assert found == sorted(i for i in wanted if i <= 7 and i != 3)


async def _insert_tag_one_twice(services: Services) -> None:
    async with services.db.begin() as conn:
        await _INSERT_TAG.execute(conn, _tag(2, utcnow()))
        await _INSERT_TAG.execute(conn, _tag(1, utcnow()))


async def test_a_unique_violation_is_sqlalchemys_integrity_error_and_rolls_back(on_sqlite: Services) -> None:
    services = on_sqlite
    async with services.db.begin() as conn:
        await _INSERT_TAG.execute(conn, _tag(1, utcnow()))
    with pytest.raises(IntegrityError):
        await _insert_tag_one_twice(services)
    params = {"ids": [1, 2], "since": utcnow() - timedelta(1), "above": 0, "not_t3": True}
    async with services.db.connect() as conn:  # the failed transaction's first insert is gone
        assert [row.id for row in await _TAGS.rows(conn, params)] == [1]
    async with services.db.begin() as conn:  # and the writer takes the next one
        await _INSERT_TAG.execute(conn, _tag(2, utcnow()))
    async with services.db.connect() as conn:
        assert [row.id for row in await _TAGS.rows(conn, params)] == [1, 2]


_WRITTEN_AS_TEXT = Prebuilt(lambda _dialect: text("SELECT :n AS n, :n + 1 AS m"))


async def test_sql_written_as_text_goes_through_sqlalchemy_with_its_column_names(on_sqlite: Services) -> None:
    async with on_sqlite.db.connect() as conn:
        with _past_sqlalchemy(conn) as seen:
            (row,) = await _WRITTEN_AS_TEXT.rows(conn, {"n": 41})
    assert (row.n, row.m) == (41, 42)
    assert seen == [False]
