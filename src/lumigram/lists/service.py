"""An account's lists of the accounts it follows, and who is in them.

* A list belongs to its owner alone: another account's list is NotFound.
* Only followed accounts may be added (422 otherwise), as in Mastodon; an unfollow leaves
  the membership in place but the list timeline shows only followed accounts' posts.
* At most one list per account is its close-friends list: marking one clears the mark
  from the others in the same transaction. It is the audience of close-friends stories,
  and has routes of its own (see "the close-friends list" below), with their own rule.
* Every change emits ``ListChanged``, so the owner's kept home pages are forgotten once it
  commits (an exclusive list's members leave the home feed).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Select, delete, exists, func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.errors import NotFound, Problems, ValidationFailed
from lumigram.events import AccountDeleted, ListChanged
from lumigram.ids import shard_of
from lumigram.infra.sql import one_of
from lumigram.infra.tables import accounts, follows, list_accounts, lists, utcnow
from lumigram.lists.models import (
    CLOSE_FRIENDS_TITLE,
    MAX_LISTS,
    MAX_MEMBERS,
    MAX_TITLE,
    REPLIES_POLICIES,
    AccountList,
    ListDraft,
)
from lumigram.paging import MAX_ID, Page, PageRequest
from lumigram.services import Services
from lumigram.unit_of_work import Work, unit_of_work


def _record(row: Any) -> AccountList:
    return AccountList(
        row.id, row.account_id, row.title, row.replies_policy, bool(row.exclusive), bool(row.close_friends)
    )


def _tidy(text: str) -> str:
    """Without surrounding whitespace, unless that is all there is (kept as given)."""
    return text.strip() or text


def _check(draft: ListDraft, creating: bool) -> None:
    problems = Problems()
    if draft.title is not None and not 0 < len(draft.title) <= MAX_TITLE:
        problems.add("title", "ERR_INVALID", f"must be 1 to {MAX_TITLE} characters")
    elif creating and draft.title is None:
        problems.add("title", "ERR_BLANK", "can't be blank")
    if draft.replies_policy is not None and draft.replies_policy not in REPLIES_POLICIES:
        problems.add("replies_policy", "ERR_INVALID", f"must be one of {', '.join(REPLIES_POLICIES)}")
    problems.raise_if_any()


async def _changed(work: Work, account_id: int, list_id: int) -> None:
    await work.emit(ListChanged(account_id=account_id, list_id=list_id), shard=shard_of(account_id))


async def _owned(conn: AsyncConnection, account_id: int, list_id: int) -> AccountList:
    if not 0 < list_id <= MAX_ID:
        raise NotFound
    row = (await conn.execute(select(lists).where(lists.c.id == list_id, lists.c.account_id == account_id))).first()
    if row is None:
        raise NotFound
    return _record(row)


async def _only_close_friends(conn: AsyncConnection, account_id: int, list_id: int) -> None:
    await conn.execute(
        update(lists).where(lists.c.account_id == account_id, lists.c.id != list_id).values(close_friends=False)
    )


async def list_lists(services: Services, account_id: int) -> list[AccountList]:
    async with services.db.connect() as conn:
        rows = await conn.execute(select(lists).where(lists.c.account_id == account_id).order_by(lists.c.id))
        return [_record(row) for row in rows]


async def get_list(services: Services, account_id: int, list_id: int) -> AccountList:
    async with services.db.connect() as conn:
        return await _owned(conn, account_id, list_id)


async def _insert_list(services: Services, conn: AsyncConnection, account_id: int, draft: ListDraft) -> int:
    """Write a checked draft as a new list of the account's; its id."""
    assert draft.title is not None  # checked by the caller
    count = (
        await conn.execute(select(func.count()).select_from(lists).where(lists.c.account_id == account_id))
    ).scalar_one()
    if count >= MAX_LISTS:
        raise ValidationFailed(f"Validation failed: at most {MAX_LISTS} lists")
    list_id = services.ids.next_id(shard_of(account_id))
    await conn.execute(
        lists.insert().values(
            id=list_id,
            account_id=account_id,
            title=_tidy(draft.title),
            replies_policy=draft.replies_policy or "list",
            exclusive=bool(draft.exclusive),
            close_friends=bool(draft.close_friends),
            created_at=utcnow(),
        )
    )
    if draft.close_friends:
        await _only_close_friends(conn, account_id, list_id)
    return list_id


