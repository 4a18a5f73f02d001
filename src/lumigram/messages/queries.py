"""Reading threads and messages, always as one member sees them.

A thread lists only for its current members; its messages page newest first by their
time-sortable ids (max_id/since_id/min_id, as every list here), leaving out the ones the
reader deleted for themselves. A shared post is shown only while the reader may see it
(the one visibility rule), so sharing a private post tells a stranger nothing.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.service import account_from_row
from lumigram.errors import NotFound
from lumigram.infra.tables import (
    accounts,
    dm_hidden_messages,
    dm_message_edits,
    dm_messages,
    dm_participants,
    dm_reactions,
    dm_threads,
    media_attachments,
)
from lumigram.messages import access
from lumigram.messages.models import INBOX, REQUESTS, Edit, Member, Message, Reaction, Thread, Unread
from lumigram.paging import Page, PageRequest, window
from lumigram.posts.hydrate import hydrate_in
from lumigram.services import Services
from lumigram.stories.service import visible_stories
from lumigram.uploads.models import media_record

DEFAULT_LIMIT = 20
MAX_LIMIT = 40


def _limit(page: PageRequest) -> int:
    return max(1, min(page.limit, MAX_LIMIT))


def _not_hidden(viewer_id: int) -> Any:
    return dm_messages.c.id.not_in(
        select(dm_hidden_messages.c.message_id).where(dm_hidden_messages.c.account_id == viewer_id)
    )


async def _messages(conn: AsyncConnection, viewer_id: int, rows: Sequence[Any], now: datetime) -> list[Message]:
    """Messages of ``rows`` with their media, reactions and shares, as the viewer sees them
    at ``now`` (a story a message answers shows only while it is live and visible to them)."""
    ids = [int(r.id) for r in rows]
    if not ids:
        return []
    reactions: dict[int, list[Reaction]] = {}
    found = await conn.execute(
        select(dm_reactions).where(dm_reactions.c.message_id.in_(ids)).order_by(dm_reactions.c.created_at)
    )
    for r in found:
        reactions.setdefault(int(r.message_id), []).append(Reaction(int(r.account_id), r.emoji))
    media_ids = {int(m) for r in rows for m in json.loads(r.media_ids)}
    media = {}
    if media_ids:
        query = select(media_attachments).where(media_attachments.c.id.in_(media_ids))
        media = {int(m.id): media_record(m) for m in await conn.execute(query)}
    shared_ids = [int(r.shared_status_id) for r in rows if r.shared_status_id is not None]
    posts = {p.post.id: p for p in await hydrate_in(conn, viewer_id, shared_ids)} if shared_ids else {}
    account_ids = [int(r.shared_account_id) for r in rows if r.shared_account_id is not None]
    shared_accounts = {}
    if account_ids:
        query = select(accounts).where(accounts.c.id.in_(account_ids))
        shared_accounts = {int(a.id): account_from_row(a) for a in await conn.execute(query)}
    answered = [int(r.story_id) for r in rows if r.story_id is not None]
    live_stories = await visible_stories(conn, now, viewer_id, answered) if answered else {}
    return [
        Message(
            id=int(r.id),
            thread_id=int(r.thread_id),
            account_id=int(r.account_id),
            text=r.text,
            created_at=r.created_at,
            edited_at=r.edited_at,
            unsent=r.unsent_at is not None,
            media=[media[int(m)] for m in json.loads(r.media_ids) if int(m) in media],
            shared_post=posts.get(r.shared_status_id) if r.shared_status_id is not None else None,
            shared_account=shared_accounts.get(r.shared_account_id) if r.shared_account_id is not None else None,
            reactions=reactions.get(int(r.id), []),
            story_id=int(r.story_id) if r.story_id is not None else None,
            story=live_stories.get(int(r.story_id)) if r.story_id is not None else None,
        )
        for r in rows
    ]


async def _unread_counts(conn: AsyncConnection, viewer_id: int, thread_ids: Sequence[int]) -> dict[int, int]:
    if not thread_ids:
        return {}
    query = (
        select(dm_messages.c.thread_id, func.count())
        .join(
            dm_participants,
            and_(dm_participants.c.thread_id == dm_messages.c.thread_id, dm_participants.c.account_id == viewer_id),
        )
        .where(
            dm_messages.c.thread_id.in_(thread_ids),
            dm_messages.c.id > dm_participants.c.last_read_id,
            dm_messages.c.account_id != viewer_id,
            dm_messages.c.unsent_at.is_(None),
            _not_hidden(viewer_id),
        )
        .group_by(dm_messages.c.thread_id)
    )
    return {int(t): int(n) for t, n in await conn.execute(query)}


async def _threads(conn: AsyncConnection, viewer_id: int, rows: Sequence[Any], now: datetime) -> list[Thread]:
    ids = [int(r.id) for r in rows]
    if not ids:
        return []
    members: dict[int, list[Member]] = {}
    found = await conn.execute(
        select(dm_participants)
        .where(dm_participants.c.thread_id.in_(ids))
        .order_by(dm_participants.c.joined_at, dm_participants.c.account_id)
    )
    for m in found:
        members.setdefault(int(m.thread_id), []).append(
            Member(int(m.account_id), bool(m.admin), m.folder, bool(m.muted), int(m.last_read_id))
        )
    account_ids = {m.account_id for ms in members.values() for m in ms}
    by_id = {
        int(a.id): account_from_row(a)
        for a in await conn.execute(select(accounts).where(accounts.c.id.in_(account_ids)))
    }
    # Each thread's newest message the viewer has not deleted for themselves.
    newest = (
        select(func.max(dm_messages.c.id))
        .where(dm_messages.c.thread_id.in_(ids), _not_hidden(viewer_id))
        .group_by(dm_messages.c.thread_id)
    )
    last_rows = list(await conn.execute(select(dm_messages).where(dm_messages.c.id.in_(newest))))
    last = {m.thread_id: m for m in await _messages(conn, viewer_id, last_rows, now)}
    unread = await _unread_counts(conn, viewer_id, ids)
    return [
        Thread(
            id=int(r.id),
            kind=r.kind,
            name=r.name,
            created_by=int(r.created_by),
            created_at=r.created_at,
            viewer_id=viewer_id,
            members=members.get(int(r.id), []),
            accounts=[by_id[m.account_id] for m in members.get(int(r.id), []) if m.account_id in by_id],
            unread_count=unread.get(int(r.id), 0),
            last_message=last.get(int(r.id)),
        )
        for r in rows
    ]


async def get_thread(services: Services, viewer_id: int, thread_id: int) -> Thread:
    async with services.db.connect() as conn:
        row = await access.membership(conn, thread_id, viewer_id)
        return (await _threads(conn, viewer_id, [row], services.now()))[0]


async def list_threads(services: Services, viewer_id: int, folder: str, page: PageRequest) -> Page[Thread]:
    """The viewer's inbox or requests, most recent message first, paged by that message's id.
    A thread shows once it has a message, except to whoever started it."""
    limit = _limit(page)
    if page.is_empty():
        return Page(limit=limit)
    folder = folder if folder in (INBOX, REQUESTS) else INBOX
    query = (
        select(dm_threads, dm_participants.c.sort_id)
        .join(dm_participants, dm_participants.c.thread_id == dm_threads.c.id)
        .where(
            dm_participants.c.account_id == viewer_id,
            dm_participants.c.folder == folder,
            (dm_threads.c.last_message_id > 0) | (dm_threads.c.created_by == viewer_id),
        )
    )
    query, ascending = window(query, dm_participants.c.sort_id, page, limit)
    async with services.db.connect() as conn:
        rows = list((await conn.execute(query)).all())
        if ascending:
            rows.reverse()
        threads = await _threads(conn, viewer_id, rows, services.now())
    return Page(items=threads, cursors=[int(r.sort_id) for r in rows], limit=limit)


async def list_messages(services: Services, viewer_id: int, thread_id: int, page: PageRequest) -> Page[Message]:
    limit = _limit(page)
    async with services.db.connect() as conn:
        await access.membership(conn, thread_id, viewer_id)
        if page.is_empty():
            return Page(limit=limit)
        query = select(dm_messages).where(dm_messages.c.thread_id == thread_id, _not_hidden(viewer_id))
        query, ascending = window(query, dm_messages.c.id, page, limit)
        rows = list((await conn.execute(query)).all())
        if ascending:
            rows.reverse()
        items = await _messages(conn, viewer_id, rows, services.now())
    return Page(items=items, cursors=[m.id for m in items], limit=limit)


async def get_message(services: Services, viewer_id: int, thread_id: int, message_id: int) -> Message:
    """One message of a thread the viewer is in (for the answer to a send or an edit)."""
    async with services.db.connect() as conn:
        await access.membership(conn, thread_id, viewer_id)
        if not access.valid_id(message_id):
            raise NotFound
        query = select(dm_messages).where(dm_messages.c.id == message_id, dm_messages.c.thread_id == thread_id)
        rows = list((await conn.execute(query)).all())
        if not rows:
            raise NotFound
        return (await _messages(conn, viewer_id, rows, services.now()))[0]


async def message_as_seen_by(
    services: Services, viewer_ids: Sequence[int], thread_id: int, message_id: int
) -> dict[int, Message]:
    """One message as each of ``viewer_ids`` sees it, for the members an event about it
    names (whose membership is the event's to vouch for): read once, and looked at again
    per viewer only for a shared post or an answered story, which each may see or not.
    Empty when the message is gone."""
    if not viewer_ids:
        return {}
    async with services.db.connect() as conn:
        query = select(dm_messages).where(dm_messages.c.id == message_id, dm_messages.c.thread_id == thread_id)
        row = (await conn.execute(query)).first()
        if row is None:
            return {}
        now = services.now()
        first, *others = viewer_ids
        (message,) = await _messages(conn, first, [row], now)
        if row.shared_status_id is None and row.story_id is None:
            return dict.fromkeys(viewer_ids, message)
        seen = {first: message}
        for viewer_id in others:
            (seen[viewer_id],) = await _messages(conn, viewer_id, [row], now)
        return seen


async def text_to_push(services: Services, thread_id: int, message_id: int) -> str | None:
    """A message's text for a push, in one query: None once it is unsent or gone."""
    query = select(dm_messages.c.text).where(
        dm_messages.c.id == message_id, dm_messages.c.thread_id == thread_id, dm_messages.c.unsent_at.is_(None)
    )
    async with services.db.connect() as conn:
        text = (await conn.execute(query)).scalar()
    return None if text is None else str(text)


async def message_history(services: Services, viewer_id: int, thread_id: int, message_id: int) -> list[Edit]:
    """A message's texts, oldest first, its current one last."""
    current = await get_message(services, viewer_id, thread_id, message_id)
    async with services.db.connect() as conn:
        query = (
            select(dm_message_edits).where(dm_message_edits.c.message_id == message_id).order_by(dm_message_edits.c.id)
        )
        earlier = [Edit(e.text, e.created_at) for e in await conn.execute(query)]
    return [*earlier, Edit(current.text, current.edited_at or current.created_at)]


async def unread(services: Services, viewer_id: int) -> Unread:
    async with services.db.connect() as conn:
        folders = await conn.execute(
            select(dm_participants.c.thread_id, dm_participants.c.folder).where(
                dm_participants.c.account_id == viewer_id, dm_participants.c.folder.in_((INBOX, REQUESTS))
            )
        )
        inbox: list[int] = []
        requests: list[int] = []
        for thread_id, folder in folders:
            (inbox if folder == INBOX else requests).append(int(thread_id))
        counts = await _unread_counts(conn, viewer_id, inbox)
        pending = await _unread_counts(conn, viewer_id, requests)
    return Unread(total=sum(counts.values()), threads=len(counts), requests=len(pending))
