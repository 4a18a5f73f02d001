"""Making, reading and dismissing notifications.

Writing: a consumer of a domain event (a like, a post, a follow) calls ``deliver`` with
the recipients it worked out. One transaction inserts each notification and, for a
recipient with a push subscription, its ``notification.created`` outbox event (what the
Web Push consumer sends; nothing else listens to it, and most people have no
subscription, so the others cost no event, relay or delivery). The row's ``dedupe_key`` is derived from the
causing event, the recipient and the type, and the insert ignores a clash, so an event
delivered twice notifies once; the same transaction records the event as handled, so a
redelivery after a dismissal does not bring the notification back either. Nobody is
notified of their own action, by an account they block or that blocks them, or by one
they muted with notifications muted; a muted account's posts (mentions, comments,
messages, new posts) never notify, as in Mastodon.

Reading: pages are newest first by notification id. The same block and mute rules are
applied again at read time (they may have changed since), in SQL so paging stays exact,
and a notification whose post the recipient can no longer see (deleted, gone private,
author blocked) is skipped: no notification ever shows a post its reader may not see.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Select,
    and_,
    bindparam,
    delete,
    exists,
    func,
    literal_column,
    not_,
    or_,
    select,
    true,
    union_all,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.errors import NotFound
from lumigram.events import NotificationCreated, to_payload
from lumigram.ids import lowest_id_at, shard_of, unix_ms_of
from lumigram.infra.cache import Cache
from lumigram.infra.outbox import emit_many
from lumigram.infra.sql import Prebuilt, among, one_of
from lumigram.infra.tables import (
    accounts,
    blocks,
    conversation_mutes,
    markers,
    mutes,
    notifications,
    processed_events,
    push_subscriptions,
    statuses,
    utcnow,
)
from lumigram.notifications.models import (
    AUTHORED,
    DEFAULT_LIMIT,
    GROUPABLE,
    MAX_LIMIT,
    Filter,
    Notification,
    NotificationPage,
)
from lumigram.paging import MAX_ID, PageRequest
from lumigram.posts.conversation_mutes import muting_among
from lumigram.posts.hydrate import hydrate_in
from lumigram.posts.models import HydratedPost
from lumigram.services import Services

#: A group ("alice and 12 others liked your post") keeps gathering for this long after
#: its first notification; Mastodon's MAXIMUM_GROUP_SPAN_HOURS.
MAX_GROUP_SPAN_HOURS = 12
#: A page whose notifications are hidden (their post went private, say) reads on, at most
#: this many times, so one page never turns into a scan of the whole list.
MAX_ROUNDS = 5
#: Workers' clocks may differ this much; see ``remove_for_post``.
CLOCK_SKEW_MS = 5 * 60 * 1000


@dataclass(frozen=True, slots=True)
class Created:
    """A notification just committed, to publish to its recipient's open streams."""

    id: int
    account_id: int
    type: str


def _insert(dialect: str) -> Any:
    return pg_insert if dialect == "postgresql" else sqlite_insert


# --- writing -------------------------------------------------------------------------


def _recipients_statement(dialect: str) -> Any:
    """Of the accounts bound as ``recipients``: blocks either way with the actor bound as
    ``actor`` (kind 0), live mutes of the actor with their notifications flag (kind 1,
    ``now`` bounding them), push subscriptions (kind 2) and whether they muted any
    conversation (kind 3)."""
    actor, now = bindparam("actor", type_=BigInteger), bindparam("now", type_=mutes.c.expires_at.type)
    return union_all(
        select(literal_column("0").label("kind"), blocks.c.account_id.label("account"), true().label("flag")).where(
            blocks.c.target_account_id == actor, among(dialect, blocks.c.account_id, "recipients")
        ),
        select(literal_column("0"), blocks.c.target_account_id, true()).where(
            blocks.c.account_id == actor, among(dialect, blocks.c.target_account_id, "recipients")
        ),
        select(literal_column("1"), mutes.c.account_id, mutes.c.notifications).where(
            mutes.c.target_account_id == actor,
            among(dialect, mutes.c.account_id, "recipients"),
            mutes.c.expires_at.is_(None) | (mutes.c.expires_at > now),
        ),
        select(literal_column("2"), push_subscriptions.c.account_id, true())
        .where(among(dialect, push_subscriptions.c.account_id, "recipients"))
        .distinct(),
        select(literal_column("3"), conversation_mutes.c.account_id, true())
        .where(among(dialect, conversation_mutes.c.account_id, "recipients"))
        .distinct(),
    )


