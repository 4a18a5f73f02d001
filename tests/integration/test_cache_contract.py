"""One contract, two adapters: the in-process cache and Redis/Valkey behave the same."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from lumigram.infra.cache import Cache, Splice, Subscription, Swap, open_cache, spliced


@pytest.fixture(params=["memory", "redis"])
async def cache(request: pytest.FixtureRequest) -> AsyncIterator[Cache]:
    # Tests share the session's Redis database 0, so each starts and ends with it empty.
    url = "memory://" if request.param == "memory" else request.getfixturevalue("redis_url")
    opened = open_cache(url)
    await opened.flush()
    try:
        yield opened
    finally:
        await opened.flush()
        await opened.close()


async def _take(subscription: Subscription, count: int) -> list[tuple[str, bytes]]:
    got: list[tuple[str, bytes]] = []
    async for item in subscription:
        got.append(item)
        if len(got) == count:
            break
    return got


async def test_values_round_trip_and_expire(cache: Cache) -> None:
    # One sleep covers every expiry in this test: set with a ttl, expire(), and a counter's ttl.
    await cache.set("a", b"1")
    await cache.set("b", b"2", ttl=1)
    await cache.set("c", b"3")
    await cache.expire("c", 1)
    assert await cache.incr("m", 1, ttl=1) == 1
    assert await cache.incr("m", 1, ttl=100) == 2  # the ttl is set when the counter is made, not extended
    assert await cache.get("a") == b"1"
    assert await cache.get_many(["a", "b", "missing"]) == [b"1", b"2", None]
    assert await cache.get_many(["m"]) == [b"2"]  # a counter reads as its digits
    assert await cache.exists("c")
    await cache.set("long", b"4", ttl=600)
    assert await cache.ttl("long") in (599, 600)
    assert await cache.ttl("a") is None  # no expiry
    assert await cache.ttl("missing") is None
    await asyncio.sleep(1.1)
    assert await cache.get("b") is None
    assert await cache.get("c") is None
    assert await cache.get("m") is None
    assert await cache.exists("a")
    assert not await cache.exists("b")
    assert await cache.get_many(["a", "b", "c", "m"]) == [b"1", None, None, None]
    assert await cache.get_many([]) == []


async def test_set_many_and_delete_count(cache: Cache) -> None:
    await cache.set_many({"x": b"1", "y": b"2"}, ttl=60)
    assert await cache.get_many(["x", "y"]) == [b"1", b"2"]
    assert await cache.delete("x", "y", "z") == 2
    assert await cache.get("x") is None
    assert await cache.delete() == 0
    await cache.set_many({})


async def test_set_overwrites_and_values_are_bytes(cache: Cache) -> None:
    await cache.set("k", b"\x00\xffbinary")
    assert await cache.get("k") == b"\x00\xffbinary"
    await cache.set("k", b"")
    assert await cache.get("k") == b""


async def test_swap_many_sets_only_where_the_expected_value_is_still_there(cache: Cache) -> None:
    await cache.set("gen:a", b"1")
    await cache.set("gen:b", b"1")
    await cache.set("page:b", b"old")
    done = await cache.swap_many(
        [
            Swap("gen:a", b"1", b"2", 60, {"page:a1": (b"new-a1", 60), "page:a2": (b"new-a2", 60)}),
            Swap("gen:b", b"0", b"2", 60, {"page:b": (b"new-b", 60)}),  # b moved on: nothing changes
            Swap("gen:c", None, b"7", None, {}),  # expected absent, and it is
            Swap("gen:a", b"1", b"3", 60, {}),  # a already swapped by the first
        ]
    )
    assert done == [True, False, True, False]
    assert await cache.get_many(["gen:a", "page:a1", "page:a2"]) == [b"2", b"new-a1", b"new-a2"]
    assert await cache.get_many(["gen:b", "page:b", "gen:c"]) == [b"1", b"old", b"7"]
    assert await cache.swap_many([]) == []
    await cache.swap_many([Swap("gen:c", b"7", b"8", 60, {"short": (b"x", 1)})])
    await asyncio.sleep(2.2)
    assert await cache.get("short") is None  # the write's own ttl
    assert await cache.get("gen:c") == b"8"


async def test_splices_make_values_in_the_store_from_the_ones_held(cache: Cache) -> None:
    await cache.set_many({"gen:a": b"1", "gen:b": b"1", "page:a": b"HEAD[one,two]", "page:b": b"HEAD[x]"})
    assert await cache.get_prefixes(["page:a", "page:b", "none"], 4) == [b"HEAD", b"HEAD", None]
    # The new post goes first: a new head, the held Statuses as one slice, "]".
    first = Splice(b"HEAD", 13, (b"NEW!", b"[", 0, b",", (5, 12), b"]"))
    assert spliced(first, b"HEAD[one,two]", [b"zero"]) == b"NEW![zero,one,two]"
    changed = Splice(b"HEAD", 9, (b"NEW!", b"[", 0, b"]"))  # page:b is 7 bytes long now, not 9
    done = await cache.swap_many(
        [
            Swap("gen:a", b"1", b"2", 60, {"page:a": (first, 60), "plain": (b"v", 60)}),
            Swap("gen:b", b"1", b"2", 60, {"page:b": (changed, 60)}),
            Swap("gen:c", None, b"2", 60, {"missing": (Splice(b"", 0, (b"x",)), 60)}),
        ],
        shared=[b"zero"],
    )
    # Where a splice does not apply its swap writes nothing, as a moved generation.
    assert done == [True, False, False]
    assert await cache.get_many(["gen:a", "page:a", "plain"]) == [b"2", b"NEW![zero,one,two]", b"v"]
    assert await cache.get_many(["gen:b", "page:b", "gen:c", "missing"]) == [b"1", b"HEAD[x]", None, None]
    assert 0 < (await cache.ttl("page:a") or 0) <= 60


async def test_counters(cache: Cache) -> None:
    assert await cache.incr("n") == 1
    assert await cache.incr("n", 5) == 6
    assert await cache.incr("n", -2) == 4
    assert await cache.get("n") == b"4"
    await cache.set("stored", b"41")
    assert await cache.incr("stored") == 42


async def test_sorted_sets_order_bound_and_cap(cache: Cache) -> None:
    await cache.zadd("feed", {str(i): float(i) for i in range(10)})
    assert await cache.zcard("feed") == 10
    top = await cache.zrevrange_by_score("feed", limit=3)
    assert top == [("9", 9.0), ("8", 8.0), ("7", 7.0)]
    below = await cache.zrevrange_by_score("feed", max_score=5, limit=2, exclusive_max=True)
    assert [m for m, _ in below] == ["4", "3"]
    inclusive = await cache.zrevrange_by_score("feed", max_score=5, limit=2)
    assert [m for m, _ in inclusive] == ["5", "4"]
    window = await cache.zrevrange_by_score("feed", max_score=6, min_score=4, exclusive_min=True, limit=10)
    assert [m for m, _ in window] == ["6", "5"]
    assert await cache.zrevrange_by_score("feed", max_score=5, min_score=5, exclusive_max=True) == []
    assert await cache.zrevrange_by_score("feed", max_score=2.5, min_score=-1) == [("2", 2.0), ("1", 1.0), ("0", 0.0)]
    assert await cache.zrevrange_by_score("feed", limit=0) == []
    await cache.zadd("feed", {"10": 10.0, "11": 11.0}, cap=5)
    assert [m for m, _ in await cache.zrevrange_by_score("feed", limit=10)] == ["11", "10", "9", "8", "7"]
    await cache.zadd("feed", {"9": 12.0})  # re-adding moves a member
    assert [m for m, _ in await cache.zrevrange_by_score("feed", limit=2)] == ["9", "11"]
    assert await cache.zrem("feed", "11", "nope") == 1
    assert await cache.zcard("feed") == 4
    assert await cache.zrevrange_by_score("empty") == []
    assert await cache.zcard("empty") == 0
    assert await cache.zrem("empty", "x") == 0


async def test_equal_scores_order_by_member_descending_and_cap_keeps_the_greatest(cache: Cache) -> None:
    await cache.zadd("ties", {"a": 1.0, "c": 1.0, "b": 1.0, "z": 0.5})
    assert await cache.zrevrange_by_score("ties") == [("c", 1.0), ("b", 1.0), ("a", 1.0), ("z", 0.5)]
    await cache.zadd("ties", {"d": 1.0}, cap=3)
    assert [m for m, _ in await cache.zrevrange_by_score("ties")] == ["d", "c", "b"]


async def test_fractional_and_negative_scores(cache: Cache) -> None:
    await cache.zadd("f", {"x": 1.25, "y": -3.5, "w": 1.75})
    below = await cache.zrevrange_by_score("f", max_score=1.75, exclusive_max=True)
    assert below == [("x", 1.25), ("y", -3.5)]
    above = await cache.zrevrange_by_score("f", min_score=-3.5, exclusive_min=True)
    assert above == [("w", 1.75), ("x", 1.25)]


async def test_big_ids_keep_full_precision_as_members(cache: Cache) -> None:
    big = str(2**62 + 12345)
    await cache.zadd("feed", {big: 1_700_000_000_000.0})
    assert (await cache.zrevrange_by_score("feed"))[0][0] == big


async def test_rate_limit_counts_down_then_refuses(cache: Cache) -> None:
    states = [await cache.hit_rate_limit("login:1.2.3.4", limit=3, window=60) for _ in range(4)]
    assert [s.allowed for s in states] == [True, True, True, False]
    assert [s.remaining for s in states] == [2, 1, 0, 0]
    assert all(s.limit == 3 for s in states)
    assert all(0 < s.reset_after <= 60 for s in states)
    assert (await cache.hit_rate_limit("login:5.6.7.8", limit=3, window=60)).allowed


async def test_pubsub_reaches_every_subscriber_until_closed(cache: Cache) -> None:
    first = await cache.subscribe("news")
    second = await cache.subscribe("news", "other")
    # No pause: once subscribe() returns, a publish reaches the subscriber.
    await cache.publish("news", b"hello")
    await cache.publish("other", b"psst")
    await cache.publish("nobody-listens", b"lost")
    assert await asyncio.wait_for(_take(first, 1), 5) == [("news", b"hello")]
    assert await asyncio.wait_for(_take(second, 2), 5) == [("news", b"hello"), ("other", b"psst")]
    await first.close()
    await cache.publish("news", b"after")
    assert await asyncio.wait_for(_take(second, 1), 5) == [("news", b"after")]
    assert await asyncio.wait_for(_take(first, 1), 5) == []  # a closed subscription yields nothing more
    await second.close()
    await second.close()  # closing twice is harmless


async def test_listened_tells_whether_a_channel_has_a_subscriber(cache: Cache) -> None:
    assert not await cache.listened(["quiet", "calm"])
    assert not await cache.listened([])
    subscription = await cache.subscribe("calm")
    assert await cache.listened(["quiet", "calm"])
    assert not await cache.listened(["quiet"])
    await subscription.close()
    for _ in range(50):  # a server may count the unsubscribe a moment after close returns
        if not await cache.listened(["calm"]):
            break
        await asyncio.sleep(0.02)
    assert not await cache.listened(["calm"])


async def test_closing_a_subscription_ends_an_iteration_in_progress(cache: Cache) -> None:
    subscription = await cache.subscribe("events")
    reader = asyncio.create_task(_take(subscription, 100))
    await cache.publish("events", b"one")
    await asyncio.sleep(0.1)
    await subscription.close()
    assert await asyncio.wait_for(reader, 5) == [("events", b"one")]


async def test_flush_drops_everything(cache: Cache) -> None:
    await cache.set("a", b"1")
    await cache.zadd("z", {"m": 1.0})
    await cache.incr("n")
    await cache.flush()
    assert await cache.get("a") is None
    assert await cache.zcard("z") == 0
    assert not await cache.exists("n")


async def test_ping(cache: Cache) -> None:
    await cache.ping()


async def test_the_valkey_scheme_is_redis(redis_url: str) -> None:
    opened = open_cache(redis_url.replace("redis://", "valkey://"))
    try:
        await opened.ping()
    finally:
        await opened.close()


async def test_a_slow_memory_subscriber_loses_messages_but_never_blocks_the_publisher() -> None:
    from lumigram.infra.cache.memory import SUBSCRIBER_BUFFER

    cache = open_cache("memory://")
    slow = await cache.subscribe("c")
    for n in range(SUBSCRIBER_BUFFER + 10):
        await asyncio.wait_for(cache.publish("c", str(n).encode()), 1)
    assert (await asyncio.wait_for(_take(slow, 1), 1)) == [("c", b"0")]
    await slow.close()  # with its buffer full, closing must still end the iteration
    assert await asyncio.wait_for(_take(slow, SUBSCRIBER_BUFFER + 10), 1) == []
    await cache.close()
