"""NATS JetStream event bus for the scaled-out shape.

One stream holds every event under ``<prefix>.<event type>``. Each ``Consumer`` is a
durable pull consumer filtered to its event types; every process that starts the
same consumer name pulls from the same durable, so workers share its load. A
message is acknowledged only after its handler finished; a failed handler naks it
for redelivery (at-least-once). Publishing sets ``Nats-Msg-Id`` to the event id, so
a relay that publishes an event twice within the duplicate window stores it once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

import nats
from nats.aio.client import Client
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from lumigram.infra.bus import Consumer, Event

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_SECONDS = 120.0
FETCH_BATCH = 100
FETCH_TIMEOUT = 1.0
ACK_WAIT_SECONDS = 30.0
MAX_DELIVER = 20
RETRY_DELAY_SECONDS = 1.0


def _durable_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


class NatsBus:
    def __init__(self, servers: str, stream: str = "LUMIGRAM", prefix: str = "lumigram") -> None:
        self._servers = servers
        self.stream = stream
        self.prefix = prefix
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = False
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []

    @classmethod
    def from_url(cls, url: str) -> NatsBus:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        servers = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        stream = query.get("stream", ["LUMIGRAM"])[0]
        prefix = query.get("prefix", ["lumigram"])[0]
        return cls(servers, stream=stream, prefix=prefix)

    def subject(self, event_type: str) -> str:
        return f"{self.prefix}.{event_type}"

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._ready:
            return self._js
        async with self._lock:
            if self._nc is None:
                self._nc = await nats.connect(
                    servers=[self._servers], connect_timeout=3, max_reconnect_attempts=-1, reconnect_time_wait=0.5
                )
                self._js = self._nc.jetstream()
            assert self._js is not None
            if not self._ready:
                await self._ensure_stream(self._js)
                self._ready = True
            return self._js

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        config = StreamConfig(
            name=self.stream,
            subjects=[f"{self.prefix}.>"],
            storage=StorageType.FILE,
            duplicate_window=DUPLICATE_WINDOW_SECONDS,
        )
        try:
            await js.stream_info(self.stream)
        except NotFoundError:
            await js.add_stream(config)
        else:
            await js.update_stream(config)

    async def publish(self, event: Event) -> None:
        js = await self._jetstream()
        await js.publish(self.subject(event.type), event.encode(), headers={"Nats-Msg-Id": str(event.id)})

    async def start_consumers(self, consumers: Sequence[Consumer]) -> None:
        js = await self._jetstream()
        for consumer in consumers:
            durable = _durable_name(consumer.name)
            config = ConsumerConfig(
                durable_name=durable,
                filter_subjects=[self.subject(t) for t in consumer.event_types],
                ack_policy=AckPolicy.EXPLICIT,
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT_SECONDS,
                max_deliver=MAX_DELIVER,
            )
            await js.add_consumer(self.stream, config)
            subscription = await js.pull_subscribe_bind(durable, stream=self.stream)
            task = asyncio.create_task(self._consume(consumer, subscription), name=f"consumer-{durable}")
            self._tasks.append(task)

    async def _consume(self, consumer: Consumer, subscription: JetStreamContext.PullSubscription) -> None:
        while True:
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT)
            except NatsTimeout:
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fetching for consumer %s failed", consumer.name)
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                continue
            for message in messages:
                try:
                    event = Event.decode(message.data)
                    await consumer.handler(event)
                except asyncio.CancelledError:
                    raise
                except Exception:
                    log.exception("consumer %s failed on a message; it will be redelivered", consumer.name)
                    with contextlib.suppress(Exception):
                        await message.nak(delay=RETRY_DELAY_SECONDS)
                    continue
                try:
                    await message.ack()
                except Exception:
                    # Not acknowledged means redelivered after ack_wait; handlers are idempotent.
                    log.warning("acknowledging a message for %s failed", consumer.name)

    async def ping(self) -> None:
        js = await self._jetstream()
        await js.stream_info(self.stream)

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        for task in self._tasks:
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await task
        self._tasks.clear()
        if self._nc is not None:
            # Handlers have finished (tasks are cancelled above) and publishes are awaited acks,
            # so nothing is in flight: close at once rather than drain (which waits up to 30 s).
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
            self._js = None
            self._ready = False
