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
from collections.abc import AsyncIterator, Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

import httpx
import pytest

from lumigram.app import create_app
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings
from lumigram.services import Services
from tests.fresh_state import asyncpg_args

if TYPE_CHECKING:
    from fastapi import FastAPI

    from tests.fresh_state import BucketPool, DatabasePool

pytest_plugins = ["tests.servers", "tests.xdist_groups", "tests.session_end"]

SHAPES = ("embedded", "scaled")
_counter = itertools.count()


def _unique(prefix: str) -> str:
    return f"{prefix}{os.getpid()}x{next(_counter)}"


def _run_async(coro: Any) -> Any:
    """Run a coroutine to completion from sync fixture code, whatever loop is around."""
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


#: Kept under its old name for the tests that connect with it.
_asyncpg_args = asyncpg_args

#: Database URLs handed out already migrated: the ``services`` fixture need not migrate them.
_migrated: set[str] = set()


@pytest.fixture(scope="session")
def postgres_template(postgres_url: str) -> str:
    """A migrated database that every test's database is cloned from (CREATE DATABASE ... TEMPLATE)."""
    from tests.fresh_state import create_template

    template = f"lumigram_template_{os.getpid()}"
    _run_async(create_template(postgres_url, template))
    return template


@pytest.fixture(scope="session")
def postgres_pool(postgres_url: str, postgres_template: str) -> DatabasePool:
    from tests.fresh_state import DatabasePool

    pool = DatabasePool(postgres_url, postgres_template)
    _run_async(pool.inspect_template())
    return pool


@pytest.fixture
def fresh_postgres_database(postgres_pool: DatabasePool) -> Iterator[Callable[[], str]]:
    """Makes a new, already migrated and empty PostgreSQL database and returns its URL; after
    the test each is emptied and lent to a later one (``tests.fresh_state``)."""
    taken: list[str] = []

    def make() -> str:
        name = _run_async(postgres_pool.take())
        taken.append(name)
        url = postgres_pool.url(name)
        _migrated.add(url)
        return url

    yield make
    for name in taken:
        _run_async(postgres_pool.give_back(name))


@pytest.fixture(scope="session")
def bucket_pool(s3_endpoint: str) -> BucketPool:
    from tests.fresh_state import BucketPool
    from tests.servers import S3_ACCESS_KEY, S3_SECRET_KEY, weed_master_url

    return BucketPool(s3_endpoint, S3_ACCESS_KEY, S3_SECRET_KEY, weed_master_url())


@pytest.fixture
def fresh_s3_url(bucket_pool: BucketPool, s3_endpoint: str) -> Iterator[Callable[[], str]]:
    """Makes a media URL for an empty bucket of this test's own; emptied and lent again after it.
    (Not ``make_s3_url``, which drops the buckets of earlier tests: these are lent again.)"""
    from tests.servers import s3_url

    taken: list[str] = []

    def make() -> str:
        bucket = bucket_pool.take()
        taken.append(bucket)
        return s3_url(s3_endpoint, bucket)

    yield make
    for bucket in taken:
        bucket_pool.give_back(bucket)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A migrated SQLite file that each embedded test's database starts as a copy of."""
    from tests.fresh_state import create_sqlite_template

    path = tmp_path_factory.mktemp("sqlite-template") / "lumigram.db"
    _run_async(create_sqlite_template(path))
    return path