_RECIPIENTS = Prebuilt(_recipients_statement)


@dataclass(frozen=True, slots=True)
class _Recipients:
    #: Must hear nothing from the actor: a block either way, or a mute of notifications.
    silent: set[int]
    #: Muted the actor at all (their posts then notify nobody who did).
    muting: set[int]
    #: Have a push subscription (the push consumer needs to look no further for the others).
    pushable: set[int]
    #: Muted some conversation (which one is looked up only for them).
    muting_conversations: set[int]


async def _recipients(conn: AsyncConnection, actor_id: int, recipients: Sequence[int]) -> _Recipients:
    """What ``deliver`` needs to know of its recipients, in one prebuilt query."""
    found = _Recipients(set(), set(), set(), set())
    params = {"actor": actor_id, "recipients": list(recipients), "now": utcnow()}
    for kind, account, flag in await _RECIPIENTS.rows(conn, params):
        if kind == 0:
            found.silent.add(account)
        elif kind == 1:
            found.muting.add(account)
            if flag:
                found.silent.add(account)
        elif kind == 2:
            found.pushable.add(account)
        else:
            found.muting_conversations.add(account)
    return found


# Built once per dialect: building them on every event cost about as much as running them.
_MARK_HANDLED = Prebuilt(
    lambda dialect: (
        _insert(dialect)(processed_events)
        .values(consumer=bindparam("consumer"), event_id=bindparam("event_id"), processed_at=bindparam("processed_at"))
        .on_conflict_do_nothing(index_elements=["consumer", "event_id"])
        .returning(processed_events.c.event_id)
    )
)
_NOTIFICATION_COLUMNS = (
    "id",
    "account_id",
    "from_account_id",
    "type",
    "status_id",
    "group_key",
    "dedupe_key",
    "created_at",
)
#: A row already there (the same ``dedupe_key``) means this event already notified this recipient.
_INSERT_NEW = Prebuilt(
    lambda dialect: (
        _insert(dialect)(notifications)
        .values({name: bindparam(name) for name in _NOTIFICATION_COLUMNS})
        .on_conflict_do_nothing(index_elements=["dedupe_key"])
        .returning(notifications.c.id)
    )
)


async def _group_keys(services: Services, planned: Sequence[tuple[int, int, str]], status_id: int | None) -> list[str]:
    """Mastodon 4.3's grouping, for each (own id, recipient, type) of ``planned``:
    favourites of one post, or follows, made within ``MAX_GROUP_SPAN_HOURS`` of the
    group's first share a key. The group's starting hour lives in the cache, read and
    written for all recipients at once (one call each way, not two per recipient);
    losing it only starts a new group early."""
    keys = [f"ungrouped-{own_id}" for own_id, _, _ in planned]
    grouped = [index for index, (_, _, type_) in enumerate(planned) if type_ in GROUPABLE]
    if not grouped:
        return keys
    now_bucket = int(utcnow().timestamp()) // 3600
    prefixes: dict[int, str] = {}
    for index in grouped:
        type_ = planned[index][2]
        prefixes[index] = f"{type_}-{status_id}" if status_id is not None else type_
    cache_keys = [f"notification-group:{planned[index][1]}:{prefixes[index]}" for index in grouped]
    previous = await services.cache.get_many(cache_keys)
    started: dict[str, bytes] = {}
    for index, cache_key, found in zip(grouped, cache_keys, previous, strict=True):
        bucket = now_bucket
        if found is not None and found.isdigit() and bucket < int(found) + MAX_GROUP_SPAN_HOURS:
            bucket = int(found)
        started[cache_key] = str(bucket).encode()
        keys[index] = f"{prefixes[index]}-{bucket}"
    await services.cache.set_many(started, ttl=MAX_GROUP_SPAN_HOURS * 3600)
    return keys


