"""One contract, two adapters: the in-process bus and NATS JetStream deliver the same way.

The tests at the end are JetStream's own: several workers on one durable consumer, what
a stopping worker hands over, and slow handlers. The in-process bus has one process by
definition and no acknowledgement deadline.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from lumigram.infra.bus import Consumer, Event, EventBus, Handler, open_bus
from lumigram.infra.bus.memory import ConsumerFailed
from tests.conftest import eventually
from tests.servers import free_ports, unique_name


def _nats_bus_url(nats_url: str) -> str:
    # Each test gets its own stream and subjects, so nothing it publishes reaches another test.
    stream = unique_name("C")
    return f"{nats_url}?stream={stream}&prefix={stream.lower()}"


@pytest.fixture(params=["memory", "nats"])
def bus_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    return _nats_bus_url(request.getfixturevalue("nats_url"))


@pytest.fixture
async def open_buses(bus_url: str) -> AsyncIterator[Callable[[], EventBus]]:
    """``open_buses()`` is another bus on this test's URL (on NATS: another worker); all closed after."""
    opened: list[EventBus] = []

    def make() -> EventBus:
        bus = open_bus(bus_url)
        opened.append(bus)
        return bus

    try:
        yield make
    finally:
        for bus in opened:
            await bus.close()


def _recorder(into: list[int], delay: float = 0.0) -> Handler:
    async def handle(event: Event) -> None:
        if delay:
            await asyncio.sleep(delay)
        into.append(event.id)

    return handle


async def _publish(bus: EventBus, event: Event) -> None:
    """Publish as the outbox relay does: the in-process bus raises if a handler failed; the relay retries."""
    for _ in range(5):
        try:
            await bus.publish(event)
            return
        except ConsumerFailed:
            await asyncio.sleep(0.05)
    raise AssertionError(f"event {event.id} was never handled")


