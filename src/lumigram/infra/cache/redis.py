"""Redis/Valkey cache for the scaled-out shape (redis-py asyncio with hiredis)."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from lumigram.infra.cache import RateLimitState, Swap

SUBSCRIBE_TIMEOUT = 5.0


def _bound(score: float, exclusive: bool) -> str:
    if score == float("inf"):
        return "+inf"
    if score == float("-inf"):
        return "-inf"
    text = repr(float(score)) if score != int(score) else str(int(score))
    return f"({text}" if exclusive else text


def _as_bytes(value: bytes | str) -> bytes:
    return value if isinstance(value, bytes) else value.encode()


def _message(raw: dict[str, Any]) -> tuple[str, bytes]:
    channel = raw["channel"]
    return (channel.decode() if isinstance(channel, bytes) else str(channel)), bytes(raw["data"])


class _RedisSubscription:
    def __init__(self, pubsub: PubSub, early: deque[tuple[str, bytes]]) -> None:
        self._pubsub = pubsub
        self._early = early
        self._closed = False

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, bytes]]:
        while self._early and not self._closed:
            yield self._early.popleft()
        while not self._closed:
            try:
                raw = await self._pubsub.get_message(timeout=None)
            except Exception:
                # close() from another task drops the connection under this read.
                if self.closed():
                    return
                raise
            if raw is not None and raw.get("type") == "message":
                yield _message(raw)

    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(RedisError, OSError):
            await self._pubsub.unsubscribe()
        await self._pubsub.aclose()  # type: ignore[no-untyped-call]


#: ``swap_many`` as one script: Redis runs a script atomically. KEYS: per swap, its key
#: then its ``also`` keys. ARGV: the swap count, then per swap: whether a value is
#: expected ("1") or absence ("0"), the expected value, the new value, its ttl (0: none),
#: the number of ``also`` writes, then each one's value and ttl.
_SWAP_MANY = """
local done = {}
local k, a = 1, 2
for s = 1, tonumber(ARGV[1]) do
  local current = redis.call('GET', KEYS[k])
  local taken
  if ARGV[a] == '1' then taken = (current == ARGV[a + 1]) else taken = (current == false) end
  local count = tonumber(ARGV[a + 4])
  if taken then
    local ttl = tonumber(ARGV[a + 3])
    if ttl > 0 then redis.call('SET', KEYS[k], ARGV[a + 2], 'EX', ttl) else redis.call('SET', KEYS[k], ARGV[a + 2]) end
    for w = 1, count do
      redis.call('SET', KEYS[k + w], ARGV[a + 3 + 2 * w], 'EX', tonumber(ARGV[a + 4 + 2 * w]))
    end
  end
  done[s] = taken and 1 or 0
  k = k + 1 + count
  a = a + 5 + 2 * count
