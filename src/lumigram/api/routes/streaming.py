"""Mastodon's streaming API: a WebSocket at ``/api/v1/streaming`` and server-sent events.

* WebSocket: ``?stream=user`` (optional) and the token as ``access_token``, an
  ``Authorization`` header or the ``Sec-WebSocket-Protocol`` (browsers cannot set headers);
  then ``{"type": "subscribe"|"unsubscribe", "stream": "hashtag", "tag": "cats"}`` messages.
  Frames are ``{"stream": ["hashtag", "cats"], "event": "update", "payload": "<json>"}``.
* Server-sent events: ``/api/v1/streaming/user``, ``/user/notification``, ``/public``,
  ``/public/local``, ``/hashtag?tag=``, ``/hashtag/local?tag=``, ``/direct``, with a
  ``:thump`` comment every 15 seconds so proxies keep the connection open (Mastodon.py
  streams this way).
* ``/api/v1/streaming/health``: ``OK``.

User streams need a token with a read scope (401 without one, 403 with the wrong scope);
public and hashtag streams may be anonymous. A client too slow to keep up is disconnected
(WebSocket close code 1013, "try again later"); see ``lumigram.streaming.hub``. A stream
opened with a token ends when the token is revoked or its login disabled (WebSocket close
code 1008; an event stream simply ends): reconnecting then gets the 401 or 403.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import orjson
from fastapi import APIRouter, FastAPI, Query
from starlette.requests import HTTPConnection, Request
from starlette.responses import PlainTextResponse, Response
from starlette.types import Receive, Scope, Send
from starlette.websockets import WebSocket, WebSocketDisconnect

from lumigram.accounts.models import TokenGrant
from lumigram.accounts.oauth import resolve_token, usable_tokens
from lumigram.accounts.service import unconfirmed_message
from lumigram.api.errors import STATUS_BY_ERROR
from lumigram.api.responses import error_response
from lumigram.errors import Forbidden, LumigramError, Unauthorized, ValidationFailed
from lumigram.graph.service import hidden_account_ids
from lumigram.pagecache.grants import bearer_token
from lumigram.services import Services
from lumigram.streaming import channels
from lumigram.streaming.hub import REVOKED, SLOW, Credential, Frame, Hub, Listener

log = logging.getLogger(__name__)

#: Seconds between ``:thump`` heartbeats on an event stream.
HEARTBEAT_SECONDS = 15.0
#: Seconds a closing handshake may take before the connection is just dropped.
CLOSE_TIMEOUT = 5.0
#: WebSocket close code for a client dropped for reading too slowly ("try again later").
CLOSE_TOO_SLOW = 1013
#: WebSocket close code for a stream whose token was revoked ("policy violation").
CLOSE_REVOKED = 1008
#: Seconds an ending event stream's last write may take before the connection is dropped.
FINISH_TIMEOUT = 1.0
#: Streams one WebSocket may hold at once.
MAX_SUBSCRIPTIONS = 64


def _hub(app: Any) -> Hub:
    """The process's hub (made on first use if the lifespan did not run, as under a bare
    ASGI transport)."""
    hub: Hub | None = getattr(app.state, "streaming_hub", None)
    if hub is None:
        services: Services = app.state.services

        async def load_hidden(account_id: int) -> set[int]:
            return await hidden_account_ids(services, account_id)

        async def check_tokens(tokens: Sequence[str]) -> list[bool]:
            return await usable_tokens(services, tokens)

        hub = app.state.streaming_hub = Hub(services.cache, load_hidden, check_tokens=check_tokens)
    return hub


@asynccontextmanager
async def _lifespan(app: FastAPI) -> AsyncIterator[None]:
    try:
        yield
    finally:
        hub: Hub | None = getattr(app.state, "streaming_hub", None)
        if hub is not None:
            await hub.close()


router = APIRouter(tags=["streaming"], lifespan=_lifespan)


async def _grant_for(services: Services, raw: str | None) -> TokenGrant | None:
    """What the caller's token grants; None without a token, Unauthorized for a bad one."""
    grant = await resolve_token(services, raw) if raw else None
    if raw and grant is None:
        raise Unauthorized("The access token is invalid")
    return grant


def _credential(raw: str | None, grant: TokenGrant | None) -> Credential | None:
    """What binds a stream to its token, so revoking the token ends the stream."""
    if raw is None or grant is None:
        return None
    return Credential(raw, grant.token_id, grant.user_id)


def _account_for(services: Services, grant: TokenGrant | None, stream: str) -> int | None:
    """The viewer's account for ``stream``: None for anonymous public streams."""
    if stream not in channels.ALL_STREAMS:
        raise BadStream("Unknown stream type")
    scopes = channels.USER_STREAMS.get(stream)
    if grant is None or grant.account_id is None:
        if scopes is not None:
            raise Unauthorized(
                "Missing access token" if grant is None else "This method requires an authenticated user"
            )
        return None
    if grant.user_disabled:
        raise Forbidden("Your login is currently disabled")
    if services.settings.require_verification and not grant.user_verified:
        raise Forbidden(unconfirmed_message(grant.user_has_email, grant.user_has_phone))
    if not grant.allows(*(scopes or ("read", "read:statuses"))):
        raise Forbidden("This action is outside the authorized scopes")
    return grant.account_id


