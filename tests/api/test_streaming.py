"""The streaming API over WebSocket and server-sent events, against a real server on loopback.

Each test serves the app with uvicorn inside the test's event loop (the ASGI test
transport cannot hold a response open), on both shapes: in-process pub/sub and Valkey.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest
import uvicorn
import websockets
from websockets.asyncio.client import ClientConnection
from websockets.asyncio.client import connect as ws_connect

from lumigram.api.routes import streaming as streaming_api
from lumigram.app import create_app
from lumigram.services import Services
from lumigram.streaming import channels
from lumigram.streaming.hub import Hub
from tests.conftest import eventually
from tests.factories import bearer, create_post, create_user
from tests.live import free_port


def connect(url: str, **options: Any) -> ws_connect:
    """A WebSocket client with room for a busy machine: an opening handshake that waited
    out websockets' 10 s default failed the suite twice on a loaded two-core host."""
    return ws_connect(url, open_timeout=30, **options)


@dataclass
class Server:
    url: str
    app: Any
    http: httpx.AsyncClient

    @property
    def ws_url(self) -> str:
        return "ws" + self.url.removeprefix("http") + "/api/v1/streaming"

    @property
    def hub(self) -> Hub:
        return streaming_api._hub(self.app)


@contextlib.asynccontextmanager
async def serving(services: Services) -> AsyncIterator[Server]:
    """The app of ``services`` on a free loopback port, in this event loop."""
    app = create_app(services=services)
    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, lifespan="on", log_level="warning", timeout_graceful_shutdown=2
    )
    running = uvicorn.Server(config)
    task = asyncio.create_task(running.serve())
    await eventually(lambda: running.started or task.done())
    assert running.started
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=30) as http:
            yield Server(url, app, http)
    finally:
        running.should_exit = True
        await task


@pytest.fixture
async def server(services: Services) -> AsyncIterator[Server]:
    async with serving(services) as running:
        yield running


@dataclass
class EventSource:
    """A server-sent events client collecting (event, data) pairs in the background."""

    response: httpx.Response
    events: list[tuple[str, str]] = field(default_factory=list)
    comments: list[str] = field(default_factory=list)
    task: asyncio.Task[None] | None = None

    async def _read(self) -> None:
        event = "message"
        async for line in self.response.aiter_lines():
            if line.startswith(":"):
                self.comments.append(line[1:])
            elif line.startswith("event: "):
                event = line.removeprefix("event: ")
            elif line.startswith("data: "):
                self.events.append((event, line.removeprefix("data: ")))
                event = "message"

    async def next(self, event: str, timeout: float = 10.0) -> str:
        """The data of the first ``event`` received (and not consumed yet)."""

        def found() -> str | None:
            for index, (name, data) in enumerate(self.events):
                if name == event:
                    del self.events[index]
                    return data
            return None

        result: str = await eventually(found, timeout=timeout)
        return result


@contextlib.asynccontextmanager
async def event_source(server: Server, path: str, **kwargs: Any) -> AsyncIterator[EventSource]:
    async with server.http.stream("GET", path, **kwargs) as response:
        assert response.status_code == 200, await response.aread()
        assert response.headers["content-type"].startswith("text/event-stream")
        source = EventSource(response)
        source.task = asyncio.create_task(source._read())
        try:
            # The server writes ":)" once the stream is live: after it, nothing is missed.
            await eventually(lambda: source.comments)
            yield source
        finally:
            source.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, httpx.HTTPError):
                await source.task


async def next_frame(ws: ClientConnection, event: str, timeout: float = 10.0) -> dict[str, Any]:
    async with asyncio.timeout(timeout):
        while True:
            frame: dict[str, Any] = json.loads(await ws.recv())
            if frame.get("event") == event:
                return frame


async def no_frame(ws: ClientConnection, wait: float = 0.3) -> None:
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(wait):
            raise AssertionError(f"unexpected frame {await ws.recv()!r}")