async def create_list(services: Services, account_id: int, draft: ListDraft) -> AccountList:
    _check(draft, creating=True)
    async with unit_of_work(services) as work:
        list_id = await _insert_list(services, work.conn, account_id, draft)
        await _changed(work, account_id, list_id)
        return await _owned(work.conn, account_id, list_id)


async def update_list(services: Services, account_id: int, list_id: int, draft: ListDraft) -> AccountList:
    _check(draft, creating=False)
    async with unit_of_work(services) as work:
        await _owned(work.conn, account_id, list_id)
        values: dict[str, object] = {}
        if draft.title is not None:
            values["title"] = _tidy(draft.title)
        if draft.replies_policy is not None:
            values["replies_policy"] = draft.replies_policy
        if draft.exclusive is not None:
            values["exclusive"] = draft.exclusive
        if draft.close_friends is not None:
            values["close_friends"] = draft.close_friends
        if values:
            await work.conn.execute(update(lists).where(lists.c.id == list_id).values(**values))
        if draft.close_friends:
            await _only_close_friends(work.conn, account_id, list_id)
        await _changed(work, account_id, list_id)
        return await _owned(work.conn, account_id, list_id)


async def delete_list(services: Services, account_id: int, list_id: int) -> None:
    async with unit_of_work(services) as work:
        await _owned(work.conn, account_id, list_id)
        await work.conn.execute(delete(list_accounts).where(list_accounts.c.list_id == list_id))
        await work.conn.execute(delete(lists).where(lists.c.id == list_id))
        await _changed(work, account_id, list_id)


# --- members ---------------------------------------------------------------------------------


async def _members_page(conn: AsyncConnection, list_id: int, page: PageRequest) -> Page[Account]:
    limit = page.clamped_limit()
    if page.is_empty():
        return Page(limit=limit)
    query = (
        select(accounts, list_accounts.c.id.label("member_id"))
        .join(list_accounts, list_accounts.c.target_account_id == accounts.c.id)
        .where(list_accounts.c.list_id == list_id)
    )
    if page.max_id is not None:
        query = query.where(list_accounts.c.id < page.max_id)
    if page.since_id is not None:
        query = query.where(list_accounts.c.id > page.since_id)
    ascending = page.min_id is not None
    if ascending:
        query = query.where(list_accounts.c.id > page.min_id).order_by(list_accounts.c.id.asc())
    else:
        query = query.order_by(list_accounts.c.id.desc())
    rows = list((await conn.execute(query.limit(limit))).all())
    if ascending:
        rows.reverse()
    return Page(items=[account_from_row(r) for r in rows], cursors=[r.member_id for r in rows], limit=limit)


async def list_members(services: Services, account_id: int, list_id: int, page: PageRequest) -> Page[Account]:
    """The list's members, most recently added first, paged by the membership's id."""
    async with services.db.connect() as conn:
        await _owned(conn, account_id, list_id)
        return await _members_page(conn, list_id, page)


async def _insert_members(
    services: Services, conn: AsyncConnection, account_id: int, list_id: int, member_ids: Sequence[int], field: str
) -> None:
    """Put ``member_ids`` in the list (one already there is left as it is), within its size;
    ``field`` names the parameter that asked for too many."""
    insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    for member in member_ids:
        await conn.execute(
            insert(list_accounts)
            .values(
                list_id=list_id,
                target_account_id=member,
                account_id=account_id,
                id=services.ids.next_id(shard_of(account_id)),
                created_at=now,
            )
            .on_conflict_do_nothing(index_elements=["list_id", "target_account_id"])
        )
    count = (
        await conn.execute(select(func.count()).select_from(list_accounts).where(list_accounts.c.list_id == list_id))
    ).scalar_one()
    if count > MAX_MEMBERS:
        raise ValidationFailed.field(field, "ERR_TOO_LONG", f"a list holds at most {MAX_MEMBERS}")


