"""Caps every request body by the kind of route, before anything buffers or authenticates it.

JSON and form bodies are small: the largest thing a Mastodon client sends there is a
2,200-character caption with ten alt texts, tens of KiB. Only the upload routes take
megabytes: the largest photo or video we accept, plus room for the multipart framing
and the form fields beside the file.

A body that declares a longer ``Content-Length`` than its route takes is answered 413
before a byte of it is read. A chunked body (no length given) is counted while the app
reads it, and refused as soon as it passes the limit; whatever the app was about to
answer is replaced by that 413, since the app only saw a cut-off body. The server then
discards the rest of the body as it arrives, so nothing past the limit is held.

Starlette's ``RequestBodyLimitMiddleware`` (FastAPI's ``max_body_size``) checks only when
the app reads the body or answers, that is after routing and the route's dependencies
(the token lookup) ran, and a route that catches the read error answers with its own
error; hence this middleware, which decides from the path alone.
"""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from lumigram.accounts.service import MAX_IMAGE_BYTES as MAX_PROFILE_IMAGE_BYTES
from lumigram.api.responses import error_response
from lumigram.uploads import images
from lumigram.uploads import transcode as video

MiB = 1024 * 1024
#: JSON, urlencoded forms, and anything else that is not an upload.
SMALL_BODY_BYTES = 1 * MiB
_LARGEST_MEDIA = max(images.MAX_BYTES, video.MAX_BYTES)
#: Routes that take files; the extra MiB is the form around them.
UPLOAD_BODY_BYTES = {
    "/api/v1/media": _LARGEST_MEDIA + SMALL_BODY_BYTES,
    "/api/v2/media": _LARGEST_MEDIA + SMALL_BODY_BYTES,
    # An avatar and a header in one request.
    "/api/v1/accounts/update_credentials": 2 * MAX_PROFILE_IMAGE_BYTES + SMALL_BODY_BYTES,
}


def body_limit_for(path: str) -> int:
    return UPLOAD_BODY_BYTES.get(path, SMALL_BODY_BYTES)


class BodyTooLarge(Exception):
    """Raised into the app from ``receive`` once a streamed body passes its limit."""


def _declared_body(headers: list[tuple[bytes, bytes]]) -> tuple[int | None, bool]:
    """The ``Content-Length`` (None when absent) and whether the body is chunked."""
    length: int | None = None
    chunked = False
    for name, value in headers:
        if name == b"content-length":
            # The server already refused a malformed length; be safe if it did not.
            length = int(value) if value.isdigit() else None
        elif name == b"transfer-encoding":
            chunked = b"chunked" in value.lower()
    return length, chunked


async def _refuse(scope: Scope, receive: Receive, send: Send, limit: int) -> None:
    shown = f"{limit // MiB} MiB" if limit % MiB == 0 else f"{limit:,} bytes"
    response = error_response(413, f"The request body is too large: this endpoint takes at most {shown}")
    await response(scope, receive, send)


class _CountedBody:
    """Wraps ``receive`` and ``send`` of one request: counts the body, refuses past the limit."""

    __slots__ = ("_receive", "_scope", "_send", "exceeded", "limit", "received", "refused", "started")

    def __init__(self, scope: Scope, receive: Receive, send: Send, limit: int) -> None:
        self._scope = scope
        self._receive = receive
        self._send = send
        self.limit = limit
        self.received = 0
        self.exceeded = False
        self.started = False
        self.refused = False

    async def receive(self) -> Message:
        if self.exceeded:
            raise BodyTooLarge
        message = await self._receive()
        if message["type"] == "http.request":
            self.received += len(message.get("body", b""))
            if self.received > self.limit:
                self.exceeded = True
                raise BodyTooLarge
        return message

    async def send(self, message: Message) -> None:
        if self.refused:
            return  # the rest of the app's own answer, already replaced
        if self.exceeded and not self.started:
            # The app answered a cut-off body (often with a parse error, having caught
            # ours): the client gets the 413 instead.
            await self.refuse()
            return
        if message["type"] == "http.response.start":
            self.started = True
        await self._send(message)

    async def refuse(self) -> None:
        self.refused = self.started = True
        await _refuse(self._scope, self._receive, self._send, self.limit)


class BodyLimitMiddleware:
    """Pure ASGI, so it runs before routing, authentication and any body parsing."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared, chunked = _declared_body(scope["headers"])
        if not chunked and not declared:
            await self.app(scope, receive, send)  # no body: nothing to count
            return
        path: str = scope["path"]
        root: str = scope.get("root_path", "")
        limit = body_limit_for(path.removeprefix(root) if root else path)
        if declared is not None and declared > limit:
            await _refuse(scope, receive, send, limit)
            return
        body = _CountedBody(scope, receive, send, limit)
        try:
            await self.app(scope, body.receive, body.send)
        except BodyTooLarge:
            if body.refused:
                return  # the app's own answer was already replaced by the 413
            if body.started:
                raise
            await body.refuse()