async def subscribe(ws: ClientConnection, server: Server, stream: str, **extra: str) -> None:
    """Subscribe over the socket and wait until the hub has the channel."""
    wanted = channels.resolve(stream, None, extra.get("tag"))
    assert wanted is not None
    hub = server.hub
    before = len(hub._listeners.get(wanted.channels[0], ()))
    await ws.send(json.dumps({"type": "subscribe", "stream": stream, **extra}))
    await eventually(
        lambda: (
            len(hub._listeners.get(wanted.channels[0], ())) > before
            and hub._reader is not None
            and set(wanted.channels) <= hub._reader.channels
        )
    )


async def follower_pair(http: httpx.AsyncClient) -> tuple[dict[str, Any], dict[str, Any]]:
    alice, bob = await create_user(http), await create_user(http)
    followed = await http.post(f"/api/v1/accounts/{alice['id']}/follow", headers=bob["headers"])
    assert followed.status_code == 200, followed.text
    return alice, bob


# -- tests --------------------------------------------------------------------------------


async def test_health_answers_ok(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/streaming/health")
    assert response.status_code == 200
    assert response.text == "OK"


async def test_a_follower_gets_the_update_over_websocket_and_sse(server: Server) -> None:
    alice, bob = await follower_pair(server.http)
    url = f"{server.ws_url}?stream=user&access_token={bob['token']}"
    async with connect(url) as ws, event_source(server, "/api/v1/streaming/user", headers=bob["headers"]) as sse:
        posted = await create_post(server.http, alice["headers"], text="Morning light")
        frame = await next_frame(ws, "update")
        assert frame["stream"] == ["user"]
        status = json.loads(frame["payload"])
        assert status["id"] == posted["id"]
        assert status["account"]["id"] == alice["id"]
        assert status["favourited"] is False
        assert json.loads(await sse.next("update"))["id"] == posted["id"]


async def test_the_author_hears_of_their_own_post_and_others_do_not(server: Server) -> None:
    alice, _bob = await follower_pair(server.http)
    stranger = await create_user(server.http)
    async with (
        connect(f"{server.ws_url}?stream=user&access_token={alice['token']}") as own,
        connect(f"{server.ws_url}?stream=user&access_token={stranger['token']}") as other,
    ):
        posted = await create_post(server.http, alice["headers"])
        assert json.loads((await next_frame(own, "update"))["payload"])["id"] == posted["id"]
        await no_frame(other)


async def test_notifications_pass_through_both_user_streams(server: Server, services: Services) -> None:
    bob = await create_user(server.http)
    notification = {"id": "1", "type": "favourite", "account": {"id": "2"}}
    async with (
        connect(f"{server.ws_url}?stream=user:notification", additional_headers=bob["headers"]) as only,
        connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as user,
        event_source(server, "/api/v1/streaming/user/notification", headers=bob["headers"]) as sse,
    ):
        await services.cache.publish(
            channels.notifications(int(bob["id"])), channels.encode("notification", notification)
        )
        frame = await next_frame(only, "notification")
        assert frame["stream"] == ["user:notification"]
        assert json.loads(frame["payload"]) == notification
        assert (await next_frame(user, "notification"))["stream"] == ["user"]
        assert json.loads(await sse.next("notification")) == notification


async def test_a_like_reaches_the_owners_stream_as_a_notification(server: Server) -> None:
    alice, bob = await follower_pair(server.http)
    posted = await create_post(server.http, alice["headers"])
    async with (
        connect(f"{server.ws_url}?stream=user&access_token={alice['token']}") as ws,
        event_source(server, "/api/v1/streaming/user/notification", headers=alice["headers"]) as sse,
    ):
        liked = await server.http.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob["headers"])
        assert liked.status_code == 200, liked.text
        notification = json.loads((await next_frame(ws, "notification"))["payload"])
        assert notification["type"] == "favourite"
        assert notification["account"]["id"] == bob["id"]
        assert notification["status"]["id"] == posted["id"]
        assert json.loads(await sse.next("notification"))["id"] == notification["id"]


