"""A read never waits for the SQLite writer.

On the embedded shape every write takes its turn at one writer connection, and the
in-process consumers write there too (notifications, feed bookkeeping). A request whose
token was not cached used to record the token's last use inline, so under a backlog of
consumer writes a plain home read waited seconds for its turn: the stall seen under read
load on a world built through the API. The last use is now recorded beside the request.
"""

from __future__ import annotations

import asyncio

import httpx
import pytest
from sqlalchemy import select, update

from lumigram.infra.tables import oauth_tokens
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_user

#: Far longer than an unhindered read takes, far shorter than the writer's own wait (60 s).
READ_BOUND_SECONDS = 15


@pytest.fixture
def shape() -> str:
    return "embedded"  # only SQLite has one writer that every write waits for


async def test_home_read_answers_while_the_writer_is_held(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    # A token not used for long and not cached: the next request loads it and records its use.
    async with services.db.begin() as conn:
        await conn.execute(update(oauth_tokens).values(last_used_at=None))
    await services.cache.flush()

    taken, release = asyncio.Event(), asyncio.Event()

    async def hold_writer() -> None:
        async with services.db.begin():
            taken.set()
            await release.wait()

    holder = asyncio.create_task(hold_writer())
    await taken.wait()
    try:
        response = await asyncio.wait_for(
            client.get("/api/v1/timelines/home", params={"limit": 20}, headers=user["headers"]),
            READ_BOUND_SECONDS,
        )
    finally:
        release.set()
        await holder
    assert response.status_code == 200, response.text

    async def recorded() -> bool:
        async with services.db.connect() as conn:
            used = (await conn.execute(select(oauth_tokens.c.last_used_at))).scalars().all()
        return any(value is not None for value in used)

    # Nothing is lost: the last use lands once the writer is free.
    await eventually(recorded)
