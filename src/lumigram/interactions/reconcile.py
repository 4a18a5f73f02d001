"""Repairs the denormalised post counters (favourites_count, replies_count) from their tables.

replies_count moves in the comment's own transaction and favourites_count is recomputed
by the ``interactions.counters`` consumer, so they drift only through bugs, manual
edits, restored backups or events lost before the outbox existed;
``lumigram admin reconcile-counts`` runs this beside the follow counters' reconciler.
"""

from __future__ import annotations

from sqlalchemy import func, or_, select, update

from lumigram.bootstrap import Services
from lumigram.infra.tables import favourites, statuses

#: Posts checked per transaction: keeps each one short on a large instance.
BATCH = 1000


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
    fixed = 0
    last_id = 0
    while True:
        async with services.db.begin() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(statuses.c.id).where(statuses.c.id > last_id).order_by(statuses.c.id).limit(batch)
                    )
                ).scalars()
            )
            if not ids:
                return fixed
            last_id = ids[-1]
            # Compare and set in one statement, so a like or comment committed meanwhile
            # is counted rather than overwritten by a number computed before it.
            wrong = or_(statuses.c.favourites_count != likes, statuses.c.replies_count != replies)
            result = await conn.execute(
                update(statuses)
                .where(statuses.c.id.in_(ids), wrong)
                .values(favourites_count=likes, replies_count=replies)
            )
            fixed += result.rowcount
