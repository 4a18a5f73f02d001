"""The follow graph: who follows, requests, blocks and mutes whom.

Every write takes the two accounts' rows in id order first (``_lock_pair``), so two
changes to the same pair (a follow racing a block, say) run one after the other and
their counter updates cannot deadlock. Counters (``followers_count``,
``following_count``) move in the same transaction as the edge, and only when a row
really appeared or disappeared, which keeps repeated calls idempotent;
``lumigram.graph.reconcile`` repairs them should they ever drift.

Each write is a unit of work (``lumigram.unit_of_work``): its events (``lumigram.events``)
go to the outbox in its transaction, ``account_id`` the follower/requester/blocker/muter,
``target_account_id`` the other; the kept pages they change are forgotten after commit.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    BindParameter,
    Boolean,
    ColumnElement,
    String,
    Table,
    Text,
    and_,
    bindparam,
    case,
    delete,
    exists,
    literal,
    null,
    or_,
    select,
    union_all,
    update,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.errors import Forbidden, NotFound, ValidationFailed
from lumigram.events import (
    AccountDeleted,
    BlockCreated,
    BlockRemoved,
    DomainEvent,
    FollowCreated,
    FollowRemoved,
    FollowRequestAuthorized,
    FollowRequested,
    FollowRequestRejected,
    FollowRequestWithdrawn,
    FollowUpdated,
    MuteCreated,
    MuteRemoved,
)
from lumigram.graph.models import MutedAccount, Relationship
from lumigram.ids import shard_of
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import (
    account_notes,
    account_pins,
    accounts,
    blocks,
    follow_requests,
    follows,
    mutes,
    utcnow,
)
from lumigram.paging import MAX_ID, Page, PageRequest
from lumigram.services import Services
from lumigram.unit_of_work import Work, unit_of_work

#: Longest timed mute; longer ones would be "forever" in all but name (and overflow dates).
MAX_MUTE_SECONDS = 100 * 365 * 24 * 3600
#: ``follower_ids`` page size when the caller does not choose one.
FOLLOWER_PAGE = 1000


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def _self_action(verb: str) -> ValidationFailed:
    return ValidationFailed(f"Validation failed: You cannot {verb} yourself")


# --- writes ------------------------------------------------------------------------


def _lock_pair_query(dialect: str) -> Any:
    query = (
        select(accounts.c.id, accounts.c.locked)
        .where(
            accounts.c.id.in_([bindparam("first", type_=BigInteger), bindparam("second", type_=BigInteger)]),
            accounts.c.deleted_at.is_(None),
        )
        .order_by(accounts.c.id)
    )
    # FOR NO KEY UPDATE, not FOR UPDATE: it still keeps two follows of the pair apart,
    # but lets a foreign-key check (KEY SHARE) on these rows through. With FOR UPDATE a
    # notification inserted about one of them, which checks both its accounts, could hold
    # one and wait for the other while a follow held that one and waited for the first:
    # a deadlock, and the follow's answer a 500.
    return query.with_for_update(key_share=True) if dialect == "postgresql" else query


async def _lock_pair(conn: AsyncConnection, account_id: int, target_id: int) -> Any:
    """Lock both accounts (id order); the target's row, NotFound when either is missing."""
    if not (_valid_id(account_id) and _valid_id(target_id)):
        raise NotFound
    rows = {row.id: row for row in await _LOCK_PAIR.rows(conn, {"first": account_id, "second": target_id})}
    if account_id not in rows or target_id not in rows:
        raise NotFound
    return rows[target_id]


def _pair(
    table: Table, account_id: int | BindParameter[int], target_id: int | BindParameter[int]
) -> ColumnElement[bool]:
    return (table.c.account_id == account_id) & (table.c.target_account_id == target_id)