class BadStream(LumigramError):
    """An unknown stream or a hashtag stream without its tag: a 400, as Mastodon's
    streaming server answers (the base error class maps to 400)."""


def _subscription(stream: str, account_id: int | None, tag: str | None) -> channels.Subscription:
    subscription = channels.resolve(stream, account_id, tag)
    if subscription is None:
        raise BadStream("No tag for stream provided" if stream.startswith("hashtag") else "Unknown stream type")
    return subscription


def _status_of(exc: LumigramError) -> int:
    return next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind)), 400)


# -- health -----------------------------------------------------------------------------


@router.get("/api/v1/streaming/health", summary="The streaming API is up", response_class=PlainTextResponse)
async def streaming_health() -> Response:
    return PlainTextResponse("OK")


# -- server-sent events -----------------------------------------------------------------


class EventStream(Response):
    """A ``text/event-stream`` of one listener's frames.

    Unlike a plain streaming response, a write blocked on a client that stopped reading is
    abandoned as soon as the hub drops the listener; the server then closes the connection.
    """

    media_type = "text/event-stream"

    def __init__(self, hub: Hub, listener: Listener) -> None:
        self.status_code = 200
        self.background = None
        # Set by hand: ``Response.__init__`` would announce a zero content length.
        self.raw_headers = [
            (b"content-type", b"text/event-stream; charset=utf-8"),
            (b"cache-control", b"no-store"),
            (b"x-accel-buffering", b"no"),
        ]
        self.hub = hub
        self.listener = listener

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        tasks: list[asyncio.Task[Any]] = []
        try:
            await send({"type": "http.response.start", "status": 200, "headers": self.raw_headers})
            pump = asyncio.create_task(self._pump(send))
            tasks = [
                pump,
                asyncio.create_task(_disconnected(receive)),
                asyncio.create_task(self.listener.ended_event.wait()),
            ]
            await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
            if self.listener.ended not in (None, SLOW) and not pump.done():
                # The pump is about to read the end marker, unless a write is stuck.
                await asyncio.wait([pump], timeout=FINISH_TIMEOUT)
            if pump.done() and pump.exception() is None and self.listener.ended != SLOW:
                # The hub closed the stream (revoked token, shutdown): finish the response properly.
                with contextlib.suppress(OSError):
                    await send({"type": "http.response.body", "body": b"", "more_body": False})
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            self.hub.release(self.listener)

    async def _pump(self, send: Send) -> None:
        await send({"type": "http.response.body", "body": b":)\n\n", "more_body": True})
        while True:
            # asyncio.timeout, not wait_for: on Python 3.11 wait_for can swallow the
            # cancellation that ends this pump when a frame arrives at the same moment.
            try:
                async with asyncio.timeout(HEARTBEAT_SECONDS):
                    frame = await self.listener.get()
            except TimeoutError:
                await send({"type": "http.response.body", "body": b":thump\n\n", "more_body": True})
                continue
            if frame is None:
                return
            _name, event, payload = frame
            body = b"event: " + event.encode() + b"\ndata: " + payload.encode() + b"\n\n"
            await send({"type": "http.response.body", "body": body, "more_body": True})


async def _disconnected(receive: Receive) -> None:
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            return


async def _event_stream(request: Request, stream: str, tag: str | None = None) -> Response:
    services: Services = request.app.state.services
    raw = bearer_token(request)
    grant = await _grant_for(services, raw)
    account_id = _account_for(services, grant, stream)
    subscription = _subscription(stream, account_id, tag)
    hub = _hub(request.app)
    listener = await hub.open(account_id, _credential(raw, grant))
    try:
        await hub.subscribe(listener, subscription)
    except BaseException:
        hub.release(listener)
        raise
    return EventStream(hub, listener)


_SSE_RESPONSES: dict[int | str, dict[str, Any]] = {200: {"content": {"text/event-stream": {}}}}


@router.get(
    "/api/v1/streaming/user", summary="Home timeline and notifications (server-sent events)", responses=_SSE_RESPONSES
)
async def stream_user(request: Request) -> Response:
    return await _event_stream(request, "user")


@router.get(
    "/api/v1/streaming/user/notification", summary="Notifications (server-sent events)", responses=_SSE_RESPONSES
)
async def stream_user_notification(request: Request) -> Response:
    return await _event_stream(request, "user:notification")


@router.get("/api/v1/streaming/public", summary="Public timeline (server-sent events)", responses=_SSE_RESPONSES)
async def stream_public(request: Request) -> Response:
    return await _event_stream(request, "public")


@router.get(
    "/api/v1/streaming/public/local", summary="Local public timeline (server-sent events)", responses=_SSE_RESPONSES
)
async def stream_public_local(request: Request) -> Response:
    return await _event_stream(request, "public:local")


