"""The event bus port: durable, at-least-once delivery of domain events to consumers.

Two adapters, chosen by ``LUMIGRAM_BUS_URL``: ``memory://`` (in-process; durability
comes from the database outbox, which keeps an event pending until every consumer
has handled it) and ``nats://host:port`` (NATS JetStream: one stream, one durable
pull consumer per handler, so several workers share a consumer's load).

Events are published by the outbox relay only; ``Event.id`` is the deduplication id
(JetStream ``Nats-Msg-Id``), so a relay that publishes twice delivers once. Handlers
must still be idempotent: redelivery after a crash is normal.

A consumer may also take several events at once (``Consumer.handle_many``): the
in-process bus hands it what the relay publishes together, so that its handler can write
them in one transaction (one turn at SQLite's writer) instead of one each.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

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
#: Handles events in order and returns the ids of those it failed on; the others are done.
BatchHandler = Callable[[Sequence[Event]], Awaitable[set[int]]]


@dataclass(frozen=True, slots=True)
class Consumer:
    """A named, durable consumer: its handler gets every event whose type it lists.

    ``handle_many``, when given, does what ``handler`` does for each of several events
    (a bus that delivers batches calls it instead); a failure on one event must not undo
    the others, which it reports done."""

    name: str
    event_types: Sequence[str]
    handler: Handler
    handle_many: BatchHandler | None = None


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


@runtime_checkable
class BatchPublisher(Protocol):
    """A bus that takes several events at once (the in-process one, whose consumers then
    handle them together)."""

    async def publish_many(self, events: Sequence[Event]) -> int:
        """Deliver ``events`` in order; returns how many of them, from the first, were
        delivered to every consumer (the rest are to be published again)."""
        ...


def open_bus(url: str) -> EventBus:
    """The adapter for ``url``'s scheme."""
    if url.startswith("memory:"):
        from lumigram.infra.bus.memory import MemoryBus

        return MemoryBus()
    if url.startswith("nats:"):
        from lumigram.infra.bus.nats import NatsBus

        return NatsBus.from_url(url)
    raise ValueError(f"unsupported bus URL {url!r}")
