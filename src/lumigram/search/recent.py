"""Recent searches (an extension): what a signed-in account searched for, and the result
it opened from there, newest first.

An app records an entry when a search is done (a query typed out, a result opened), not on
each keystroke, so this is never written by the search itself. The same query again
moves to the top instead of repeating; each account keeps its newest ``KEPT``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, func, select

from lumigram.errors import NotFound, ValidationFailed
from lumigram.ids import shard_of
from lumigram.infra.tables import search_history, utcnow
from lumigram.search.query import MAX_QUERY, clean
from lumigram.services import Services

KEPT = 50
OPENED_KINDS = ("account", "hashtag", "status")


@dataclass(frozen=True, slots=True)
class RecentSearch:
    id: int
    query: str
    opened_kind: str | None
    opened_id: int | None
    created_at: datetime


def _entry(row: Any) -> RecentSearch:
    return RecentSearch(row.id, row.query, row.opened_kind, row.opened_id, row.created_at)


async def record(
    services: Services, account_id: int, query: str, opened_kind: str | None, opened_id: int | None
) -> RecentSearch:
    query = clean(query)[:MAX_QUERY]
    if not query:
        raise ValidationFailed.field("q", "ERR_BLANK", "can't be blank")
    if (opened_kind is None) != (opened_id is None) or (opened_kind is not None and opened_kind not in OPENED_KINDS):
        raise ValidationFailed.field("opened", "ERR_INVALID", "is an account, hashtag or status and its id")
    lower = query.casefold()
    entry_id = services.ids.next_id(shard_of(account_id))
    async with services.db.begin() as conn:
        await conn.execute(
            delete(search_history).where(
                search_history.c.account_id == account_id, search_history.c.query_lower == lower
            )
        )
        await conn.execute(
            search_history.insert().values(
                id=entry_id,
                account_id=account_id,
                query=query,
                query_lower=lower,
                opened_kind=opened_kind,
                opened_id=opened_id,
                created_at=utcnow(),
            )
        )
        count = (await conn.execute(select(func.count()).where(search_history.c.account_id == account_id))).scalar_one()
        if count > KEPT:
            oldest = (
                select(search_history.c.id)
                .where(search_history.c.account_id == account_id)
                .order_by(search_history.c.id.desc())
                .offset(KEPT)
            )
            await conn.execute(delete(search_history).where(search_history.c.id.in_(oldest)))
        row = (await conn.execute(select(search_history).where(search_history.c.id == entry_id))).one()
    return _entry(row)


async def recent(services: Services, account_id: int, limit: int) -> list[RecentSearch]:
    query = (
        select(search_history)
        .where(search_history.c.account_id == account_id)
        .order_by(search_history.c.id.desc())
        .limit(max(1, min(limit, KEPT)))
    )
    async with services.db.connect() as conn:
        return [_entry(row) for row in await conn.execute(query)]


async def remove(services: Services, account_id: int, entry_id: int) -> None:
    async with services.db.begin() as conn:
        result = await conn.execute(
            delete(search_history).where(search_history.c.account_id == account_id, search_history.c.id == entry_id)
        )
    if not result.rowcount:
        raise NotFound("Recent search not found")


async def clear(services: Services, account_id: int) -> int:
    async with services.db.begin() as conn:
        result = await conn.execute(delete(search_history).where(search_history.c.account_id == account_id))
    return int(result.rowcount or 0)