@router.get("/api/v1/streaming/hashtag", summary="A hashtag's posts (server-sent events)", responses=_SSE_RESPONSES)
async def stream_hashtag(request: Request, tag: str | None = Query(None)) -> Response:
    return await _event_stream(request, "hashtag", tag)


@router.get(
    "/api/v1/streaming/hashtag/local", summary="A hashtag's local posts (server-sent events)", responses=_SSE_RESPONSES
)
async def stream_hashtag_local(request: Request, tag: str | None = Query(None)) -> Response:
    return await _event_stream(request, "hashtag:local", tag)


@router.get("/api/v1/streaming/direct", summary="Direct conversations (server-sent events)", responses=_SSE_RESPONSES)
async def stream_direct(request: Request) -> Response:
    return await _event_stream(request, "direct")


# -- WebSocket --------------------------------------------------------------------------


def _websocket_token(websocket: HTTPConnection) -> tuple[str | None, str | None]:
    """The token, and the subprotocol to echo when the token came as one."""
    token = bearer_token(websocket)
    if token:
        return token, None
    protocol = websocket.headers.get("sec-websocket-protocol")
    if protocol:
        first = protocol.split(",")[0].strip()
        if first:
            return first, first
    return None, None


async def _deny(websocket: WebSocket, exc: LumigramError) -> None:
    """Refuse the upgrade with Mastodon's HTTP error (a bare close where the server cannot)."""
    try:
        await websocket.send_denial_response(error_response(_status_of(exc), exc.message))
    except RuntimeError:
        await websocket.close(code=1008, reason=exc.message[:120])


@router.websocket("/api/v1/streaming")
async def websocket_stream(websocket: WebSocket) -> None:
    services: Services = websocket.app.state.services
    token, protocol = _websocket_token(websocket)
    initial = websocket.query_params.get("stream")
    try:
        # Authenticate once for the connection: a user stream subscribed later reuses it.
        grant = await _grant_for(services, token)
        subscription = None
        account_id = grant.account_id if grant is not None else None
        if initial:
            account_id = _account_for(services, grant, initial)
            subscription = _subscription(initial, account_id, websocket.query_params.get("tag"))
    except LumigramError as exc:
        await _deny(websocket, exc)
        return
    hub = _hub(websocket.app)
    listener = await hub.open(account_id, _credential(token, grant))
    tasks: list[asyncio.Task[Any]] = []
    try:
        # Subscribed before the handshake completes: once the client is connected, nothing
        # published afterwards is missed.
        if subscription is not None:
            await hub.subscribe(listener, subscription)
        await websocket.accept(subprotocol=protocol)
        tasks = [
            asyncio.create_task(_ws_pump(websocket, listener)),
            asyncio.create_task(_ws_commands(websocket, services, hub, listener, token)),
            asyncio.create_task(listener.ended_event.wait()),
        ]
        await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        code, reason = _close_for(listener.ended)
        hub.release(listener)
        with contextlib.suppress(Exception):
            # Starlette ignores a close after the client already went away.
            await asyncio.wait_for(websocket.close(code=code, reason=reason), timeout=CLOSE_TIMEOUT)


def _close_for(ended: str | None) -> tuple[int, str]:
    """The WebSocket close code and reason for why the hub ended a listener."""
    if ended == SLOW:
        return CLOSE_TOO_SLOW, "too slow"
    if ended == REVOKED:
        return CLOSE_REVOKED, "The access token is no longer valid"
    return 1000, ""


async def _ws_pump(websocket: WebSocket, listener: Listener) -> None:
    while True:
        frame: Frame | None = await listener.get()
        if frame is None:
            return
        name, event, payload = frame
        await websocket.send_text(orjson.dumps({"stream": list(name), "event": event, "payload": payload}).decode())


async def _ws_commands(
    websocket: WebSocket, services: Services, hub: Hub, listener: Listener, token: str | None
) -> None:
    """Subscribe and unsubscribe requests until the client leaves."""
    try:
        while True:
            raw = await websocket.receive_text()
            try:
                command = orjson.loads(raw)
                if not isinstance(command, dict):
                    raise ValueError
                kind, stream = command.get("type"), command.get("stream")
                if kind not in ("subscribe", "unsubscribe") or not isinstance(stream, str):
                    raise BadStream("Unknown stream type")
                tag = command.get("tag") if isinstance(command.get("tag"), str) else None
                account_id = _account_for(services, await _grant_for(services, token), stream)
                subscription = _subscription(stream, account_id, tag)
                if kind == "subscribe":
                    if len(listener.subscriptions) >= MAX_SUBSCRIPTIONS:
                        raise ValidationFailed("Too many subscriptions")
                    await hub.subscribe(listener, subscription)
                else:
                    hub.unsubscribe(listener, subscription.name)
            except ValueError:  # orjson's decode error is one
                await websocket.send_text(
                    orjson.dumps({"error": "Could not parse the message", "status": 400}).decode()
                )
            except LumigramError as exc:
                await websocket.send_text(orjson.dumps({"error": exc.message, "status": _status_of(exc)}).decode())
    except WebSocketDisconnect:
        return
