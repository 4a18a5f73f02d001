"""The in-process event bus for the embedded shape.

``publish`` runs every interested consumer's handler before it returns, and raises
if any of them failed. The outbox relay stamps an event published only when
``publish`` returns, so a failed handler leaves the event pending in the database
and it is delivered again on the next pass: durability comes from the outbox, not
from memory. Consumers that already handled a redelivered event are skipped (by
event id, like JetStream's duplicate window); the rest get it again.

Events published before ``start_consumers`` reach nobody; the relay only starts
after the consumers, so in practice nothing is missed.
"""

from __future__ import annotations

import asyncio
import logging
from collections import OrderedDict
from collections.abc import Sequence

from lumigram.infra.bus import Consumer, Event

log = logging.getLogger(__name__)

#: How many recent event ids each consumer remembers for deduplication.
DEDUP_WINDOW = 10_000


class ConsumerFailed(RuntimeError):
    """One or more consumers raised while handling an event."""


class MemoryBus:
    def __init__(self) -> None:
        self._consumers: list[Consumer] = []
        self._handled: dict[str, OrderedDict[int, None]] = {}
        self._closed = False
        #: Publishes whose handlers are still running; ``idle`` waits for none.
        self._in_flight = 0
        self._quiet = asyncio.Event()
        self._quiet.set()

    async def start_consumers(self, consumers: Sequence[Consumer]) -> None:
        for consumer in consumers:
            if any(existing.name == consumer.name for existing in self._consumers):
                raise ValueError(f"consumer {consumer.name!r} is already started")
            self._consumers.append(consumer)
            self._handled[consumer.name] = OrderedDict()

    async def publish(self, event: Event) -> None:
        if self._closed:
            raise RuntimeError("the bus is closed")
        targets = [
            consumer
            for consumer in self._consumers
            if event.type in consumer.event_types and event.id not in self._handled[consumer.name]
        ]
        if not targets:
            return
        self._in_flight += 1
        self._quiet.clear()
        try:
            results = await asyncio.gather(*(c.handler(event) for c in targets), return_exceptions=True)
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._quiet.set()
        failures = []
        for consumer, result in zip(targets, results, strict=True):
            if isinstance(result, BaseException):
                log.error(
                    "consumer %s failed on event %s (%s)",
                    consumer.name,
                    event.id,
                    event.type,
                    exc_info=result,
                )
                failures.append(consumer.name)
            else:
                self._remember(consumer.name, event.id)
        if failures:
            raise ConsumerFailed(f"event {event.id} ({event.type}) failed in: {', '.join(failures)}")

    def _remember(self, consumer: str, event_id: int) -> None:
        handled = self._handled[consumer]
        handled[event_id] = None
        if len(handled) > DEDUP_WINDOW:
            handled.popitem(last=False)

    async def idle(self) -> None:
        # Handlers run inside ``publish``: once no publish is under way, every event is handled.
        await self._quiet.wait()

    async def ping(self) -> None:
        if self._closed:
            raise RuntimeError("the bus is closed")

    async def close(self) -> None:
        self._closed = True
