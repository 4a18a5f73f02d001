"""Kept hashtag counts: each tag's public uses, all time and per UTC day (with the
distinct accounts of each day), so that a hashtag search and a tag's ``history`` read a
few kept rows instead of counting ``status_tags`` on each request.

A use is what ``hashtags`` shows others: a live public post of an open account carrying
the tag. ``search_tag_uses`` holds one row per such (post, tag). Keeping a post compares
what it should hold now with what it holds, and moves the counts by the difference, so
keeping a post twice (a redelivered event) changes nothing, and a post that stops being a
use (deleted, edited, made private, its author locked) takes its uses back.

A tag's total moves by an atomic ``uses = uses + delta``. A day's distinct accounts cannot
move by a delta, so the day's row is locked first (an upsert) and then counted again from
``search_tag_uses``: a concurrent writer of the same day waits for the lock, and its count,
a later statement, sees what the first one committed.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import (
    BigInteger,
    Integer,
    and_,
    cast,
    delete,
    distinct,
    func,
    insert,
    literal_column,
    select,
    tuple_,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import (
    accounts,
    search_tag_days,
    search_tag_uses,
    search_tags,
    status_tags,
    statuses,
    tags,
)

_EPOCH = date(1970, 1, 1)
#: One post's uses: (status_id, tag_id, account_id, day).
Use = tuple[int, int, int, int]


def epoch_seconds(dialect: str, column: Any) -> Any:
    """Whole UNIX seconds of a timestamp column, as ``int(datetime.timestamp())`` gives."""
    if dialect == "postgresql":
        return cast(func.floor(func.extract("epoch", column)), BigInteger)
    return cast(func.strftime("%s", column), BigInteger)


def day_of(moment: datetime) -> int:
    return (moment.astimezone(UTC).date() - _EPOCH).days


def day_number(dialect: str, column: Any) -> Any:
    """A timestamp column's UTC day, as ``day_of`` gives it: whole seconds floor-divided
    by a day's. A true division cast to an integer rounds on PostgreSQL, which counted
    every post made after noon UTC for the next day."""
    return cast(epoch_seconds(dialect, column) // 86400, Integer)


def date_of(day: int) -> date:
    return _EPOCH + timedelta(days=day)


def _public_uses(dialect: str) -> Any:
    """Every (post, tag) that counts as a use, as the columns of ``search_tag_uses``."""
    day = day_number(dialect, statuses.c.created_at)
    return (
        select(status_tags.c.status_id, status_tags.c.tag_id, statuses.c.account_id, day.label("day"))
        .select_from(status_tags.join(statuses, statuses.c.id == status_tags.c.status_id))
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(statuses.c.deleted_at.is_(None), statuses.c.visibility == "public", accounts.c.locked.is_(False))
    )


def _build_uses_of(dialect: str) -> Any:
    """The uses the posts bound as ``wanted`` should hold (last column 1) and those the
    posts bound as ``held`` hold (0): one read where two took a round trip each."""
    should = _public_uses(dialect).add_columns(literal_column("1").label("wanted"))
    does = select(
        search_tag_uses.c.status_id,
        search_tag_uses.c.tag_id,
        search_tag_uses.c.account_id,
        search_tag_uses.c.day,
        literal_column("0").label("wanted"),
    )
    return union_all(
        should.where(among(dialect, status_tags.c.status_id, "wanted")),
        does.where(among(dialect, search_tag_uses.c.status_id, "held")),
    )


_USES_OF = Prebuilt(_build_uses_of)


def _dialect_insert(conn: AsyncConnection) -> Any:
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


async def keep_posts(conn: AsyncConnection, status_ids: Sequence[int]) -> None:
    """Bring the kept counts in line with these posts as they are now (gone ones included)."""
    ids = sorted(set(status_ids))
    if not ids:
        return
    wanted: set[Use] = set()
    held: set[Use] = set()
    for status_id, tag_id, account_id, day, is_wanted in await _USES_OF.rows(conn, {"wanted": ids, "held": ids}):
        (wanted if is_wanted else held).add((int(status_id), int(tag_id), int(account_id), int(day)))
    added, removed = wanted - held, held - wanted
    if not added and not removed:
        return
    if removed:
        pairs = [(status_id, tag_id) for status_id, tag_id, _a, _d in removed]
        await conn.execute(
            delete(search_tag_uses).where(tuple_(search_tag_uses.c.status_id, search_tag_uses.c.tag_id).in_(pairs))
        )
    if added:
        await conn.execute(
            insert(search_tag_uses),
            [{"status_id": s, "tag_id": t, "account_id": a, "day": d} for s, t, a, d in sorted(added)],
        )
    deltas: dict[int, int] = {}
    for _s, tag_id, _a, _d in added:
        deltas[tag_id] = deltas.get(tag_id, 0) + 1
    for _s, tag_id, _a, _d in removed:
        deltas[tag_id] = deltas.get(tag_id, 0) - 1
    await _move_totals(conn, deltas)
    await _recount_days(conn, sorted({(t, d) for _s, t, _a, d in added | removed}))


async def _move_totals(conn: AsyncConnection, deltas: dict[int, int]) -> None:
    changed = sorted(tag_id for tag_id, delta in deltas.items() if delta)
    if not changed:
        return
    names = select(tags.c.id, tags.c.name_lower).where(tags.c.id.in_(changed))
    await conn.execute(
        _dialect_insert(conn)(search_tags)
        .from_select(["tag_id", "name_lower"], names)
        .on_conflict_do_nothing(index_elements=["tag_id"])
    )
    for tag_id in changed:  # in id order, so two writers lock rows in the same order
        await conn.execute(
            update(search_tags).where(search_tags.c.tag_id == tag_id).values(uses=search_tags.c.uses + deltas[tag_id])
        )


async def _recount_days(conn: AsyncConnection, days: Iterable[tuple[int, int]]) -> None:
    upsert = _dialect_insert(conn)(search_tag_days)
    for tag_id, day in days:
        # The upsert takes the day's row lock before the count below is read.
        await conn.execute(
            upsert.values(tag_id=tag_id, day=day).on_conflict_do_update(
                index_elements=["tag_id", "day"], set_={"uses": search_tag_days.c.uses}
            )
        )
        same_day = and_(search_tag_uses.c.tag_id == tag_id, search_tag_uses.c.day == day)
        await conn.execute(
            update(search_tag_days)
            .where(search_tag_days.c.tag_id == tag_id, search_tag_days.c.day == day)
            .values(
                uses=select(func.count()).where(same_day).scalar_subquery(),
                accounts=select(func.count(distinct(search_tag_uses.c.account_id))).where(same_day).scalar_subquery(),
            )
        )


async def keep_account(conn: AsyncConnection, account_id: int) -> None:
    """Bring the counts in line with an account's tagged posts (after it was locked or opened)."""
    tagged = (
        select(status_tags.c.status_id)
        .join(statuses, statuses.c.id == status_tags.c.status_id)
        .where(statuses.c.account_id == account_id)
    )
    kept = select(search_tag_uses.c.status_id).where(search_tag_uses.c.account_id == account_id)
    ids = {int(i) for i in (await conn.execute(tagged.union(kept))).scalars()}
    await keep_posts(conn, sorted(ids))


