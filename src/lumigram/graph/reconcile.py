"""Repairs the denormalised follow counters from the follows table.

Counters move in the same transaction as their edge, so they only drift through bugs,
manual database edits or restored backups; ``lumigram admin reconcile-counts`` runs this.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, update

from lumigram.bootstrap import Services
from lumigram.infra.tables import accounts, follows

#: Accounts checked per transaction: keeps each one short on a large instance.
BATCH = 1000


async def reconcile_counts(services: Services, batch: int = BATCH) -> int:
    """Recompute followers_count/following_count for every account; returns how many rows changed."""
    followers = (
        select(func.count()).select_from(follows).where(follows.c.target_account_id == accounts.c.id).scalar_subquery()
    )
    following = select(func.count()).select_from(follows).where(follows.c.account_id == accounts.c.id).scalar_subquery()
    fixed = 0
    last_id = 0
    while True:
        async with services.db.begin() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(accounts.c.id).where(accounts.c.id > last_id).order_by(accounts.c.id).limit(batch)
                    )
                ).scalars()
            )
            if not ids:
                return fixed
            last_id = ids[-1]
            # Compare and set in one statement each, so a follow committed meanwhile is
            # counted rather than overwritten by a stale number.
            wrong = or_(accounts.c.followers_count != followers, accounts.c.following_count != following)
            result = await conn.execute(
                update(accounts)
                .where(accounts.c.id.in_(ids), wrong)
                .values(followers_count=followers, following_count=following)
            )
            fixed += result.rowcount
