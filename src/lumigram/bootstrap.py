"""The composition root: builds the adapters named by the settings, for app, worker, CLI and tests."""

from __future__ import annotations

import asyncio
import logging
import multiprocessing
import os
import time
from collections.abc import Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field

from lumigram.config import Settings
from lumigram.ids import IdGenerator
from lumigram.infra.blobstore import BlobStore, open_blob_store
from lumigram.infra.bus import Consumer, Event, EventBus, open_bus
from lumigram.infra.cache import Cache, open_cache
from lumigram.infra.database import Database
from lumigram.infra.outbox import OutboxRelay
from lumigram.notify import MessageSender, open_email_sender, open_sms_sender

log = logging.getLogger(__name__)

#: Seconds each adapter gets to close at shutdown.
CLOSE_TIMEOUT = 10.0


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
    _background: list[asyncio.Task[None]] = field(default_factory=list)
    _cpu_pool: ProcessPoolExecutor | None = None

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
        it the events when they are at hand (``emit`` returns them): they then go out
        without the relay reading them back (``OutboxRelay.hand_over``)."""
        if events:
            self.relay.hand_over(events)
        else:
            self.relay.kick()

    async def start_relay(self) -> None:
        self.relay.start()

    async def start_consumers(self) -> None:
        from lumigram.handlers import consumers

        await self.bus.start_consumers(consumers(self))
        from lumigram import janitor

        self._background.append(asyncio.create_task(janitor.run(self), name="janitor"))

    async def close(self) -> None:
        for task in self._background:
            task.cancel()
        if self._background:
            # Bounded too: a task that lost its cancellation must not hang shutdown.
            done, _ = await asyncio.wait(self._background, timeout=CLOSE_TIMEOUT)
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


def build_services(settings: Settings) -> Services:
    """Open every adapter (connections are made lazily, on first use)."""
    settings.ensure_secret_key()
    db = Database(settings.database_url, pool_size=settings.db_pool_size, pool_timeout=settings.db_pool_timeout)
    bus = open_bus(settings.bus_url)
    return Services(
        settings=settings,
        db=db,
        blobs=open_blob_store(settings.media_url),
        cache=open_cache(settings.cache_url),
        bus=bus,
        ids=IdGenerator(),
        relay=OutboxRelay(db, bus),
        email=open_email_sender(settings.email_url),
        sms=open_sms_sender(settings.sms_url),
    )


__all__ = ["Consumer", "Services", "build_services"]