async def _insert_edge(
    services: Services, conn: AsyncConnection, table: Table, account_id: int, target_id: int, **values: Any
) -> bool:
    """Insert the pair's row unless it exists (also under a race); True when written."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(table)
        .values(
            account_id=account_id,
            target_account_id=target_id,
            id=services.ids.next_id(shard_of(account_id)),
            created_at=utcnow(),
            **values,
        )
        .on_conflict_do_nothing(index_elements=["account_id", "target_account_id"])
        .returning(table.c.id)
    )
    return (await conn.execute(statement)).first() is not None


async def _has_edge(conn: AsyncConnection, table: Table, account_id: int, target_id: int) -> bool:
    query = select(exists().where(_pair(table, account_id, target_id)))
    return bool((await conn.execute(query)).scalar())


class _EdgeEvent(Protocol):
    """An event type of the graph, made from the two accounts (``FollowCreated``...)."""

    def __call__(self, *, account_id: int, target_account_id: int) -> DomainEvent: ...


async def _emit(work: Work, kind: _EdgeEvent, account_id: int, target_id: int) -> None:
    """Emit ``kind`` of edge from ``account_id`` to ``target_id``, on the actor's shard."""
    await work.emit(kind(account_id=account_id, target_account_id=target_id), shard=shard_of(account_id))


async def _adjust_counts(conn: AsyncConnection, follower_id: int, target_id: int, delta: int) -> None:
    # Id order, like _lock_pair: two transactions never wait on each other's rows crosswise.
    for account_id, name in sorted([(follower_id, "following_count"), (target_id, "followers_count")]):
        column = accounts.c[name]
        # Never below zero: a drifted counter is the reconciler's to fix, not to make worse.
        value = case((column + delta < 0, 0), else_=column + delta)
        await conn.execute(update(accounts).where(accounts.c.id == account_id).values({name: value}))


async def _remove_follow(work: Work, follower_id: int, target_id: int) -> bool:
    result = await work.conn.execute(delete(follows).where(_pair(follows, follower_id, target_id)))
    if not result.rowcount:
        return False
    await _adjust_counts(work.conn, follower_id, target_id, -1)
    await _emit(work, FollowRemoved, follower_id, target_id)
    return True


async def _remove_request(work: Work, requester_id: int, target_id: int, settled: _EdgeEvent) -> Any:
    """Delete a pending request, emitting ``settled``; its (notify, reblogs) row, or None
    when there was none."""
    statement = (
        delete(follow_requests)
        .where(_pair(follow_requests, requester_id, target_id))
        .returning(follow_requests.c.notify, follow_requests.c.reblogs)
    )
    row = (await work.conn.execute(statement)).first()
    if row is not None:
        await _emit(work, settled, requester_id, target_id)
    return row


def _options(reblogs: bool | None, notify: bool | None) -> dict[str, bool]:
    return {name: value for name, value in (("reblogs", reblogs), ("notify", notify)) if value is not None}


def _follow_state(dialect: str) -> Any:
    """Whether a block stands between the two either way, and whether the follow exists:
    one read instead of two."""
    a, b = bindparam("account", type_=BigInteger), bindparam("target", type_=BigInteger)
    blocked = exists().where(or_(_pair(blocks, a, b), _pair(blocks, b, a)))
    following = exists().where(_pair(follows, a, b))
    return select(blocked.label("blocked"), following.label("following"))


def _new_follow_edge(table: Table) -> Prebuilt[Any]:
    def build(dialect: str) -> Any:
        dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        names = ("id", "account_id", "target_account_id", "created_at", "notify", "reblogs")
        return (
            dialect_insert(table)
            .values({name: bindparam(name, type_=table.c[name].type) for name in names})
            .on_conflict_do_nothing(index_elements=["account_id", "target_account_id"])
            .returning(table.c.id)
        )

    return Prebuilt(build)


def _follow_counts(_dialect: str) -> Any:
    """Both counters of a follow in one statement: the follower's ``following_count`` and
    the target's ``followers_count`` by ``delta``, never below zero. The two rows are
    already locked (``_lock_pair``), so one statement over both cannot deadlock."""
    follower, target = bindparam("follower", type_=BigInteger), bindparam("target", type_=BigInteger)
    delta = bindparam("delta", type_=BigInteger)

    def moved(column: Any, owner: Any) -> Any:
        # Never below zero: a drifted counter is the reconciler's to fix, not to make worse.
        return case((accounts.c.id != owner, column), (column + delta < 0, 0), else_=column + delta)

    return (
        update(accounts)
        .where(accounts.c.id.in_([follower, target]))
        .values(
            following_count=moved(accounts.c.following_count, follower),
            followers_count=moved(accounts.c.followers_count, target),
        )
    )


