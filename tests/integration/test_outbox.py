"""The outbox guarantees: events commit with their change, survive a relay crash,
and every consumer applies each event exactly once."""

from __future__ import annotations

import asyncio
from collections import Counter

import pytest
from sqlalchemy import event as sqlalchemy_event
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra import outbox as outbox_module
from lumigram.infra.bus import Consumer, Event, EventBus
from lumigram.infra.outbox import OutboxRelay, emit, run_once
from lumigram.infra.tables import outbox
from lumigram.services import Services
from tests.conftest import eventually


class RelayCrashed(BaseException):
    """Stands for the process dying: not an Exception, so nothing catches it on the way out."""


class CrashAfter:
    """A bus that publishes ``allowed`` events and then dies mid-batch."""

    def __init__(self, bus: EventBus, allowed: int) -> None:
        self.bus = bus
        self.allowed = allowed

    async def publish(self, event: Event) -> None:
        if self.allowed == 0:
            raise RelayCrashed
        await self.bus.publish(event)
        self.allowed -= 1


class RefusesOne:
    """A bus that cannot take one event (an error, not a crash) and takes the others."""

    def __init__(self, bus: EventBus, refused: int) -> None:
        self.bus = bus
        self.refused = refused

    async def publish(self, event: Event) -> None:
        if event.id == self.refused:
            raise ConnectionError("the bus is unreachable")
        await self.bus.publish(event)


async def _effects(services: Services) -> Counter[int]:
    async with services.db.connect() as conn:
        rows = await conn.execute(text("SELECT event_id FROM test_effects"))
        return Counter(int(row[0]) for row in rows)


async def _start_recording_consumer(services: Services, name: str) -> None:
    async with services.db.begin() as conn:
        await conn.execute(text("CREATE TABLE test_effects (event_id BIGINT NOT NULL)"))

    async def record(event: Event) -> None:
        async def effect(conn: AsyncConnection) -> None:
            # No unique key here on purpose: a duplicate effect would show up as a second row.
            await conn.execute(text("INSERT INTO test_effects (event_id) VALUES (:id)"), {"id": event.id})

        await run_once(services.db, name, event.id, effect)

    await services.bus.start_consumers([Consumer(name, ["test.happened"], record)])


async def _emit_events(services: Services, count: int) -> list[int]:
    made = []
    for n in range(count):
        async with services.db.begin() as conn:
            event = await emit(conn, services.ids, "test.happened", {"n": n})
            made.append(event.id)
    # The relay's order: ids made within one millisecond need not follow the order of
    # the emits (the shard bits come before the sequence).
    return sorted(made)


async def test_events_survive_a_relay_that_dies_between_publish_and_stamp(services: Services) -> None:
    await services.relay.stop()  # this test drives its own relays
    await _start_recording_consumer(services, "recorder")
    made = await _emit_events(services, 12)

    crashing = OutboxRelay(services.db, CrashAfter(services.bus, allowed=5), batch_size=50)  # type: ignore[arg-type]
    with pytest.raises(RelayCrashed):
        await crashing.relay_pending()
    # Five were delivered but none stamped: the crash came before the batch was marked.
    async with services.db.connect() as conn:
        pending = (await conn.execute(select(func.count()).where(outbox.c.published_at.is_(None)))).scalar_one()
    assert pending == 12

    restarted = OutboxRelay(services.db, services.bus, batch_size=50)
    assert await restarted.relay_pending() == 12
    await services.bus.idle()
    effects = await _effects(services)
    assert effects == Counter(dict.fromkeys(made, 1))
    assert await restarted.relay_pending() == 0


async def test_a_failed_publish_stops_the_batch_and_is_counted(services: Services) -> None:
    await services.relay.stop()
    await _start_recording_consumer(services, "recorder")
    made = await _emit_events(services, 6)

    refusing = OutboxRelay(services.db, RefusesOne(services.bus, made[3]), batch_size=50)  # type: ignore[arg-type]
    assert await refusing.relay_pending() == 3  # in order: nothing after the refused one goes out
    async with services.db.connect() as conn:
        found = await conn.execute(select(outbox.c.id, outbox.c.published_at, outbox.c.attempts))
        rows = {row.id: row for row in found}
    assert [rows[i].published_at is not None for i in made] == [True, True, True, False, False, False]
    assert [rows[i].attempts for i in made] == [0, 0, 0, 1, 0, 0]

    assert await OutboxRelay(services.db, services.bus, batch_size=50).relay_pending() == 3
    await services.bus.idle()
    assert await _effects(services) == Counter(dict.fromkeys(made, 1))