async def add_members(services: Services, account_id: int, list_id: int, member_ids: Sequence[int]) -> None:
    """Add followed accounts to the list (one already there is left as it is)."""
    wanted = sorted(set(member_ids))
    if not wanted:
        raise ValidationFailed.field("account_ids", "ERR_BLANK", "can't be blank")
    async with unit_of_work(services) as work:
        conn = work.conn
        await _owned(conn, account_id, list_id)
        followed = set(
            (
                await conn.execute(
                    select(follows.c.target_account_id).where(
                        follows.c.account_id == account_id, one_of(conn, follows.c.target_account_id, wanted)
                    )
                )
            ).scalars()
        )
        if followed != set(wanted):
            raise ValidationFailed.field("account_ids", "ERR_INVALID", "only accounts you follow can be added")
        await _insert_members(services, conn, account_id, list_id, wanted, "account_ids")
        await _changed(work, account_id, list_id)


async def remove_members(services: Services, account_id: int, list_id: int, member_ids: Sequence[int]) -> None:
    wanted = sorted(set(member_ids))
    if not wanted:
        raise ValidationFailed.field("account_ids", "ERR_BLANK", "can't be blank")
    async with unit_of_work(services) as work:
        await _owned(work.conn, account_id, list_id)
        removed = await work.conn.execute(
            delete(list_accounts)
            .where(list_accounts.c.list_id == list_id, one_of(work.conn, list_accounts.c.target_account_id, wanted))
            .returning(list_accounts.c.target_account_id)
        )
        if len(removed.all()) != len(wanted):
            # Nothing is taken out when one of them was never in: the caller named the wrong list.
            raise ValidationFailed.field("account_ids", "ERR_INVALID", "only accounts in the list can be taken out")
        await _changed(work, account_id, list_id)


async def lists_with(services: Services, account_id: int, member_id: int) -> list[AccountList]:
    """The owner's lists that hold ``member_id``."""
    async with services.db.connect() as conn:
        rows = await conn.execute(
            select(lists)
            .join(list_accounts, list_accounts.c.list_id == lists.c.id)
            .where(lists.c.account_id == account_id, list_accounts.c.target_account_id == member_id)
            .order_by(lists.c.id)
        )
        return [_record(row) for row in rows]


# --- what other services ask of lists ----------------------------------------------------------


async def member_ids(conn: AsyncConnection, list_id: int) -> list[int]:
    query = select(list_accounts.c.target_account_id).where(list_accounts.c.list_id == list_id)
    return list((await conn.execute(query)).scalars())


async def exclusive_member_ids(conn: AsyncConnection, owner_id: int) -> set[int]:
    """Accounts in one of the owner's exclusive lists: their posts stay out of home."""
    query = (
        select(list_accounts.c.target_account_id)
        .join(lists, lists.c.id == list_accounts.c.list_id)
        .where(list_accounts.c.account_id == owner_id, lists.c.exclusive.is_(True))
    )
    return set((await conn.execute(query)).scalars())


async def exclusive_owners(conn: AsyncConnection, member_id: int, owner_ids: Sequence[int]) -> set[int]:
    """Those of ``owner_ids`` who hold ``member_id`` in one of their exclusive lists."""
    if not owner_ids:
        return set()
    query = (
        select(list_accounts.c.account_id)
        .join(lists, lists.c.id == list_accounts.c.list_id)
        .where(
            list_accounts.c.target_account_id == member_id,
            lists.c.exclusive.is_(True),
            one_of(conn, list_accounts.c.account_id, owner_ids),
        )
    )
    return set((await conn.execute(query)).scalars())


async def is_close_friend(conn: AsyncConnection, owner_id: int, viewer_id: int) -> bool:
    """Whether ``viewer_id`` is on ``owner_id``'s close-friends list (an audience for stories)."""
    query = select(
        exists().where(
            list_accounts.c.account_id == owner_id,
            list_accounts.c.target_account_id == viewer_id,
            list_accounts.c.list_id == lists.c.id,
            lists.c.close_friends.is_(True),
        )
    )
    return bool((await conn.execute(query)).scalar())


def close_friend_owners(conn: AsyncConnection, member_id: int, owner_ids: Sequence[int]) -> Select[tuple[int]]:
    """The query for those of ``owner_ids`` whose close-friends list holds ``member_id``,
    for a caller to run alone or batched with its other questions."""
    return (
        select(list_accounts.c.account_id)
        .join(lists, lists.c.id == list_accounts.c.list_id)
        .where(
            list_accounts.c.target_account_id == member_id,
            lists.c.close_friends.is_(True),
            one_of(conn, list_accounts.c.account_id, owner_ids),
        )
    )