_LOCK_PAIR = Prebuilt(_lock_pair_query)
_FOLLOW_STATE = Prebuilt(_follow_state)
_NEW_FOLLOW = _new_follow_edge(follows)
_NEW_FOLLOW_REQUEST = _new_follow_edge(follow_requests)
_FOLLOW_COUNTS = Prebuilt(_follow_counts)


async def _insert_follow_edge(
    services: Services,
    conn: AsyncConnection,
    statement: Prebuilt[Any],
    account_id: int,
    target_id: int,
    options: dict[str, bool],
) -> bool:
    params = {
        "id": services.ids.next_id(shard_of(account_id)),
        "account_id": account_id,
        "target_account_id": target_id,
        "created_at": utcnow(),
        # The columns' own defaults when the caller chose nothing.
        "notify": options.get("notify", False),
        "reblogs": options.get("reblogs", True),
    }
    return bool(await statement.rows(conn, params))


async def follow(
    services: Services, account_id: int, target_id: int, *, reblogs: bool | None = None, notify: bool | None = None
) -> Relationship:
    """Follow ``target_id``, or ask to when it is locked. Following again only updates the
    options given (as in Mastodon); Forbidden when either blocks the other.

    Statements prebuilt, and as few as the answer allows: the pair locked, one read of
    blocks and the follow, the edge, both counters in one update, the event."""
    if account_id == target_id:
        raise _self_action("follow")
    options = _options(reblogs, notify)
    async with unit_of_work(services) as work:
        conn = work.conn
        target = await _lock_pair(conn, account_id, target_id)
        state = await _FOLLOW_STATE.first(conn, {"account": account_id, "target": target_id})
        if state.blocked:
            raise Forbidden
        if state.following or (
            not target.locked
            and not await _insert_follow_edge(services, conn, _NEW_FOLLOW, account_id, target_id, options)
        ):
            # Followed already (or a moment ago, by a request that raced this one).
            if options:
                changed = await conn.execute(
                    update(follows)
                    .where(_pair(follows, account_id, target_id), or_(*(follows.c[k] != v for k, v in options.items())))
                    .values(**options)
                )
                if changed.rowcount:
                    # Whose reposts the home feed shows may have changed.
                    await _emit(work, FollowUpdated, account_id, target_id)
        elif target.locked:
            if await _insert_follow_edge(services, conn, _NEW_FOLLOW_REQUEST, account_id, target_id, options):
                await _emit(work, FollowRequested, account_id, target_id)
            elif options:
                where = _pair(follow_requests, account_id, target_id)
                await conn.execute(update(follow_requests).where(where).values(**options))
        else:
            await _FOLLOW_COUNTS.execute(conn, {"follower": account_id, "target": target_id, "delta": 1})
            await _emit(work, FollowCreated, account_id, target_id)
    return await relationship(services, account_id, target_id)


async def unfollow(services: Services, account_id: int, target_id: int) -> Relationship:
    """Stop following ``target_id``; also withdraws a pending request. Idempotent."""
    async with unit_of_work(services) as work:
        await _lock_pair(work.conn, account_id, target_id)
        await _remove_follow(work, account_id, target_id)
        await _remove_request(work, account_id, target_id, FollowRequestWithdrawn)
    return await relationship(services, account_id, target_id)


async def remove_from_followers(services: Services, account_id: int, follower_id: int) -> Relationship:
    """Make ``follower_id`` stop following ``account_id`` (Mastodon's soft block without the block)."""
    async with unit_of_work(services) as work:
        await _lock_pair(work.conn, account_id, follower_id)
        await _remove_follow(work, follower_id, account_id)
    return await relationship(services, account_id, follower_id)


