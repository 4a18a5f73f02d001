"""``one_of``, the id-list condition of the hot read paths, and ``Prebuilt.rows``, their
reads, on both databases."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest
from sqlalchemy import Integer, bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError, IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import Prebuilt, among, insert_columns, one_of
from lumigram.infra.tables import tags, utcnow
from lumigram.services import Services
from tests.statements import statements_on


async def test_one_of_matches_exactly_the_listed_ids(services: Services) -> None:
    async with services.db.begin() as conn:
        await conn.execute(
            insert(tags),
            [{"id": i, "name": f"t{i}", "name_lower": f"t{i}", "created_at": utcnow()} for i in range(1, 8)],
        )
    async with services.db.connect() as conn:
        for wanted in ([], [3], [2, 5, 7], [1, 2, 3, 4, 5, 6, 7, 99], {4, 6}):
            found = (await conn.execute(select(tags.c.id).where(one_of(conn, tags.c.id, wanted)))).scalars()
            assert sorted(found) == sorted(i for i in wanted if i <= 7)


async def test_one_of_is_one_statement_whatever_the_count_on_postgresql(services: Services) -> None:
    async with services.db.connect() as conn, statements_on(conn) as sent:
        for count in (1, 2, 5, 20):
            await conn.execute(select(tags.c.id).where(one_of(conn, tags.c.id, range(count))))
    # PostgreSQL prepares one statement; SQLite expands the list (no prepare round trip).
    assert len(set(sent.through_sqlalchemy)) == (1 if conn.dialect.name == "postgresql" else 4)


_TAGS_SINCE = Prebuilt(
    lambda dialect: (
        select(tags.c.id, tags.c.name, tags.c.created_at)
        .where(among(dialect, tags.c.id, "ids"), tags.c.created_at >= bindparam("since"), tags.c.name != "t3")
        .order_by(tags.c.id)
        .limit(5)
    )
)


async def _add_tags(conn: AsyncConnection, ids: range) -> None:
    await conn.execute(
        insert(tags), [{"id": i, "name": f"t{i}", "name_lower": f"t{i}", "created_at": utcnow()} for i in ids]
    )


async def test_prebuilt_rows_read_as_sqlalchemy_rows_do(services: Services) -> None:
    async with services.db.begin() as conn:
        await _add_tags(conn, range(1, 8))
    since = utcnow() - timedelta(hours=1)
    params = {"ids": [2, 3, 4, 9], "since": since}
    async with services.db.connect() as conn:
        rows = await _TAGS_SINCE.rows(conn, params)
        expected = (await conn.execute(_TAGS_SINCE(conn), params)).all()
    # The literal in the statement ("t3") is sent too; names, positions and unpacking agree.
    assert [tuple(row) for row in rows] == [tuple(row) for row in expected]
    assert [row.id for row in rows] == [2, 4]
    assert [row[1] for row in rows] == ["t2", "t4"]
    for (_id, _name, created_at), row in zip(rows, expected, strict=True):
        assert created_at == row.created_at
        assert created_at.utcoffset() == timedelta(0)
    with pytest.raises(AttributeError):
        _ = rows[0].no_such_column


async def test_prebuilt_rows_go_to_the_driver_outside_transactions_on_postgresql(services: Services) -> None:
    async with services.db.begin() as conn:
        await _add_tags(conn, range(1, 4))
    params = {"ids": [1, 2], "since": utcnow() - timedelta(1)}
    async with services.db.connect() as conn, statements_on(conn) as sent:
        assert [row.id for row in await _TAGS_SINCE.rows(conn, params)] == [1, 2]
    assert len(sent.all) == 1
    assert len(sent.through_sqlalchemy) == (0 if services.db.is_postgres else 1)


async def test_prebuilt_rows_inside_a_transaction_see_its_writes(services: Services) -> None:
    async with services.db.begin() as conn, statements_on(conn) as sent:
        await _add_tags(conn, range(1, 3))
        rows = await _TAGS_SINCE.rows(conn, {"ids": [1, 2], "since": utcnow() - timedelta(1)})
    assert [row.id for row in rows] == [1, 2]
    # On PostgreSQL the driver holds the transaction, so the read goes to it directly:
    # SQLAlchemy sends only the insert.
    assert len(sent.through_sqlalchemy) == (1 if services.db.is_postgres else 2)


_QUOTIENT = Prebuilt(lambda _dialect: select(bindparam("n", type_=Integer) / bindparam("d", type_=Integer)))


async def _divide_by_zero_after_writing(services: Services) -> None:
    async with services.db.begin() as conn:
        await _add_tags(conn, range(1, 3))
        assert [row[0] for row in await _QUOTIENT.rows(conn, {"n": 6, "d": 3})] == [2]
        await _QUOTIENT.rows(conn, {"n": 1, "d": 0})


async def _divide_by_zero_through_sqlalchemy(services: Services) -> None:
    async with services.db.begin() as conn:
        await conn.execute(_QUOTIENT(conn), {"n": 1, "d": 0})


async def test_a_failed_read_in_a_transaction_is_sqlalchemys_error_and_rolls_it_back(services: Services) -> None:
    if not services.db.is_postgres:
        pytest.skip("SQLite divides by zero into NULL")
    with pytest.raises(DBAPIError) as raised:
        await _divide_by_zero_after_writing(services)
    # In SQLAlchemy's terms, exactly as the same statement fails when SQLAlchemy sends it.
    with pytest.raises(DBAPIError) as through_sqlalchemy:
        await _divide_by_zero_through_sqlalchemy(services)
    assert type(raised.value) is type(through_sqlalchemy.value)
    assert type(raised.value.orig) is type(through_sqlalchemy.value.orig)
    assert "division by zero" in str(raised.value.orig)
    async with services.db.connect() as conn:
        assert await _TAGS_SINCE.rows(conn, {"ids": [1, 2], "since": utcnow() - timedelta(1)}) == []


async def _add_tags_twice(services: Services) -> None:
    async with services.db.begin() as conn:
        await _add_tags(conn, range(1, 3))
        await _add_tags(conn, range(2, 4))


async def test_a_unique_violation_in_a_transaction_is_an_integrity_error(services: Services) -> None:
    with pytest.raises(IntegrityError):
        await _add_tags_twice(services)
    async with services.db.begin() as conn:  # nothing of it stayed, and the pool is fine
        await _add_tags(conn, range(1, 4))


async def test_a_transaction_cancelled_mid_statement_leaves_nothing_behind(services: Services) -> None:
    if not services.db.is_postgres:
        pytest.skip("SQLite's statements are not cancelled mid-way")
    started = asyncio.Event()

    async def slow() -> None:
        async with services.db.begin() as conn:
            await _add_tags(conn, range(1, 3))
            started.set()
            await conn.execute(text("SELECT pg_sleep(10)"))

    task = asyncio.create_task(slow())
    await started.wait()
    await asyncio.sleep(0.2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # Every pooled connection is outside any transaction, and the cancelled writes are gone.
    for _ in range(3):
        async with services.db.connect() as conn:
            assert not (await conn.get_raw_connection()).driver_connection.is_in_transaction()
            assert await _TAGS_SINCE.rows(conn, {"ids": [1, 2], "since": utcnow() - timedelta(1)}) == []


async def test_prebuilt_rows_on_a_dropped_connection_fail_as_sqlalchemy_does(services: Services) -> None:
    if not services.db.is_postgres:
        pytest.skip("only PostgreSQL's reads go to the driver")
    params = {"ids": [1], "since": utcnow()}
    async with services.db.connect() as conn:
        pid = (await conn.execute(text("SELECT pg_backend_pid()"))).scalar()
        async with services.db.begin() as other:
            await other.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        with pytest.raises(DBAPIError):
            await _TAGS_SINCE.rows(conn, params)
    # The dropped connection left the pool: the next read has a working one.
    async with services.db.connect() as conn:
        assert await _TAGS_SINCE.rows(conn, params) == []


_INSERT_TAG = Prebuilt(lambda _dialect: insert_columns(tags, ("id", "name", "name_lower", "created_at")))
_INSERT_TAG_RETURNING = Prebuilt(
    lambda _dialect: insert_columns(tags, ("id", "name", "name_lower", "created_at")).returning(tags.c.id)
)


def _tag(n: int) -> dict[str, object]:
    return {"id": n, "name": f"t{n}", "name_lower": f"t{n}", "created_at": utcnow()}


async def test_prebuilt_writes_go_to_the_driver_on_postgresql(services: Services) -> None:
    async with services.db.begin() as conn, statements_on(conn) as sent:
        await _INSERT_TAG.execute(conn, _tag(1))
        await _INSERT_TAG.execute(conn, [_tag(2), _tag(3)])
        assert [row.id for row in await _INSERT_TAG_RETURNING.rows(conn, _tag(4))] == [4]
    assert len(sent.through_sqlalchemy) == (0 if services.db.is_postgres else 3)
    async with services.db.connect() as conn, statements_on(conn) as sent_alone:
        await _INSERT_TAG.execute(conn, _tag(5))  # on its own, committed at once
    assert len(sent_alone.through_sqlalchemy) == (0 if services.db.is_postgres else 1)
    assert len(sent_alone.all) == 1
    async with services.db.connect() as conn:  # another connection sees every write
        found = await _TAGS_SINCE.rows(conn, {"ids": [1, 2, 3, 4, 5], "since": utcnow() - timedelta(1)})
    assert [row.id for row in found] == [1, 2, 4, 5]  # "t3" is left out by the read itself


async def _insert_tag_one_again(services: Services) -> None:
    async with services.db.connect() as conn, statements_on(conn) as sent:
        try:
            await _INSERT_TAG_RETURNING.rows(conn, _tag(1))
        finally:
            assert sent.through_sqlalchemy == []  # a write is never sent a second time


async def test_a_failed_write_is_an_integrity_error_and_not_sent_again(services: Services) -> None:
    if not services.db.is_postgres:
        pytest.skip("only PostgreSQL's statements go to the driver")
    async with services.db.begin() as conn:
        await _INSERT_TAG.execute(conn, _tag(1))
    with pytest.raises(IntegrityError):
        await _insert_tag_one_again(services)
