"""Open streams end when their token stops being valid: revoked, rotated by a refresh, or
its login disabled, on both shapes and across processes.

The streams are read by real clients (``websockets``, ``httpx``) from a uvicorn server
on loopback, as in ``test_streaming``. Each revocation is announced on the cache's
pub/sub, so a stream ends well within the bounds below; the bounds stay generous (the
hub's periodic re-check, the fallback, runs only every ``MAINTENANCE_EVERY`` seconds) so
a loaded machine does not make them flaky.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import update
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from lumigram.accounts import authcache
from lumigram.accounts import service as account_service
from lumigram.accounts.oauth import hash_secret
from lumigram.app import create_app
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.infra.tables import oauth_tokens, utcnow
from lumigram.services import Services
from lumigram.streaming import hub as streaming_hub
from tests.api.test_streaming import EventSource, Server, event_source, follower_pair, next_frame, serving
from tests.conftest import eventually
from tests.factories import ALL_SCOPES, bearer, create_post, password_login
from tests.live import live_server

#: Seconds a stream may take to end after its token was revoked. The announcement gets it
#: there in milliseconds; the bound is far below the periodic re-check's, so passing it
#: shows the announcement did the work.
ENDS_WITHIN = 5.0
#: WebSocket close code for a stream whose credentials stopped being valid.
CLOSE_POLICY = 1008


@pytest.fixture
async def server(services: Services) -> AsyncIterator[Server]:
    async with serving(services) as running:
        yield running


async def revoke(http: httpx.AsyncClient, user: dict[str, Any], token: str | None = None) -> None:
    app = user["app"]
    response = await http.post(
        "/oauth/revoke",
        data={"token": token or user["token"], "client_id": app["client_id"], "client_secret": app["client_secret"]},
    )
    assert response.status_code == 200, response.text


async def second_token(http: httpx.AsyncClient, user: dict[str, Any]) -> str:
    """Another token of ``user`` (a second sign-in of the same app)."""
    response = await password_login(http, user["app"], user["username"], user["password"], ALL_SCOPES)
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def ws_ends(ws: ClientConnection) -> list[dict[str, Any]]:
    """Read until the server closes ``ws`` (within ``ENDS_WITHIN``); the frames read."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(ENDS_WITHIN):
        with contextlib.suppress(ConnectionClosed):
            while True:
                frames.append(json.loads(await ws.recv()))
    return frames


async def sse_ends(source: EventSource) -> None:
    """Wait until the server ends the event stream (within ``ENDS_WITHIN``)."""
    assert source.task is not None
    done, _ = await asyncio.wait([source.task], timeout=ENDS_WITHIN)
    assert done, "the event stream is still open"
    if not source.task.cancelled() and (error := source.task.exception()) is not None:
        # Ending the stream mid-response may surface as a protocol error: it ended all the same.
        assert isinstance(error, httpx.HTTPError), error


async def test_revoking_a_token_ends_its_websocket_and_event_streams(server: Server) -> None:
    alice, bob = await follower_pair(server.http)
    other_token = await second_token(server.http, bob)
    async with (
        connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws,
        # A socket authenticated by the token with no stream yet ends as well.
        connect(server.ws_url, additional_headers=bob["headers"]) as idle,
        event_source(server, "/api/v1/streaming/user", headers=bob["headers"]) as sse,
        connect(f"{server.ws_url}?stream=user&access_token={other_token}") as other,
    ):
        await revoke(server.http, bob)
        assert [f for f in await ws_ends(ws) if f.get("event") == "update"] == []
        assert ws.close_code == CLOSE_POLICY
        await ws_ends(idle)
        assert idle.close_code == CLOSE_POLICY
        await sse_ends(sse)
        assert not [event for event, _ in sse.events if event == "update"]

        # The same login's other token keeps its stream; the revoked one is refused at once.
        posted = await create_post(server.http, alice["headers"], text="After the revocation")
        assert json.loads((await next_frame(other, "update"))["payload"])["id"] == posted["id"]
        refused = await server.http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
        assert refused.status_code == 401


async def test_a_refresh_or_deleting_the_account_ends_the_streams_of_its_token(server: Server) -> None:
    _alice, bob = await follower_pair(server.http)
    async with connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws:
        app = bob["app"]
        refreshed = await server.http.post(
            "/oauth/token",
            data={
                "grant_type": "refresh_token",
                "refresh_token": bob["refresh_token"],
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
            },
        )
        assert refreshed.status_code == 200, refreshed.text
        await ws_ends(ws)
        assert ws.close_code == CLOSE_POLICY

    # Deleting the account ends the streams of its tokens too.
    new_token = refreshed.json()["access_token"]
    async with connect(f"{server.ws_url}?stream=user&access_token={new_token}") as ws:
        deleted = await server.http.post(
            "/api/v1/lumigram/account/delete", headers=bearer(new_token), json={"password": bob["password"]}
        )
        assert deleted.status_code == 200, deleted.text
        await ws_ends(ws)
        assert ws.close_code == CLOSE_POLICY


