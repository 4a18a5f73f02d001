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
    # The blob store goes first, alone: its first call builds the S3 client. Most of that
    # build now runs in a thread (``S3BlobStore._s3``), but what stays on the loop still
    # takes tens of milliseconds on a busy host, and run beside it the other probes'
    # short timeouts could run out and report a healthy database or cache as down.
    media = await _check(services.blobs.ping)
    names = ("database", "cache", "bus")
    probes = (services.db.ping, services.cache.ping, services.bus.ping)
    checks = dict(zip(names, await asyncio.gather(*(_check(probe) for probe in probes)), strict=True))
    checks = {"database": checks["database"], "media": media, "cache": checks["cache"], "bus": checks["bus"]}
    results = list(checks.values())
    ready = all(result == "ok" for result in results)
    body = {"status": "ok" if ready else "unavailable", "checks": checks}
    return OrjsonResponse(body, status_code=200 if ready else 503)
