"""Repairs the denormalised post counters (favourites_count, replies_count) from their tables.

replies_count moves in the comment's own transaction and favourites_count is recomputed
by the ``interactions.counters`` consumer, so they drift only through bugs, manual
edits, restored backups or events lost before the outbox existed;
``lumigram admin reconcile-counts`` runs this beside the follow counters' reconciler.
"""

from __future__ import annotations

from sqlalchemy import func, select

from lumigram.infra.recount import BATCH, recount
from lumigram.infra.tables import favourites, statuses
from lumigram.services import Services


async def reconcile_status_counts(services: Services, batch: int = BATCH) -> int:
    """Recompute favourites_count and replies_count of every post; returns how many rows changed."""
    replies_table = statuses.alias("reply")
    likes = (
        select(func.count()).select_from(favourites).where(favourites.c.status_id == statuses.c.id).scalar_subquery()
    )
    replies = (
        select(func.count())
        .select_from(replies_table)
        .where(replies_table.c.in_reply_to_id == statuses.c.id)
        .scalar_subquery()
    )
    return await recount(services.db, statuses, {"favourites_count": likes, "replies_count": replies}, batch)
