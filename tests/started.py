"""Services started as the ``services`` fixture starts them, for tests that need their own
settings (``require_verification``, tighter limits, a test SMTP server), with an API client."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator

import httpx

from lumigram.app import create_app
from lumigram.bootstrap import start_consumers
from lumigram.services import Services


@contextlib.asynccontextmanager
async def started_client(services: Services) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the app over ``services``, once these are migrated, their cache flushed and
    their consumers and relay running; the services are closed afterwards."""
    try:
        await services.db.migrate()
        await services.cache.flush()
        await start_consumers(services)
        await services.start_relay()
        transport = httpx.ASGITransport(app=create_app(services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            yield http
    finally:
        await services.close()
