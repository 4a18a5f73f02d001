"""The tagged counters of the cache port, on both adapters: a correction lands only in the
counter that took the change it corrects, never in an absent or a newer one."""

from __future__ import annotations

import asyncio

from lumigram.infra.cache import Cache, parse_tagged
from tests.integration.test_cache_contract import cache

__all__ = ["cache"]


async def test_a_counter_is_made_once_and_keeps_its_tag(cache: Cache) -> None:
    assert await cache.incr_tagged("c", 1, "first", ttl=60) == "first"
    assert await cache.incr_tagged("c", 1, "second", ttl=60) == "first"
    assert await cache.incr_tagged("c", -3, "third", ttl=60) == "first"
    assert await cache.get("c") == b"first:-1"
    assert parse_tagged(b"first:-1") == ("first", -1)


async def test_a_correction_lands_only_in_its_own_counter(cache: Cache) -> None:
    tag = await cache.incr_tagged("c", 2, "one", ttl=60)
    assert await cache.incr_if_tagged("c", -1, tag)
    assert not await cache.incr_if_tagged("c", -1, "other")
    assert await cache.get("c") == b"one:1"


async def test_no_correction_is_applied_to_an_absent_key(cache: Cache) -> None:
    assert not await cache.incr_if_tagged("never", -1, "one")
    assert await cache.get("never") is None

    tag = await cache.incr_tagged("c", 1, "one", ttl=60)
    await cache.flush()  # the cache is lost with the change still pending
    assert not await cache.incr_if_tagged("c", -1, tag)
    assert await cache.get("c") is None  # not -1

    # A new change makes a new counter; the old correction cannot reach it.
    assert await cache.incr_tagged("c", 1, "two", ttl=60) == "two"
    assert not await cache.incr_if_tagged("c", -1, tag)
    assert await cache.get("c") == b"two:1"


async def test_a_counter_expires_when_made_and_is_not_corrected_after(cache: Cache) -> None:
    tag = await cache.incr_tagged("c", 1, "one", ttl=1)
    await cache.incr_tagged("c", 1, "ignored", ttl=100)  # the expiry is the one it was made with
    assert await cache.incr_if_tagged("c", -1, tag)
    await asyncio.sleep(1.1)
    assert await cache.get("c") is None
    assert not await cache.incr_if_tagged("c", -1, tag)
    assert await cache.get("c") is None


async def test_another_value_under_the_key_is_replaced_not_added_to(cache: Cache) -> None:
    await cache.set("plain", b"7")
    assert not await cache.incr_if_tagged("plain", 1, "7")
    assert await cache.get("plain") == b"7"
    assert await cache.incr_tagged("plain", 1, "fresh", ttl=60) == "fresh"
    assert await cache.get("plain") == b"fresh:1"


async def test_concurrent_changes_all_count(cache: Cache) -> None:
    tags = await asyncio.gather(*(cache.incr_tagged("c", 1, f"t{n}", ttl=60) for n in range(40)))
    assert len(set(tags)) == 1
    done = await asyncio.gather(*(cache.incr_if_tagged("c", -1, tags[0]) for _ in range(15)))
    assert all(done)
    assert await cache.get("c") == f"{tags[0]}:25".encode()
