"""Mastodon's conversations over direct posts.

A direct post (``visibility=direct``) belongs to the conversation named by the first
direct post of its reply chain, as in Mastodon. Each participant (the author and the
accounts it mentions) has one row per conversation with its latest post and whether it
is unread; ``record_direct_post`` keeps those rows as direct posts are made, from the
bus, and deleting a conversation only removes the caller's row (a later post brings it
back). What a row points at is read through the one visibility rule, so a post the
reader may no longer see never shows.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import and_, delete, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.service import get_accounts
from lumigram.errors import NotFound
from lumigram.events import PostCreated, PostDeleted
from lumigram.infra.tables import direct_conversations, direct_post_roots
from lumigram.messages.access import valid_id
from lumigram.paging import Page, PageRequest, window
from lumigram.posts.hydrate import hydrate
from lumigram.posts.models import HydratedPost
from lumigram.services import Services

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


@dataclass(frozen=True, slots=True)
class DirectPost:
    """A direct post as filed: its conversation, and who takes part in it."""

    status_id: int
    conversation_id: int
    author_id: int
    participants: list[int]


@dataclass(frozen=True, slots=True)
class Conversation:
    id: int
    unread: bool
    last_status: HydratedPost
    #: The other participants (the reader left out), as Mastodon lists them.
    accounts: list[Account]


def _insert(conn: AsyncConnection):  # type: ignore[no-untyped-def]
    return pg_insert if conn.dialect.name == "postgresql" else sqlite_insert


async def conversation_of(conn: AsyncConnection, status_id: int, in_reply_to_id: int | None) -> int:
    """The conversation a direct post joins: its parent's, or its own id for a first post."""
    if in_reply_to_id is None:
        return status_id
    query = select(direct_post_roots.c.conversation_id).where(direct_post_roots.c.status_id == in_reply_to_id)
    found = (await conn.execute(query)).scalar()
    return int(found) if found is not None else in_reply_to_id


async def record_direct_post(services: Services, event: PostCreated) -> DirectPost | None:
    """File a direct post under its conversation for its author and each mentioned account:
    the newest post of the conversation, unread for all but the author. Redelivery is harmless."""
    if event.visibility != "direct":
        return None
    participants = [event.account_id, *sorted({m for m in event.mentions if m != event.account_id})]
    async with services.db.begin() as conn:
        conversation_id = await conversation_of(conn, event.status_id, event.in_reply_to_id)
        insert = _insert(conn)
        await conn.execute(
            insert(direct_post_roots)
            .values(status_id=event.status_id, conversation_id=conversation_id)
            .on_conflict_do_nothing(index_elements=["status_id"])
        )
        for account_id in participants:
            unread = account_id != event.account_id
            statement = insert(direct_conversations).values(
                account_id=account_id, conversation_id=conversation_id, last_status_id=event.status_id, unread=unread
            )
            newer = direct_conversations.c.last_status_id < event.status_id
            await conn.execute(
                statement.on_conflict_do_update(
                    index_elements=["account_id", "conversation_id"],
                    set_={"last_status_id": event.status_id, "unread": unread},
                    where=newer,
                )
            )
    return DirectPost(event.status_id, conversation_id, event.account_id, participants)


async def forget_direct_post(services: Services, event: PostDeleted) -> None:
    """A deleted direct post: each conversation it ended falls back to its previous post
    (or goes, when none is left)."""
    if event.visibility != "direct":
        return
    async with services.db.begin() as conn:
        query = select(direct_post_roots.c.conversation_id).where(direct_post_roots.c.status_id == event.status_id)
        conversation_id = (await conn.execute(query)).scalar()
        if conversation_id is None:
            return
        await conn.execute(delete(direct_post_roots).where(direct_post_roots.c.status_id == event.status_id))
        previous = (
            await conn.execute(
                select(func.max(direct_post_roots.c.status_id)).where(
                    direct_post_roots.c.conversation_id == conversation_id
                )
            )
        ).scalar()
        ended = and_(
            direct_conversations.c.conversation_id == conversation_id,
            direct_conversations.c.last_status_id == event.status_id,
        )
        if previous is None:
            await conn.execute(delete(direct_conversations).where(ended))
        else:
            await conn.execute(update(direct_conversations).where(ended).values(last_status_id=previous))


async def _conversations(services: Services, viewer_id: int, rows: list[tuple[int, int, bool]]) -> list[Conversation]:
    posts = {p.post.id: p for p in await hydrate(services, viewer_id, [r[1] for r in rows])}
    wanted = {m.id for p in posts.values() for m in p.mentions} | {p.post.account_id for p in posts.values()}
    accounts = {a.id: a for a in await get_accounts(services, sorted(wanted))}
    found = []
    for conversation_id, status_id, unread in rows:
        post = posts.get(status_id)
        if post is None:
            continue  # no longer visible to the reader (or gone): not shown
        others = [post.post.account_id, *(m.id for m in post.mentions)]
        listed = [accounts[a] for a in dict.fromkeys(others) if a != viewer_id and a in accounts]
        found.append(Conversation(conversation_id, unread, post, listed))
    return found


async def list_conversations(services: Services, viewer_id: int, page: PageRequest) -> Page[Conversation]:
    """The reader's conversations, latest post first, paged by that post's id (as Mastodon)."""
    limit = max(1, min(page.limit, MAX_LIMIT))
    if page.is_empty():
        return Page(limit=limit)
    columns = (
        direct_conversations.c.conversation_id,
        direct_conversations.c.last_status_id,
        direct_conversations.c.unread,
    )
    query = select(*columns).where(direct_conversations.c.account_id == viewer_id)
    query, ascending = window(query, direct_conversations.c.last_status_id, page, limit)
    async with services.db.connect() as conn:
        rows = [(int(r[0]), int(r[1]), bool(r[2])) for r in await conn.execute(query)]
    if ascending:
        rows.reverse()
    items = await _conversations(services, viewer_id, rows)
    return Page(items=items, cursors=[r[1] for r in rows], limit=limit)


async def _row(conn: AsyncConnection, viewer_id: int, conversation_id: int) -> tuple[int, int, bool]:
    if not valid_id(conversation_id):
        raise NotFound
    query = select(
        direct_conversations.c.conversation_id, direct_conversations.c.last_status_id, direct_conversations.c.unread
    ).where(direct_conversations.c.account_id == viewer_id, direct_conversations.c.conversation_id == conversation_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound
    return int(row[0]), int(row[1]), bool(row[2])


async def mark_read(services: Services, viewer_id: int, conversation_id: int) -> Conversation:
    async with services.db.begin() as conn:
        conversation, status_id, _ = await _row(conn, viewer_id, conversation_id)
        mine = and_(
            direct_conversations.c.account_id == viewer_id, direct_conversations.c.conversation_id == conversation_id
        )
        await conn.execute(update(direct_conversations).where(mine).values(unread=False))
    found = await _conversations(services, viewer_id, [(conversation, status_id, False)])
    if not found:
        raise NotFound
    return found[0]


async def remove(services: Services, viewer_id: int, conversation_id: int) -> None:
    """Take the conversation off the reader's list (the posts stay; a new one brings it back)."""
    async with services.db.begin() as conn:
        await _row(conn, viewer_id, conversation_id)
        mine = and_(
            direct_conversations.c.account_id == viewer_id, direct_conversations.c.conversation_id == conversation_id
        )
        await conn.execute(delete(direct_conversations).where(mine))