@pytest.fixture(params=SHAPES)
def shape(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def _base_settings(data_dir: Path) -> dict[str, Any]:
    return {
        "data_dir": data_dir,
        "secret_key": "test-secret-key-" + "x" * 32,
        "base_url": "http://testserver",
        "inline_worker": True,
        # Every test client shares one address; tests that check these limits set them low.
        "signup_rate_limit": 1000,
        "login_rate_limit": 1000,
    }


def _scaled_storage(
    request: pytest.FixtureRequest, database: Callable[[], str], bucket_url: Callable[[], str]
) -> dict[str, Any]:
    """A fresh database, bucket and stream on the session's servers, and its Redis."""
    nats_url: str = request.getfixturevalue("nats_url")
    stream = _unique("T")
    return {
        "database_url": database(),
        "media_url": bucket_url(),
        "cache_url": request.getfixturevalue("redis_url"),
        "bus_url": f"{nats_url}?stream={stream}&prefix={stream.lower()}",
    }


@pytest.fixture
def make_settings(shape: str, tmp_path: Path, request: pytest.FixtureRequest) -> Callable[..., Settings]:
    """Settings for this test's shape; keyword overrides win."""
    base = _base_settings(tmp_path / "data")
    if shape == "scaled":
        base.update(
            _scaled_storage(
                request, request.getfixturevalue("fresh_postgres_database"), request.getfixturevalue("fresh_s3_url")
            )
        )

    def make(**overrides: Any) -> Settings:
        return Settings(**{**base, **overrides})

    return make


def shared_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Settings]]:
    """``make_settings`` for a server that several tests share: ``make(shape, **overrides)``
    gives fresh storage on each call, lent back when the fixture ends. Starting a live
    server (and on the scaled shape its worker) costs seconds; tests that each sign up
    their own people can share one."""
    databases: list[str] = []
    buckets: list[str] = []

    def database() -> str:
        pool: DatabasePool = request.getfixturevalue("postgres_pool")
        databases.append(_run_async(pool.take()))
        url = pool.url(databases[-1])
        _migrated.add(url)
        return url

    def bucket_url() -> str:
        from tests.servers import s3_url

        pool: BucketPool = request.getfixturevalue("bucket_pool")
        buckets.append(pool.take())
        return s3_url(request.getfixturevalue("s3_endpoint"), buckets[-1])

    def make(shape: str, **overrides: Any) -> Settings:
        base = _base_settings(tmp_path_factory.mktemp("shared") / "data")
        if shape == "scaled":
            base.update(_scaled_storage(request, database, bucket_url))
        return Settings(**{**base, **overrides})

    yield make
    if databases:
        database_pool: DatabasePool = request.getfixturevalue("postgres_pool")
        for name in databases:
            _run_async(database_pool.give_back(name))
    if buckets:
        bucket_pool: BucketPool = request.getfixturevalue("bucket_pool")
        for name in buckets:
            bucket_pool.give_back(name)


@pytest.fixture(scope="module")
def make_module_settings(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Callable[..., Settings]]:
    """``shared_settings`` for a server that a module's tests share."""
    yield from shared_settings(request, tmp_path_factory)


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings()


@pytest.fixture
def cheap_password_hashing(monkeypatch: pytest.MonkeyPatch) -> None:
    """Argon2id at its cheapest parameters for tests that sign users up through the app.

    At the production parameters (64 MiB, four lanes) one hash takes tens of milliseconds
    of both cores, and the suite signs thousands of users up: minutes of CPU that test
    nothing the hashing's own tests (tests/unit/test_passwords.py) do not test already,
    at the production parameters. It is still argon2id, hashed and verified for real.
    """
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from lumigram.accounts import passwords

    cheap = PasswordHasher.from_parameters(CHEAPEST)
    monkeypatch.setattr(passwords, "_hasher", cheap)
    monkeypatch.setattr(passwords, "_DUMMY_HASH", cheap.hash("lumigram-dummy-password-for-timing"))


@pytest.fixture
async def services(
    settings: Settings, request: pytest.FixtureRequest, cheap_password_hashing: None
) -> AsyncIterator[Services]:
    """Migrated, running services (relay and consumers started), closed after the test."""
    from tests.fresh_state import copy_sqlite_template, sqlite_path

    built = build_services(settings)
    copied = False
    if sqlite_path(settings) is not None:
        copied = copy_sqlite_template(request.getfixturevalue("sqlite_template"), settings)
    if copied or settings.database_url in _migrated:
        # Connect now, as migrating did: a relay pass cancelled while aiosqlite is still
        # opening its first connection leaves that connection's thread behind a closed loop.
        await built.db.ping()
    else:
        await built.db.migrate()
    await built.cache.flush()
    await start_consumers(built)
    await built.start_relay()
    try:
        yield built
    finally:
        await built.close()


#: One app per test process, given each test's services: FastAPI builds a route's
#: dependencies (pydantic adapters for its parameters) at the route's first request to an
#: app, which cost every test that built its own app a large share of its time.
_shared_app: list[FastAPI] = []


@pytest.fixture
async def client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    if not _shared_app:
        _shared_app.append(create_app(services=services))
    app = _shared_app[0]
    app.state.services = services
    transport = httpx.ASGITransport(app=app)
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        # The streaming hub lives in the app's state, bound to this test's services.
        hub = getattr(app.state, "streaming_hub", None)
        if hub is not None:
            del app.state.streaming_hub
            await hub.close()


async def eventually(check: Callable[[], Any], timeout: float = 15.0, interval: float = 0.02) -> Any:
    """Poll ``check`` (sync or async) until it returns a truthy value; the bus is asynchronous.

    For what is not the bus's doing (a background rebuild, a render); for the bus's own
    consumers ``tests.settle.settle`` waits exactly. The deadline only ends a failing test:
    it is long enough that a machine busy with other work does not end a passing one."""
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