async def block(services: Services, account_id: int, target_id: int) -> Relationship:
    """Block ``target_id``: removes follows and pending requests both ways. Idempotent."""
    if account_id == target_id:
        raise _self_action("block")
    async with unit_of_work(services) as work:
        conn = work.conn
        await _lock_pair(conn, account_id, target_id)
        created = await _insert_edge(services, conn, blocks, account_id, target_id)
        await _remove_follow(work, account_id, target_id)
        await _remove_follow(work, target_id, account_id)
        await _remove_request(work, account_id, target_id, FollowRequestWithdrawn)
        await _remove_request(work, target_id, account_id, FollowRequestRejected)
        if created:
            await _emit(work, BlockCreated, account_id, target_id)
    return await relationship(services, account_id, target_id)


async def unblock(services: Services, account_id: int, target_id: int) -> Relationship:
    async with unit_of_work(services) as work:
        conn = work.conn
        await _lock_pair(conn, account_id, target_id)
        result = await conn.execute(delete(blocks).where(_pair(blocks, account_id, target_id)))
        if result.rowcount:
            await _emit(work, BlockRemoved, account_id, target_id)
    return await relationship(services, account_id, target_id)


def _active_mute(now: datetime | BindParameter[datetime]) -> ColumnElement[bool]:
    return or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > now)


async def mute(
    services: Services,
    account_id: int,
    target_id: int,
    *,
    notifications: bool = True,
    duration: int = 0,
    now: datetime | None = None,
) -> Relationship:
    """Mute ``target_id`` for ``duration`` seconds (0: until unmuted); muting again replaces
    the options and the expiry. ``now`` is for tests."""
    if account_id == target_id:
        raise _self_action("mute")
    if not 0 <= duration <= MAX_MUTE_SECONDS:
        raise ValidationFailed.field("duration", "ERR_INVALID", f"must be between 0 and {MAX_MUTE_SECONDS}")
    now = now or utcnow()
    expires_at = now + timedelta(seconds=duration) if duration else None
    async with unit_of_work(services) as work:
        conn = work.conn
        await _lock_pair(conn, account_id, target_id)
        query = select(mutes.c.notifications, mutes.c.expires_at).where(_pair(mutes, account_id, target_id))
        existing = (await conn.execute(query)).first()
        values = {"notifications": notifications, "expires_at": expires_at}
        changed = True
        if existing is None:
            changed = await _insert_edge(services, conn, mutes, account_id, target_id, **values)
        if existing is not None or not changed:
            # A lapsed mute counts as new; an active one only when its terms change.
            lapsed = existing is not None and existing.expires_at is not None and existing.expires_at <= now
            same = existing is not None and (bool(existing.notifications), existing.expires_at) == (
                notifications,
                expires_at,
            )
            changed = lapsed or not same
            refreshed = {**values, "created_at": now} if lapsed else values
            await conn.execute(update(mutes).where(_pair(mutes, account_id, target_id)).values(**refreshed))
        if changed:
            until = expires_at.isoformat() if expires_at else None
            muted = MuteCreated(
                account_id=account_id, target_account_id=target_id, notifications=notifications, expires_at=until
            )
            await work.emit(muted, shard=shard_of(account_id))
    return await relationship(services, account_id, target_id, now=now)


async def unmute(services: Services, account_id: int, target_id: int) -> Relationship:
    async with unit_of_work(services) as work:
        conn = work.conn
        await _lock_pair(conn, account_id, target_id)
        result = await conn.execute(delete(mutes).where(_pair(mutes, account_id, target_id)))
        if result.rowcount:
            await _emit(work, MuteRemoved, account_id, target_id)
    return await relationship(services, account_id, target_id)


async def authorize_follow_request(services: Services, account_id: int, requester_id: int) -> Relationship:
    """Accept ``requester_id``'s pending request to follow ``account_id``; NotFound without one."""
    async with unit_of_work(services) as work:
        conn = work.conn
        await _lock_pair(conn, account_id, requester_id)
        row = await _remove_request(work, requester_id, account_id, FollowRequestAuthorized)
        if row is None:
            raise NotFound
        options = {"notify": bool(row.notify), "reblogs": bool(row.reblogs)}
        if await _insert_edge(services, conn, follows, requester_id, account_id, **options):
            await _adjust_counts(conn, requester_id, account_id, +1)
            # The same event a direct follow makes, so feed consumers need watch one type only.
            await _emit(work, FollowCreated, requester_id, account_id)
    return await relationship(services, account_id, requester_id)