async def close_friends_among(conn: AsyncConnection, owner_id: int, candidate_ids: Sequence[int]) -> set[int]:
    """Those of ``candidate_ids`` on ``owner_id``'s close-friends list, in one query."""
    if not candidate_ids:
        return set()
    query = (
        select(list_accounts.c.target_account_id)
        .join(lists, lists.c.id == list_accounts.c.list_id)
        .where(
            list_accounts.c.account_id == owner_id,
            lists.c.close_friends.is_(True),
            one_of(conn, list_accounts.c.target_account_id, candidate_ids),
        )
    )
    return set((await conn.execute(query)).scalars())


# --- the close-friends list, through its own routes ---------------------------------------------
# Close friends are picked among one's followers, as on Instagram: they are the audience a
# close-friends story narrows. So here anyone who follows the owner may be added (whether or
# not the owner follows them back), and the list is made on the first addition. The lists
# routes keep Mastodon's rule for every list, this one included: accounts the owner follows.


async def _close_friends_list(conn: AsyncConnection, owner_id: int) -> int | None:
    query = select(lists.c.id).where(lists.c.account_id == owner_id, lists.c.close_friends.is_(True))
    return (await conn.execute(query.order_by(lists.c.id).limit(1))).scalar()


async def _lock_accounts(conn: AsyncConnection, owner_id: int, member_id: int) -> Any:
    """Lock both accounts in id order, as follows and blocks do (so two additions cannot
    each make a close-friends list, and an unfollow waits); the member's row, or None."""
    query = select(accounts).where(accounts.c.id.in_({owner_id, member_id})).order_by(accounts.c.id)
    if conn.dialect.name == "postgresql":
        # NO KEY UPDATE, as follows lock: foreign-key checks on the accounts pass.
        query = query.with_for_update(key_share=True)
    rows = {row.id: row for row in (await conn.execute(query)).all()}
    return rows.get(member_id)


async def close_friends(services: Services, owner_id: int, page: PageRequest) -> Page[Account]:
    """The owner's close friends, most recently added first (none without the list)."""
    async with services.db.connect() as conn:
        list_id = await _close_friends_list(conn, owner_id)
        if list_id is None:
            return Page(limit=page.clamped_limit())
        return await _members_page(conn, list_id, page)


async def add_close_friend(services: Services, owner_id: int, member_id: int) -> Account:
    """Put a follower of the owner's on the close-friends list (again is a no-op)."""
    if member_id == owner_id:
        raise ValidationFailed.field("account_id", "ERR_INVALID", "cannot be your own")
    async with unit_of_work(services) as work:
        conn = work.conn
        member = await _lock_accounts(conn, owner_id, member_id)
        if member is None:
            raise NotFound
        following = select(follows.c.id).where(
            follows.c.account_id == member_id, follows.c.target_account_id == owner_id
        )
        if (await conn.execute(following)).first() is None:
            raise ValidationFailed.field("account_id", "ERR_INVALID", "only accounts that follow you can be added")
        list_id = await _close_friends_list(conn, owner_id)
        if list_id is None:
            draft = ListDraft(title=CLOSE_FRIENDS_TITLE, close_friends=True)
            list_id = await _insert_list(services, conn, owner_id, draft)
        await _insert_members(services, conn, owner_id, list_id, [member_id], "account_id")
        await _changed(work, owner_id, list_id)
        return account_from_row(member)


async def remove_close_friend(services: Services, owner_id: int, member_id: int) -> None:
    """Take ``member_id`` off the owner's close-friends list (absent already is a no-op)."""
    async with unit_of_work(services) as work:
        list_id = await _close_friends_list(work.conn, owner_id)
        if list_id is None:
            return
        removed = await work.conn.execute(
            delete(list_accounts).where(
                list_accounts.c.list_id == list_id, list_accounts.c.target_account_id == member_id
            )
        )
        if removed.rowcount:
            await _changed(work, owner_id, list_id)


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """A deleted account's lists (their memberships go with them), and its place in others'."""
    async with services.db.begin() as conn:
        await conn.execute(delete(lists).where(lists.c.account_id == event.account_id))
        await conn.execute(delete(list_accounts).where(list_accounts.c.target_account_id == event.account_id))
