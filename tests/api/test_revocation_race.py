"""A token revoked (or a login disabled) while a request is looking it up is never cached
again as valid, on both shapes.

The interleaving is reproduced step by step, without sleeps: the lookup's database read
runs, then the revocation commits (and tells the cache), and only then does the lookup
fill the cache with what it read. The request in flight may still be answered from that
read; every later one, the fast paths and the streams included, must see the revocation.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import httpx
import pytest
import websockets
from websockets.asyncio.client import connect

from lumigram.accounts import authcache, oauth
from lumigram.accounts import service as account_service
from lumigram.accounts.oauth import hash_secret
from lumigram.app import create_app
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.pagecache.home_fast_path import CachedHomePage
from lumigram.services import Services
from tests.api.test_home_fast_path import _reader_with_posts, _rendered
from tests.api.test_stream_revocation import revoke, serving
from tests.api.test_streaming import Server, follower_pair
from tests.asgi_driver import Recorded, drive

#: Seconds a refused stream may take to answer (it answers at once; this only bounds a hang).
ANSWER_WITHIN = 10.0


@pytest.fixture
async def server(services: Services) -> AsyncIterator[Server]:
    async with serving(services) as running:
        yield running


def after_the_token_read(
    monkeypatch: pytest.MonkeyPatch, step: Callable[[dict[str, Any]], Awaitable[None]]
) -> list[int]:
    """Run ``step`` once, between a token lookup's database read and its cache fill; the
    ids of the tokens it ran for."""
    read = oauth._load_token
    ran: list[int] = []

    async def read_then_step(services: Services, digest: str) -> dict[str, Any] | None:
        data = await read(services, digest)
        if data is not None and not ran:
            ran.append(data["id"])
            await step(data)
        return data

    monkeypatch.setattr(oauth, "_load_token", read_then_step)
    return ran


def after_the_state_read(monkeypatch: pytest.MonkeyPatch, step: Callable[[int], Awaitable[None]]) -> list[int]:
    """Run ``step`` once, between the database read of a login's state and its cache fill."""
    read = oauth._load_user_state
    ran: list[int] = []

    async def read_then_step(services: Services, user_id: int) -> dict[str, bool] | None:
        state = await read(services, user_id)
        if state is not None and not ran:
            ran.append(user_id)
            await step(user_id)
        return state

    monkeypatch.setattr(oauth, "_load_user_state", read_then_step)
    return ran


async def stream_status(server: Server, token: str) -> tuple[int, int]:
    """What a WebSocket and an event stream opened with ``token`` are answered: the
    statuses of their refusals, or 101 and 200 when they open."""
    websocket_status = 101
    async with asyncio.timeout(ANSWER_WITHIN):
        try:
            async with connect(f"{server.ws_url}?stream=user&access_token={token}"):
                pass
        except websockets.InvalidStatus as refused:
            websocket_status = refused.response.status_code
        headers = {"Authorization": f"Bearer {token}"}
        async with server.http.stream("GET", "/api/v1/streaming/user", headers=headers) as response:
            event_stream_status = response.status_code
    return websocket_status, event_stream_status


async def test_a_token_revoked_during_its_lookup_is_not_cached_as_valid(
    server: Server, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alice, bob = await follower_pair(server.http)
    # The token's cached entry has lapsed: the next request reads the database.
    await services.cache.delete(authcache.token_key(hash_secret(bob["token"])))

    async def revoked(_data: dict[str, Any]) -> None:
        await revoke(server.http, bob)

    ran = after_the_token_read(monkeypatch, revoked)
    in_flight = await server.http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
    assert ran, "the lookup never read the database"
    assert in_flight.status_code == 200  # answered from the read made before the revocation

    refused = await server.http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
    assert refused.status_code == 401
    assert "error" in refused.json()
    home = await server.http.get("/api/v1/timelines/home", headers=bob["headers"])
    assert home.status_code == 401
    assert await stream_status(server, bob["token"]) == (401, 401)


async def test_a_login_disabled_during_its_state_lookup_is_not_cached_as_enabled(
    server: Server, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    _alice, bob = await follower_pair(server.http)
    user_id = (await account_service.get_account(services, int(bob["id"]))).user_id
    # The login's cached state has lapsed (its token's entry has not).
    await services.cache.delete(authcache.user_key(user_id))

    async def disabled(user_id: int) -> None:
        await account_service.set_disabled(services, user_id, True)

    ran = after_the_state_read(monkeypatch, disabled)
    in_flight = await server.http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
    assert ran == [user_id]
    assert in_flight.status_code == 200

    refused = await server.http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
    assert refused.status_code == 403
    assert "error" in refused.json()
    assert await stream_status(server, bob["token"]) == (403, 403)


async def test_the_home_fast_path_refuses_a_token_revoked_during_its_lookup(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The fast path reads the token from the cache alone: it must hand the request on
    (to the route, which answers 401) rather than answer the kept page."""
    reader = await _reader_with_posts(client)
    await _rendered(client, services, reader)
    # One middleware throughout: it learns the token's owner on its first answer, so its
    # later reads take the path that checks the cached grant in the page's round trip.
    inner = Recorded()
    middleware = CachedHomePage(inner)
    scope = home_read(client, reader["headers"])
    status, _headers, _body = await drive(middleware, scope)
    assert (status, inner.calls) == (200, 0)

    await services.cache.delete(authcache.token_key(hash_secret(reader["token"])))

    async def revoked(data: dict[str, Any]) -> None:
        await oauth.revoke_access_token(services, data["id"])

    ran = after_the_token_read(monkeypatch, revoked)
    in_flight = await client.get("/api/v1/accounts/verify_credentials", headers=reader["headers"])
    assert ran
    assert in_flight.status_code == 200

    await drive(middleware, home_read(client, reader["headers"]))
    assert inner.calls == 1, "the fast path answered with a revoked token"
    # A middleware that has not met the token yet hands it on as well.
    fresh_app = Recorded()
    await drive(CachedHomePage(fresh_app), home_read(client, reader["headers"]))
    assert fresh_app.calls == 1
    assert (await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])).status_code == 401


def home_read(client: httpx.AsyncClient, headers: dict[str, str]) -> dict[str, Any]:
    """The ASGI scope of a read of the kept home page."""
    return {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/timelines/home",
        "query_string": b"limit=20",
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "app": client._transport.app,  # type: ignore[attr-defined]
    }


@pytest.mark.parametrize("shape", ["scaled"])
async def test_a_token_revoked_during_a_lookup_on_one_app_is_refused_by_another(
    server: Server, services: Services, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two app instances on the same backends, as two ``lumigram serve`` processes are:
    the stale fill would happen on one, the other must not trust it either."""
    _alice, bob = await follower_pair(server.http)
    await services.cache.delete(authcache.token_key(hash_secret(bob["token"])))
    other = build_services(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(services=other))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere:

            async def revoked(_data: dict[str, Any]) -> None:
                await revoke(elsewhere, bob)

            ran = after_the_token_read(monkeypatch, revoked)
            in_flight = await server.http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
            assert ran
            assert in_flight.status_code == 200
            for http in (elsewhere, server.http):
                refused = await http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
                assert refused.status_code == 401
    finally:
        await other.close()