async def reject_follow_request(services: Services, account_id: int, requester_id: int) -> Relationship:
    """Turn down ``requester_id``'s pending request; NotFound without one."""
    async with unit_of_work(services) as work:
        await _lock_pair(work.conn, account_id, requester_id)
        if await _remove_request(work, requester_id, account_id, FollowRequestRejected) is None:
            raise NotFound
    return await relationship(services, account_id, requester_id)


# --- reads ---------------------------------------------------------------------------


def _relation_rows(dialect: str) -> Any:
    """Every edge between the viewer and the accounts ``ids``, of every kind, in one
    statement: ``(kind, account_id, target_account_id, flag_a, flag_b, note)``.

    Follows and requests come both ways (``flag_a`` notify, ``flag_b`` reblogs), blocks
    both ways, the viewer's active mutes (``flag_a`` their notifications), endorsements
    and notes. One round trip instead of six, built once per dialect: building the six
    selects anew cost a follow's answer more CPU than running them."""
    viewer = bindparam("viewer", type_=BigInteger)
    no_flag = null().cast(Boolean)
    no_note = null().cast(Text)

    def kind(letter: str) -> Any:
        return literal(letter, String).label("kind")

    def both_ways(table: Table, name: str) -> ColumnElement[bool]:
        return or_(
            (table.c.account_id == viewer) & among(dialect, table.c.target_account_id, f"{name}_out"),
            (table.c.target_account_id == viewer) & among(dialect, table.c.account_id, f"{name}_in"),
        )

    def edges(letter: str, table: Table) -> Any:
        return select(
            kind(letter), table.c.account_id, table.c.target_account_id, table.c.notify, table.c.reblogs, no_note
        ).where(both_ways(table, letter))

    def outgoing(letter: str, table: Table, *extra: ColumnElement[bool]) -> ColumnElement[bool]:
        return and_(table.c.account_id == viewer, among(dialect, table.c.target_account_id, f"{letter}_out"), *extra)

    mute_active = or_(
        mutes.c.expires_at.is_(None), mutes.c.expires_at > bindparam("now", type_=mutes.c.expires_at.type)
    )
    return union_all(
        edges("f", follows),
        edges("r", follow_requests),
        select(kind("b"), blocks.c.account_id, blocks.c.target_account_id, no_flag, no_flag, no_note).where(
            both_ways(blocks, "b")
        ),
        select(kind("m"), mutes.c.account_id, mutes.c.target_account_id, mutes.c.notifications, no_flag, no_note).where(
            outgoing("m", mutes, mute_active)
        ),
        select(kind("e"), account_pins.c.account_id, account_pins.c.target_account_id, no_flag, no_flag, no_note).where(
            outgoing("e", account_pins)
        ),
        select(
            kind("n"),
            account_notes.c.account_id,
            account_notes.c.target_account_id,
            no_flag,
            no_flag,
            account_notes.c.comment,
        ).where(outgoing("n", account_notes)),
    )


_RELATION_ROWS = Prebuilt(_relation_rows)
#: The names ``_relation_rows`` binds the ids under (each part its own, so every
#: dialect's expansion of a list parameter sees it once).
_ID_PARAMS = ("f_out", "f_in", "r_out", "r_in", "b_out", "b_in", "m_out", "e_out", "n_out")


