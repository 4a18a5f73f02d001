"""Commands on message threads: start one, send, edit, unsend, react, read, and manage
members and requests. No HTTP here; reads are in ``lumigram.messages.queries``.

Every command checks that the caller is a current member of the thread first
(``access.membership``): to anyone else a thread does not exist. Each write and its
event share one unit of work, and the event names the thread's audience at that moment,
so a member removed before a message was sent is never sent it.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import BigInteger, Update, and_, bindparam, case, delete, func, insert, select, true, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.ratelimits import hit_limits
from lumigram.accounts.service import account_from_row
from lumigram.errors import Forbidden, NotFound, ValidationFailed
from lumigram.events import (
    AccountDeleted,
    MessageEdited,
    MessageReacted,
    MessageSent,
    MessageUnsent,
    ThreadMembersChanged,
    ThreadRead,
)
from lumigram.ids import shard_of
from lumigram.infra.sql import Prebuilt, insert_columns
from lumigram.infra.tables import (
    accounts,
    dm_hidden_messages,
    dm_message_edits,
    dm_messages,
    dm_participants,
    dm_reactions,
    dm_settings,
    dm_threads,
    media_attachments,
    utcnow,
)
from lumigram.media_access.service import forget_privacy
from lumigram.messages import access
from lumigram.messages.access import valid_id
from lumigram.messages.models import ACCEPT_CHOICES, DECLINED, DIRECT, GROUP, INBOX, REQUESTS, Message, Sent
from lumigram.posts.hydrate import hydrate_in
from lumigram.posts.service import POST_RATE_WINDOW
from lumigram.services import Services
from lumigram.stories import service as stories
from lumigram.stories.models import REPLY, Reply
from lumigram.unit_of_work import Work, unit_of_work
from lumigram.uploads.models import MediaRecord, media_record

#: Largest group, the starter included.
MAX_MEMBERS = 32
MAX_TEXT = 1000
MAX_NAME = 100
MAX_MEDIA = 10
MAX_EMOJI = 32
#: How long after sending a message may be edited.
EDIT_WINDOW = timedelta(minutes=15)


def _pair_key(a: int, b: int) -> str:
    low, high = sorted((a, b))
    return f"{low}:{high}"


async def _existing_accounts(conn: AsyncConnection, account_ids: Sequence[int]) -> set[int]:
    wanted = [a for a in account_ids if valid_id(a)]
    if not wanted:
        return set()
    return {int(a) for a in (await conn.execute(select(accounts.c.id).where(accounts.c.id.in_(wanted)))).scalars()}


def _check_name(name: str | None) -> str:
    cleaned = (name or "").strip()
    if len(cleaned) > MAX_NAME:
        raise ValidationFailed.field("name", "ERR_TOO_LONG", f"is too long (at most {MAX_NAME} characters)")
    return cleaned


async def _add_member(
    conn: AsyncConnection, thread_id: int, account_id: int, folder: str, sort_id: int, admin: bool = False
) -> None:
    """``sort_id`` places the thread in the member's lists: its latest message's id (its
    own id until it has one; both are time-sortable)."""
    await conn.execute(
        insert(dm_participants).values(
            thread_id=thread_id,
            account_id=account_id,
            admin=admin,
            folder=folder,
            sort_id=sort_id,
            joined_at=utcnow(),
        )
    )


async def start_thread(services: Services, account_id: int, account_ids: Sequence[int], name: str | None = None) -> int:
    """A thread with ``account_ids``: the existing 1:1 thread for one account and no name,
    or a new group. The starter is its admin. Returns the thread's id."""
    others = sorted({a for a in account_ids if a != account_id})
    if not others:
        raise ValidationFailed.field("account_ids", "ERR_BLANK", "must name someone other than you")
    if len(others) + 1 > MAX_MEMBERS:
        raise ValidationFailed.field("account_ids", "ERR_TOO_LONG", f"is too many (at most {MAX_MEMBERS} members)")
    cleaned = _check_name(name)
    kind = DIRECT if len(others) == 1 and not cleaned else GROUP
    async with unit_of_work(services) as work:
        conn = work.conn
        if await _existing_accounts(conn, others) != set(others):
            raise NotFound
        if kind == DIRECT:
            return await _direct_thread(services, conn, account_id, others[0])
        return await _new_thread(services, conn, account_id, others, kind, cleaned)


