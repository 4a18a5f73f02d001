"""Fixed-window rate limits over several keys at once (per client address and per login name)."""

from __future__ import annotations

from collections.abc import Sequence

from lumigram.bootstrap import Services
from lumigram.errors import RateLimited
from lumigram.infra.cache import RateLimitState


async def hit_limits(services: Services, keys: Sequence[str], limit: int, window: int) -> RateLimitState:
    """Count one hit on every key; RateLimited if any is over ``limit``, else the tightest state."""
    states = [await services.cache.hit_rate_limit(key, limit, window) for key in keys]
    tightest = min(states, key=lambda state: (state.allowed, state.remaining))
    if not tightest.allowed:
        raise RateLimited(tightest.limit, tightest.remaining, tightest.reset_after)
    return tightest