async def _flags(conn: AsyncConnection, viewer_id: int, ids: list[int], now: datetime) -> dict[int, Relationship]:
    """One query, whatever the number of ids."""
    state: dict[int, dict[str, Any]] = {i: {} for i in ids}
    params: dict[str, Any] = dict.fromkeys(_ID_PARAMS, ids)
    params.update(viewer=viewer_id, now=now)
    rows = sorted(await _RELATION_ROWS.rows(conn, params), key=lambda row: row[0])  # "f" before "r"
    for kind, account_id, target_id, flag_a, flag_b, note in rows:
        if kind in ("f", "r"):
            outgoing, incoming = ("following", "followed_by") if kind == "f" else ("requested", "requested_by")
            if account_id == viewer_id and target_id in state:
                flags = state[target_id]
                flags[outgoing] = True
                # Mastodon reports the options of the follow, else of the pending request.
                if kind == "f" or not flags.get("following"):
                    flags["showing_reblogs"] = bool(flag_b)
                    flags["notifying"] = bool(flag_a)
            if target_id == viewer_id and account_id in state:
                state[account_id][incoming] = True
        elif kind == "b":
            if account_id == viewer_id and target_id in state:
                state[target_id]["blocking"] = True
            if target_id == viewer_id and account_id in state:
                state[account_id]["blocked_by"] = True
        elif kind == "m":
            state[target_id]["muting"] = True
            state[target_id]["muting_notifications"] = bool(flag_a)
        elif kind == "e":
            state[target_id]["endorsed"] = True
        else:
            state[target_id]["note"] = note
    return {i: Relationship(id=i, **flags) for i, flags in state.items()}


def _wanted(ids: Iterable[int]) -> list[int]:
    return list(dict.fromkeys(i for i in ids if _valid_id(i)))


async def relationship_flags(
    services: Services, viewer_id: int, other_ids: Iterable[int], now: datetime | None = None
) -> dict[int, Relationship]:
    """How ``viewer_id`` relates to each of ``other_ids`` (batched; unknown ids get all-False)."""
    ids = _wanted(other_ids)
    if not ids:
        return {}
    async with services.db.connect() as conn:
        return await _flags(conn, viewer_id, ids, now or utcnow())


async def relationships(
    services: Services, viewer_id: int, other_ids: Sequence[int], now: datetime | None = None
) -> list[Relationship]:
    """Relationships with the existing accounts among ``other_ids``, in the order asked."""
    ids = _wanted(other_ids)
    if not ids:
        return []
    async with services.db.connect() as conn:
        found = set((await conn.execute(select(accounts.c.id).where(accounts.c.id.in_(ids)))).scalars())
        ids = [i for i in ids if i in found]
        flags = await _flags(conn, viewer_id, ids, now or utcnow()) if ids else {}
    return [flags[i] for i in ids]


async def relationship(services: Services, viewer_id: int, other_id: int, now: datetime | None = None) -> Relationship:
    flags = await relationship_flags(services, viewer_id, [other_id], now)
    return flags.get(other_id, Relationship(id=other_id))


async def is_following(services: Services, account_id: int, target_id: int) -> bool:
    if not (_valid_id(account_id) and _valid_id(target_id)):
        return False
    async with services.db.connect() as conn:
        return await _has_edge(conn, follows, account_id, target_id)


_FOLLOWERS_AFTER = Prebuilt(
    lambda _dialect: (
        select(follows.c.account_id)
        .where(follows.c.target_account_id == bindparam("account"), follows.c.account_id > bindparam("after"))
        .order_by(follows.c.account_id)
        .limit(bindparam("limit"))
    )
)


async def follower_ids(
    services: Services, account_id: int, after: int | None = None, limit: int = FOLLOWER_PAGE
) -> list[int]:
    """Up to ``limit`` follower ids in ascending order, after ``after``: pass the last id of
    one page to get the next (a fan-out walks a huge follower list this way). Prebuilt:
    every post's fan-out and stream publisher run it."""
    params = {"account": account_id, "after": after if after is not None else 0, "limit": max(1, limit)}
    async with services.db.connect() as conn:
        return [row[0] for row in await _FOLLOWERS_AFTER.rows(conn, params)]


async def following_ids(services: Services, account_id: int) -> list[int]:
    """Every account ``account_id`` follows (ascending)."""
    query = select(follows.c.target_account_id).where(follows.c.account_id == account_id)
    async with services.db.connect() as conn:
        return list((await conn.execute(query.order_by(follows.c.target_account_id))).scalars())


def _hidden(_dialect: str) -> Any:
    viewer = bindparam("viewer", type_=BigInteger)
    now = bindparam("now", type_=mutes.c.expires_at.type)
    return union_all(
        select(blocks.c.target_account_id).where(blocks.c.account_id == viewer),
        select(blocks.c.account_id).where(blocks.c.target_account_id == viewer),
        select(mutes.c.target_account_id).where(mutes.c.account_id == viewer, _active_mute(now)),
    )