end
return done
"""


class RedisCache:
    def __init__(self, client: aioredis.Redis) -> None:
        self._redis = client
        self._swap_many = client.register_script(_SWAP_MANY)

    @classmethod
    def from_url(cls, url: str) -> RedisCache:
        if url.startswith("valkey://"):
            url = "redis://" + url.removeprefix("valkey://")
        client = aioredis.Redis.from_url(url, socket_connect_timeout=3, health_check_interval=30)
        return cls(client)

    async def get(self, key: str) -> bytes | None:
        value = await self._redis.get(key)
        return None if value is None else _as_bytes(value)

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values = await self._redis.mget(list(keys))
        return [None if v is None else _as_bytes(v) for v in values]

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        await self._redis.set(key, value, ex=ttl)

    async def set_many(self, items: Mapping[str, bytes], ttl: int | None = None) -> None:
        if not items:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, value in items.items():
                pipe.set(key, value, ex=ttl)
            await pipe.execute()

    async def swap_many(self, swaps: Sequence[Swap]) -> list[bool]:
        if not swaps:
            return []
        keys: list[str] = []
        args: list[bytes | str | int] = [len(swaps)]
        for swap in swaps:
            keys += [swap.key, *swap.also]
            args += ["1" if swap.expected is not None else "0", swap.expected or b"", swap.value, swap.ttl or 0]
            args.append(len(swap.also))
            for value, ttl in swap.also.values():
                args += [value, max(1, ttl)]
        done = await self._swap_many(keys=keys, args=args)
        return [bool(int(flag)) for flag in done]

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._redis.delete(*keys))

    async def exists(self, key: str) -> bool:
        return bool(await self._redis.exists(key))

    async def expire(self, key: str, ttl: int) -> None:
        await self._redis.expire(key, ttl)

    async def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        if ttl is None:
            return int(await self._redis.incrby(key, amount))
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.incrby(key, amount)
            pipe.expire(key, ttl, nx=True)  # only when created: the window does not slide
            value, _ = await pipe.execute()
        return int(value)

    async def zadd(self, key: str, members: Mapping[str, float], cap: int | None = None) -> None:
        if not members:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            pipe.zadd(key, dict(members))
            if cap is not None:
                pipe.zremrangebyrank(key, 0, -(cap + 1))
            await pipe.execute()

    async def zadd_many(self, entries: Mapping[str, Mapping[str, float]], cap: int | None = None) -> None:
        if not entries:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key, members in entries.items():
                if members:
                    pipe.zadd(key, dict(members))
                    if cap is not None:
                        pipe.zremrangebyrank(key, 0, -(cap + 1))
            await pipe.execute()

    async def zrem_many(self, keys: Sequence[str], members: Sequence[str]) -> None:
        if not keys or not members:
            return
        async with self._redis.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.zrem(key, *members)
            await pipe.execute()

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return int(await self._redis.zrem(key, *members))

    async def zrevrange_by_score(
        self,
        key: str,
        max_score: float = float("inf"),
        min_score: float = float("-inf"),
        limit: int = 20,
        exclusive_max: bool = False,
        exclusive_min: bool = False,
    ) -> list[tuple[str, float]]:
        if limit <= 0:
            return []
        rows: Any = await self._redis.zrevrangebyscore(
            key,
            _bound(max_score, exclusive_max),
            _bound(min_score, exclusive_min),
            start=0,
            num=limit,
            withscores=True,
        )
        return [(m.decode() if isinstance(m, bytes) else str(m), float(s)) for m, s in rows]

    async def zcard(self, key: str) -> int:
        return int(await self._redis.zcard(key))

    async def hit_rate_limit(self, key: str, limit: int, window: int) -> RateLimitState:
        name = f"ratelimit:{key}"
        async with self._redis.pipeline(transaction=True) as pipe:
            pipe.incr(name)
            pipe.expire(name, window, nx=True)
            pipe.ttl(name)
            count, _, ttl = await pipe.execute()
        count = int(count)
        reset_after = int(ttl) if int(ttl) > 0 else window
        return RateLimitState(count <= limit, limit, max(limit - count, 0), reset_after)

    async def publish(self, channel: str, message: bytes) -> None:
        await self._redis.publish(channel, message)

    async def subscribe(self, *channels: str) -> _RedisSubscription:
        wanted = list(dict.fromkeys(channels))
        pubsub = self._redis.pubsub()
        early: deque[tuple[str, bytes]] = deque()
        try:
            await pubsub.subscribe(*wanted)
            # SUBSCRIBE is acknowledged asynchronously; until Redis has confirmed every channel a
            # publish made right after this returns could be missed, so wait for the confirmations.
            confirmed = 0
            async with asyncio.timeout(SUBSCRIBE_TIMEOUT):
                while confirmed < len(wanted):
                    raw = await pubsub.get_message(timeout=None)
                    if raw is None:
                        continue
                    if raw.get("type") == "subscribe":
                        confirmed += 1
                    elif raw.get("type") == "message":
                        early.append(_message(raw))
        except BaseException:
            await pubsub.aclose()  # type: ignore[no-untyped-call]
            raise
        return _RedisSubscription(pubsub, early)

    async def listened(self, channels: Sequence[str]) -> bool:
        if not channels:
            return False
        counts = await self._redis.pubsub_numsub(*channels)
        return any(int(count) > 0 for _, count in counts)

    async def flush(self) -> None:
        await self._redis.flushdb()

    async def ping(self) -> None:
        await self._redis.ping()

    async def close(self) -> None:
        await self._redis.aclose()
