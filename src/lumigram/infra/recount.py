"""Repairing denormalised counters from the rows they count, in batches.

Shared by the follow counters' and the post counters' reconcilers
(``lumigram admin reconcile-counts``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from sqlalchemy import Table, or_, select, update

from lumigram.infra.database import Database

#: Rows checked per transaction: keeps each one short on a large instance.
BATCH = 1000


async def recount(db: Database, table: Table, counts: Mapping[str, Any], batch: int = BATCH) -> int:
    """Set each column of ``counts`` to its correlated count subquery wherever it differs,
    ``batch`` rows at a time by id; returns how many rows changed."""
    fixed = 0
    last_id = 0
    # Compare and set in one statement, so a row counted by a change committed meanwhile
    # is counted rather than overwritten by a number computed before it.
    wrong = or_(*(table.c[column] != count for column, count in counts.items()))
    while True:
        async with db.begin() as conn:
            ids = list(
                (
                    await conn.execute(select(table.c.id).where(table.c.id > last_id).order_by(table.c.id).limit(batch))
                ).scalars()
            )
            if not ids:
                return fixed
            last_id = ids[-1]
            result = await conn.execute(update(table).where(table.c.id.in_(ids), wrong).values(**counts))
            fixed += result.rowcount
