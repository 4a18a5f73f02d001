"""The profile directory (``GET /api/v1/directory``): open, discoverable accounts.

Accounts that opted out of discovery are never listed, and neither are private ones:
the directory is for finding people whose posts anyone may see. A signed-in viewer does
not see accounts they block or mute, or that block them.
"""

from __future__ import annotations

from sqlalchemy import and_, exists, or_, select

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.infra.tables import accounts, blocks, mutes, utcnow
from lumigram.services import Services

ORDERS = ("active", "new")
MAX_LIMIT = 80


async def directory(
    services: Services, viewer_id: int | None, offset: int = 0, limit: int = 40, order: str = "active"
) -> list[Account]:
    """A page of the directory: most recently posting first (``active``) or newest (``new``)."""
    query = select(accounts).where(accounts.c.discoverable.is_(True), accounts.c.locked.is_(False))
    if viewer_id is not None:
        target = accounts.c.id
        query = query.where(
            ~exists().where(
                or_(
                    and_(blocks.c.account_id == viewer_id, blocks.c.target_account_id == target),
                    and_(blocks.c.account_id == target, blocks.c.target_account_id == viewer_id),
                )
            ),
            ~exists().where(
                mutes.c.account_id == viewer_id,
                mutes.c.target_account_id == target,
                or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > utcnow()),
            ),
        )
    if order == "new":
        query = query.order_by(accounts.c.id.desc())
    else:
        # Accounts that never posted come last, newest first among them.
        query = query.order_by(
            accounts.c.last_status_at.is_(None), accounts.c.last_status_at.desc(), accounts.c.id.desc()
        )
    async with services.db.connect() as conn:
        rows = (await conn.execute(query.offset(offset).limit(max(1, min(limit, MAX_LIMIT))))).all()
    return [account_from_row(row) for row in rows]