async def clear(conn: AsyncConnection) -> None:
    for table in (search_tag_uses, search_tag_days, search_tags):
        await conn.execute(delete(table))


async def rebuild_uses(conn: AsyncConnection, after: int, upto: int) -> None:
    """Write the uses of the posts with ids in (``after``, ``upto``], in one statement (reindex)."""
    uses = _public_uses(conn.dialect.name).where(status_tags.c.status_id > after, status_tags.c.status_id <= upto)
    await conn.execute(insert(search_tag_uses).from_select(["status_id", "tag_id", "account_id", "day"], uses))


async def rebuild_counts(conn: AsyncConnection) -> None:
    """Count every tag's and every day's uses from ``search_tag_uses`` (after ``rebuild_uses``)."""
    totals = (
        select(tags.c.id, tags.c.name_lower, func.count())
        .join(search_tag_uses, search_tag_uses.c.tag_id == tags.c.id)
        .group_by(tags.c.id, tags.c.name_lower)
    )
    await conn.execute(insert(search_tags).from_select(["tag_id", "name_lower", "uses"], totals))
    days = select(
        search_tag_uses.c.tag_id,
        search_tag_uses.c.day,
        func.count(),
        func.count(distinct(search_tag_uses.c.account_id)),
    ).group_by(search_tag_uses.c.tag_id, search_tag_uses.c.day)
    await conn.execute(insert(search_tag_days).from_select(["tag_id", "day", "uses", "accounts"], days))
