"""``one_of``, the id-list condition of the hot read paths, and ``Prebuilt.rows``, their
reads, on both databases."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import bindparam, insert, select, text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.bootstrap import Services
from lumigram.infra.sql import Prebuilt, among, one_of
from lumigram.infra.tables import tags, utcnow
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
    assert len(sent.through_sqlalchemy) == 2  # the insert and the read, both in the transaction


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