async def _direct_thread(services: Services, conn: AsyncConnection, account_id: int, other: int) -> int:
    """The 1:1 thread of two accounts, made (by the recipient's rules) if there is none."""
    found = (
        await conn.execute(select(dm_threads.c.id).where(dm_threads.c.pair_key == _pair_key(account_id, other)))
    ).scalar()
    if found is not None:
        await access.check_not_blocked(conn, account_id, [other])
        return int(found)
    return await _new_thread(services, conn, account_id, [other], DIRECT, "")


async def _new_thread(
    services: Services, conn: AsyncConnection, account_id: int, others: list[int], kind: str, name: str
) -> int:
    folders = {other: await access.folder_for(conn, account_id, other) for other in others}
    thread_id = services.ids.next_id(shard_of(account_id))
    await conn.execute(
        insert(dm_threads).values(
            id=thread_id,
            kind=kind,
            name=name,
            pair_key=_pair_key(account_id, others[0]) if kind == DIRECT else None,
            created_by=account_id,
            created_at=utcnow(),
        )
    )
    await _add_member(conn, thread_id, account_id, INBOX, thread_id, admin=True)
    for other, folder in folders.items():
        await _add_member(conn, thread_id, other, folder, thread_id, admin=kind == DIRECT)
    return thread_id


async def _claim_media(
    conn: AsyncConnection, account_id: int, message_id: int, media_ids: Sequence[int]
) -> list[MediaRecord]:
    """The sender's unattached uploads, now the message's and private (signed URLs only),
    as they are once claimed, in the order given."""
    if len(media_ids) > MAX_MEDIA:
        raise ValidationFailed.field("media_ids", "ERR_TOO_LONG", f"is too many (at most {MAX_MEDIA})")
    wanted = list(dict.fromkeys(media_ids))
    if not wanted:
        return []
    if not all(valid_id(m) for m in wanted):
        raise ValidationFailed.field("media_ids", "ERR_INVALID", "names media that is not yours to send")
    claimed = await conn.execute(
        update(media_attachments)
        .where(
            media_attachments.c.id.in_(wanted),
            media_attachments.c.account_id == account_id,
            media_attachments.c.status_id.is_(None),
            media_attachments.c.state != "failed",
        )
        .values(status_id=message_id, private=True)
        .returning(*media_attachments.c)
    )
    by_id = {int(row.id): media_record(row) for row in claimed}
    if len(by_id) != len(wanted):
        raise ValidationFailed.field("media_ids", "ERR_INVALID", "names media that is not yours to send")
    return [by_id[m] for m in wanted]