#: One statement, built once: it was three, each built per call (a new follow's feed
#: merge reads it on every follow).
_HIDDEN = Prebuilt(_hidden)


async def hidden_account_ids(services: Services, viewer_id: int, now: datetime | None = None) -> set[int]:
    """Accounts whose content ``viewer_id`` must not see: blocked, blocking them, or muted."""
    async with services.db.connect() as conn:
        found = await _HIDDEN.rows(conn, {"viewer": viewer_id, "now": now or utcnow()})
    return {row[0] for row in found}


def _shielded(dialect: str) -> Any:
    author = bindparam("author", type_=BigInteger)
    now = bindparam("now", type_=mutes.c.expires_at.type)
    return union_all(
        select(mutes.c.account_id).where(
            mutes.c.target_account_id == author,
            among(dialect, mutes.c.account_id, "ids"),
            _active_mute(now),
        ),
        select(blocks.c.account_id).where(
            blocks.c.target_account_id == author, among(dialect, blocks.c.account_id, "ids")
        ),
        select(blocks.c.target_account_id).where(
            blocks.c.account_id == author, among(dialect, blocks.c.target_account_id, "ids")
        ),
    )


#: Prebuilt, with the ids as one array on PostgreSQL: an ``IN`` list of each batch's
#: length was a new statement to prepare on every pooled connection.
_SHIELDED = Prebuilt(_shielded)


def shields(
    reader: ColumnElement[int], author: ColumnElement[int], now: BindParameter[datetime]
) -> ColumnElement[bool]:
    """``shielded_from``'s rule as a condition on a statement's ``reader`` column: the
    reader mutes the author (a mute still in force at ``now``), blocks them, or is
    blocked by them. For statements that read readers and want it in the same trip."""
    return or_(
        exists().where(mutes.c.account_id == reader, mutes.c.target_account_id == author, _active_mute(now)),
        exists().where(blocks.c.account_id == reader, blocks.c.target_account_id == author),
        exists().where(blocks.c.account_id == author, blocks.c.target_account_id == reader),
    )


async def shielded_from(services: Services, author_id: int, account_ids: Sequence[int]) -> set[int]:
    """Those of ``account_ids`` who mute the author, block them or are blocked by them: the
    author's posts are never pushed to them (home feeds, streams). One query."""
    wanted = list(account_ids)
    if not wanted:
        return set()
    params = {"author": author_id, "ids": wanted, "now": utcnow()}
    async with services.db.connect() as conn:
        return {row[0] for row in await _SHIELDED.rows(conn, params)}


# --- account lists -------------------------------------------------------------------


async def _account_page(
    conn: AsyncConnection,
    table: Table,
    owner_column: Any,
    other_column: Any,
    owner_id: int,
    page: PageRequest,
    *conditions: ColumnElement[bool],
) -> tuple[list[Any], int]:
    """Rows (account columns + ``edge_id`` + the edge's columns) newest edge first."""
    limit = page.clamped_limit()
    if page.is_empty():
        return [], limit
    edge_columns = [column.label(f"edge_{column.name}") for column in table.c]
    query = (
        select(accounts, *edge_columns)
        .join(table, accounts.c.id == other_column)
        .where(owner_column == owner_id, *conditions)
    )
    if page.max_id is not None:
        query = query.where(table.c.id < page.max_id)
    if page.since_id is not None:
        query = query.where(table.c.id > page.since_id)
    if page.min_id is not None:
        # The ones just after min_id: take them oldest first, then show them newest first.
        query = query.where(table.c.id > page.min_id).order_by(table.c.id.asc()).limit(limit)
        return list(reversed((await conn.execute(query)).all())), limit
    query = query.order_by(table.c.id.desc()).limit(limit)
    return list((await conn.execute(query)).all()), limit


def _accounts(rows: list[Any], limit: int) -> Page[Account]:
    return Page(items=[account_from_row(row) for row in rows], cursors=[row.edge_id for row in rows], limit=limit)


