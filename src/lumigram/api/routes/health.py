"""Liveness (``/healthz``) and readiness (``/readyz``: all four backends answer)."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from fastapi import APIRouter
from starlette.responses import Response

from lumigram.api.deps import ServicesDep
from lumigram.api.responses import OrjsonResponse

router = APIRouter(tags=["health"])

CHECK_TIMEOUT = 3.0


@router.get("/healthz", summary="The process is up")
async def healthz() -> Response:
    return OrjsonResponse({"status": "ok"})


async def _check(probe: Callable[[], Awaitable[None]]) -> str:
    try:
        await asyncio.wait_for(probe(), timeout=CHECK_TIMEOUT)
    except Exception as exc:  # any failure means "not ready"; say which
        return f"error: {type(exc).__name__}: {exc}"[:300]
    return "ok"


@router.get("/readyz", summary="Database, blob store, cache and event bus all answer")
async def readyz(services: ServicesDep) -> Response:
    names = ("database", "media", "cache", "bus")
    probes = (services.db.ping, services.blobs.ping, services.cache.ping, services.bus.ping)
    results = await asyncio.gather(*(_check(probe) for probe in probes))
    checks = dict(zip(names, results, strict=True))
    ready = all(result == "ok" for result in results)
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return OrjsonResponse(body, status_code=200 if ready else 503)