async def _all_seen(services: Services, made: list[int]) -> bool:
    return set((await _effects(services)).keys()) == set(made)


async def test_a_consumer_that_sees_an_event_twice_applies_it_once(services: Services) -> None:
    await services.relay.stop()
    await _start_recording_consumer(services, "recorder")
    event = Event(id=services.ids.next_id(), type="test.happened", payload={})

    async def effect(conn: AsyncConnection) -> None:
        await conn.execute(text("INSERT INTO test_effects (event_id) VALUES (:id)"), {"id": event.id})

    assert await run_once(services.db, "direct", event.id, effect) is True
    assert await run_once(services.db, "direct", event.id, effect) is False
    assert (await _effects(services))[event.id] == 1


async def test_an_event_emitted_in_a_rolled_back_transaction_never_leaves(services: Services) -> None:
    await services.relay.stop()

    class Boom(Exception):
        pass

    async def emit_then_fail() -> None:
        async with services.db.begin() as conn:
            await emit(conn, services.ids, "test.happened", {})
            raise Boom

    with pytest.raises(Boom):
        await emit_then_fail()
    async with services.db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(outbox))).scalar_one() == 0


async def test_the_running_relay_delivers_soon_after_a_commit(services: Services) -> None:
    await _start_recording_consumer(services, "recorder")
    made = await _emit_events(services, 3)
    services.committed()
    await eventually(lambda: _all_seen(services, made))


class CountingRelay(OutboxRelay):
    """A relay that counts its passes over the table."""

    passes = 0

    async def relay_pending(self, sweep: bool = False) -> int:
        self.passes += 1
        return await super().relay_pending(sweep)


async def _pending_ids(services: Services) -> list[int]:
    async with services.db.connect() as conn:
        found = await conn.execute(select(outbox.c.id).where(outbox.c.published_at.is_(None)).order_by(outbox.c.id))
        return [int(i) for i in found.scalars()]


async def _emit_returning(services: Services, count: int) -> list[Event]:
    made = []
    for n in range(count):
        async with services.db.begin() as conn:
            made.append(await emit(conn, services.ids, "test.happened", {"n": n}))
    return sorted(made, key=lambda event: event.id)  # the table's order, as in _emit_events


async def test_events_handed_over_go_out_without_a_pass_over_the_table(services: Services) -> None:
    await services.relay.stop()
    await _start_recording_consumer(services, "recorder")
    relay = CountingRelay(services.db, services.bus, batch_size=50, poll_interval=3600)
    relay.start()
    try:
        await eventually(lambda: relay.passes == 1)  # the first turn's sweep, over an empty table
        made = await _emit_returning(services, 3)
        relay.hand_over(made)
        await eventually(lambda: _all_seen(services, [e.id for e in made]))
        await eventually(lambda: _no_pending(services))  # stamped
        assert relay.passes == 1
        assert await _effects(services) == Counter({e.id: 1 for e in made})
        relay.kick()  # a caller without its events at hand still gets a pass
        await eventually(lambda: relay.passes == 2)
    finally:
        await relay.stop()


async def _no_pending(services: Services) -> bool:
    return not await _pending_ids(services)


async def test_a_handed_over_event_that_cannot_be_published_goes_out_with_a_later_pass(services: Services) -> None:
    await services.relay.stop()
    await _start_recording_consumer(services, "recorder")
    made = await _emit_returning(services, 3)
    refusing = OutboxRelay(services.db, RefusesOne(services.bus, made[1].id), poll_interval=3600)  # type: ignore[arg-type]
    refusing.start()
    try:
        refusing.hand_over(made)  # the first turn's pass may take them first: wait for both
        await eventually(lambda: _all_seen(services, [made[0].id]))
        await eventually(lambda: _pending_ids_are(services, [made[1].id, made[2].id]))
    finally:
        await refusing.stop()
    # In order: nothing after the refused one went out; the next passes send both (a pass
    # the stop cancelled may hold their locks a moment longer, so they are skipped till then).
    again, published = OutboxRelay(services.db, services.bus), 0

    async def both_sent() -> bool:
        nonlocal published
        published += await again.relay_pending()
        return published >= 2

    await eventually(both_sent)
    assert published == 2
    await eventually(lambda: _all_seen(services, [e.id for e in made]))
    assert await _effects(services) == Counter({e.id: 1 for e in made})


