"""An account's close-friends list: who sees its close-friends stories."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lumigram.accounts.models import Account
from lumigram.errors import NotFound, ValidationFailed
from lumigram.ids import shard_of
from lumigram.infra.tables import accounts, close_friends
from lumigram.paging import Page, PageRequest
from lumigram.services import Services
from lumigram.stories.loading import accounts_by_id


async def list_members(services: Services, owner_id: int, page: PageRequest) -> Page[Account]:
    """The owner's close friends, most recently added first."""
    if page.is_empty():
        return Page(limit=page.clamped_limit())
    column = close_friends.c.id
    query = select(close_friends.c.id, close_friends.c.member_id).where(close_friends.c.owner_id == owner_id)
    if page.max_id is not None:
        query = query.where(column < page.max_id)
    if page.since_id is not None:
        query = query.where(column > page.since_id)
    ascending = page.min_id is not None
    query = query.where(column > page.min_id).order_by(column.asc()) if ascending else query.order_by(column.desc())
    async with services.db.connect() as conn:
        rows = list((await conn.execute(query.limit(page.clamped_limit()))).all())
        if ascending:
            rows.reverse()
        found = await accounts_by_id(conn, [row.member_id for row in rows])
    kept = [row for row in rows if row.member_id in found]
    return Page([found[row.member_id] for row in kept], [row.id for row in kept], page.clamped_limit())


async def add_member(services: Services, owner_id: int, member_id: int) -> Account:
    """Put ``member_id`` on the owner's list (again is a no-op)."""
    if member_id == owner_id:
        raise ValidationFailed.field("account_id", "ERR_INVALID", "cannot be your own")
    async with services.db.begin() as conn:
        exists = (await conn.execute(select(accounts.c.id).where(accounts.c.id == member_id))).first()
        if exists is None:
            raise NotFound()
        upsert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        await conn.execute(
            upsert(close_friends)
            .values(
                owner_id=owner_id,
                member_id=member_id,
                id=services.ids.next_id(shard_of(owner_id)),
                created_at=services.now(),
            )
            .on_conflict_do_nothing(index_elements=["owner_id", "member_id"])
        )
        return (await accounts_by_id(conn, [member_id]))[member_id]


async def remove_member(services: Services, owner_id: int, member_id: int) -> None:
    """Take ``member_id`` off the owner's list (absent already is a no-op)."""
    async with services.db.begin() as conn:
        await conn.execute(
            delete(close_friends).where(close_friends.c.owner_id == owner_id, close_friends.c.member_id == member_id)
        )
