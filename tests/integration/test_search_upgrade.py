"""Upgrading to the kept search words fills them from what is already indexed: a display
name is found by any of its words at once, without a reindex."""

from __future__ import annotations

import httpx
from sqlalchemy import select
from sqlalchemy.engine import Connection

from lumigram.infra.database import alembic_config
from lumigram.infra.tables import search_account_words
from lumigram.services import Services
from tests.factories import create_user
from tests.settle import settle


def _downgrade(connection: Connection, revision: str) -> None:
    from alembic import command

    command.downgrade(alembic_config(connection), revision)


async def test_upgrading_fills_the_words_of_indexed_display_names(
    client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user(client)
    named = await client.patch(
        "/api/v1/accounts/update_credentials", headers=user["headers"], data={"display_name": "Ada Marigold Lovelace"}
    )
    assert named.status_code == 200, named.text
    await settle(services)

    async def words() -> list[str]:
        async with services.db.connect() as conn:
            query = select(search_account_words.c.word).where(search_account_words.c.account_id == int(user["id"]))
            return sorted((await conn.execute(query)).scalars())

    indexed = await words()
    assert indexed == ["ada", "lovelace", "marigold"]
    async with services.db.transactional.begin() as conn:
        await conn.run_sync(_downgrade, "0013")
    await services.db.migrate()
    assert await words() == indexed
    found = await client.get("/api/v1/accounts/search", params={"q": "marig"}, headers=user["headers"])
    assert [account["id"] for account in found.json()] == [user["id"]]
