"""The ports and settings every request, consumer and command is given, built once per process.

A leaf: it knows the adapters' interfaces, not the packages that use them. The
composition root (``lumigram.bootstrap``) builds it and starts the consumers.
"""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from lumigram.config import Settings
from lumigram.events import DomainEvent
from lumigram.ids import IdGenerator
from lumigram.infra.blobstore import BlobStore
from lumigram.infra.bus import Event, EventBus
from lumigram.infra.cache import Cache
from lumigram.infra.database import Database
from lumigram.infra.email_sms import MessageSender
from lumigram.infra.outbox import OutboxRelay
from lumigram.infra.tables import utcnow

log = logging.getLogger(__name__)

T = TypeVar("T")

#: Seconds each adapter gets to close at shutdown.
CLOSE_TIMEOUT = 10.0

#: What runs in-process once a write that emitted an event has committed (see
#: ``lumigram.unit_of_work``): ``async def f(services, event) -> None``, the event typed.
AfterCommit = Callable[["Services", Any], Awaitable[None]]


@dataclass
class Services:
    """Everything a request, a consumer or a command needs, built once per process."""

    settings: Settings
    db: Database
    blobs: BlobStore
    cache: Cache
    bus: EventBus
    ids: IdGenerator
    relay: OutboxRelay
    email: MessageSender
    sms: MessageSender
    #: Event type → its after-commit handlers, in order: the table at the end of
    #: ``lumigram.consumers``, handed in by the composition root (this module is a leaf).
    after_commit: Mapping[type[DomainEvent], Sequence[AfterCommit]]
    #: What time it is, for rules that turn on the hour (a story's 24 hours, the URLs
    #: signed for it): one place to read it, so tests can move it instead of waiting.
    clock: Callable[[], datetime] = utcnow
    _background: list[asyncio.Task[None]] = field(default_factory=list)
    #: Tasks a request or a consumer started and does not wait for (``spawn``), while
    #: they run: ``close`` ends them before the database, so none is left holding a
    #: connection whose thread would answer a closed event loop.
    _spawned: set[asyncio.Task[Any]] = field(default_factory=set)
    _cpu_pool: ProcessPoolExecutor | None = None

    def now(self) -> datetime:
        """The current time, timezone-aware UTC, from ``clock``."""
        return self.clock()

    def cpu_pool(self) -> ProcessPoolExecutor:
        """Worker processes for CPU-heavy media work, made on first use so that a process
        that never processes media never pays for them. Spawned, not forked: a fork would
        copy this process's event loop and database threads mid-flight."""
        if self._cpu_pool is not None and getattr(self._cpu_pool, "_broken", False):
            # A worker process died (killed, out of memory): the pool refuses all work
            # from then on, so replace it rather than failing every later upload.
            log.warning("the media worker pool broke; starting a new one")
            self._cpu_pool.shutdown(wait=False, cancel_futures=True)
            self._cpu_pool = None
        if self._cpu_pool is None:
            workers = max(1, min(os.cpu_count() or 1, 4))
            self._cpu_pool = ProcessPoolExecutor(max_workers=workers, mp_context=multiprocessing.get_context("spawn"))
        return self._cpu_pool

    def committed(self, events: Sequence[Event] = ()) -> None:
        """Call after a transaction that emitted events: the relay picks them up now. Give
        it the events when they are at hand (``lumigram.unit_of_work`` does): they then go
        out without the relay reading them back (``OutboxRelay.hand_over``)."""
        if events:
            self.relay.hand_over(events)
        else:
            self.relay.kick()

    async def start_relay(self) -> None:
        self.relay.start()

    def run_in_background(self, work: Coroutine[Any, Any, None], name: str) -> None:
        """Run ``work`` as a task until ``close`` (the composition root's housekeeping)."""
        self._background.append(asyncio.create_task(work, name=name))

    def spawn(self, work: Coroutine[Any, Any, T], name: str | None = None) -> asyncio.Task[T]:
        """``work`` as a task of its own, which the caller need not wait for (a feed
        rebuilt after a read, a token's last use, a kept value renewed); ``close`` ends
        it if it still runs. Its failure is the caller's to log."""
        task = asyncio.create_task(work, name=name)
        self._spawned.add(task)
        task.add_done_callback(self._spawned.discard)
        return task

    async def close(self) -> None:
        running = [*self._background, *self._spawned]
        for task in running:
            task.cancel()
        if running:
            # Bounded too: a task that lost its cancellation must not hang shutdown.
            done, _ = await asyncio.wait(running, timeout=CLOSE_TIMEOUT)
            for task in done:
                if not task.cancelled():
                    task.exception()  # retrieved, so it is not reported as never retrieved
            self._background.clear()
        # Each step is bounded: a backend that stopped answering must not hang shutdown.
        for closer in (self.relay.stop, self.bus.close, self.cache.close, self.blobs.close, self.db.close):
            try:
                await asyncio.wait_for(closer(), timeout=CLOSE_TIMEOUT)
            except Exception:
                log.exception("closing %s failed", closer)
        if self._cpu_pool is not None:
            pool, self._cpu_pool = self._cpu_pool, None
            await asyncio.to_thread(_stop_pool, pool, CLOSE_TIMEOUT)


def _stop_pool(pool: ProcessPoolExecutor, timeout: float) -> None:
    """Stop the media workers: let a running job finish within ``timeout``, then end them.

    ``shutdown(wait=False)`` alone left the spawned workers running for ever whenever the
    server exited before the pool's manager thread had told them to stop.
    """
    # The executor has no public handle on its processes; without one they could outlive us.
    processes = list(getattr(pool, "_processes", {}).values())
    pool.shutdown(wait=False, cancel_futures=True)
    deadline = time.monotonic() + timeout
    for process in processes:
        process.join(max(0.0, deadline - time.monotonic()))
        if process.is_alive():
            process.terminate()
            process.join(1)