async def deliver(
    services: Services,
    event_id: int,
    actor_id: int,
    wanted: Iterable[tuple[int, str]],
    status_id: int | None = None,
    still_true: Callable[[AsyncConnection], Awaitable[bool]] | None = None,
    part: str = "",
    notify_actor: bool = False,
) -> list[Created]:
    """Notify each (recipient, type) of ``wanted`` about ``actor_id``'s action (the event
    ``event_id``), once.

    ``still_true`` runs inside the transaction: when the cause has already been undone
    (the like withdrawn, the post deleted) nothing is written. The transaction also
    records the event as handled (per ``part``, for a consumer that delivers one event
    in several transactions): the ``dedupe_key`` alone would let an event redelivered
    after its notification was dismissed bring it back. ``notify_actor``: the actor is
    told too (a poll's end reaches its owner, who is the notification's account).
    """
    pairs = list(dict.fromkeys((r, t) for r, t in wanted if r != actor_id or notify_actor))
    if not pairs:
        return []
    numbered = [(services.ids.next_id(shard_of(recipient)), recipient, type_) for recipient, type_ in pairs]
    group_keys = await _group_keys(services, numbered, status_id)
    planned = [(*item, key) for item, key in zip(numbered, group_keys, strict=True)]
    created: list[Created] = []
    async with services.db.begin() as conn:
        marker = {"consumer": f"notifications{part}", "event_id": event_id, "processed_at": utcnow()}
        first_time = await _MARK_HANDLED.first(conn, marker)
        if first_time is None or (still_true is not None and not await still_true(conn)):
            return []
        known = await _recipients(conn, actor_id, sorted({r for r, _ in pairs}))
        # Those who muted the post's conversation hear nothing more about it.
        # (Most mute none: the statement above says who mutes any, so the thread is
        # walked only for them.)
        hushed = set()
        if status_id is not None and known.muting_conversations:
            hushed = await muting_among(conn, status_id, sorted(known.muting_conversations))
        kept = [
            (own_id, recipient, type_, group_key)
            for own_id, recipient, type_, group_key in planned
            if recipient not in hushed
            and not (recipient in known.silent or (recipient in known.muting and type_ in AUTHORED))
        ]
        if not kept:
            return []
        now = utcnow()
        rows = [
            {
                "id": own_id,
                "account_id": recipient,
                "from_account_id": actor_id,
                "type": type_,
                "status_id": status_id,
                "group_key": group_key,
                "dedupe_key": f"{event_id}:{recipient}:{type_}",
                "created_at": now,
            }
            for own_id, recipient, type_, group_key in kept
        ]
        if len(rows) == 1:
            # The usual case (a like, a follow, a comment: one recipient), sent as prebuilt
            # statements are, past SQLAlchemy's execution; several go as one executemany.
            inserted = {row[0] for row in await _INSERT_NEW.rows(conn, rows[0])}
        else:
            inserted = set((await conn.execute(_INSERT_NEW(conn), rows)).scalars())
        created = [Created(own_id, recipient, type_) for own_id, recipient, type_, _ in kept if own_id in inserted]
        emitted = await emit_many(
            conn,
            services.ids,
            [
                (
                    NotificationCreated.type,
                    # Only recipients with a push subscription get an event.
                    to_payload(
                        NotificationCreated(
                            notification_id=item.id, account_id=item.account_id, notification_type=item.type
                        )
                    ),
                    shard_of(item.account_id),
                )
                for item in created
                if item.account_id in known.pushable
            ],
        )
    if emitted:
        # Only then is there anything for the relay; waking it for nothing cost a
        # transaction with an empty read per delivery.
        services.committed()
    return created


async def remove_for_post(services: Services, status_id: int) -> None:
    """Take away every notification about a deleted post.

    The table has no index on ``status_id``; but a post's notifications were all made
    after the post, so their time-sortable ids are bounded below by the post's, and the
    primary key narrows the search to the notifications made since (less a margin for
    workers' clocks)."""
    floor = lowest_id_at(unix_ms_of(status_id) - CLOCK_SKEW_MS)
    async with services.db.begin() as conn:
        await conn.execute(
            delete(notifications).where(notifications.c.id >= floor, notifications.c.status_id == status_id)
        )


async def remove(services: Services, recipient: int, actor_id: int, type_: str, status_id: int | None = None) -> None:
    """Take back ``actor_id``'s notifications of ``type_`` to ``recipient`` (an unlike, a
    settled follow request)."""
    where = [
        notifications.c.account_id == recipient,
        notifications.c.from_account_id == actor_id,
        notifications.c.type == type_,
    ]
    if status_id is not None:
        where.append(notifications.c.status_id == status_id)
    async with services.db.begin() as conn:
        await conn.execute(delete(notifications).where(*where))


async def forget_pair(services: Services, a: int, b: int) -> None:
    """A block takes away the notifications between the two, both ways (as in Mastodon),
    so an unblock does not bring them back."""
    async with services.db.begin() as conn:
        for recipient, sender in ((a, b), (b, a)):
            await conn.execute(
                delete(notifications).where(
                    notifications.c.account_id == recipient, notifications.c.from_account_id == sender
                )
            )


