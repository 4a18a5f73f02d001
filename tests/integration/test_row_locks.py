"""On PostgreSQL the rows a write locks to keep others of its kind apart (a follow's two
accounts, a post being recounted) let foreign-key checks through: a notification or a
like inserted about them meanwhile does not wait.

With ``FOR UPDATE`` it did, and a follow's lock (one account held, waiting for the other)
and a notification's foreign-key checks (the other held, waiting for the first) could
each wait for the other: PostgreSQL broke the deadlock by failing the follow, a 500.
"""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import insert, text

from lumigram.graph.service import _lock_pair
from lumigram.infra.tables import favourites, notifications, utcnow
from lumigram.posts.counters import recount_favourites
from lumigram.services import Services
from tests.factories import create_post, create_user

pytestmark = pytest.mark.parametrize("shape", ["scaled"], indirect=True)


async def test_rows_locked_by_a_follow_and_a_recount_let_foreign_key_checks_through(
    client: httpx.AsyncClient, services: Services
) -> None:
    first, second = await create_user(client), await create_user(client)
    post = await create_post(client, second["headers"], text="locked for a recount")
    a, b, status_id = int(first["id"]), int(second["id"]), int(post["id"])
    async with services.db.engine.connect() as holding, holding.begin():
        await _lock_pair(holding, a, b)
        await recount_favourites(holding, status_id)
        async with services.db.engine.connect() as other, other.begin():
            # Failing fast, not hanging, if the insert waits for the locks above.
            await other.execute(text("SET LOCAL lock_timeout = '2s'"))
            await other.execute(
                insert(notifications).values(
                    id=services.ids.next_id(0),
                    account_id=b,
                    from_account_id=a,
                    type="follow",
                    group_key="row-locks",
                    dedupe_key="row-locks",
                    created_at=utcnow(),
                )
            )
            await other.execute(
                insert(favourites).values(
                    account_id=a, status_id=status_id, id=services.ids.next_id(0), created_at=utcnow()
                )
            )
