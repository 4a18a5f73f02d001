"""The event bus port: durable, at-least-once delivery of domain events to consumers.

Two adapters, chosen by ``LUMIGRAM_BUS_URL``: ``memory://`` (in-process; durability
comes from the database outbox, which keeps an event pending until every consumer
has handled it) and ``nats://host:port`` (NATS JetStream: one stream, one durable
pull consumer per handler, so several workers share a consumer's load).

Events are published by the outbox relay only; ``Event.id`` is the deduplication id
(JetStream ``Nats-Msg-Id``), so a relay that publishes twice delivers once. Handlers
must still be idempotent: redelivery after a crash is normal.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

import orjson


@dataclass(frozen=True, slots=True)
class Event:
    """A past-tense fact, e.g. ``post.created``; ``payload`` is JSON-compatible."""

    id: int
    type: str
    payload: dict[str, Any] = field(default_factory=dict)

    @property
    def subject(self) -> str:
        return f"lumigram.{self.type}"

    def encode(self) -> bytes:
        return orjson.dumps({"id": str(self.id), "type": self.type, "payload": self.payload})

    @classmethod
    def decode(cls, raw: bytes) -> Event:
        data = orjson.loads(raw)
        return cls(id=int(data["id"]), type=str(data["type"]), payload=dict(data["payload"]))


Handler = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Consumer:
    """A named, durable consumer: its handler gets every event whose type it lists."""

    name: str
    event_types: Sequence[str]
    handler: Handler


class EventBus(Protocol):
    async def publish(self, event: Event) -> None:
        """Deliver ``event`` durably; returns once the bus has accepted it."""
        ...

    async def start_consumers(self, consumers: Sequence[Consumer]) -> None:
        """Begin delivering events to ``consumers`` (in the background) until ``close``."""
        ...

    async def idle(self) -> None:
        """Return once every event published so far has been handled by every consumer
        started on this bus (acknowledged, or given up on after its last attempt). A failing
        handler being retried keeps it busy: bound the wait with a timeout."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def open_bus(url: str) -> EventBus:
    """The adapter for ``url``'s scheme."""
    if url.startswith("memory:"):
        from lumigram.infra.bus.memory import MemoryBus

        return MemoryBus()
    if url.startswith("nats:"):
        from lumigram.infra.bus.nats import NatsBus

        return NatsBus.from_url(url)
    raise ValueError(f"unsupported bus URL {url!r}")