async def test_public_and_hashtag_streams(server: Server) -> None:
    alice = await create_user(server.http)
    async with connect(server.ws_url) as ws, event_source(server, "/api/v1/streaming/hashtag?tag=Sea") as sse:
        await subscribe(ws, server, "public")
        await subscribe(ws, server, "hashtag", tag="sea")
        hidden = await create_post(server.http, alice["headers"], text="Only friends #sea", visibility="private")
        posted = await create_post(server.http, alice["headers"], text="Waves #Sea")
        frames = [await next_frame(ws, "update"), await next_frame(ws, "update")]
        assert sorted(f["stream"] for f in frames) == [["hashtag", "sea"], ["public"]]
        assert {json.loads(f["payload"])["id"] for f in frames} == {posted["id"]}
        assert json.loads(await sse.next("update"))["id"] == posted["id"]
        assert hidden["id"] not in {json.loads(data)["id"] for _, data in sse.events}

        await ws.send(json.dumps({"type": "unsubscribe", "stream": "hashtag", "tag": "sea"}))
        await asyncio.sleep(0.1)
        await create_post(server.http, alice["headers"], text="More #sea")
        assert (await next_frame(ws, "update"))["stream"] == ["public"]
        await no_frame(ws)


async def test_followed_hashtags_reach_the_home_stream_and_locked_accounts_stay_off_public(server: Server) -> None:
    alice, bob, carol = [await create_user(server.http) for _ in range(3)]
    followed = await server.http.post("/api/v1/tags/harbour/follow", headers=bob["headers"])
    assert followed.status_code == 200, followed.text
    locked = await server.http.patch(
        "/api/v1/accounts/update_credentials", headers=carol["headers"], data={"locked": "true"}
    )
    assert locked.status_code == 200, locked.text
    async with (
        connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as home,
        connect(f"{server.ws_url}?stream=public") as public,
    ):
        await create_post(server.http, carol["headers"], text="Locked harbour #harbour")
        posted = await create_post(server.http, alice["headers"], text="Open harbour #harbour")
        assert json.loads((await next_frame(home, "update"))["payload"])["id"] == posted["id"]
        assert json.loads((await next_frame(public, "update"))["payload"])["id"] == posted["id"]
        await no_frame(home)
        await no_frame(public)


async def test_a_deleted_post_is_retracted_from_user_and_public_streams(server: Server) -> None:
    alice, bob = await follower_pair(server.http)
    async with (
        connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as user,
        event_source(server, "/api/v1/streaming/public") as public,
    ):
        posted = await create_post(server.http, alice["headers"])
        await next_frame(user, "update")
        deleted = await server.http.delete(f"/api/v1/statuses/{posted['id']}", headers=alice["headers"])
        assert deleted.status_code == 200
        assert (await next_frame(user, "delete"))["payload"] == posted["id"]
        assert await public.next("delete") == posted["id"]


async def test_a_deleted_public_post_is_retracted_from_its_hashtag_streams(server: Server) -> None:
    alice = await create_user(server.http)
    async with (
        connect(server.ws_url) as ws,
        event_source(server, "/api/v1/streaming/hashtag/local?tag=dunes") as local,
    ):
        await subscribe(ws, server, "hashtag", tag="Dunes")
        posted = await create_post(server.http, alice["headers"], text="Wind on the #DUNES")
        await next_frame(ws, "update")
        deleted = await server.http.delete(f"/api/v1/statuses/{posted['id']}", headers=alice["headers"])
        assert deleted.status_code == 200, deleted.text
        frame = await next_frame(ws, "delete")
        assert frame["stream"] == ["hashtag", "dunes"]
        assert frame["payload"] == posted["id"]
        assert await local.next("delete") == posted["id"]


async def test_a_deleted_private_post_is_not_announced_on_hashtag_streams(server: Server) -> None:
    alice = await create_user(server.http)
    async with connect(server.ws_url) as ws:
        await subscribe(ws, server, "hashtag", tag="dunes")
        hidden = await create_post(server.http, alice["headers"], text="Friends only #dunes", visibility="private")
        posted = await create_post(server.http, alice["headers"], text="Open #dunes")
        assert json.loads((await next_frame(ws, "update"))["payload"])["id"] == posted["id"]
        for status in (hidden, posted):
            deleted = await server.http.delete(f"/api/v1/statuses/{status['id']}", headers=alice["headers"])
            assert deleted.status_code == 200, deleted.text
        # Every frame is read (none skipped): the public post's delete comes, the private one's never.
        async with asyncio.timeout(10):
            frame = json.loads(await ws.recv())
        assert (frame["event"], frame["payload"]) == ("delete", posted["id"])
        await no_frame(ws)