async def test_disabling_a_login_ends_every_stream_of_its_tokens(server: Server, services: Services) -> None:
    alice, bob = await follower_pair(server.http)
    other_token = await second_token(server.http, bob)
    async with (
        connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws,
        event_source(server, "/api/v1/streaming/user", headers=bearer(other_token)) as sse,
        connect(f"{server.ws_url}?stream=user&access_token={alice['token']}") as bystander,
    ):
        account = await account_service.get_account(services, int(bob["id"]))
        await account_service.set_disabled(services, account.user_id, True)
        await ws_ends(ws)
        assert ws.close_code == CLOSE_POLICY
        await sse_ends(sse)
        # Someone else's stream goes on.
        posted = await create_post(server.http, alice["headers"])
        assert json.loads((await next_frame(bystander, "update"))["payload"])["id"] == posted["id"]


async def test_a_token_revoked_while_its_stream_was_opening_is_caught(
    server: Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A revocation announced between the stream's authentication and its joining the hub
    reaches nobody; the hub checks the token again once it would hear of it."""
    _alice, bob = await follower_pair(server.http)
    opened = streaming_hub.Hub.open

    async def revoked_meanwhile(hub: streaming_hub.Hub, *args: Any, **kwargs: Any) -> Any:
        await revoke(server.http, bob)
        return await opened(hub, *args, **kwargs)

    monkeypatch.setattr(streaming_hub.Hub, "open", revoked_meanwhile)
    async with connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws:
        await ws_ends(ws)
        assert ws.close_code == CLOSE_POLICY


async def revoke_unannounced(services: Services, token: str) -> None:
    """Revoke ``token`` as ``revoke_token`` does but without the announcement, as if it
    had been lost: the row, and the cached grant."""
    digest = hash_secret(token)
    async with services.db.begin() as conn:
        await conn.execute(update(oauth_tokens).where(oauth_tokens.c.token_hash == digest).values(revoked_at=utcnow()))
    await authcache.forget_token(services, digest)


async def test_the_hub_drops_streams_whose_token_fails_its_periodic_check(server: Server, services: Services) -> None:
    """The safety net for an announcement that never arrived: each maintenance round
    checks the open streams' tokens again."""
    _alice, bob = await follower_pair(server.http)
    async with connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws:
        await eventually(lambda: server.hub.listener_count == 1)
        await revoke_unannounced(services, bob["token"])
        await server.hub.maintain()
        await ws_ends(ws)
        assert ws.close_code == CLOSE_POLICY


async def test_streams_are_checked_again_once_a_broken_subscription_is_back(server: Server, services: Services) -> None:
    """Announcements made while the hub's subscription was broken are lost: once it has
    subscribed again, the hub checks every open stream's token at once."""
    _alice, bob = await follower_pair(server.http)
    async with connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws:
        await eventually(lambda: server.hub.listener_count == 1)
        await revoke_unannounced(services, bob["token"])
        broken = server.hub._reader
        assert broken is not None
        await broken.subscription.close()
        await ws_ends(ws)
        assert ws.close_code == CLOSE_POLICY
        await eventually(lambda: server.hub._reader is not None and server.hub._reader is not broken)


# -- across processes (scaled out: one Valkey, one PostgreSQL) ----------------------------


@pytest.mark.parametrize("shape", ["scaled"])
async def test_a_revocation_on_one_app_ends_the_streams_open_on_another(server: Server, settings: Settings) -> None:
    """Two app instances on the same backends, as two ``lumigram serve`` processes are: the
    stream is open on one, the token is revoked through the other."""
    _alice, bob = await follower_pair(server.http)
    other = build_services(settings)
    try:
        transport = httpx.ASGITransport(app=create_app(services=other))
        async with (
            httpx.AsyncClient(transport=transport, base_url="http://testserver") as elsewhere,
            connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws,
            event_source(server, "/api/v1/streaming/user", headers=bob["headers"]) as sse,
        ):
            # Both processes have the grant cached before it is revoked.
            for http in (server.http, elsewhere):
                known = await http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
                assert known.status_code == 200
            await revoke(elsewhere, bob)
            await ws_ends(ws)
            assert ws.close_code == CLOSE_POLICY
            await sse_ends(sse)
            refused = await server.http.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
            assert refused.status_code == 401
    finally:
        await other.close()


@pytest.mark.live
@pytest.mark.parametrize("shape", ["scaled"])
async def test_two_serve_processes_a_revocation_on_one_ends_streams_on_the_other(
    make_settings: Callable[..., Settings], tmp_path: Path
) -> None:
    """Real ``lumigram serve`` processes sharing PostgreSQL, Valkey and NATS."""
    with (
        live_server(make_settings(data_dir=tmp_path / "one")) as one,
        live_server(make_settings(data_dir=tmp_path / "two")) as two,
    ):
        async with (
            httpx.AsyncClient(base_url=one.base_url, timeout=30) as first,
            httpx.AsyncClient(base_url=two.base_url, timeout=30) as second,
        ):
            _alice, bob = await follower_pair(first)
            stream_url = "ws" + one.base_url.removeprefix("http") + "/api/v1/streaming"
            async with (
                connect(f"{stream_url}?stream=user&access_token={bob['token']}") as ws,
                first.stream("GET", "/api/v1/streaming/user", headers=bob["headers"]) as response,
            ):
                assert response.status_code == 200
                source = EventSource(response)
                source.task = asyncio.create_task(source._read())
                try:
                    await eventually(lambda: source.comments)
                    await revoke(second, bob)
                    await ws_ends(ws)
                    assert ws.close_code == CLOSE_POLICY
                    await sse_ends(source)
                finally:
                    source.task.cancel()
                    with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                        await source.task
            refused = await first.get("/api/v1/accounts/verify_credentials", headers=bob["headers"])
            assert refused.status_code == 401