async def _network_visible(conn: AsyncConnection, owner_id: int, viewer_id: int | None) -> bool:
    """Whether ``viewer_id`` may see whom ``owner_id`` follows and is followed by."""
    row = (await conn.execute(select(accounts.c.locked).where(accounts.c.id == owner_id))).first()
    if row is None:
        raise NotFound
    if viewer_id == owner_id:
        return True
    if viewer_id is not None and await _has_edge(conn, blocks, owner_id, viewer_id):
        return False
    if not row.locked:
        return True
    # A private account shows its network to its approved followers only.
    return viewer_id is not None and await _has_edge(conn, follows, viewer_id, owner_id)


async def _network_page(
    services: Services, account_id: int, viewer_id: int | None, page: PageRequest, *, followers: bool
) -> Page[Account]:
    """One side of ``account_id``'s follow edges, newest first; an empty page when its
    network is hidden from the viewer."""
    if not _valid_id(account_id):
        raise NotFound
    owner, other = (
        (follows.c.target_account_id, follows.c.account_id)
        if followers
        else (follows.c.account_id, follows.c.target_account_id)
    )
    async with services.db.connect() as conn:
        if not await _network_visible(conn, account_id, viewer_id):
            return Page(limit=page.clamped_limit())
        rows, limit = await _account_page(conn, follows, owner, other, account_id, page)
    return _accounts(rows, limit)


async def list_followers(
    services: Services, account_id: int, viewer_id: int | None, page: PageRequest
) -> Page[Account]:
    """Who follows ``account_id``, newest first; an empty page when hidden from the viewer."""
    return await _network_page(services, account_id, viewer_id, page, followers=True)


async def list_following(
    services: Services, account_id: int, viewer_id: int | None, page: PageRequest
) -> Page[Account]:
    """Whom ``account_id`` follows, newest first; an empty page when hidden from the viewer."""
    return await _network_page(services, account_id, viewer_id, page, followers=False)


async def list_follow_requests(services: Services, account_id: int, page: PageRequest) -> Page[Account]:
    """Accounts waiting for ``account_id`` to answer their follow request."""
    async with services.db.connect() as conn:
        rows, limit = await _account_page(
            conn,
            follow_requests,
            follow_requests.c.target_account_id,
            follow_requests.c.account_id,
            account_id,
            page,
        )
    return _accounts(rows, limit)


async def list_blocks(services: Services, account_id: int, page: PageRequest) -> Page[Account]:
    async with services.db.connect() as conn:
        rows, limit = await _account_page(
            conn, blocks, blocks.c.account_id, blocks.c.target_account_id, account_id, page
        )
    return _accounts(rows, limit)


async def list_mutes(
    services: Services, account_id: int, page: PageRequest, now: datetime | None = None
) -> Page[MutedAccount]:
    """Active mutes of ``account_id``, newest first, each with its expiry."""
    async with services.db.connect() as conn:
        rows, limit = await _account_page(
            conn, mutes, mutes.c.account_id, mutes.c.target_account_id, account_id, page, _active_mute(now or utcnow())
        )
    items = [MutedAccount(account=account_from_row(row), expires_at=row.edge_expires_at) for row in rows]
    return Page(items=items, cursors=[row.edge_id for row in rows], limit=limit)


# --- a deleted account -----------------------------------------------------------------------

#: Follows removed per transaction when an account is deleted.
DELETION_BATCH = 100


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """A deleted account's follows both ways, a batch per transaction, each as an unfollow
    (the other side's count corrected, its feed and kept pages following the event); then
    its follow requests, blocks and mutes, either way. Idempotent: a redelivery finds less."""
    gone = event.account_id
    either_way = or_(follows.c.account_id == gone, follows.c.target_account_id == gone)
    while True:
        async with unit_of_work(services) as work:
            query = select(follows.c.account_id, follows.c.target_account_id).where(either_way).limit(DELETION_BATCH)
            edges = (await work.conn.execute(query)).all()
            for edge in edges:
                await _remove_follow(work, int(edge.account_id), int(edge.target_account_id))
        if len(edges) < DELETION_BATCH:
            break
    async with services.db.begin() as conn:
        for table in (follow_requests, blocks, mutes):
            await conn.execute(delete(table).where(or_(table.c.account_id == gone, table.c.target_account_id == gone)))