async def _send_direct(server: Server, sender: dict[str, Any], recipient: dict[str, Any]) -> httpx.Response:
    sent = await server.http.post(
        "/api/v1/statuses",
        headers=sender["headers"],
        json={"status": f"@{recipient['username']} see you at noon", "visibility": "direct"},
    )
    assert sent.status_code == 200, sent.text
    return sent


async def test_a_deleted_direct_message_is_retracted_from_the_direct_streams(server: Server) -> None:
    alice, bob = await create_user(server.http), await create_user(server.http)
    async with (
        connect(f"{server.ws_url}?stream=direct&access_token={bob['token']}") as ws,
        event_source(server, "/api/v1/streaming/direct", headers=alice["headers"]) as own,
    ):
        sent = await _send_direct(server, alice, bob)
        await next_frame(ws, "conversation")
        deleted = await server.http.delete(f"/api/v1/statuses/{sent.json()['id']}", headers=alice["headers"])
        assert deleted.status_code == 200, deleted.text
        frame = await next_frame(ws, "delete")
        assert frame["stream"] == ["direct"]
        assert frame["payload"] == sent.json()["id"]
        assert await own.next("delete") == sent.json()["id"]


async def test_an_edit_is_sent_as_status_update(server: Server) -> None:
    alice, bob = await follower_pair(server.http)
    async with connect(f"{server.ws_url}?stream=user&access_token={bob['token']}") as ws:
        posted = await create_post(server.http, alice["headers"], text="First")
        await next_frame(ws, "update")
        edited = await server.http.put(
            f"/api/v1/statuses/{posted['id']}", headers=alice["headers"], json={"status": "Second"}
        )
        assert edited.status_code == 200, edited.text
        status = json.loads((await next_frame(ws, "status.update"))["payload"])
        assert status["id"] == posted["id"]
        assert "Second" in status["content"]


async def test_blocked_and_muted_authors_are_filtered(server: Server) -> None:
    alice, bob, carol, dave = [await create_user(server.http) for _ in range(4)]
    # Dave follows alice but muted her: his home stream must not carry her posts either.
    await server.http.post(f"/api/v1/accounts/{alice['id']}/follow", headers=dave["headers"])
    assert (await server.http.post(f"/api/v1/accounts/{alice['id']}/mute", headers=dave["headers"])).status_code == 200
    assert (
        await server.http.post(f"/api/v1/accounts/{alice['id']}/block", headers=carol["headers"])
    ).status_code == 200
    async with (
        connect(f"{server.ws_url}?stream=public&access_token={carol['token']}") as blocker,
        connect(f"{server.ws_url}?stream=user&access_token={dave['token']}") as muter,
        event_source(server, "/api/v1/streaming/public", headers=dave["headers"]) as muter_public,
    ):
        await create_post(server.http, alice["headers"], text="From alice #x")
        later = await create_post(server.http, bob["headers"], text="From bob #x")
        # Bob's post came after alice's: once it has arrived, alice's would have too.
        assert json.loads((await next_frame(blocker, "update"))["payload"])["id"] == later["id"]
        assert json.loads(await muter_public.next("update"))["id"] == later["id"]
        assert not muter_public.events
        await no_frame(muter)


async def test_a_direct_message_reaches_the_direct_streams_as_a_conversation(server: Server) -> None:
    alice, bob = await create_user(server.http), await create_user(server.http)
    async with (
        connect(f"{server.ws_url}?stream=direct&access_token={bob['token']}") as ws,
        event_source(server, "/api/v1/streaming/direct", headers=alice["headers"]) as own,
    ):
        sent = await _send_direct(server, alice, bob)
        frame = await next_frame(ws, "conversation")
        assert frame["stream"] == ["direct"]
        conversation = json.loads(frame["payload"])
        assert conversation["last_status"]["id"] == sent.json()["id"]
        assert [a["id"] for a in conversation["accounts"]] == [alice["id"]]
        assert conversation["unread"] is True
        mine = json.loads(await own.next("conversation"))
        assert [a["id"] for a in mine["accounts"]] == [bob["id"]]


