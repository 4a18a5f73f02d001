"""Losing a backend connection, or waiting out a busy one, is a retryable 503, never a 500; the next request works."""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

import asyncpg
import httpx
import pytest
from sqlalchemy import text
from sqlalchemy.engine import make_url

from lumigram.app import create_app
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.services import Services
from tests.conftest import _asyncpg_args
from tests.factories import create_post, create_user


async def _drop_server_connections(database_url: str) -> int:
    """What a database restart does to the server's pooled connections."""
    admin = await asyncpg.connect(**_asyncpg_args(make_url(database_url)))
    try:
        dropped = await admin.fetch(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
    finally:
        await admin.close()
    return len(dropped)


async def test_dropped_database_connections_are_retried_not_a_server_error(
    client: httpx.AsyncClient, services: Services, shape: str
) -> None:
    if shape != "scaled":
        pytest.skip("SQLite in the embedded shape has no server connection to lose")
    alice = await create_user(client)
    post = await create_post(client, alice["headers"])
    for _ in range(3):
        assert await _drop_server_connections(services.settings.database_url) >= 0
        answers = [
            (await client.get(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])).status_code
            for _ in range(12)  # more than the pool holds, so stale connections are met
        ]
        assert set(answers) <= {200, 503}, answers
        assert answers[-1] == 200, answers
        refused = [a for a in answers if a == 503]
        assert len(refused) <= 2, answers


async def test_a_request_finding_every_connection_busy_waits_then_gets_a_503(
    make_settings: Callable[..., Settings], shape: str
) -> None:
    if shape != "scaled":
        pytest.skip("the fixed connection pool is PostgreSQL's")
    services = build_services(make_settings(db_pool_size=1, db_pool_timeout=0.3))
    await services.db.migrate()
    await services.cache.flush()
    transport = httpx.ASGITransport(app=create_app(services=services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as client:
            alice = await create_user(client)
            post = await create_post(client, alice["headers"])
            async with services.db.connect() as held:  # the pool's only connection
                await held.execute(text("SELECT 1"))
                busy = await client.get(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])
            assert busy.status_code == 503, busy.text
            assert busy.headers["Retry-After"] == "1"
            assert "error" in busy.json()
            # Given back, the connection serves the next request.
            again = await client.get(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])
            assert again.status_code == 200, again.text
    finally:
        await services.close()


async def test_a_write_that_waits_out_sqlites_lock_gets_a_503(
    client: httpx.AsyncClient, services: Services, shape: str
) -> None:
    if shape != "embedded":
        pytest.skip("SQLite's single writer is the embedded shape's")
    alice = await create_user(client)
    post = await create_post(client, alice["headers"])
    path = make_url(services.settings.database_url).database
    assert path
    holder = sqlite3.connect(path, timeout=1)
    try:
        holder.execute("BEGIN IMMEDIATE")  # another writer holds the lock past the busy timeout
        liked = await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=alice["headers"])
        assert liked.status_code == 503, liked.text
        assert liked.headers["Retry-After"] == "1"
    finally:
        holder.rollback()
        holder.close()
    again = await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=alice["headers"])
    assert again.status_code == 200, again.text
