"""The transactional outbox and its relay.

``emit`` writes an event row inside the caller's transaction, so the state change
and the event commit (or roll back) together. ``OutboxRelay`` publishes committed,
unpublished rows to the bus in id order and stamps them published. The relay may
die at any point: a row published but not stamped is published again, and the bus
drops it as a duplicate (the event id is its deduplication id); consumers also
record what they applied (``run_once``), so every effect happens exactly once.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import Any

import orjson
from sqlalchemy import Select, Update, bindparam, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.ids import IdGenerator, lowest_id_at
from lumigram.infra.bus import BatchPublisher, Event, EventBus
from lumigram.infra.database import Database
from lumigram.infra.sql import Prebuilt, among, insert_columns
from lumigram.infra.tables import outbox, processed_events, utcnow

log = logging.getLogger(__name__)

#: Seconds a timed sweep of the table leaves a committed row to the process that
#: committed it (``OutboxRelay.relay_pending``); a kick or a drain takes every row.
SWEEP_GRACE = 1.0
#: An id above every id (the ids are signed 64-bit integers).
_NO_BOUND = 2**63 - 1


#: Built once: building a statement costs about as much as running it (``lumigram.infra.sql``).
_INSERT = Prebuilt(lambda _dialect: insert_columns(outbox, ("id", "type", "payload", "created_at")))
_MARK_PROCESSED = Prebuilt(lambda _dialect: insert_columns(processed_events, ("consumer", "event_id", "processed_at")))


def _pending(dialect: str) -> Select[Any]:
    query = (
        select(outbox.c.id, outbox.c.type, outbox.c.payload)
        .where(outbox.c.published_at.is_(None), outbox.c.id < bindparam("before"))
        .order_by(outbox.c.id)
        .limit(bindparam("batch"))
    )
    if dialect == "postgresql":
        # Hold the rows locked while publishing, so several relays (one per serve
        # process) share the table without publishing the same rows side by side.
        query = query.with_for_update(skip_locked=True)
    return query


def _published(dialect: str) -> Update:
    return update(outbox).where(among(dialect, outbox.c.id, "ids")).values(published_at=bindparam("now"))


_PENDING = Prebuilt(_pending)
_PUBLISHED = Prebuilt(_published)
_FAILED = Prebuilt(
    lambda _dialect: update(outbox).where(outbox.c.id == bindparam("failed")).values(attempts=outbox.c.attempts + 1)
)


async def emit(
    conn: AsyncConnection, ids: IdGenerator, type_: str, payload: dict[str, Any], shard: int | None = None
) -> Event:
    """Record ``type_`` in the outbox as part of ``conn``'s open transaction."""
    event = Event(id=ids.next_id(shard), type=type_, payload=payload)
    row = {"id": event.id, "type": event.type, "payload": orjson.dumps(payload).decode(), "created_at": utcnow()}
    await _INSERT.execute(conn, row)
    return event


async def emit_many(
    conn: AsyncConnection, ids: IdGenerator, events: Sequence[tuple[str, dict[str, Any], int | None]]
) -> list[Event]:
    """``emit`` for each (type, payload, shard) of ``events``, as one statement."""
    made = [Event(id=ids.next_id(shard), type=type_, payload=payload) for type_, payload, shard in events]
    if made:
        now = utcnow()
        await _INSERT.execute(
            conn,
            [
                {"id": e.id, "type": e.type, "payload": orjson.dumps(e.payload).decode(), "created_at": now}
                for e in made
            ],
        )
    return made


async def run_once(
    db: Database, consumer: str, event_id: int, effect: Callable[[AsyncConnection], Awaitable[None]]
) -> bool:
    """Apply ``effect`` for the event ``event_id`` at most once per ``consumer``.

    The marker row and the effect's database writes share a transaction, so a
    redelivered event finds its marker and is skipped. Returns False when skipped.
    """
    try:
        async with db.begin() as conn:
            await _MARK_PROCESSED.execute(conn, {"consumer": consumer, "event_id": event_id, "processed_at": utcnow()})
            await effect(conn)
    except IntegrityError:
        return False
    return True