async def test_event_streams_send_heartbeats(server: Server, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(streaming_api, "HEARTBEAT_SECONDS", 0.1)
    async with event_source(server, "/api/v1/streaming/public") as sse:
        await eventually(lambda: "thump" in sse.comments)


async def test_tokens_are_checked(server: Server) -> None:
    for path in ("/api/v1/streaming/user", "/api/v1/streaming/direct", "/api/v1/streaming/user/notification"):
        response = await server.http.get(path)
        assert response.status_code == 401
        assert "error" in response.json()
    bad = await server.http.get("/api/v1/streaming/public", headers=bearer("not-a-token"))
    assert bad.status_code == 401
    assert (await server.http.get("/api/v1/streaming/hashtag")).status_code == 400
    with pytest.raises(websockets.InvalidStatus) as unknown:
        async with connect(f"{server.ws_url}?stream=list"):
            pass
    assert unknown.value.response.status_code == 400

    with pytest.raises(websockets.InvalidStatus) as refused:
        async with connect(f"{server.ws_url}?stream=user&access_token=not-a-token"):
            pass
    assert refused.value.response.status_code == 401
    with pytest.raises(websockets.InvalidStatus) as anonymous:
        async with connect(f"{server.ws_url}?stream=user"):
            pass
    assert anonymous.value.response.status_code == 401

    # A token without a read scope may not open a user stream.
    writer = await create_user(server.http, scopes="write")
    with pytest.raises(websockets.InvalidStatus) as scoped:
        async with connect(f"{server.ws_url}?stream=user&access_token={writer['token']}"):
            pass
    assert scoped.value.response.status_code == 403

    # Anonymous sockets may subscribe to public streams, not to user ones.
    async with connect(server.ws_url) as ws:
        await ws.send(json.dumps({"type": "subscribe", "stream": "user"}))
        assert json.loads(await ws.recv())["status"] == 401
        await ws.send("not json")
        assert json.loads(await ws.recv())["status"] == 400


async def test_the_token_may_come_as_the_websocket_subprotocol(server: Server) -> None:
    alice, bob = await follower_pair(server.http)
    async with connect(f"{server.ws_url}?stream=user", subprotocols=[bob["token"]]) as ws:
        assert ws.subprotocol == bob["token"]
        posted = await create_post(server.http, alice["headers"])
        assert json.loads((await next_frame(ws, "update"))["payload"])["id"] == posted["id"]


def _small_socket(server: Server) -> socket.socket:
    """A loopback socket with a tiny receive buffer (no auto-tuning), so a client that stops
    reading stalls the server's writes after a few megabytes instead of tens."""
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    host, port = server.url.removeprefix("http://").split(":")
    sock.connect((host, int(port)))
    sock.setblocking(False)
    return sock


async def test_a_slow_client_is_dropped_without_holding_up_the_others(server: Server, services: Services) -> None:
    big = "x" * 64_000
    total = 400
    # Two clients that stop reading: a WebSocket and an event stream, both raw sockets that
    # send their request and never read a byte again.
    sse = _small_socket(server)
    sse.send(b"GET /api/v1/streaming/public HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
    ws = _small_socket(server)
    ws.send(
        b"GET /api/v1/streaming?stream=public HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n"
        b"Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
    )
    async with event_source(server, "/api/v1/streaming/public") as fast:
        await eventually(lambda: server.hub.listener_count == 3)
        loop = asyncio.get_running_loop()
        started = loop.time()
        for n in range(total):
            await services.cache.publish(channels.PUBLIC, channels.encode("update", f'{{"n": {n}, "pad": "{big}"}}'))
            if n % 4 == 3:
                await asyncio.sleep(0.005)  # a steady stream, not one burst beyond any queue
        publishing = loop.time() - started
        await eventually(lambda: len(fast.events) == total, timeout=30)
        assert [json.loads(data)["n"] for _, data in fast.events] == list(range(total))
        await eventually(lambda: server.hub.listener_count == 1, timeout=10)
        assert publishing < 10
    # Read what was buffered: the WebSocket ends with a close frame saying "too slow" (1013).
    ws.setblocking(True)
    ws.settimeout(10)
    data = b""
    with contextlib.suppress(OSError):
        while chunk := await asyncio.to_thread(ws.recv, 1 << 20):
            data += chunk
    close_frame = b"\x88" + bytes([2 + len(b"too slow")]) + streaming_api.CLOSE_TOO_SLOW.to_bytes(2, "big")
    assert close_frame in data[-64:]
    sse.close()
    ws.close()


async def test_clients_leaving_mid_stream_release_their_resources(server: Server, services: Services) -> None:
    alice, bob = await follower_pair(server.http)
    async with connect(f"{server.ws_url}?stream=public") as staying:
        for _ in range(3):
            ws = await connect(f"{server.ws_url}?stream=user&access_token={bob['token']}")
            async with event_source(server, "/api/v1/streaming/public"):
                assert server.hub.listener_count == 3
                # Leave while messages are on their way.
                for n in range(20):
                    await services.cache.publish(channels.PUBLIC, channels.encode("update", f'{{"n": {n}}}'))
                await ws.close()
            await eventually(lambda: server.hub.listener_count == 1)
        assert int(bob["id"]) not in server.hub._online
        # The one that stayed still works and got everything.
        for _ in range(60):
            await next_frame(staying, "update")
        posted = await create_post(server.http, alice["headers"])
        assert json.loads((await next_frame(staying, "update"))["payload"])["id"] == posted["id"]


async def test_connections_share_one_cache_subscription(server: Server) -> None:
    users = [await create_user(server.http) for _ in range(12)]
    sockets = [await connect(f"{server.ws_url}?stream=user&access_token={u['token']}") for u in users]
    try:
        hub = server.hub
        assert hub.listener_count == 12
        # Handed over as channels were added, but only ever one live subscription.
        assert hub._reader is not None
        assert {channels.home(int(u["id"])) for u in users} <= hub._reader.channels
        live = [t for t in hub._tasks if not t.done()]
        assert len(live) <= 1  # at most one hand-over still finishing
    finally:
        for ws in sockets:
            await ws.close()


async def test_the_hub_hands_over_without_losing_or_doubling_messages(services: Services) -> None:
    """Channels are added while messages flow: every listener gets each message published
    after its subscription returned exactly once."""

    async def no_hidden(_account: int) -> set[int]:
        return set()

    hub = Hub(services.cache, no_hidden, queue_size=100_000)
    received: dict[int, list[int]] = {}
    first_after: dict[int, int] = {}
    counter = 0
    stop = asyncio.Event()

    async def publisher() -> None:
        nonlocal counter
        while not stop.is_set():
            counter += 1
            await services.cache.publish(channels.PUBLIC, channels.encode("update", str(counter)))
            await asyncio.sleep(0.001)

    task = asyncio.create_task(publisher())
    listeners = []
    try:
        for n in range(15):
            listener = await hub.open(None)
            # Each listener also adds a channel of its own, forcing a resubscribe.
            await hub.subscribe(listener, channels.Subscription(("public",), (channels.PUBLIC, f"test:{n}"), False))
            first_after[n] = counter + 1
            listeners.append(listener)
            await asyncio.sleep(0.01)
        stop.set()
        await task
        last = counter
        await asyncio.sleep(0.3)
        for n, listener in enumerate(listeners):
            seen = []
            while not listener.queue.empty():
                frame = listener.queue.get_nowait()
                assert frame is not None, listener.ended
                seen.append(int(frame[2]))
            received[n] = seen
            wanted = [m for m in seen if m >= first_after[n]]
            assert wanted == list(range(first_after[n], last + 1)), f"listener {n}"
            assert len(seen) == len(set(seen)), f"listener {n} got duplicates"
        assert hub.subscriptions_opened >= 15
    finally:
        stop.set()
        await hub.close()


async def test_stale_events_are_not_streamed(client: httpx.AsyncClient, services: Services) -> None:
    """A consumer added to a running deployment replays old events: they must not reach
    open streams as news."""
    from lumigram.consumers import consumers
    from lumigram.ids import EPOCH_MS, compose
    from lumigram.infra.bus import Event
    from lumigram.streaming.publisher import STALE_AFTER

    alice = await create_user(client)

    async def no_hidden(_account: int) -> set[int]:
        return set()

    hub = Hub(services.cache, no_hidden)
    listener = await hub.open(int(alice["id"]))
    try:
        await hub.subscribe(listener, channels.resolve("user", int(alice["id"]), None))  # type: ignore[arg-type]
        posted = await create_post(client, alice["headers"])
        # The post's own event, through the bus, comes first; then the replays below.
        first = await asyncio.wait_for(listener.get(), 10)
        assert first is not None
        assert json.loads(first[2])["id"] == posted["id"]
        created = next(c for c in consumers(services) if c.name == "streaming.created")
        payload = {"status_id": posted["id"], "account_id": alice["id"], "visibility": "public"}
        now_ms = int(time.time() * 1000)
        old = compose(now_ms - EPOCH_MS - (STALE_AFTER + 60) * 1000, 0, 0)
        await created.handler(Event(old, "post.created", payload))
        await asyncio.sleep(0.2)
        assert listener.queue.empty()
        await created.handler(Event(services.ids.next_id(), "post.created", payload))
        frame = await asyncio.wait_for(listener.get(), 5)
        assert frame is not None
        assert frame[1] == "update"
        assert json.loads(frame[2])["id"] == posted["id"]
    finally:
        await hub.close()


async def test_a_hub_marks_that_someone_is_connected_and_keeps_it_marked(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The publisher skips its follower walk while nobody is connected anywhere; the hub
    therefore writes the "anyone online" marker with each account's, after it."""
    alice = await create_user(client)
    await services.cache.delete(channels.ANYONE_ONLINE_KEY)

    async def no_hidden(_account: int) -> set[int]:
        return set()

    hub = Hub(services.cache, no_hidden)
    assert not await channels.anyone_connected(services.cache)
    await hub.open(None)  # an anonymous viewer is no one's follower
    assert not await channels.anyone_connected(services.cache)
    await hub.open(int(alice["id"]))
    try:
        assert await channels.anyone_connected(services.cache)
        assert list(channels.online_markers([7, 8])) == [
            channels.online_key(7),
            channels.online_key(8),
            channels.ANYONE_ONLINE_KEY,
        ]
        await services.cache.delete(channels.ANYONE_ONLINE_KEY, channels.online_key(int(alice["id"])))
        await hub.maintain()  # a flushed cache learns it again at the next refresh
        assert await channels.anyone_connected(services.cache)
        assert await channels.connected(services.cache, [int(alice["id"])]) == [int(alice["id"])]
    finally:
        await hub.close()


async def test_with_nobody_connected_the_publisher_walks_no_followers(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lumigram.streaming import publisher

    alice, bob = await create_user(client), await create_user(client)
    followed = await client.post(f"/api/v1/accounts/{alice['id']}/follow", headers=bob["headers"])
    assert followed.status_code == 200
    walks: list[int] = []
    real_follower_ids = publisher.follower_ids

    async def counted(services: Services, account_id: int, **kwargs: Any) -> list[int]:
        walks.append(account_id)
        return await real_follower_ids(services, account_id, **kwargs)

    monkeypatch.setattr(publisher, "follower_ids", counted)
    await services.cache.delete(channels.ANYONE_ONLINE_KEY)
    assert not await publisher._audience(services, int(alice["id"]))
    assert walks == []
    # Once bob is connected, the walk finds him.
    await services.cache.set_many(channels.online_markers([int(bob["id"])]), ttl=channels.ONLINE_TTL)
    audience = await publisher._audience(services, int(alice["id"]))
    assert walks == [int(alice["id"])]
    assert audience.followers == [int(bob["id"])]
    await services.cache.delete(channels.online_key(int(bob["id"])))