async def send_message(
    services: Services,
    account_id: int,
    thread_id: int,
    text: str = "",
    media_ids: Sequence[int] = (),
    status_id: int | None = None,
    shared_account_id: int | None = None,
    publishes: bool = False,
) -> Sent:
    """Post a message to a thread; replying from one's requests accepts them. Returns the
    message as its sender sees it, built from what was written (nothing is read back).

    With ``publishes`` the caller undertakes to publish the message to the members' open
    streams itself as soon as this returns (``Sent.streamed``; the bus then only pushes
    to members with none open), which spares the stream the trip through the outbox and
    the bus. A message with a shared post goes by the bus all the same: each member sees
    the post as they may see it."""
    text = (text or "").strip()
    if len(text) > MAX_TEXT:
        raise ValidationFailed.field("text", "ERR_TOO_LONG", f"is too long (at most {MAX_TEXT} characters)")
    if not text and not media_ids and status_id is None and shared_account_id is None:
        raise ValidationFailed.field("text", "ERR_BLANK", "can't be blank without media, a post or a profile")
    # Messages share the allowance of posts and comments (LUMIGRAM_POST_RATE_LIMIT).
    await hit_limits(services, [f"ratelimit:post:{account_id}"], services.settings.post_rate_limit, POST_RATE_WINDOW)
    streamed = publishes and status_id is None
    async with unit_of_work(services) as work:
        conn = work.conn
        to = await access.recipients(conn, thread_id, account_id)
        shared_post = None
        if status_id is not None:
            seen = await hydrate_in(conn, account_id, [status_id]) if valid_id(status_id) else []
            if not seen:
                raise ValidationFailed.field("status_id", "ERR_INVALID", "names no post you can see")
            shared_post = seen[0]
        shared_account = None
        if shared_account_id is not None:
            shared_account = await _account(conn, shared_account_id)
            if shared_account is None:
                raise ValidationFailed.field("account_id", "ERR_INVALID", "names no account")
        message_id = services.ids.next_id(shard_of(account_id))
        media = await _claim_media(conn, account_id, message_id, media_ids)
        created_at = utcnow()
        await _write_message(
            work,
            account_id,
            thread_id,
            message_id,
            to,
            created_at,
            streamed,
            text=text,
            shared_status_id=status_id,
            shared_account_id=shared_account_id,
            media_ids=json.dumps([str(m.id) for m in media]),
        )
    if media:
        await forget_privacy(services, *(m.id for m in media))
    message = Message(
        id=message_id,
        thread_id=thread_id,
        account_id=account_id,
        text=text,
        created_at=created_at,
        edited_at=None,
        unsent=False,
        media=media,
        shared_post=shared_post,
        shared_account=shared_account,
    )
    return Sent(message=message, audience=to.audience, requested=to.requested, streamed=streamed)


async def _account(conn: AsyncConnection, account_id: int) -> Account | None:
    if not valid_id(account_id):
        return None
    row = (await conn.execute(select(accounts).where(accounts.c.id == account_id))).first()
    return account_from_row(row) if row is not None else None


_MESSAGE_COLUMNS = (
    "id",
    "thread_id",
    "account_id",
    "text",
    "shared_status_id",
    "shared_account_id",
    "story_id",
    "media_ids",
    "created_at",
)
# What every send writes, built once (and on PostgreSQL sent by the driver itself).
_INSERT_MESSAGE = Prebuilt(lambda _dialect: insert_columns(dm_messages, _MESSAGE_COLUMNS))
_TOUCH_THREAD = Prebuilt(
    lambda _dialect: (
        update(dm_threads)
        .where(dm_threads.c.id == bindparam("thread"))
        .values(last_message_id=bindparam("message", type_=BigInteger))
    )
)


def _move_members(_dialect: str) -> Update:
    """The thread to the top of every member's lists; for the sender, read up to the
    message and back in the inbox (writing is reading, and answering a request accepts
    it); every other member holding it in requests, told of it from now on."""
    member = dm_participants.c.account_id
    sender_id = bindparam("sender", type_=BigInteger)
    sender = member == sender_id
    message = bindparam("message", type_=BigInteger)
    requested = (dm_participants.c.folder == REQUESTS) & (member != sender_id)
    return (
        update(dm_participants)
        .where(dm_participants.c.thread_id == bindparam("thread"))
        .values(
            sort_id=message,
            last_read_id=case((sender, message), else_=dm_participants.c.last_read_id),
            folder=case((sender, INBOX), else_=dm_participants.c.folder),
            request_notified=case((requested, true()), else_=dm_participants.c.request_notified),
        )
    )


_MOVE_MEMBERS = Prebuilt(_move_members)


async def _write_message(
    work: Work,
    account_id: int,
    thread_id: int,
    message_id: int,
    to: access.Recipients,
    created_at: datetime,
    streamed: bool,
    **values: Any,
) -> None:
    """Insert a message and move the thread to the top of its members' lists in one
    statement (the sender's read position and folder, and the requests it opens, with
    it), emitting MessageSent, which tells members with the thread in requests once.
    ``to`` was read in this transaction, so the requests it names are those marked."""
    conn = work.conn
    # Every column named, as the driver takes them: what a message without them holds.
    row: dict[str, Any] = {**dict.fromkeys(_MESSAGE_COLUMNS), "text": "", "media_ids": "[]"}
    row.update(values, id=message_id, thread_id=thread_id, account_id=account_id, created_at=created_at)
    await _INSERT_MESSAGE.execute(conn, row)
    await _TOUCH_THREAD.execute(conn, {"thread": thread_id, "message": message_id})
    await _MOVE_MEMBERS.execute(conn, {"thread": thread_id, "sender": account_id, "message": message_id})
    sent = MessageSent(
        thread_id=thread_id,
        account_id=account_id,
        audience=to.audience,
        message_id=message_id,
        requested=to.requested,
        streamed=streamed,
    )
    await work.emit(sent, shard=shard_of(account_id))


