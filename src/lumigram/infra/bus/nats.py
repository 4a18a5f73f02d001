"""NATS JetStream event bus for the scaled-out shape.

One stream holds every event under ``<prefix>.<event type>``. Each ``Consumer`` is a
durable pull consumer filtered to its event types; every process that starts the
same consumer name pulls from the same durable, so workers share its load. A
message is acknowledged only after its handler finished; a failed handler naks it
for redelivery with a growing delay (at-least-once, ``MAX_DELIVER`` attempts).
Publishing sets ``Nats-Msg-Id`` to the event id, so a relay that publishes an event
twice within the duplicate window stores it once.

URL: ``nats://host:port?stream=LUMIGRAM&prefix=lumigram&max_age=604800``. The stream
is created when missing (``max_age`` seconds of retention, 0 for unlimited) and is
otherwise left as it is, so an operator's later tuning (replicas, limits) stays.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Sequence
from urllib.parse import parse_qs, urlsplit, urlunsplit

from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.errors import TimeoutError as NatsTimeout
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy, StorageType, StreamConfig
from nats.js.errors import BadRequestError, NoStreamResponseError, NotFoundError

from lumigram.infra.bus import Consumer, Event

log = logging.getLogger(__name__)

DUPLICATE_WINDOW_SECONDS = 120.0
#: Long enough for a worker fleet to be down over a weekend; the stream must not grow forever.
DEFAULT_MAX_AGE_SECONDS = 7 * 24 * 3600.0
#: The first connection gives up after this long, so ``ping`` and ``publish`` fail rather than hang;
#: once connected, the client reconnects for as long as it takes.
CONNECT_DEADLINE_SECONDS = 5.0
FETCH_BATCH = 100
FETCH_TIMEOUT = 1.0
ACK_WAIT_SECONDS = 30.0
MAX_DELIVER = 20
RETRY_DELAY_SECONDS = 1.0
#: How often ``idle`` asks the server about its consumers; JetStream does not announce it.
IDLE_POLL_SECONDS = 0.01
MAX_RETRY_DELAY_SECONDS = 60.0


def _durable_name(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _retry_delay(attempt: int) -> float:
    """1 s after the first failure, doubling up to a minute: a backend outage is outlasted, not hammered."""
    return min(RETRY_DELAY_SECONDS * (1 << min(max(attempt - 1, 0), 16)), MAX_RETRY_DELAY_SECONDS)


async def _log_error(error: Exception) -> None:
    # The client's default logs a full traceback for every failed reconnect attempt.
    log.warning("NATS: %s", error or type(error).__name__)


async def _log_disconnected() -> None:
    log.warning("NATS: disconnected, reconnecting")


async def _log_reconnected() -> None:
    log.info("NATS: reconnected")


class NatsBus:
    def __init__(
        self,
        servers: str,
        stream: str = "LUMIGRAM",
        prefix: str = "lumigram",
        max_age: float = DEFAULT_MAX_AGE_SECONDS,
        connect_deadline: float = CONNECT_DEADLINE_SECONDS,
    ) -> None:
        self._servers = servers
        self._connect_deadline = connect_deadline
        self.stream = stream
        self.prefix = prefix
        self.max_age = max_age
        self._nc: Client | None = None
        self._js: JetStreamContext | None = None
        self._ready = False
        self._lock = asyncio.Lock()
        self._tasks: list[asyncio.Task[None]] = []
        #: Set by ``close``: consumers stop at their next fetch even if a cancellation was lost.
        self._stopping = False
        #: The durable consumers started here, which ``idle`` watches.
        self._durables: list[str] = []

    @classmethod
    def from_url(cls, url: str) -> NatsBus:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        servers = urlunsplit((parts.scheme, parts.netloc, "", "", ""))
        stream = query.get("stream", ["LUMIGRAM"])[0]
        prefix = query.get("prefix", ["lumigram"])[0]
        max_age = float(query.get("max_age", [DEFAULT_MAX_AGE_SECONDS])[0])
        return cls(servers, stream=stream, prefix=prefix, max_age=max_age)

    def subject(self, event_type: str) -> str:
        return f"{self.prefix}.{event_type}"

    async def _jetstream(self) -> JetStreamContext:
        if self._js is not None and self._ready:
            return self._js
        async with self._lock:
            if self._nc is None:
                self._nc = await self._connect()
                self._js = self._nc.jetstream()
            assert self._js is not None
            if not self._ready:
                await self._ensure_stream(self._js)
                self._ready = True
            return self._js

    async def _connect(self) -> Client:
        client = Client()
        try:
            await asyncio.wait_for(
                client.connect(
                    servers=[self._servers],
                    connect_timeout=2,
                    max_reconnect_attempts=-1,
                    reconnect_time_wait=1,
                    error_cb=_log_error,
                    disconnected_cb=_log_disconnected,
                    reconnected_cb=_log_reconnected,
                ),
                self._connect_deadline,
            )
        except BaseException as error:
            with contextlib.suppress(Exception):
                await client.close()
            if isinstance(error, TimeoutError):
                raise ConnectionError(f"cannot reach NATS at {self._servers}") from None
            raise
        return client

    async def _ensure_stream(self, js: JetStreamContext) -> None:
        wanted = f"{self.prefix}.>"
        try:
            info = await js.stream_info(self.stream)
        except NotFoundError:
            config = StreamConfig(
                name=self.stream,
                subjects=[wanted],
                storage=StorageType.FILE,
                duplicate_window=DUPLICATE_WINDOW_SECONDS,
                max_age=self.max_age or None,
            )
            try:
                await js.add_stream(config)
                return
            except BadRequestError:
                # Another process created it between our look and our add: use theirs.
                info = await js.stream_info(self.stream)
        subjects = list(info.config.subjects or [])
        if wanted not in subjects:
            await js.update_stream(info.config.evolve(subjects=[*subjects, wanted]))

    async def publish(self, event: Event) -> None:
        js = await self._jetstream()
        try:
            await js.publish(self.subject(event.type), event.encode(), headers={"Nats-Msg-Id": str(event.id)})
        except NoStreamResponseError:
            # Nothing stores the subject (the stream was deleted?): set it up again on the next try.
            self._ready = False
            raise

    async def start_consumers(self, consumers: Sequence[Consumer]) -> None:
        self._stopping = False
        js = await self._jetstream()
        for consumer in consumers:
            durable = _durable_name(consumer.name)
            config = ConsumerConfig(
                durable_name=durable,
                filter_subjects=[self.subject(t) for t in consumer.event_types],
                ack_policy=AckPolicy.EXPLICIT,
                # A consumer created after the first events (a fresh deployment whose relay ran first)
                # still gets them; the stream's max_age bounds how far back that goes.
                deliver_policy=DeliverPolicy.ALL,
                ack_wait=ACK_WAIT_SECONDS,
                max_deliver=MAX_DELIVER,
            )
            # Creates the durable, or updates it in place when a new release changed its event types.
            await js.add_consumer(self.stream, config)
            subscription = await js.pull_subscribe_bind(durable, stream=self.stream)
            if durable not in self._durables:
                self._durables.append(durable)
            task = asyncio.create_task(self._consume(consumer, subscription), name=f"consumer-{durable}")
            self._tasks.append(task)

    async def _consume(self, consumer: Consumer, subscription: JetStreamContext.PullSubscription) -> None:
        # Not ``while True``: on Python 3.11 a cancellation that lands as the fetch's own
        # timeout fires comes out as TimeoutError (asyncio.wait_for's race), which reads as
        # an empty poll below; the loop then ran on for ever and a shutdown waited on it.
        while not self._stopping:
            try:
                messages = await subscription.fetch(FETCH_BATCH, timeout=FETCH_TIMEOUT)
            except (NatsTimeout, TimeoutError):
                # An empty long poll. nats-py raises its own TimeoutError or, when the
                # client's wait expires first (a busy loop), asyncio's: both mean "no
                # messages yet", not a failure worth a back-off.
                continue
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("fetching for consumer %s failed", consumer.name)
                await asyncio.sleep(RETRY_DELAY_SECONDS)
                continue
            await self._handle_batch(consumer, messages)

    async def _handle_batch(self, consumer: Consumer, messages: list[Msg]) -> None:
        pending = deque(messages)
        keep_alive = asyncio.create_task(_keep_alive(pending))
        try:
            while pending:
                await self._handle(consumer, pending[0])
                pending.popleft()
        finally:
            keep_alive.cancel()
            # Only when stopping: hand what this worker will not handle to another one now,
            # instead of after ack_wait.
            for message in pending:
                with contextlib.suppress(Exception):
                    await message.nak()

    async def _handle(self, consumer: Consumer, message: Msg) -> None:
        try:
            event = Event.decode(message.data)
        except Exception:
            log.exception("consumer %s got an undecodable message; dropping it", consumer.name)
            with contextlib.suppress(Exception):
                await message.term()
            return
        try:
            await consumer.handler(event)
        except Exception:
            attempt = message.metadata.num_delivered
            if attempt >= MAX_DELIVER:
                log.exception(
                    "consumer %s failed on event %s (%s) %d times; giving up on it",
                    consumer.name,
                    event.id,
                    event.type,
                    attempt,
                )
            else:
                log.exception(
                    "consumer %s failed on event %s (%s), attempt %d; it will be redelivered",
                    consumer.name,
                    event.id,
                    event.type,
                    attempt,
                )
            with contextlib.suppress(Exception):
                await message.nak(delay=_retry_delay(attempt))
            return
        try:
            await message.ack()
        except Exception:
            # Not acknowledged means redelivered after ack_wait; handlers are idempotent.
            log.warning("acknowledging event %s for %s failed", event.id, consumer.name)

    async def idle(self) -> None:
        # The server's view counts every worker on these durables: nothing left to deliver
        # and nothing delivered but unacknowledged. Handlers acknowledge only when done.
        js = await self._jetstream()
        while True:
            busy = False
            for durable in self._durables:
                info = await js.consumer_info(self.stream, durable)
                if info.num_pending or info.num_ack_pending:
                    busy = True
                    break
            if not busy:
                return
            await asyncio.sleep(IDLE_POLL_SECONDS)

    async def ping(self) -> None:
        js = await self._jetstream()
        await js.stream_info(self.stream)

    async def close(self) -> None:
        self._stopping = True
        for task in self._tasks:
            task.cancel()
        if self._tasks:
            # A consumer whose cancellation was lost ends within one fetch timeout.
            done, _ = await asyncio.wait(self._tasks, timeout=FETCH_TIMEOUT * 3)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved, so it is not reported as never retrieved
        self._tasks.clear()
        if self._nc is not None:
            # Handlers have finished (tasks are cancelled above) and publishes are awaited acks,
            # so nothing is in flight: close at once rather than drain (which waits up to 30 s).
            with contextlib.suppress(Exception):
                await self._nc.close()
            self._nc = None
            self._js = None
            self._ready = False


async def _keep_alive(pending: deque[Msg]) -> None:
    """Tell JetStream that a fetched batch is still being worked on, so that slow handlers
    (a long video) late in a batch are not redelivered to another worker meanwhile."""
    while True:
        await asyncio.sleep(ACK_WAIT_SECONDS / 3)
        for message in list(pending):
            with contextlib.suppress(Exception):
                await message.in_progress()
