"""``one_of``: the id-list condition of the hot read paths, on both databases."""

from __future__ import annotations

from sqlalchemy import event, insert, select

from lumigram.bootstrap import Services
from lumigram.infra.sql import one_of
from lumigram.infra.tables import tags, utcnow


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
    statements: set[str] = set()

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        statements.add(statement)

    async with services.db.connect() as conn:
        sync = conn.sync_connection
        assert sync is not None
        event.listen(sync, "before_cursor_execute", record)
        try:
            for count in (1, 2, 5, 20):
                await conn.execute(select(tags.c.id).where(one_of(conn, tags.c.id, range(count))))
        finally:
            event.remove(sync, "before_cursor_execute", record)
    # PostgreSQL prepares one statement; SQLite expands the list (no prepare round trip).
    assert len(statements) == (1 if conn.dialect.name == "postgresql" else 4)