async def reply_to_story(services: Services, account_id: int, story_id: int, text: str) -> Reply:
    """A reply to a story, as Instagram makes it: kept for the owner's replies list (and
    notified), and sent as a message in the 1:1 thread of replier and owner, which is made
    if needed by the owner's rules as for any first message (a stranger's lands in the
    owner's requests; a setting that refuses the replier refuses the reply: Forbidden)."""
    async with unit_of_work(services) as work:
        reply = await stories.write_answer(services, work, account_id, story_id, REPLY, text)
        thread_id = await _direct_thread(services, work.conn, account_id, reply.owner_id)
        to = await access.recipients(work.conn, thread_id, account_id)
        message_id = services.ids.next_id(shard_of(account_id))
        await _write_message(
            work, account_id, thread_id, message_id, to, utcnow(), False, text=reply.content, story_id=story_id
        )
    return reply


async def _own_message(conn: AsyncConnection, account_id: int, thread_id: int, message_id: int) -> Any:
    await access.membership(conn, thread_id, account_id)
    row = await _message_row(conn, thread_id, message_id)
    if row.account_id != account_id:
        raise Forbidden("Only its sender may change a message")
    if row.unsent_at is not None:
        raise NotFound
    return row


async def _message_row(conn: AsyncConnection, thread_id: int, message_id: int) -> Any:
    if not valid_id(message_id):
        raise NotFound
    query = select(dm_messages).where(dm_messages.c.id == message_id, dm_messages.c.thread_id == thread_id)
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound
    return row


async def edit_message(services: Services, account_id: int, thread_id: int, message_id: int, text: str) -> None:
    """Change a message's text within ``EDIT_WINDOW`` of sending it; the old text is kept."""
    text = (text or "").strip()
    if not text:
        raise ValidationFailed.field("text", "ERR_BLANK", "can't be blank")
    if len(text) > MAX_TEXT:
        raise ValidationFailed.field("text", "ERR_TOO_LONG", f"is too long (at most {MAX_TEXT} characters)")
    async with unit_of_work(services) as work:
        conn = work.conn
        row = await _own_message(conn, account_id, thread_id, message_id)
        if utcnow() - row.created_at > EDIT_WINDOW:
            raise ValidationFailed.field("text", "ERR_TIMEOUT", "can only be edited within 15 minutes of sending")
        await conn.execute(
            insert(dm_message_edits).values(
                id=services.ids.next_id(shard_of(account_id)),
                message_id=message_id,
                text=row.text,
                created_at=row.edited_at or row.created_at,
            )
        )
        await conn.execute(
            update(dm_messages).where(dm_messages.c.id == message_id).values(text=text, edited_at=utcnow())
        )
        event = MessageEdited(
            thread_id=thread_id,
            account_id=account_id,
            audience=await access.audience(conn, thread_id),
            message_id=message_id,
        )
        await work.emit(event, shard=shard_of(account_id))


async def unsend_message(services: Services, account_id: int, thread_id: int, message_id: int) -> None:
    """Take a message back for everyone: its text, media, shares, reactions and history go."""
    async with unit_of_work(services) as work:
        conn = work.conn
        await _own_message(conn, account_id, thread_id, message_id)
        await conn.execute(
            update(dm_messages)
            .where(dm_messages.c.id == message_id)
            .values(
                text="",
                shared_status_id=None,
                shared_account_id=None,
                story_id=None,
                media_ids="[]",
                unsent_at=utcnow(),
            )
        )
        await conn.execute(delete(dm_message_edits).where(dm_message_edits.c.message_id == message_id))
        await conn.execute(delete(dm_reactions).where(dm_reactions.c.message_id == message_id))
        # Released, its uploads are removed by the janitor's sweep of media never posted.
        await conn.execute(
            update(media_attachments)
            .where(media_attachments.c.status_id == message_id, media_attachments.c.account_id == account_id)
            .values(status_id=None)
        )
        event = MessageUnsent(
            thread_id=thread_id,
            account_id=account_id,
            audience=await access.audience(conn, thread_id),
            message_id=message_id,
        )
        await work.emit(event, shard=shard_of(account_id))


