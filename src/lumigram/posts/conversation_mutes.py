"""Muting a conversation: no more notifications about a thread (Mastodon's status mute).

A mute names the thread's post, whichever post of the thread it was asked on, so it
covers every comment of the thread, later ones included. Only notifications are
affected: the posts themselves stay in feeds and threads.
"""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.tables import conversation_mutes, statuses, utcnow
from lumigram.posts.models import HydratedPost
from lumigram.posts.service import get_post
from lumigram.services import Services


async def thread_post(conn: AsyncConnection, status_id: int) -> int:
    """The post at the top of ``status_id``'s thread (itself for a post); where a post
    above is gone, the highest one still there."""
    chain = (
        select(statuses.c.id, statuses.c.in_reply_to_id).where(statuses.c.id == status_id).cte("chain", recursive=True)
    )
    above = statuses.alias("above")
    chain = chain.union(select(above.c.id, above.c.in_reply_to_id).where(above.c.id == chain.c.in_reply_to_id))
    ids = {row.id: row.in_reply_to_id for row in (await conn.execute(select(chain))).all()}
    top = status_id
    while ids.get(top) in ids:
        top = ids[top]
    return top


async def mute(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Mute the conversation of a post the account may see; NotFound otherwise."""
    item = await get_post(services, account_id, status_id)
    async with services.db.begin() as conn:
        top = await thread_post(conn, item.post.id) if item.post.in_reply_to_id else item.post.id
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        row = {"account_id": account_id, "status_id": top, "created_at": utcnow()}
        await conn.execute(dialect_insert(conversation_mutes).values(**row).on_conflict_do_nothing())
    return item


async def unmute(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Lift the mute of a post's conversation; NotFound when the post is not visible."""
    item = await get_post(services, account_id, status_id)
    async with services.db.begin() as conn:
        top = await thread_post(conn, item.post.id) if item.post.in_reply_to_id else item.post.id
        await conn.execute(
            delete(conversation_mutes).where(
                conversation_mutes.c.account_id == account_id, conversation_mutes.c.status_id == top
            )
        )
    return item


async def is_muted(services: Services, account_id: int, item: HydratedPost) -> bool:
    """Whether the account muted the conversation ``item`` belongs to."""
    async with services.db.connect() as conn:
        top = await thread_post(conn, item.post.id) if item.post.in_reply_to_id else item.post.id
        found = await conn.execute(
            select(conversation_mutes.c.account_id).where(
                conversation_mutes.c.account_id == account_id, conversation_mutes.c.status_id == top
            )
        )
    return found.first() is not None


async def muting_among(conn: AsyncConnection, status_id: int, account_ids: Sequence[int]) -> set[int]:
    """Those of ``account_ids`` who muted the conversation ``status_id`` belongs to."""
    wanted = sorted(set(account_ids))
    if not wanted:
        return set()
    # Most people mute no conversation: one look at the key skips walking the thread.
    anyone = await conn.execute(
        select(conversation_mutes.c.account_id).where(conversation_mutes.c.account_id.in_(wanted)).limit(1)
    )
    if anyone.first() is None:
        return set()
    top = await thread_post(conn, status_id)
    found = await conn.execute(
        select(conversation_mutes.c.account_id).where(
            conversation_mutes.c.status_id == top, conversation_mutes.c.account_id.in_(wanted)
        )
    )
    return {row.account_id for row in found.all()}
