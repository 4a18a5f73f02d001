"""One contract, two adapters: the in-process bus and NATS JetStream deliver the same way."""

from __future__ import annotations

import asyncio
import itertools
import os
from collections.abc import AsyncIterator, Callable

import pytest

from lumigram.infra.bus import Consumer, Event, EventBus, open_bus
from tests.conftest import eventually

_streams = itertools.count()


@pytest.fixture(params=["memory", "nats"])
def bus_url(request: pytest.FixtureRequest) -> str:
    if request.param == "memory":
        return "memory://"
    stream = f"C{os.getpid()}x{next(_streams)}"
    return f"{request.getfixturevalue('nats_url')}?stream={stream}&prefix={stream.lower()}"


@pytest.fixture
async def open_buses(bus_url: str) -> AsyncIterator[Callable[[], EventBus]]:
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


async def _publish(bus: EventBus, event: Event) -> None:
    """Publish; the in-process bus raises when a handler failed, which the outbox would retry."""
    try:
        await bus.publish(event)
    except Exception:
        await asyncio.sleep(0.05)
        await bus.publish(event)


async def test_consumers_get_only_the_types_they_asked_for(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    posts: list[int] = []
    likes: list[int] = []

    async def on_post(event: Event) -> None:
        posts.append(event.id)

    async def on_like(event: Event) -> None:
        likes.append(event.id)

    await bus.start_consumers(
        [Consumer("posts", ["post.created"], on_post), Consumer("likes", ["like.added"], on_like)]
    )
    await bus.publish(Event(1, "post.created", {"a": 1}))
    await bus.publish(Event(2, "like.added", {}))
    await bus.publish(Event(3, "post.created", {}))
    await eventually(lambda: len(posts) == 2 and len(likes) == 1)
    await asyncio.sleep(0.1)
    assert sorted(posts) == [1, 3]
    assert likes == [2]


async def test_a_failed_handler_gets_the_event_again(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    attempts: list[int] = []

    async def flaky(event: Event) -> None:
        attempts.append(event.id)
        if len(attempts) == 1:
            raise RuntimeError("first try fails")

    await bus.start_consumers([Consumer("flaky", ["thing.done"], flaky)])
    await _publish(bus, Event(7, "thing.done", {}))
    await eventually(lambda: len(attempts) >= 2, timeout=10)
    assert set(attempts) == {7}


async def test_the_same_event_published_twice_is_delivered_once(open_buses: Callable[[], EventBus]) -> None:
    bus = open_buses()
    seen: list[int] = []

    async def record(event: Event) -> None:
        seen.append(event.id)

    await bus.start_consumers([Consumer("dedupe", ["thing.done"], record)])
    await bus.publish(Event(42, "thing.done", {}))
    await bus.publish(Event(42, "thing.done", {}))
    await bus.publish(Event(43, "thing.done", {}))
    await eventually(lambda: 43 in seen)
    await asyncio.sleep(0.2)
    assert sorted(seen) == [42, 43]


async def test_workers_on_one_durable_nats_consumer_share_the_work(nats_url: str) -> None:
    # Only JetStream has several processes on one consumer; the in-process bus has one by definition.
    stream = f"S{os.getpid()}x{next(_streams)}"
    url = f"{nats_url}?stream={stream}&prefix={stream.lower()}"
    publisher, first, second = open_bus(url), open_bus(url), open_bus(url)
    handled: list[tuple[str, int]] = []

    def handler(worker: str) -> Callable[[Event], object]:
        async def handle(event: Event) -> None:
            handled.append((worker, event.id))
            await asyncio.sleep(0.01)

        return handle

    await first.start_consumers([Consumer("shared", ["job.queued"], handler("first"))])  # type: ignore[arg-type]
    await second.start_consumers([Consumer("shared", ["job.queued"], handler("second"))])  # type: ignore[arg-type]
    for n in range(200):
        await publisher.publish(Event(1000 + n, "job.queued", {}))
    await eventually(lambda: len(handled) >= 200, timeout=20)
    await asyncio.sleep(0.2)
    for bus in (publisher, first, second):
        await bus.close()
    ids = [event_id for _, event_id in handled]
    assert sorted(ids) == list(range(1000, 1200))  # each exactly once in total
    assert {worker for worker, _ in handled} == {"first", "second"}


async def test_ping(open_buses: Callable[[], EventBus]) -> None:
    await open_buses().ping()