async def delete_for_me(services: Services, account_id: int, thread_id: int, message_id: int) -> None:
    """Hide one message from the caller only."""
    async with services.db.begin() as conn:
        await access.membership(conn, thread_id, account_id)
        await _message_row(conn, thread_id, message_id)
        hidden = and_(dm_hidden_messages.c.account_id == account_id, dm_hidden_messages.c.message_id == message_id)
        if (await conn.execute(select(func.count()).where(hidden))).scalar_one() == 0:
            await conn.execute(insert(dm_hidden_messages).values(account_id=account_id, message_id=message_id))


async def react(services: Services, account_id: int, thread_id: int, message_id: int, emoji: str | None) -> None:
    """Set (or, with no emoji, take back) the caller's one reaction to a message."""
    emoji = (emoji or "").strip()
    if len(emoji) > MAX_EMOJI:
        raise ValidationFailed.field("emoji", "ERR_TOO_LONG", f"is too long (at most {MAX_EMOJI} characters)")
    async with unit_of_work(services) as work:
        conn = work.conn
        await access.membership(conn, thread_id, account_id)
        row = await _message_row(conn, thread_id, message_id)
        if row.unsent_at is not None:
            raise NotFound
        mine = and_(dm_reactions.c.message_id == message_id, dm_reactions.c.account_id == account_id)
        await conn.execute(delete(dm_reactions).where(mine))
        if emoji:
            await conn.execute(
                insert(dm_reactions).values(
                    message_id=message_id, account_id=account_id, emoji=emoji, created_at=utcnow()
                )
            )
        event = MessageReacted(
            thread_id=thread_id,
            account_id=account_id,
            audience=await access.audience(conn, thread_id),
            message_id=message_id,
            emoji=emoji,
        )
        await work.emit(event, shard=shard_of(account_id))


async def mark_read(services: Services, account_id: int, thread_id: int, last_read_id: int | None = None) -> int:
    """Move the caller's read position forward (to the newest message by default)."""
    async with unit_of_work(services) as work:
        conn = work.conn
        thread = await access.membership(conn, thread_id, account_id)
        newest = int(thread.last_message_id)
        target = newest if last_read_id is None else min(last_read_id, newest)
        if target <= int(thread.last_read_id):
            return int(thread.last_read_id)
        mine = and_(dm_participants.c.thread_id == thread_id, dm_participants.c.account_id == account_id)
        await conn.execute(update(dm_participants).where(mine).values(last_read_id=target))
        event = ThreadRead(
            thread_id=thread_id,
            account_id=account_id,
            audience=await access.audience(conn, thread_id),
            last_read_id=target,
        )
        await work.emit(event, shard=shard_of(account_id))
    return target


async def typing_audience(services: Services, account_id: int, thread_id: int) -> list[int]:
    """The members to tell that the caller is typing (NotFound for a non-member)."""
    async with services.db.connect() as conn:
        thread = await access.membership(conn, thread_id, account_id)
        if thread.folder == DECLINED:
            return []
        return [a for a in await access.audience(conn, thread_id) if a != account_id]


# --- members and requests ---------------------------------------------------------------


async def _members_changed(work: Work, thread_id: int, account_id: int, added: list[int], removed: list[int]) -> None:
    audience = await access.audience(work.conn, thread_id)
    event = ThreadMembersChanged(
        thread_id=thread_id,
        account_id=account_id,
        audience=sorted(set(audience) | set(removed)),
        added=added,
        removed=removed,
    )
    await work.emit(event, shard=shard_of(account_id))


