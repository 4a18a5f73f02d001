"""Driving an ASGI callable directly in tests: a recording inner app, to tell whether a
middleware answered a request itself or handed it on, and a driver that collects the
answer."""

from __future__ import annotations

from typing import Any


class Recorded:
    """An inner app that answers 599 and counts the requests handed to it."""

    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        self.calls += 1
        await send({"type": "http.response.start", "status": 599, "headers": []})
        await send({"type": "http.response.body", "body": b""})


async def drive(app: Any, scope: dict[str, Any]) -> tuple[int, dict[str, str], bytes]:
    """One request without a body through ``app``: (status, headers, body)."""
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.request", "body": b"", "more_body": False}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope, receive, send)
    start = sent[0]
    body = b"".join(m.get("body", b"") for m in sent[1:])
    return start["status"], {name.decode(): value.decode() for name, value in start["headers"]}, body