# --- reading -------------------------------------------------------------------------


def _not_silenced(recipient: int) -> list[ColumnElement[bool]]:
    """Hide notifications from accounts blocked either way or muted with notifications."""
    sender = notifications.c.from_account_id
    now = utcnow()
    return [
        not_(exists().where(blocks.c.account_id == recipient, blocks.c.target_account_id == sender)),
        not_(exists().where(blocks.c.account_id == sender, blocks.c.target_account_id == recipient)),
        not_(
            exists().where(
                mutes.c.account_id == recipient,
                mutes.c.target_account_id == sender,
                mutes.c.notifications.is_(True),
                mutes.c.expires_at.is_(None) | (mutes.c.expires_at > now),
            )
        ),
    ]


def visible_rows(recipient: int, flt: Filter) -> list[ColumnElement[bool]]:
    """The SQL conditions of a listing: the recipient's own, filtered, not silenced."""
    where = [notifications.c.account_id == recipient, *_not_silenced(recipient)]
    if flt.types is not None:
        where.append(notifications.c.type.in_(sorted(flt.types)))
    if flt.exclude_types:
        where.append(notifications.c.type.not_in(sorted(flt.exclude_types)))
    if flt.account_id is not None:
        where.append(notifications.c.from_account_id == flt.account_id)
    return where


async def _accounts(conn: AsyncConnection, ids: Iterable[int]) -> dict[int, Account]:
    wanted = sorted(set(ids))
    if not wanted:
        return {}
    rows = (await conn.execute(select(accounts).where(one_of(conn, accounts.c.id, wanted)))).all()
    return {row.id: account_from_row(row) for row in rows}


async def visible_posts(
    conn: AsyncConnection, recipient: int, status_ids: Iterable[int], cache: Cache | None = None
) -> dict[int, HydratedPost]:
    """The posts of ``status_ids`` the recipient may see now (the one visibility rule).
    Given the cache, like counts include likes not yet folded in, so a like's notification
    shows the like it announces."""
    wanted = sorted(set(status_ids))
    return {item.post.id: item for item in await hydrate_in(conn, recipient, wanted, cache=cache)} if wanted else {}


async def materialise(
    conn: AsyncConnection, recipient: int, rows: Sequence[Any], cache: Cache | None = None
) -> list[Notification]:
    """Rows to records in the order given, dropping those whose post is out of sight."""
    senders = await _accounts(conn, (row.from_account_id for row in rows))
    posts = await visible_posts(conn, recipient, (row.status_id for row in rows if row.status_id is not None), cache)
    found = []
    for row in rows:
        sender = senders.get(row.from_account_id)
        post = posts.get(row.status_id) if row.status_id is not None else None
        if sender is None or (row.status_id is not None and post is None):
            continue
        found.append(Notification(row.id, row.type, row.created_at, row.group_key, sender, post))
    return found


def window(query: Select[Any], page: PageRequest, limit: int) -> tuple[Select[Any], bool]:
    """max_id/since_id/min_id on notification ids; True when rows come oldest first."""
    column = notifications.c.id
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    if page.min_id is not None:
        return query.where(column > page.min_id).order_by(column.asc()).limit(limit), True
    return query.order_by(column.desc()).limit(limit), False


def clamp(limit: int) -> int:
    return max(1, min(limit, MAX_LIMIT))


async def list_notifications(
    services: Services, recipient: int, page: PageRequest, flt: Filter = Filter()
) -> NotificationPage:
    """One page of the recipient's notifications, newest first."""
    limit = clamp(page.limit or DEFAULT_LIMIT)
    if page.is_empty():
        return NotificationPage()
    items: list[Notification] = []
    scanned: list[int] = []
    more = ascending = False
    cursor = page
    async with services.db.connect() as conn:
        for _ in range(MAX_ROUNDS):
            query, ascending = window(select(notifications).where(*visible_rows(recipient, flt)), cursor, limit)
            rows = (await conn.execute(query)).all()
            scanned.extend(row.id for row in rows)
            items.extend(await materialise(conn, recipient, rows, services.cache))
            more = len(rows) == limit
            if not more or len(items) >= limit:
                break
            last = rows[-1].id
            cursor = PageRequest(
                max_id=cursor.max_id if ascending else last,
                since_id=cursor.since_id,
                min_id=last if ascending else None,
                limit=limit,
            )
    if len(items) > limit:
        items = items[:limit]
        scanned = scanned[: scanned.index(items[-1].id) + 1]
        more = True
    if ascending:
        items.reverse()
    if not scanned:
        return NotificationPage(items, more=False)
    return NotificationPage(items, newest_id=max(scanned), oldest_id=min(scanned), more=more)