async def add_members(services: Services, account_id: int, thread_id: int, account_ids: Sequence[int]) -> None:
    """An admin adds accounts to a group (each by its own setting: inbox, request or refused)."""
    async with unit_of_work(services) as work:
        conn = work.conn
        thread = await access.membership(conn, thread_id, account_id)
        if thread.kind != GROUP:
            raise ValidationFailed.field("account_ids", "ERR_INVALID", "can only be added to a group")
        if not thread.admin:
            raise Forbidden("Only the group's admins may add members")
        present = set(await access.member_ids(conn, thread_id))
        wanted = sorted(set(account_ids) - present)
        if not wanted:
            return
        if len(present) + len(wanted) > MAX_MEMBERS:
            raise ValidationFailed.field("account_ids", "ERR_TOO_LONG", f"is too many (at most {MAX_MEMBERS} members)")
        if await _existing_accounts(conn, wanted) != set(wanted):
            raise NotFound
        for other in wanted:
            folder = await access.folder_for(conn, account_id, other)
            await _add_member(conn, thread_id, other, folder, int(thread.last_message_id) or thread_id)
        await _members_changed(work, thread_id, account_id, wanted, [])


async def _drop_member(work: Work, thread_id: int, account_id: int) -> None:
    conn = work.conn
    await conn.execute(
        delete(dm_participants).where(
            dm_participants.c.thread_id == thread_id, dm_participants.c.account_id == account_id
        )
    )
    admins = select(func.count()).where(dm_participants.c.thread_id == thread_id, dm_participants.c.admin.is_(True))
    if (await conn.execute(admins)).scalar_one() == 0:
        # A group is never left without an admin: its longest-standing member becomes one.
        eldest = (
            await conn.execute(
                select(dm_participants.c.account_id)
                .where(dm_participants.c.thread_id == thread_id)
                .order_by(dm_participants.c.joined_at, dm_participants.c.account_id)
                .limit(1)
            )
        ).scalar()
        if eldest is not None:
            await conn.execute(
                update(dm_participants)
                .where(dm_participants.c.thread_id == thread_id, dm_participants.c.account_id == eldest)
                .values(admin=True)
            )


async def remove_member(services: Services, account_id: int, thread_id: int, member_id: int) -> None:
    """An admin removes a member from a group: from then on they see nothing of it."""
    async with unit_of_work(services) as work:
        thread = await access.membership(work.conn, thread_id, account_id)
        if thread.kind != GROUP:
            raise ValidationFailed.field("account_id", "ERR_INVALID", "can only be removed from a group")
        if not thread.admin:
            raise Forbidden("Only the group's admins may remove members")
        if member_id == account_id:
            raise ValidationFailed.field("account_id", "ERR_INVALID", "is you: leave the group instead")
        if member_id not in await access.member_ids(work.conn, thread_id):
            raise NotFound
        await _drop_member(work, thread_id, member_id)
        await _members_changed(work, thread_id, account_id, [], [member_id])


async def leave(services: Services, account_id: int, thread_id: int) -> None:
    """Leave a group."""
    async with unit_of_work(services) as work:
        thread = await access.membership(work.conn, thread_id, account_id)
        if thread.kind != GROUP:
            raise ValidationFailed.field("thread", "ERR_INVALID", "is a one-to-one thread: only groups can be left")
        await _drop_member(work, thread_id, account_id)
        await _members_changed(work, thread_id, account_id, [], [account_id])


async def update_thread(
    services: Services, account_id: int, thread_id: int, name: str | None = None, muted: bool | None = None
) -> None:
    """Rename a group (admins only) and/or mute or unmute the thread for oneself."""
    async with services.db.begin() as conn:
        thread = await access.membership(conn, thread_id, account_id)
        if name is not None:
            if thread.kind != GROUP:
                raise ValidationFailed.field("name", "ERR_INVALID", "can only be given to a group")
            if not thread.admin:
                raise Forbidden("Only the group's admins may rename it")
            await conn.execute(update(dm_threads).where(dm_threads.c.id == thread_id).values(name=_check_name(name)))
        if muted is not None:
            mine = and_(dm_participants.c.thread_id == thread_id, dm_participants.c.account_id == account_id)
            await conn.execute(update(dm_participants).where(mine).values(muted=muted))


