"""Keeping the index current: one post or account at a time (the bus consumers), or all
of them from the tables (``lumigram search reindex``).

Each step reads the row as it is now and writes what the index should hold, so running
one twice, or out of order with another, leaves the same index: the consumers need no
record of what they applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.tables import (
    accounts,
    media_attachments,
    search_account_grams,
    search_accounts,
    search_posts,
    statuses,
)
from lumigram.search.grams import trigrams
from lumigram.search.index import index_for
from lumigram.services import Services

#: Rows read and written per transaction while rebuilding.
BATCH = 500


def _body(row: Any, descriptions: Sequence[str]) -> str:
    """What a post is found by: its caption, content warning and photos' alt texts."""
    return "\n".join(part for part in (row.text, row.spoiler_text, *descriptions) if part)


async def _index_posts(conn: AsyncConnection, status_ids: Sequence[int]) -> None:
    index = index_for(conn.dialect.name)
    ids = list(status_ids)
    rows = (await conn.execute(select(statuses).where(statuses.c.id.in_(ids), statuses.c.deleted_at.is_(None)))).all()
    described: dict[int, list[str]] = {}
    media: set[int] = set()
    for status_id, description in await conn.execute(
        select(media_attachments.c.status_id, media_attachments.c.description)
        .where(media_attachments.c.status_id.in_(ids))
        .order_by(media_attachments.c.status_id, media_attachments.c.position)
    ):
        media.add(status_id)
        if description:
            described.setdefault(status_id, []).append(description)
    await index.drop(conn, ids)
    await conn.execute(delete(search_posts).where(search_posts.c.status_id.in_(ids)))
    for row in rows:
        body = _body(row, described.get(row.id, []))
        await conn.execute(
            insert(search_posts).values(
                status_id=row.id,
                account_id=row.account_id,
                body=body,
                has_media=row.id in media,
                is_reply=row.in_reply_to_id is not None,
                created_s=int(row.created_at.timestamp()),
            )
        )
        await index.put(conn, row.id, body)


async def _index_accounts(conn: AsyncConnection, account_ids: Sequence[int]) -> None:
    ids = list(account_ids)
    # A deleted account's entries go, and none are written for it.
    rows = (await conn.execute(select(accounts).where(accounts.c.id.in_(ids), accounts.c.deleted_at.is_(None)))).all()
    await conn.execute(delete(search_account_grams).where(search_account_grams.c.account_id.in_(ids)))
    await conn.execute(delete(search_accounts).where(search_accounts.c.account_id.in_(ids)))
    for row in rows:
        grams = trigrams(row.username) | trigrams(row.display_name)
        await conn.execute(
            insert(search_accounts).values(
                account_id=row.id, display_lower=row.display_name.casefold()[:64], grams_count=len(grams)
            )
        )
        if grams:
            await conn.execute(
                insert(search_account_grams), [{"gram": gram, "account_id": row.id} for gram in sorted(grams)]
            )


async def index_post(services: Services, status_id: int) -> None:
    """Index the post as it is now, or forget it if it is gone."""
    async with services.db.begin() as conn:
        await _index_posts(conn, [status_id])


async def index_account(services: Services, account_id: int) -> None:
    """Index the account's names as they are now."""
    async with services.db.begin() as conn:
        await _index_accounts(conn, [account_id])


async def _count(services: Services) -> int:
    async with services.db.connect() as conn:
        posts = (await conn.execute(select(func.count()).select_from(statuses))).scalar_one()
        people = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
    return int(posts) + int(people)


async def reindex(services: Services, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Rebuild the whole index from the tables, in batches; ``progress(done, total)``
    after each. Returns how many posts and accounts it indexed."""
    total = await _count(services)
    done = 0
    async with services.db.begin() as conn:
        await index_for(conn.dialect.name).clear(conn)
        await conn.execute(delete(search_posts))
        await conn.execute(delete(search_account_grams))
        await conn.execute(delete(search_accounts))
    counted = [0, 0]
    for position, (table, step) in enumerate(((accounts, _index_accounts), (statuses, _index_posts))):
        after = 0
        while True:
            async with services.db.begin() as conn:
                ids = list(
                    (
                        await conn.execute(
                            select(table.c.id).where(table.c.id > after).order_by(table.c.id).limit(BATCH)
                        )
                    ).scalars()
                )
                if not ids:
                    break
                await step(conn, ids)
            after = ids[-1]
            done += len(ids)
            counted[position] += len(ids)
            if progress is not None:
                progress(done, total)
    async with services.db.connect() as conn:
        posts = (await conn.execute(select(func.count()).select_from(search_posts))).scalar_one()
    return int(posts), counted[0]
