"""The composition root: builds the adapters named by the settings, and starts the consumers.

Only the entry points (``lumigram.app``, ``lumigram.cli``) and the tests import this
module; everything else is handed a ``Services``.
"""

from __future__ import annotations

from lumigram import janitor
from lumigram.config import Settings
from lumigram.consumers import AFTER_COMMIT, consumers
from lumigram.ids import IdGenerator
from lumigram.infra.blobstore import open_blob_store
from lumigram.infra.bus import open_bus
from lumigram.infra.cache import open_cache
from lumigram.infra.database import Database
from lumigram.infra.email_sms import open_email_sender, open_sms_sender
from lumigram.infra.outbox import OutboxRelay
from lumigram.services import Services


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
        after_commit=AFTER_COMMIT,
    )


__all__ = ["Services", "build_services", "start_consumers"]


async def start_consumers(services: Services) -> None:
    """Start every consumer in the table (``lumigram.consumers``) and the janitor."""
    await services.bus.start_consumers(consumers(services))
    services.run_in_background(janitor.run(services), name="janitor")