async def test_consumers_get_only_the_types_they_asked_for(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    posts: list[int] = []
    likes: list[int] = []
    both: list[int] = []
    await bus.start_consumers(
        [
            Consumer("feed.posts", ["post.created"], _recorder(posts)),  # a dot is not allowed in a NATS name
            Consumer("notify likes", ["like.added"], _recorder(likes)),
            Consumer("search", ["post.created", "like.added"], _recorder(both)),
        ]
    )
    await bus.publish(Event(1, "post.created", {"a": 1}))
    await bus.publish(Event(2, "like.added", {}))
    await bus.publish(Event(3, "post.created", {}))
    await bus.publish(Event(4, "post.deleted", {}))  # nobody's
    await asyncio.wait_for(bus.idle(), timeout=20)
    assert sorted(posts) == [1, 3]
    assert likes == [2]
    assert sorted(both) == [1, 2, 3]


async def test_the_payload_arrives_intact(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    received: list[Event] = []

    async def keep(event: Event) -> None:
        received.append(event)

    await bus.start_consumers([Consumer("keep", ["post.created"], keep)])
    sent = Event(2**62 + 7, "post.created", {"id": "123", "tags": ["a", "ü"], "n": 1.5, "none": None})
    await bus.publish(sent)
    await asyncio.wait_for(bus.idle(), timeout=20)
    assert received == [sent]


async def test_a_failed_handler_gets_the_event_again_and_the_others_do_not(
    open_buses: Callable[[], EventBus], bus_url: str
) -> None:
    bus = open_buses()
    attempts: list[int] = []
    healthy: list[int] = []

    async def flaky(event: Event) -> None:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    await bus.start_consumers(
        [Consumer("flaky", ["thing.done"], flaky), Consumer("healthy", ["thing.done"], _recorder(healthy))]
    )
    if bus_url.startswith("memory:"):
        # The in-process bus reports the failure to the outbox relay, which keeps the event pending.
        with pytest.raises(ConsumerFailed, match="flaky"):
            await bus.publish(Event(7, "thing.done", {}))
    await _publish(bus, Event(7, "thing.done", {}))
    await asyncio.wait_for(bus.idle(), timeout=20)  # on JetStream, past the redelivery too
    assert attempts == [7, 7]
    assert healthy == [7]  # the consumer that succeeded is not given the event again


async def test_the_same_event_published_twice_is_delivered_once(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    seen: list[int] = []
    await bus.start_consumers([Consumer("dedupe", ["thing.done"], _recorder(seen))])
    await bus.publish(Event(42, "thing.done", {}))
    await bus.publish(Event(42, "thing.done", {}))
    await bus.publish(Event(43, "thing.done", {}))
    await bus.publish(Event(42, "thing.done", {}))
    await asyncio.wait_for(bus.idle(), timeout=20)
    assert sorted(seen) == [42, 43]


async def test_ping(open_buses: Callable[[], EventBus]) -> None:
    await open_buses().ping()


async def test_idle_waits_for_a_handler_still_at_work(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    started, release = asyncio.Event(), asyncio.Event()
    seen: list[int] = []

    async def slow(event: Event) -> None:
        started.set()
        await release.wait()
        seen.append(event.id)

    await bus.start_consumers([Consumer("slow", ["thing.done"], slow)])
    # The in-process bus runs handlers inside publish, so publish from a task of its own.
    publishing = asyncio.create_task(bus.publish(Event(5, "thing.done", {})))
    await asyncio.wait_for(started.wait(), timeout=10)
    idle = asyncio.create_task(bus.idle())
    await asyncio.sleep(0.2)
    assert not idle.done()  # the handler has not finished
    release.set()
    await asyncio.wait_for(idle, timeout=10)
    assert seen == [5]
    await publishing


async def test_idle_waits_for_every_event_published_and_a_retried_one(
    open_buses: Callable[[], EventBus], bus_url: str
) -> None:
    bus = open_buses()
    seen: list[int] = []
    failed: list[int] = []

    async def fails_once(event: Event) -> None:
        if not failed:
            failed.append(event.id)
            raise RuntimeError("first try fails")
        seen.append(event.id)

    await bus.start_consumers([Consumer("slowish", ["thing.done"], _recorder(seen, delay=0.02))])
    await bus.start_consumers([Consumer("retried", ["other.done"], fails_once)])
    for n in range(1, 6):
        await bus.publish(Event(n, "thing.done", {}))
    if bus_url.startswith("memory:"):
        # The relay's retry, for the in-process bus: it raised to the caller the first time.
        with pytest.raises(ConsumerFailed):
            await bus.publish(Event(13, "other.done", {}))
    await bus.publish(Event(13, "other.done", {}))
    await asyncio.wait_for(bus.idle(), timeout=20)
    assert sorted(seen) == [1, 2, 3, 4, 5, 13]
    assert failed == [13]


async def test_idle_with_nothing_published_returns_at_once(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    await bus.start_consumers([Consumer("quiet", ["thing.done"], _recorder([]))])
    await asyncio.wait_for(bus.idle(), timeout=5)


# -- JetStream only ---------------------------------------------------------------------------------


async def test_workers_on_one_durable_nats_consumer_share_the_work(nats_url: str) -> None:
    url = _nats_bus_url(nats_url)
    publisher, first, second = open_bus(url), open_bus(url), open_bus(url)
    handled: list[tuple[str, int]] = []

    def handler(worker: str) -> Handler:
        async def handle(event: Event) -> None:
            handled.append((worker, event.id))
            await asyncio.sleep(0.01)

        return handle

    try:
        await first.start_consumers([Consumer("shared", ["job.queued"], handler("first"))])
        await second.start_consumers([Consumer("shared", ["job.queued"], handler("second"))])
        for n in range(200):
            await publisher.publish(Event(1000 + n, "job.queued", {}))
        await asyncio.wait_for(first.idle(), timeout=30)  # the durable's count covers both workers
    finally:
        for bus in (publisher, first, second):
            await bus.close()
    ids = [event_id for _, event_id in handled]
    assert sorted(ids) == list(range(1000, 1200))  # each exactly once in total
    assert {worker for worker, _ in handled} == {"first", "second"}


async def test_a_stopping_nats_worker_hands_its_unfinished_batch_over_at_once(nats_url: str) -> None:
    url = _nats_bus_url(nats_url)
    publisher, leaving, staying = open_bus(url), open_bus(url), open_bus(url)
    done: list[int] = []
    try:
        for n in range(10):
            await publisher.publish(Event(n, "job.queued", {}))
        # The leaving worker fetches all ten in one batch, handles one, then stops.
        await leaving.start_consumers([Consumer("jobs", ["job.queued"], _recorder(done, delay=0.3))])
        await eventually(lambda: len(done) >= 1)
        await leaving.close()
        await staying.start_consumers([Consumer("jobs", ["job.queued"], _recorder(done))])
        # Well within ack_wait (30 s): the rest was nak'ed back, not left to time out.
        await eventually(lambda: set(done) == set(range(10)), timeout=5)
    finally:
        for bus in (publisher, leaving, staying):
            await bus.close()


async def test_a_slow_nats_handler_is_not_redelivered_while_it_works(
    nats_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from lumigram.infra.bus import nats as nats_bus

    monkeypatch.setattr(nats_bus, "ACK_WAIT_SECONDS", 1.0)
    bus = open_bus(_nats_bus_url(nats_url))
    started: list[int] = []
    finished: list[int] = []

    async def slow(event: Event) -> None:
        started.append(event.id)
        await asyncio.sleep(1.8)  # longer than ack_wait: only the keep-alive stops a redelivery
        finished.append(event.id)

    try:
        await bus.start_consumers([Consumer("slow", ["video.uploaded"], slow)])
        await bus.publish(Event(1, "video.uploaded", {}))
        await bus.publish(Event(2, "video.uploaded", {}))
        await eventually(lambda: len(finished) == 2, timeout=10)
        await asyncio.sleep(1.2)  # a redelivery would have come by now
    finally:
        await bus.close()
    assert started == [1, 2]


async def test_a_nats_consumer_started_later_gets_what_was_published_before(nats_url: str) -> None:
    # Unlike the in-process bus (where the outbox holds undelivered events), JetStream keeps them.
    url = _nats_bus_url(nats_url)
    publisher, worker = open_bus(url), open_bus(url)
    seen: list[int] = []
    try:
        await publisher.publish(Event(1, "post.created", {}))
        await worker.start_consumers([Consumer("late", ["post.created"], _recorder(seen))])
        await eventually(lambda: seen == [1])
    finally:
        await publisher.close()
        await worker.close()


async def test_a_nats_consumer_restarted_with_more_event_types_gets_them(nats_url: str) -> None:
    url = _nats_bus_url(nats_url)
    seen: list[int] = []
    old = open_bus(url)
    await old.start_consumers([Consumer("evolving", ["a.happened"], _recorder(seen))])
    await old.close()
    new = open_bus(url)
    try:
        await new.start_consumers([Consumer("evolving", ["a.happened", "b.happened"], _recorder(seen))])
        await new.publish(Event(1, "a.happened", {}))
        await new.publish(Event(2, "b.happened", {}))
        await eventually(lambda: sorted(seen) == [1, 2])
    finally:
        await new.close()


async def test_nats_ping_fails_fast_when_the_server_is_down() -> None:
    from lumigram.infra.bus.nats import NatsBus

    (closed_port,) = free_ports(1)
    bus = NatsBus(f"nats://127.0.0.1:{closed_port}", connect_deadline=0.5)
    try:
        with pytest.raises(ConnectionError):
            await asyncio.wait_for(bus.ping(), 5)
    finally:
        await bus.close()