async def test_a_timed_sweep_leaves_the_rows_just_committed_to_their_writer(
    services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A sweep that published a row its writer was about to hand over raced the writer's
    after-commit handlers (and doubled the publishing); a kick or a drain takes every row,
    and a sweep takes the rows once they are older than the grace."""
    await services.relay.stop()
    await _start_recording_consumer(services, "recorder")
    made = await _emit_returning(services, 2)
    relay = OutboxRelay(services.db, services.bus, poll_interval=3600)
    assert await relay.relay_pending(sweep=True) == 0
    assert await _pending_ids(services) == [e.id for e in made]
    monkeypatch.setattr(outbox_module, "SWEEP_GRACE", -60.0)  # as if a minute had passed
    assert await relay.relay_pending(sweep=True) == 2
    fresh = await _emit_returning(services, 1)
    monkeypatch.setattr(outbox_module, "SWEEP_GRACE", 1.0)
    assert await relay.relay_pending() == 1  # not a sweep: every row
    await eventually(lambda: _all_seen(services, [e.id for e in made + fresh]))


async def _pending_ids_are(services: Services, expected: list[int]) -> bool:
    return await _pending_ids(services) == expected


async def test_a_relay_that_does_not_run_keeps_nothing_handed_over(services: Services) -> None:
    made = await _emit_returning(services, 1)
    idle = OutboxRelay(services.db, services.bus)
    idle.hand_over(made)
    assert await idle.publish_handed_over() == 0  # the table keeps them for a running relay


class SwallowsCancellation(OutboxRelay):
    """A relay whose pass swallows one cancellation, as some drivers and client libraries
    do when it lands mid-call."""

    swallowed = False

    async def relay_pending(self, sweep: bool = False) -> int:
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            self.swallowed = True
        return 0


async def test_stopping_the_relay_does_not_wait_for_its_next_sweep(services: Services) -> None:
    await services.relay.stop()
    relay = SwallowsCancellation(services.db, services.bus, poll_interval=3600)
    relay.start()
    await asyncio.sleep(0)  # into its first pass
    # Before, a swallowed cancellation left the task waiting an hour for its next sweep, and
    # stop() returned only when its caller gave up (here, the timeout). The bound is far
    # above what stopping takes, so only a stop that waits for the sweep exceeds it.
    loop = asyncio.get_running_loop()
    began = loop.time()
    async with asyncio.timeout(20):
        await relay.stop()
    assert relay.swallowed
    assert loop.time() - began < 15


async def test_a_pass_that_finds_nothing_takes_no_write_transaction_on_sqlite(services: Services) -> None:
    writer = getattr(services.db, "_writer", None)
    if writer is None:
        pytest.skip("PostgreSQL reads the pending rows inside a transaction, to lock them")
    await services.relay.stop()  # this test drives its own relay
    relay = OutboxRelay(services.db, services.bus, batch_size=50)
    await relay.relay_pending()  # whatever the setup left
    begun: list[str] = []

    def count(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # Each write transaction on the writer starts with BEGIN IMMEDIATE, whether the
        # driver opens it or SQLAlchemy does.
        if statement.startswith("BEGIN"):
            begun.append(statement)

    sqlalchemy_event.listen(writer.sync_engine, "before_cursor_execute", count)
    try:
        assert await relay.relay_pending() == 0
    finally:
        sqlalchemy_event.remove(writer.sync_engine, "before_cursor_execute", count)
    assert begun == []  # SQLite's one writer was not taken for nothing
    await _emit_events(services, 2)
    sqlalchemy_event.listen(writer.sync_engine, "before_cursor_execute", count)
    try:
        assert await relay.relay_pending() == 2
    finally:
        sqlalchemy_event.remove(writer.sync_engine, "before_cursor_execute", count)
    assert len(begun) == 1  # the two found are stamped, in one transaction
