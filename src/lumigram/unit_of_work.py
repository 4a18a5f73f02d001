"""One write: a transaction, the events it emits, and what follows once it has committed.

    async with unit_of_work(services) as work:
        ...  # statements on work.conn
        await work.emit(FollowCreated(account_id=a, target_account_id=b), shard=shard_of(a))

Each ``emit`` writes the event to the outbox in the write's own transaction
(``lumigram.infra.outbox``), so the change and its event commit or roll back together.
On a clean exit the transaction commits, each event's after-commit handlers run here, in
the order the events were emitted and, per event, in the order of the table
(``Services.after_commit``, filled from ``lumigram.consumers.AFTER_COMMIT``), and then the
events go to the relay (``Services.committed``). The handlers are what must be true
before the writer's response goes out (their kept pages forgotten or mended, so a person
sees their own write at once), done before any consumer can take the event; the rest
follows a write from the bus.

When the block raises, or the commit fails, nothing runs after commit: the callbacks
given to ``on_rollback`` run instead, to take back what the write did outside the
database (a pending counter, say). A handler that fails after the commit is logged and
the others still run: the write is accepted, and failing the request would only invite
the client to send it again.

A unit of work is not to be opened inside another transaction: on SQLite a write inside
a write of the same task becomes a savepoint, which "commits" before the data does.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager

from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.events import DomainEvent, to_payload
from lumigram.infra import outbox
from lumigram.infra.bus import Event
from lumigram.services import Services

log = logging.getLogger(__name__)


class Work:
    """The open transaction (``conn``) of a unit of work, and what it has emitted so far."""

    def __init__(self, services: Services, conn: AsyncConnection) -> None:
        self.conn = conn
        self._services = services
        #: Each event as emitted, with the bus event its outbox row holds, in order.
        self._emitted: list[tuple[DomainEvent, Event]] = []
        self._undo: list[Callable[[], Awaitable[None]]] = []

    @property
    def events(self) -> list[DomainEvent]:
        """The events emitted so far, in order."""
        return [event for event, _ in self._emitted]

    async def emit(self, event: DomainEvent, shard: int | None = None) -> Event:
        """Write ``event`` to the outbox in this transaction (its id on ``shard``); it goes
        to the bus, and its after-commit handlers run, only once the transaction commits."""
        sent = await outbox.emit(self.conn, self._services.ids, event.type, to_payload(event), shard=shard)
        self._emitted.append((event, sent))
        return sent

    def on_rollback(self, undo: Callable[[], Awaitable[None]]) -> None:
        """Run ``undo`` should this transaction not commit (the block raised, or the commit
        failed): for a side effect outside the database made ahead of the commit."""
        self._undo.append(undo)

    async def _rolled_back(self) -> None:
        for undo in self._undo:
            try:
                await undo()
            except Exception:
                # The write's own error is the one to report; this one is logged.
                log.exception("undoing %s after a rollback failed", getattr(undo, "__qualname__", undo))

    async def _after_commit(self) -> None:
        services = self._services
        try:
            for event, _ in self._emitted:
                for handler in services.after_commit.get(type(event), ()):
                    try:
                        await handler(services, event)
                    except Exception:
                        name = getattr(handler, "__qualname__", handler)
                        log.exception("after-commit handler %s failed for %s", name, event.type)
        finally:
            # Handed to the relay only now, even if a handler was cancelled: a consumer
            # taking the event half-way through a handler made the writer's page show
            # a half-applied write (their like counted twice by a mended page, between
            # the like counter's two steps) for as long as the page was kept.
            if self._emitted:
                services.committed([sent for _, sent in self._emitted])


@asynccontextmanager
async def unit_of_work(services: Services) -> AsyncIterator[Work]:
    """A transaction whose events are published, and their after-commit handlers run, once
    it commits; see the module's documentation."""
    work: Work | None = None
    try:
        async with services.db.begin() as conn:
            work = Work(services, conn)
            yield work
    except BaseException:
        if work is not None:
            await work._rolled_back()
        raise
    assert work is not None  # the block ran, or the line above raised
    await work._after_commit()
