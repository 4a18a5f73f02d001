"""The set-if-absent form of ``swap_many`` (expected: None), which the auth cache's fills
rely on to never overwrite a revocation's mark: both adapters alike."""

from __future__ import annotations

import asyncio

from lumigram.infra.cache import Cache, Swap
from tests.integration.test_cache_contract import cache

__all__ = ["cache"]


async def test_a_swap_expecting_absence_leaves_a_present_value_and_its_expiry(cache: Cache) -> None:
    await cache.set("held", b"mark", ttl=1)
    await cache.set("kept", b"mark")
    assert await cache.swap_many([Swap("held", None, b"fill", 600, {}), Swap("kept", None, b"fill", 600, {})]) == [
        False,
        False,
    ]
    assert await cache.get_many(["held", "kept"]) == [b"mark", b"mark"]
    # The refused swap did not extend the value's life: once it expires, the key is absent.
    await asyncio.sleep(1.5)
    assert await cache.get("held") is None
    assert await cache.swap_many([Swap("held", None, b"fill", 600, {})]) == [True]
    assert await cache.get("held") == b"fill"
