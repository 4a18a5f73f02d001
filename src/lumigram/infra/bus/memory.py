"""The in-process event bus for the embedded shape.

``publish`` runs every interested consumer's handler before it returns, and raises
if any of them failed; ``publish_many`` does so for several events, handing each consumer
its share as a batch (``Consumer.handle_many``) and saying how many went through. The
outbox relay stamps an event published only when it went through, so a failed handler
leaves the event pending in the database and it is delivered again on the next pass:
durability comes from the outbox, not from memory. Consumers that already handled a
redelivered event are skipped (by event id, like JetStream's duplicate window); the rest
get it again.

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
#: Events handed to a consumer at a time; it may write them in one transaction.
CHUNK = 32


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
        failures = await self._publish(events=[event])
        if failures:
            raise ConsumerFailed(f"event {event.id} ({event.type}) failed in: {', '.join(sorted(failures))}")

    async def publish_many(self, events: Sequence[Event]) -> int:
        """Hand each consumer, at once, the events of ``events`` it takes and has not
        handled yet; consumers run side by side, each through its events in order (in
        chunks, letting the event loop serve others between them). Returns how many events,
        from the first, every consumer handled: the relay keeps the rest pending and
        publishes them again, and consumers that already handled one of them skip it."""
        failures = await self._publish(events)
        failed = set().union(*failures.values())
        for index, event in enumerate(events):
            if event.id in failed:
                return index
        return len(events)

    async def _publish(self, events: Sequence[Event]) -> dict[str, set[int]]:
        """Deliver ``events``; the ids each failing consumer failed on, by its name."""
        if self._closed:
            raise RuntimeError("the bus is closed")
        work = []
        for consumer in self._consumers:
            handled = self._handled[consumer.name]
            taken = [e for e in events if e.type in consumer.event_types and e.id not in handled]
            if taken:
                work.append((consumer, taken))
        if not work:
            return {}
        self._in_flight += 1
        self._quiet.clear()
        try:
            results = await asyncio.gather(*(self._deliver(c, taken) for c, taken in work))
        finally:
            self._in_flight -= 1
            if not self._in_flight:
                self._quiet.set()
        return {consumer.name: failed for (consumer, _), failed in zip(work, results, strict=True) if failed}

    async def _deliver(self, consumer: Consumer, events: list[Event]) -> set[int]:
        """``events`` to ``consumer``, a chunk at a time; the ids it failed on."""
        failed: set[int] = set()
        for start in range(0, len(events), CHUNK):
            chunk = events[start : start + CHUNK]
            if start:
                await asyncio.sleep(0)  # let requests in between chunks
            if consumer.handle_many is not None and len(chunk) > 1:
                try:
                    chunk_failed = set(await consumer.handle_many(chunk))
                except Exception:
                    log.exception("consumer %s failed on a batch of %d events", consumer.name, len(chunk))
                    chunk_failed = {e.id for e in chunk}
            else:
                chunk_failed = set()
                for event in chunk:
                    try:
                        await consumer.handler(event)
                    except Exception:
                        log.exception("consumer %s failed on event %s (%s)", consumer.name, event.id, event.type)
                        chunk_failed.add(event.id)
            for event in chunk:
                if event.id not in chunk_failed:
                    self._remember(consumer.name, event.id)
            failed |= chunk_failed
        return failed

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
