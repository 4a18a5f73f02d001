"""Shared fixtures: the two shapes, a migrated database, services and an API client.

Every test that takes ``services`` or ``client`` runs twice: on the embedded shape
(SQLite, folder, in-process cache and bus) and on the scaled-out shape (PostgreSQL,
SeaweedFS S3, Valkey, NATS JetStream), all real servers started once per session by
``tests.servers``. Each test gets fresh state: its own SQLite file or PostgreSQL
database, its own bucket, Redis database flush, and JetStream stream.
"""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import asyncpg
import httpx
import pytest

from lumigram.app import create_app
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings
from lumigram.services import Services

pytest_plugins = ["tests.servers"]

SHAPES = ("embedded", "scaled")
_counter = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_counter)}"


def _run_async(coro: Any) -> Any:
    """Run a coroutine to completion from sync fixture code, whatever loop is around."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def _create_template(admin_url: str, template: str) -> str:
    from sqlalchemy.engine import make_url

    from lumigram.infra.database import Database

    url = make_url(admin_url)
    connection = await asyncpg.connect(**_asyncpg_args(url))
    try:
        await connection.execute(f'DROP DATABASE IF EXISTS "{template}"')
        await connection.execute(f'CREATE DATABASE "{template}"')
    finally:
        await connection.close()
    template_url = url.set(database=template).render_as_string(hide_password=False)
    db = Database(template_url)
    try:
        await db.migrate()
    finally:
        await db.close()
    return template_url


def _asyncpg_args(url: Any) -> dict[str, Any]:
    args: dict[str, Any] = {"user": url.username, "password": url.password, "database": url.database}
    host = url.query.get("host") or url.host
    if host:
        args["host"] = host
    if url.port:
        args["port"] = url.port
    return args


async def _clone_template(admin_url: str, template: str, name: str) -> None:
    from sqlalchemy.engine import make_url

    connection = await asyncpg.connect(**_asyncpg_args(make_url(admin_url)))
    try:
        await connection.execute(f'CREATE DATABASE "{name}" TEMPLATE "{template}"')
    finally:
        await connection.close()


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> str:
    """A migrated database that every test's database is cloned from (CREATE DATABASE ... TEMPLATE)."""
    template = f"lumigram_template_{os.getpid()}"
    _run_async(_create_template(postgres_url, template))
    return template


@pytest.fixture
def fresh_postgres_database(postgres_url: str, postgres_template: str) -> Callable[[], str]:
    """Makes a new, already migrated PostgreSQL database and returns its URL."""
    from sqlalchemy.engine import make_url

    def make() -> str:
        name = _unique("t_").lower()
        _run_async(_clone_template(postgres_url, postgres_template, name))
        return make_url(postgres_url).set(database=name).render_as_string(hide_password=False)

    return make


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_settings(shape: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Settings for this test's shape; keyword overrides win."""
    base: dict[str, Any] = {
        "data_dir": tmp_path / "data",
        "secret_key": "test-secret-key-" + "x" * 32,
        "base_url": "http://testserver",
        "inline_worker": True,
        # Every test client shares one address; tests that check these limits set them low.
        "signup_rate_limit": 1000,
        "login_rate_limit": 1000,
    }
    if shape == "scaled":
        fresh_database: Callable[[], str] = request.getfixturevalue("fresh_postgres_database")
        s3_url: Callable[[str], str] = request.getfixturevalue("make_s3_url")
        redis_url: str = request.getfixturevalue("redis_url")
        nats_url: str = request.getfixturevalue("nats_url")
        stream = _unique("T")
        base.update(
            database_url=fresh_database(),
            media_url=s3_url(_unique("bucket-").lower()),
            cache_url=redis_url,
            bus_url=f"{nats_url}?stream={stream}&prefix={stream.lower()}",
        )

    def make(**overrides: Any) -> Settings:
        return Settings(**{**base, **overrides})

    return make


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """Migrated, running services (relay and consumers started), closed after the test."""
    built = build_services(settings)
    await built.db.migrate()
    await built.cache.flush()
    await start_consumers(built)
    await built.start_relay()
    try:
        yield built
    finally:
        await built.close()


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    app = create_app(services=services)
    transport = httpx.ASGITransport(app=app)
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http


async def eventually(check: Callable[[], Any], timeout: float = 5.0, interval: float = 0.02) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value; the bus is asynchronous."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        result = check()
        if asyncio.iscoroutine(result):
            result = await result
        if result:
            return result
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"condition not met within {timeout}s")
        await asyncio.sleep(interval)
