"""Story rows to records: their owners, media, mentions and the viewer's seen marks, in
one query each per batch."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.infra.sql import one_of
from lumigram.infra.tables import accounts, media_attachments, story_mentions, story_views
from lumigram.stories.models import Story
from lumigram.uploads.models import media_record


async def accounts_by_id(conn: AsyncConnection, ids: Sequence[int]) -> dict[int, Account]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await conn.execute(select(accounts).where(one_of(conn, accounts.c.id, wanted)))).all()
    return {row.id: account_from_row(row) for row in rows}


async def seen_by(conn: AsyncConnection, viewer_id: int, story_ids: Sequence[int]) -> set[int]:
    """Which of ``story_ids`` the viewer has seen."""
    if not story_ids:
        return set()
    query = select(story_views.c.story_id).where(
        story_views.c.account_id == viewer_id, one_of(conn, story_views.c.story_id, list(story_ids))
    )
    return set((await conn.execute(query)).scalars())


async def stories_from_rows(conn: AsyncConnection, viewer_id: int, rows: Sequence[Any]) -> list[Story]:
    """The records of story ``rows``, in their order; a row whose media is gone is left out."""
    if not rows:
        return []
    ids = [row.id for row in rows]
    owners = await accounts_by_id(conn, [row.account_id for row in rows])
    media_rows = (
        await conn.execute(
            select(media_attachments).where(one_of(conn, media_attachments.c.id, [row.media_id for row in rows]))
        )
    ).all()
    media = {row.id: media_record(row) for row in media_rows}
    mention_rows = (
        await conn.execute(
            select(story_mentions.c.story_id, story_mentions.c.account_id).where(
                one_of(conn, story_mentions.c.story_id, ids)
            )
        )
    ).all()
    mentioned = await accounts_by_id(conn, [account for _, account in mention_rows])
    mentions: dict[int, list[Account]] = {}
    for story_id, account_id in mention_rows:
        if account_id in mentioned:
            mentions.setdefault(story_id, []).append(mentioned[account_id])
    seen = await seen_by(conn, viewer_id, ids)
    found = []
    for row in rows:
        owner, record = owners.get(row.account_id), media.get(row.media_id)
        if owner is None or record is None:
            continue
        found.append(
            Story(
                id=row.id,
                account_id=row.account_id,
                state=row.state,
                caption=row.caption,
                link=row.link,
                audience=row.audience,
                replies_enabled=bool(row.replies_enabled),
                reactions_enabled=bool(row.reactions_enabled),
                duration=int(row.duration),
                views_count=int(row.views_count),
                created_at=row.created_at,
                expires_at=row.expires_at,
                account=owner,
                media=record,
                mentions=mentions.get(row.id, []),
                seen=row.id in seen or row.account_id == viewer_id,
            )
        )
    return found
