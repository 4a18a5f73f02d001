"""One contract, two adapters: the in-process cache and Redis/Valkey behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lumigram.infra.cache import Cache, open_cache


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    opened = open_cache(url)
    await opened.flush()
    try:
        yield opened
    finally:
        await opened.flush()
        await opened.close()


async def test_values_round_trip_and_expire(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.set("b", b"2", ttl=1)
    assert await cache.get("a") == b"1"
    assert await cache.get_many(["a", "b", "missing"]) == [b"1", b"2", None]
    await asyncio.sleep(1.2)
    assert await cache.get("b") is None
    assert await cache.exists("a")
    assert not await cache.exists("b")


async def test_set_many_and_delete_count(cache: Cache) -> None:
    await cache.set_many({"x": b"1", "y": b"2"}, ttl=60)
    assert await cache.delete("x", "y", "z") == 2
    assert await cache.get("x") is None


async def test_counters_start_at_zero_and_keep_their_first_ttl(cache: Cache) -> None:
    assert await cache.incr("n") == 1
    assert await cache.incr("n", 5) == 6
    assert await cache.incr("m", 1, ttl=1) == 1
    assert await cache.incr("m", 1, ttl=100) == 2  # the ttl is not extended
    await asyncio.sleep(1.2)
    assert await cache.get("m") is None
    assert await cache.get("n") == b"6"


async def test_sorted_sets_order_bound_and_cap(cache: Cache) -> None:
    await cache.zadd("feed", {str(i): float(i) for i in range(10)})
    assert await cache.zcard("feed") == 10
    top = await cache.zrevrange_by_score("feed", limit=3)
    assert top == [("9", 9.0), ("8", 8.0), ("7", 7.0)]
    below = await cache.zrevrange_by_score("feed", max_score=5, limit=2, exclusive_max=True)
    assert [m for m, _ in below] == ["4", "3"]
    window = await cache.zrevrange_by_score("feed", max_score=6, min_score=4, exclusive_min=True, limit=10)
    assert [m for m, _ in window] == ["6", "5"]
    await cache.zadd("feed", {"10": 10.0, "11": 11.0}, cap=5)
    assert [m for m, _ in await cache.zrevrange_by_score("feed", limit=10)] == ["11", "10", "9", "8", "7"]
    assert await cache.zrem("feed", "11", "nope") == 1
    assert await cache.zcard("feed") == 4
    assert await cache.zrevrange_by_score("empty") == []


async def test_big_ids_keep_full_precision_as_members(cache: Cache) -> None:
    big = str(2**62 + 12345)
    await cache.zadd("feed", {big: 1_700_000_000_000.0})
    assert (await cache.zrevrange_by_score("feed"))[0][0] == big


async def test_rate_limit_counts_down_then_refuses(cache: Cache) -> None:
    states = [await cache.hit_rate_limit("login:1.2.3.4", limit=3, window=60) for _ in range(4)]
    assert [s.allowed for s in states] == [True, True, True, False]
    assert [s.remaining for s in states] == [2, 1, 0, 0]
    assert all(0 < s.reset_after <= 60 for s in states)
    assert (await cache.hit_rate_limit("login:5.6.7.8", limit=3, window=60)).allowed


async def test_pubsub_reaches_every_subscriber_until_closed(cache: Cache) -> None:
    first = await cache.subscribe("news")
    second = await cache.subscribe("news", "other")
    await asyncio.sleep(0.05)  # Redis confirms subscriptions asynchronously
    await cache.publish("news", b"hello")
    await cache.publish("other", b"psst")

    async def take(subscription: object, count: int) -> list[tuple[str, bytes]]:
        got = []
        async for item in subscription:  # type: ignore[attr-defined]
            got.append(item)
            if len(got) == count:
                break
        return got

    assert await asyncio.wait_for(take(first, 1), 5) == [("news", b"hello")]
    assert await asyncio.wait_for(take(second, 2), 5) == [("news", b"hello"), ("other", b"psst")]
    await first.close()
    await second.close()


async def test_flush_drops_everything(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.zadd("z", {"m": 1.0})
    await cache.flush()
    assert await cache.get("a") is None
    assert await cache.zcard("z") == 0
