"""The UTC day a hashtag use counts for, in SQL on both shapes, is the day Python gives it
(``lumigram.search.tag_counts``): the kept history and a post's own day must agree."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import literal, select

from lumigram.infra.tables import statuses
from lumigram.search.tag_counts import day_number, day_of
from lumigram.services import Services

#: Around midnight and noon UTC: PostgreSQL rounded a true division, so every post made
#: after noon counted for the next day.
MOMENTS = [
    datetime(2026, 12, 6, 0, 0, 1, tzinfo=UTC),
    datetime(2026, 12, 6, 11, 59, 59, tzinfo=UTC),
    datetime(2026, 12, 6, 12, 0, 0, tzinfo=UTC),
    datetime(2026, 12, 6, 18, 30, 0, tzinfo=UTC),
    datetime(2026, 12, 6, 23, 59, 59, tzinfo=UTC),
    datetime(1999, 12, 31, 23, 59, 59, tzinfo=UTC),
]


async def test_a_timestamps_day_in_sql_is_its_utc_day(services: Services) -> None:
    async with services.db.connect() as conn:
        dialect = conn.dialect.name
        found = []
        for moment in MOMENTS:
            query = select(day_number(dialect, literal(moment, statuses.c.created_at.type)))
            found.append((await conn.execute(query)).scalar_one())
    assert found == [day_of(moment) for moment in MOMENTS]
