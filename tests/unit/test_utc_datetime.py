"""UTC datetimes on SQLite: the text written and read past SQLAlchemy's processors is the
text SQLAlchemy's own would write and the datetime its own would read."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy.dialects.postgresql.asyncpg import dialect as postgresql
from sqlalchemy.dialects.sqlite.aiosqlite import dialect as sqlite
from sqlalchemy.types import DateTime

from lumigram.infra.tables import UTCDateTime


def _sqlalchemys(dialect: object) -> tuple[object, object]:
    impl = DateTime(timezone=True)
    return impl._cached_bind_processor(dialect), impl._cached_result_processor(dialect, None)  # type: ignore[arg-type]


def _samples() -> list[datetime]:
    rng = random.Random(7)
    start = datetime(1970, 1, 1, tzinfo=UTC)
    found = [start + timedelta(seconds=rng.uniform(0, 4e9), microseconds=rng.randint(0, 999_999)) for _ in range(500)]
    found += [datetime(2026, 12, 7, 0, 0, tzinfo=UTC), datetime(5, 1, 2, 3, 4, 5, 6, tzinfo=UTC)]
    # Other zones are written as UTC.
    found += [moment.astimezone(timezone(timedelta(hours=rng.randint(-12, 12)))) for moment in found[:50]]
    return found


def test_sqlite_text_is_sqlalchemys_and_reads_back_the_same_instant() -> None:
    dialect = sqlite()
    bind, result = UTCDateTime()._cached_bind_processor(dialect), UTCDateTime()._cached_result_processor(dialect, None)
    their_bind, their_result = _sqlalchemys(dialect)
    assert bind is not None
    assert result is not None
    assert their_bind is not None
    assert their_result is not None
    for moment in _samples():
        text = bind(moment)
        assert text == their_bind(moment.astimezone(UTC))  # type: ignore[operator]
        back = result(text)
        assert back == moment
        assert back.tzinfo is UTC
        assert back == their_result(text).replace(tzinfo=UTC)  # type: ignore[operator]
    assert bind(None) is None
    assert result(None) is None


@pytest.mark.parametrize(
    ("stored", "read"),
    [
        ("2026-12-07 01:02:03", datetime(2026, 12, 7, 1, 2, 3, tzinfo=UTC)),  # CURRENT_TIMESTAMP's text
        ("2026-12-07 01:02:03.5", datetime(2026, 12, 7, 1, 2, 3, 500000, tzinfo=UTC)),
        ("2026-12-07T01:02:03.000001", datetime(2026, 12, 7, 1, 2, 3, 1, tzinfo=UTC)),
    ],
)
def test_sqlite_text_written_elsewhere_is_read(stored: str, read: datetime) -> None:
    result = UTCDateTime()._cached_result_processor(sqlite(), None)
    assert result is not None
    assert result(stored) == read
    assert result(stored).tzinfo is UTC


@pytest.mark.parametrize("dialect", [sqlite(), postgresql()], ids=["sqlite", "postgresql"])
def test_a_naive_datetime_is_refused_on_every_engine(dialect: object) -> None:
    bind = UTCDateTime()._cached_bind_processor(dialect)  # type: ignore[arg-type]
    assert bind is not None
    with pytest.raises(ValueError, match="naive"):
        bind(datetime(2026, 1, 1))
