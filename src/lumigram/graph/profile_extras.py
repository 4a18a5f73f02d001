"""What a person adds to their view of others: endorsements (accounts featured on their
profile) and private notes (seen by their writer alone)."""

from __future__ import annotations

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row, get_account
from lumigram.errors import ValidationFailed
from lumigram.infra.tables import account_notes, account_pins, accounts, follows, utcnow
from lumigram.paging import Page, PageRequest, window
from lumigram.services import Services

MAX_NOTE = 2000


async def endorse(services: Services, account_id: int, target_id: int) -> None:
    """Feature ``target_id`` on the profile; only someone followed can be (a 422 otherwise)."""
    await get_account(services, target_id)
    async with services.db.begin() as conn:
        followed = await conn.execute(
            select(follows.c.id).where(follows.c.account_id == account_id, follows.c.target_account_id == target_id)
        )
        if followed.first() is None:
            raise ValidationFailed(
                "Validation failed: You must be already following the person you want to endorse",
                {"base": [{"error": "ERR_INVALID", "description": "must be followed first"}]},
            )
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        row = {
            "account_id": account_id,
            "target_account_id": target_id,
            "id": services.ids.next_id(),
            "created_at": utcnow(),
        }
        await conn.execute(dialect_insert(account_pins).values(**row).on_conflict_do_nothing())


async def unendorse(services: Services, account_id: int, target_id: int) -> None:
    await get_account(services, target_id)
    async with services.db.begin() as conn:
        await conn.execute(
            delete(account_pins).where(
                account_pins.c.account_id == account_id, account_pins.c.target_account_id == target_id
            )
        )


async def list_endorsements(services: Services, account_id: int, page: PageRequest) -> Page[Account]:
    """The accounts ``account_id`` features, most recently featured first."""
    limit = page.clamped_limit()
    column = account_pins.c.id
    query = (
        select(accounts, column.label("edge_id"))
        .join(account_pins, account_pins.c.target_account_id == accounts.c.id)
        .where(account_pins.c.account_id == account_id)
    )
    query, ascending = window(query, column, page, limit)
    async with services.db.connect() as conn:
        rows = list((await conn.execute(query)).all())
    if ascending:
        rows.reverse()
    return Page(items=[account_from_row(row) for row in rows], cursors=[row.edge_id for row in rows], limit=limit)


async def set_note(services: Services, account_id: int, target_id: int, comment: str) -> None:
    """Write (or with an empty comment, remove) the private note about ``target_id``."""
    await get_account(services, target_id)
    comment = comment.strip()
    if len(comment) > MAX_NOTE:
        raise ValidationFailed.field("comment", "ERR_TOO_LONG", f"is too long (maximum is {MAX_NOTE} characters)")
    async with services.db.begin() as conn:
        if not comment:
            await conn.execute(
                delete(account_notes).where(
                    account_notes.c.account_id == account_id, account_notes.c.target_account_id == target_id
                )
            )
            return
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        now = utcnow()
        statement = dialect_insert(account_notes).values(
            account_id=account_id, target_account_id=target_id, comment=comment, updated_at=now
        )
        await conn.execute(
            statement.on_conflict_do_update(
                index_elements=["account_id", "target_account_id"], set_={"comment": comment, "updated_at": now}
            )
        )