async def get_notification(services: Services, recipient: int, notification_id: int) -> Notification:
    if not 0 < notification_id <= MAX_ID:
        raise NotFound
    async with services.db.connect() as conn:
        rows = (
            await conn.execute(
                select(notifications).where(notifications.c.id == notification_id, *visible_rows(recipient, Filter()))
            )
        ).all()
        found = await materialise(conn, recipient, rows, services.cache)
    if not found:
        raise NotFound
    return found[0]


async def by_ids(services: Services, recipient: int, ids: Sequence[int]) -> list[Notification]:
    """The recipient's notifications of ``ids`` that may be shown now, in that order."""
    if not ids:
        return []
    async with services.db.connect() as conn:
        rows = (
            await conn.execute(
                select(notifications)
                .where(one_of(conn, notifications.c.id, ids), *visible_rows(recipient, Filter()))
                .order_by(notifications.c.id.desc())
            )
        ).all()
        return await materialise(conn, recipient, rows, services.cache)


async def dismiss(services: Services, recipient: int, notification_id: int) -> None:
    """Remove one notification; NotFound when the recipient has no such notification."""
    if not 0 < notification_id <= MAX_ID:
        raise NotFound
    async with services.db.begin() as conn:
        result = await conn.execute(
            delete(notifications).where(notifications.c.id == notification_id, notifications.c.account_id == recipient)
        )
    if not result.rowcount:
        raise NotFound


async def clear(services: Services, recipient: int) -> None:
    async with services.db.begin() as conn:
        await conn.execute(delete(notifications).where(notifications.c.account_id == recipient))


async def read_up_to(conn: AsyncConnection, recipient: int) -> int:
    """The notifications marker: the last notification id the recipient has read (0: none)."""
    found = (
        await conn.execute(
            select(markers.c.last_read_id).where(
                markers.c.account_id == recipient, markers.c.timeline == "notifications"
            )
        )
    ).scalar()
    return int(found or 0)


def post_still_there() -> ColumnElement[bool]:
    """A notification about a deleted post no longer counts (its removal may lag)."""
    return or_(
        notifications.c.status_id.is_(None),
        exists().where(statuses.c.id == notifications.c.status_id),
    )


async def unread_count(services: Services, recipient: int, flt: Filter = Filter(), limit: int = 100) -> int:
    """How many notifications are newer than the notifications marker, counting at most
    ``limit`` (Mastodon caps the count; a badge shows "99+")."""
    async with services.db.connect() as conn:
        since = await read_up_to(conn, recipient)
        newer = (
            select(notifications.c.id)
            .where(*visible_rows(recipient, flt), notifications.c.id > since, post_still_there())
            .limit(limit)
            .subquery()
        )
        return int((await conn.execute(select(func.count()).select_from(newer))).scalar_one())


def effective_key(row: Any, grouped_types: frozenset[str]) -> str:
    """A row's group under the listing's ``grouped_types`` (others stand alone)."""
    return str(row.group_key) if row.type in grouped_types else f"ungrouped-{row.id}"


def key_condition(group_key: str) -> ColumnElement[bool] | None:
    """The rows of a group key as the API spells it; None for a malformed key."""
    if group_key.startswith("ungrouped-"):
        raw = group_key.removeprefix("ungrouped-")
        if not (raw.isascii() and raw.isdigit() and len(raw) <= 19 and 0 < int(raw) <= MAX_ID):
            return None
        return notifications.c.id == int(raw)
    if len(group_key) > 128:
        return None
    return and_(notifications.c.group_key == group_key, notifications.c.type.in_(GROUPABLE))


async def dismiss_group(services: Services, recipient: int, group_key: str) -> None:
    condition = key_condition(group_key)
    if condition is None:
        raise NotFound
    async with services.db.begin() as conn:
        result = await conn.execute(delete(notifications).where(notifications.c.account_id == recipient, condition))
    if not result.rowcount:
        raise NotFound


__all__ = [
    "Created",
    "by_ids",
    "clear",
    "deliver",
    "dismiss",
    "dismiss_group",
    "get_notification",
    "list_notifications",
    "remove",
    "remove_for_post",
    "unread_count",
]
