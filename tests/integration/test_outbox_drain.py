"""Draining the outbox: ``OutboxRelay.drain`` publishes what was committed before the call,
and ``tests.settle.settle`` waits until the consumers have handled that and what they
emitted in turn, on both shapes, with the relay running or not."""

from __future__ import annotations

import asyncio

from sqlalchemy import func, select

from lumigram.infra.bus import Consumer, Event
from lumigram.infra.outbox import emit
from lumigram.infra.tables import outbox
from lumigram.services import Services
from tests.settle import settle


async def _pending(services: Services) -> int:
    async with services.db.connect() as conn:
        return int((await conn.execute(select(func.count()).where(outbox.c.published_at.is_(None)))).scalar_one())


async def _emit(services: Services, type_: str, count: int, hand_over: bool) -> list[int]:
    made = []
    for n in range(count):
        async with services.db.begin() as conn:
            made.append(await emit(conn, services.ids, type_, {"n": n}))
        if hand_over:
            services.committed([made[-1]])
    return [event.id for event in made]


async def test_a_drain_publishes_rows_no_one_kicked_the_relay_for(services: Services) -> None:
    seen: list[int] = []

    async def record(event: Event) -> None:
        seen.append(event.id)

    await services.bus.start_consumers([Consumer("drain-recorder", ["test.happened"], record)])
    # Committed without ``committed()``: only the relay's periodic sweep would find them.
    made = await _emit(services, "test.happened", 3, hand_over=False)
    await services.relay.drain()
    assert await _pending(services) == 0
    await services.bus.idle()
    assert sorted(seen) == sorted(made)


async def test_settle_waits_for_what_handlers_emit_in_turn(services: Services) -> None:
    second: list[int] = []

    async def follow_up(event: Event) -> None:
        # Slow enough that a wait ending before the chain has run through would show.
        await asyncio.sleep(0.05)
        async with services.db.begin() as conn:
            made = await emit(conn, services.ids, "test.followed", {"after": str(event.id)})
        services.committed([made])

    async def record(event: Event) -> None:
        await asyncio.sleep(0.05)
        second.append(int(event.payload["after"]))

    await services.bus.start_consumers(
        [Consumer("drain-first", ["test.happened"], follow_up), Consumer("drain-second", ["test.followed"], record)]
    )
    made = await _emit(services, "test.happened", 4, hand_over=True)
    await settle(services)
    assert sorted(second) == sorted(made)
    assert await _pending(services) == 0


async def test_a_drain_without_a_running_relay_publishes_itself(services: Services) -> None:
    await services.relay.stop()
    seen: list[int] = []

    async def record(event: Event) -> None:
        seen.append(event.id)

    await services.bus.start_consumers([Consumer("drain-offline", ["test.happened"], record)])
    made = await _emit(services, "test.happened", 2, hand_over=True)  # nobody takes them over
    await settle(services)
    assert sorted(seen) == sorted(made)
    assert await _pending(services) == 0
