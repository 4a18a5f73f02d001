"""The media worker pool survives a worker process dying."""

from __future__ import annotations

import asyncio
import os
import signal

from lumigram.services import Services


async def test_a_dead_worker_process_gets_the_pool_replaced(services: Services) -> None:
    loop = asyncio.get_running_loop()
    pool = services.cpu_pool()
    assert await loop.run_in_executor(pool, abs, -3) == 3
    victim = next(iter(pool._processes))  # the pool's own processes, which this test started
    os.kill(victim, signal.SIGKILL)
    for _ in range(100):
        if getattr(pool, "_broken", False):
            break
        await asyncio.sleep(0.05)
    assert getattr(pool, "_broken", False)
    fresh = services.cpu_pool()
    assert fresh is not pool
    assert await loop.run_in_executor(fresh, abs, -4) == 4