class OutboxRelay:
    """Moves committed outbox rows onto the bus; ``kick`` after a commit for low latency."""

    def __init__(self, db: Database, bus: EventBus, batch_size: int = 200, poll_interval: float = 1.0) -> None:
        self._db = db
        self._bus = bus
        # Asked once: a runtime-checkable protocol's isinstance inspects every member each
        # time, and it was asked on every publish.
        self._batches: BatchPublisher | None = bus if isinstance(bus, BatchPublisher) else None
        self._batch_size = batch_size
        self._poll_interval = poll_interval
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        #: Events committed in this process and handed over (``hand_over``), in order.
        self._handed: list[Event] = []
        #: Whether the next turn reads the table (a ``kick``, the first turn, a due sweep).
        self._pass_wanted = True
        self._last_pass = 0.0
        #: Events this relay has published, all told; ``drain`` callers compare it.
        self.published = 0
        #: Passes over the table begun and finished, and ``drain`` callers waiting for one.
        self._passes_begun = 0
        self._passes_done = 0
        self._drains: list[tuple[int, asyncio.Future[None]]] = []

    def kick(self) -> None:
        """Ask the relay to look for new rows now rather than at the next poll."""
        self._pass_wanted = True
        self._wake.set()

    def hand_over(self, events: Sequence[Event]) -> None:
        """Publish ``events``, just committed by this process, without reading them back:
        a ``kick`` for a caller that has its events at hand. It saves a transaction with
        a locking read per commit (three round trips on PostgreSQL). The table stays the
        record: an event whose publishing fails, or that this process dies before
        publishing, is still pending there and goes out with the next pass, anywhere.
        Another relay's pass may publish one side by side with this; the bus drops the
        second copy (the event id is its deduplication id) and consumers apply it once."""
        if self._task is None:
            return  # no relay runs in this process: the table has them for one that does
        if events:
            self._handed.extend(events)
            self._wake.set()

    async def publish_handed_over(self) -> int:
        """Publish what was handed over, in order, stopping at the first failure (the rest
        stay pending in the table); stamp those published. Returns how many."""
        handed, self._handed = self._handed, []
        done, failed = await self._publish_events(handed)
        self.published += len(done)
        if done:
            params = {"ids": done, "now": utcnow()}
            # One statement on its own, committed at once: no transaction around it. SQLite's
            # writes all go through its one writer, in turn (``lumigram.infra.sqlite``).
            opened = self._db.connect() if self._db.is_postgres else self._db.begin()
            async with opened as conn:
                await _PUBLISHED.execute(conn, params)
        if failed is not None:
            log.warning("%d handed-over events left for the relay's next pass", len(handed) - len(done))
        return len(done)

    async def relay_pending(self, sweep: bool = False) -> int:
        """Publish every pending row once; returns how many were published. A ``sweep``
        leaves the rows of the last ``SWEEP_GRACE`` seconds: a process that just committed
        them is about to hand them over, and publishing them side by side only doubled
        the work (the bus drops the copy) or got an event to its consumers before its
        writer's after-commit handlers were done."""
        before = lowest_id_at(int((time.time() - SWEEP_GRACE) * 1000)) if sweep else _NO_BOUND
        total = 0
        while True:
            published, exhausted = await self._relay_batch(before)
            total += published
            self.published += published
            if exhausted:
                return total

    async def _relay_batch(self, before: int) -> tuple[int, bool]:
        """Relay up to one batch of rows with ids below ``before``; returns (published,
        nothing-more-to-do-now)."""
        batch = {"batch": self._batch_size, "before": before}
        if self._db.is_postgres:
            async with self._db.begin() as conn:
                rows = await _PENDING.rows(conn, batch)
                done, failed = await self._publish(rows)
                await self._stamp(conn, done, failed)
        else:
            # SQLite has one writer; a read transaction held across publishing could not
            # be upgraded once a consumer had written, so read, publish, then stamp.
            async with self._db.connect() as conn:
                rows = await _PENDING.rows(conn, batch)
            done, failed = await self._publish(rows)
            if done or failed is not None:
                # Only with something to stamp: an empty write transaction still took the
                # writer and cost two hops to its thread, on every pass that found nothing.
                async with self._db.begin() as conn:
                    await self._stamp(conn, done, failed)
        return len(done), failed is not None or len(rows) < self._batch_size

    async def _publish(self, rows: Sequence[Any]) -> tuple[list[int], int | None]:
        """Publish rows in order, stopping at the first failure (returned as its id)."""
        return await self._publish_events(
            [Event(id=row.id, type=row.type, payload=orjson.loads(row.payload)) for row in rows]
        )

    async def _publish_events(self, events: Sequence[Event]) -> tuple[list[int], int | None]:
        if self._batches is not None and events:
            # The in-process bus: its consumers take the events together, a transaction
            # for many rather than one each.
            try:
                delivered = await self._batches.publish_many(events)
            except Exception:
                log.exception("publishing %d events from %s failed", len(events), events[0].id)
                delivered = 0
            done = [event.id for event in events[:delivered]]
            if delivered < len(events):
                failed = events[delivered]
                log.error("event %s (%s) failed in a consumer; it and later ones stay pending", failed.id, failed.type)
                return done, failed.id
            return done, None
        done = []
        for event in events:
            try:
                await self._bus.publish(event)
            except Exception:
                # Leave it and its successors pending; the next pass retries in order.
                log.exception("publishing event %s (%s) failed", event.id, event.type)
                return done, event.id
            done.append(event.id)
        return done, None

    @staticmethod
    async def _stamp(conn: AsyncConnection, done: list[int], failed: int | None) -> None:
        if done:
            await _PUBLISHED.execute(conn, {"ids": done, "now": utcnow()})
        if failed is not None:
            await _FAILED.execute(conn, {"failed": failed})

    async def run(self) -> None:
        """Relay forever: what is handed over as it comes, a pass over the table on every
        kick, and one every ``poll_interval`` seconds as a sweep."""
        self._stopping = False
        while not self._stopping:
            self._wake.clear()
            try:
                if self._handed:
                    await self.publish_handed_over()
                if self._pass_wanted or time.monotonic() - self._last_pass >= self._poll_interval:
                    sweep = not self._pass_wanted
                    self._pass_wanted = False
                    self._last_pass = time.monotonic()
                    self._passes_begun += 1
                    try:
                        await self.relay_pending(sweep=sweep)
                    finally:
                        self._passes_done += 1
                        self._release_drains()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("outbox relay pass failed")
            if self._handed or self._pass_wanted:
                continue  # more came while this turn ran
            wait = max(0.0, self._last_pass + self._poll_interval - time.monotonic())
            # Not ``wait_for``: on Python 3.11 it swallows a cancellation that lands as the
            # wake-up does.
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(wait):
                    await self._wake.wait()

    async def drain(self) -> None:
        """Return once what was committed before the call has been published (or has
        failed to be, and waits in the table for a later pass): the handed-over events and
        a pass over the table begun after the call. With the relay running, its own task
        makes that pass, so two never run side by side; otherwise it is made here."""
        if self._task is None or self._task.done():
            await self.publish_handed_over()
            await self.relay_pending()
            return
        waiter = asyncio.get_running_loop().create_future()
        # The next pass to begin is the first to begin after this call; the kick makes it begin now.
        self._drains.append((self._passes_begun + 1, waiter))
        self.kick()
        await waiter

    def _release_drains(self, everyone: bool = False) -> None:
        waiting = []
        for pass_number, waiter in self._drains:
            if everyone or pass_number <= self._passes_done:
                if not waiter.done():
                    waiter.set_result(None)
            else:
                waiting.append((pass_number, waiter))
        self._drains = waiting

    def start(self) -> None:
        if self._task is None:
            self._task = asyncio.create_task(self.run(), name="outbox-relay")

    async def stop(self) -> None:
        if self._task is not None:
            # The flag and the wake-up as well as the cancellation: a cancellation swallowed
            # on the way (a driver or a client library that catches it mid-call) left the
            # task waiting for its next sweep, and shutdown waited out its whole timeout.
            self._stopping = True
            self._wake.set()
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        self._release_drains(everyone=True)  # no pass is coming for them