async def _set_folder(services: Services, account_id: int, thread_id: int, folder: str) -> int:
    """Move a thread between the caller's folders; returns who started it."""
    async with services.db.begin() as conn:
        thread = await access.membership(conn, thread_id, account_id)
        mine = and_(dm_participants.c.thread_id == thread_id, dm_participants.c.account_id == account_id)
        await conn.execute(update(dm_participants).where(mine).values(folder=folder))
        return int(thread.created_by)


async def accept_request(services: Services, account_id: int, thread_id: int) -> None:
    await _set_folder(services, account_id, thread_id, INBOX)


async def decline_request(services: Services, account_id: int, thread_id: int) -> int:
    """Hide the thread from the caller; its sender is not told. Returns who started it."""
    return await _set_folder(services, account_id, thread_id, DECLINED)


async def set_accept(services: Services, account_id: int, accept: str) -> str:
    if accept not in ACCEPT_CHOICES:
        raise ValidationFailed.field("accept", "ERR_INCLUSION", f"must be one of {', '.join(ACCEPT_CHOICES)}")
    async with services.db.begin() as conn:
        mine = dm_settings.c.account_id == account_id
        if (await conn.execute(update(dm_settings).where(mine).values(accept=accept))).rowcount == 0:
            await conn.execute(insert(dm_settings).values(account_id=account_id, accept=accept))
    return accept


async def get_accept(services: Services, account_id: int) -> str:
    async with services.db.connect() as conn:
        return await access.accept_setting(conn, account_id)


# --- a deleted account -------------------------------------------------------------------

#: Messages emptied per transaction when an account is deleted.
DELETION_BATCH = 100


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """Empty a deleted account's messages in every thread, a batch per transaction, as if
    it had unsent each (the other members see a deleted message, never its text, media or
    shares, and their open streams are told); take back its reactions, settings and
    marks, and take it out of its groups. Its 1:1 threads stay for the other member."""
    gone = event.account_id
    while True:
        async with unit_of_work(services) as work:
            conn = work.conn
            query = (
                select(dm_messages.c.id, dm_messages.c.thread_id)
                .where(dm_messages.c.account_id == gone, dm_messages.c.unsent_at.is_(None))
                .limit(DELETION_BATCH)
            )
            found = (await conn.execute(query)).all()
            ids = [int(row.id) for row in found]
            if ids:
                await conn.execute(
                    update(dm_messages)
                    .where(dm_messages.c.id.in_(ids))
                    .values(
                        text="",
                        shared_status_id=None,
                        shared_account_id=None,
                        story_id=None,
                        media_ids="[]",
                        unsent_at=utcnow(),
                    )
                )
                await conn.execute(delete(dm_message_edits).where(dm_message_edits.c.message_id.in_(ids)))
                await conn.execute(delete(dm_reactions).where(dm_reactions.c.message_id.in_(ids)))
                # Released, its uploads are removed by the janitor's sweep of media never posted.
                await conn.execute(
                    update(media_attachments)
                    .where(media_attachments.c.status_id.in_(ids), media_attachments.c.account_id == gone)
                    .values(status_id=None)
                )
                audiences: dict[int, list[int]] = {}
                for row in found:
                    thread_id = int(row.thread_id)
                    if thread_id not in audiences:
                        audiences[thread_id] = await access.audience(conn, thread_id)
                    unsent = MessageUnsent(
                        thread_id=thread_id, account_id=gone, audience=audiences[thread_id], message_id=int(row.id)
                    )
                    await work.emit(unsent, shard=shard_of(gone))
        if len(ids) < DELETION_BATCH:
            break
    async with unit_of_work(services) as work:
        conn = work.conn
        for table in (dm_reactions, dm_hidden_messages, dm_settings):
            await conn.execute(delete(table).where(table.c.account_id == gone))
        groups = select(dm_participants.c.thread_id).join(dm_threads, dm_threads.c.id == dm_participants.c.thread_id)
        groups = groups.where(dm_participants.c.account_id == gone, dm_threads.c.kind == GROUP)
        for thread_id in [int(t) for t in (await conn.execute(groups)).scalars()]:
            await _drop_member(work, thread_id, gone)
            await _members_changed(work, thread_id, gone, [], [gone])
