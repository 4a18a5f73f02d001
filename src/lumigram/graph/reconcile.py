"""Repairs the denormalised follow counters from the follows table.

Counters move in the same transaction as their edge, so they only drift through bugs,
manual database edits or restored backups; ``lumigram admin reconcile-counts`` runs this.
"""

from __future__ import annotations

from sqlalchemy import func, select

from lumigram.infra.recount import BATCH, recount
from lumigram.infra.tables import accounts, follows
from lumigram.services import Services


async def reconcile_counts(services: Services, batch: int = BATCH) -> int:
    """Recompute followers_count/following_count for every account; returns how many rows changed."""
    followers = (
        select(func.count()).select_from(follows).where(follows.c.target_account_id == accounts.c.id).scalar_subquery()
    )
    following = select(func.count()).select_from(follows).where(follows.c.account_id == accounts.c.id).scalar_subquery()
    return await recount(services.db, accounts, {"followers_count": followers, "following_count": following}, batch)
