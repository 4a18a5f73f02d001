"""Who may see a thread, and who may start one with whom.

Only a thread's current members read it: anyone else (a stranger, a removed member, an
account a member blocked) gets NotFound, exactly as for a thread that does not exist.
Starting a thread, or adding someone to one, follows the recipient's setting
(``dm_settings.accept``) and blocks either way:

* blocked either way: Forbidden, as for a follow;
* ``nobody``: no new threads at all (existing ones go on);
* ``followed``: only accounts the recipient follows;
* ``everyone`` (the default): anyone; those the recipient does not follow land in its
  requests. A private account keeps that rule: a stranger's message is a request.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, and_, bindparam, exists, or_, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.errors import Forbidden, NotFound
from lumigram.infra.sql import Prebuilt
from lumigram.infra.tables import blocks, dm_participants, dm_settings, dm_threads, follows
from lumigram.messages.models import (
    ACCEPT_EVERYONE,
    ACCEPT_FOLLOWED,
    ACCEPT_NOBODY,
    DECLINED,
    DIRECT,
    INBOX,
    REQUESTS,
)
from lumigram.paging import MAX_ID

REFUSED = "This account does not accept messages from you"


def valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


async def membership(conn: AsyncConnection, thread_id: int, account_id: int) -> Any:
    """The thread's row with the caller's ``admin``, ``folder`` and ``last_read_id``;
    NotFound unless the caller is a current member."""
    if not valid_id(thread_id):
        raise NotFound
    query = (
        select(dm_threads, dm_participants.c.admin, dm_participants.c.folder, dm_participants.c.last_read_id)
        .join(dm_participants, dm_participants.c.thread_id == dm_threads.c.id)
        .where(dm_threads.c.id == thread_id, dm_participants.c.account_id == account_id)
    )
    row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound
    return row


@dataclass(frozen=True, slots=True)
class Recipients:
    """Whom a message from ``sender_id`` goes to, as the thread stands before it is written."""

    members: list[int]
    #: Members who will not have declined the thread once the message is in (the sender
    #: writing to a thread they declined takes it back to their inbox).
    audience: list[int]
    #: Members other than the sender holding the thread in their requests, not yet told of it.
    requested: list[int]


def _recipients(_dialect: str) -> Select[Any]:
    member = dm_participants.c.account_id
    sender = bindparam("sender", type_=BigInteger)
    blocked = exists().where(
        or_(
            and_(blocks.c.account_id == sender, blocks.c.target_account_id == member),
            and_(blocks.c.account_id == member, blocks.c.target_account_id == sender),
        )
    )
    return (
        select(
            dm_threads.c.kind,
            member,
            dm_participants.c.folder,
            dm_participants.c.request_notified,
            blocked.label("blocked"),
        )
        .join(dm_threads, dm_threads.c.id == dm_participants.c.thread_id)
        .where(dm_participants.c.thread_id == bindparam("thread"))
        .order_by(member)
    )


#: Built once: a send runs it every time (and on PostgreSQL the driver sends it).
_RECIPIENTS = Prebuilt(_recipients)


async def recipients(conn: AsyncConnection, thread_id: int, sender_id: int) -> Recipients:
    """The members of a thread a message is about to go to, read with the sender's right to
    send it in one query: NotFound unless the sender is a member, Forbidden in a 1:1
    thread where either of its members blocked the other."""
    if not valid_id(thread_id):
        raise NotFound
    rows = await _RECIPIENTS.rows(conn, {"thread": thread_id, "sender": sender_id})
    if not any(int(row.account_id) == sender_id for row in rows):
        raise NotFound
    if rows[0].kind == DIRECT and any(row.blocked and int(row.account_id) != sender_id for row in rows):
        raise Forbidden(REFUSED)
    others = [row for row in rows if int(row.account_id) != sender_id]
    return Recipients(
        members=[int(row.account_id) for row in rows],
        audience=sorted([sender_id, *(int(row.account_id) for row in others if row.folder != DECLINED)]),
        requested=[int(row.account_id) for row in others if row.folder == REQUESTS and not row.request_notified],
    )


async def member_ids(conn: AsyncConnection, thread_id: int) -> list[int]:
    query = select(dm_participants.c.account_id).where(dm_participants.c.thread_id == thread_id)
    return sorted(int(a) for a in (await conn.execute(query)).scalars())


async def audience(conn: AsyncConnection, thread_id: int) -> list[int]:
    """Members who have not declined the thread: whom its real-time messages reach."""
    query = select(dm_participants.c.account_id).where(
        dm_participants.c.thread_id == thread_id, dm_participants.c.folder != "declined"
    )
    return sorted(int(a) for a in (await conn.execute(query)).scalars())


async def blocked_either_way(conn: AsyncConnection, a: int, b: int) -> bool:
    pair = or_(
        (blocks.c.account_id == a) & (blocks.c.target_account_id == b),
        (blocks.c.account_id == b) & (blocks.c.target_account_id == a),
    )
    return bool((await conn.execute(select(exists().where(pair)))).scalar())


async def accept_setting(conn: AsyncConnection, account_id: int) -> str:
    found = (await conn.execute(select(dm_settings.c.accept).where(dm_settings.c.account_id == account_id))).scalar()
    return str(found) if found else ACCEPT_EVERYONE


async def _follows(conn: AsyncConnection, account_id: int, target_id: int) -> bool:
    where = (follows.c.account_id == account_id) & (follows.c.target_account_id == target_id)
    return bool((await conn.execute(select(exists().where(where)))).scalar())


async def folder_for(conn: AsyncConnection, sender_id: int, recipient_id: int) -> str:
    """Where a new thread from ``sender_id`` lands for ``recipient_id``; Forbidden when
    the recipient's setting or a block refuses it."""
    if await blocked_either_way(conn, sender_id, recipient_id):
        raise Forbidden(REFUSED)
    setting = await accept_setting(conn, recipient_id)
    if setting == ACCEPT_NOBODY:
        raise Forbidden(REFUSED)
    followed = await _follows(conn, recipient_id, sender_id)
    if setting == ACCEPT_FOLLOWED and not followed:
        raise Forbidden(REFUSED)
    return INBOX if followed else REQUESTS


async def check_not_blocked(conn: AsyncConnection, sender_id: int, others: list[int]) -> None:
    """A member blocked by (or blocking) another member of a 1:1 thread may not write to it."""
    for other in others:
        if other != sender_id and await blocked_either_way(conn, sender_id, other):
            raise Forbidden(REFUSED)
