"""Redis/Valkey cache for the scaled-out shape: commands on ``lumigram.infra.cache.resp``'s
pipelined connection, subscriptions on redis-py's."""

from __future__ import annotations

import asyncio
import contextlib
from collections import deque
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import Any

import redis.asyncio as aioredis
from redis.asyncio.client import PubSub
from redis.exceptions import RedisError

from lumigram.infra.cache import RateLimitState, Splice, Swap
from lumigram.infra.cache.resp import Arg, RespClient

SUBSCRIBE_TIMEOUT = 5.0


def _bound(score: float, exclusive: bool) -> str:
    if score == float("inf"):
        return "+inf"
    if score == float("-inf"):
        return "-inf"
    text = repr(float(score)) if score != int(score) else str(int(score))
    return f"({text}" if exclusive else text


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
#: then its ``also`` keys. ARGV: the swap count, the count of shared values and each of
#: them, then per swap: whether a value is expected ("1") or absence ("0"), the expected
#: value, the new value, its ttl (0: none), the number of ``also`` writes, then each
#: one's kind and ttl: "v" and the value, or "s" (a ``Splice``) and the prefix and length
#: it expects, its count of parts, and each part: "b" and bytes, "x" and a shared value's
#: index, or "o" and a slice's start and end. A swap whose splice does not apply writes
#: nothing, as one whose key no longer holds the expected value.
_SWAP_MANY = """
local done = {}
local k, a = 1, 3 + tonumber(ARGV[2])
for s = 1, tonumber(ARGV[1]) do
  local current = redis.call('GET', KEYS[k])
  local taken
  if ARGV[a] == '1' then taken = (current == ARGV[a + 1]) else taken = (current == false) end
  local value, ttl, count = ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
  a = a + 5
  local writes = {}
  for w = 1, count do
    local kind, wttl = ARGV[a], tonumber(ARGV[a + 1])
    local made
    if kind == 'v' then
      made = ARGV[a + 2]
      a = a + 3
    else
      local expected, length, parts = ARGV[a + 2], tonumber(ARGV[a + 3]), tonumber(ARGV[a + 4])
      a = a + 5
      local held = false
      if taken then held = redis.call('GET', KEYS[k + w]) end
      local fits = held and #held == length and string.sub(held, 1, #expected) == expected
      local pieces = {}
      for p = 1, parts do
        local part = ARGV[a]
        if part == 'b' then
          pieces[p] = ARGV[a + 1]
          a = a + 2
        elseif part == 'x' then
          pieces[p] = ARGV[3 + tonumber(ARGV[a + 1])]
          a = a + 2
        else
          if fits then pieces[p] = string.sub(held, tonumber(ARGV[a + 1]) + 1, tonumber(ARGV[a + 2])) end
          a = a + 3
        end
      end
      if fits then made = table.concat(pieces) else taken = false end
    end
    writes[w] = {made, wttl}
  end
  if taken then
    if ttl > 0 then redis.call('SET', KEYS[k], value, 'EX', ttl) else redis.call('SET', KEYS[k], value) end
    for w = 1, count do
      redis.call('SET', KEYS[k + w], writes[w][1], 'EX', writes[w][2])
    end
  end
  done[s] = taken and 1 or 0
  k = k + 1 + count
end
return done
"""


#: ``incr_tagged`` and ``incr_if_tagged``: a tagged counter is the string "name:value".
#: KEYS[1] the counter; ARGV: the amount, the name, and (``incr_tagged``) the ttl of a new
#: one. KEEPTTL leaves the expiry set when the counter was made.
_INCR_TAGGED = """
local current = redis.call('GET', KEYS[1])
if current then
  local tag, count = string.match(current, '^([^:]+):(%-?%d+)$')
  if tag then
    redis.call('SET', KEYS[1], tag .. ':' .. string.format('%d', tonumber(count) + tonumber(ARGV[1])), 'KEEPTTL')
    return tag
  end
end
redis.call('SET', KEYS[1], ARGV[2] .. ':' .. ARGV[1], 'EX', tonumber(ARGV[3]))
return ARGV[2]
"""

_INCR_IF_TAGGED = """
local current = redis.call('GET', KEYS[1])
if not current then return 0 end
local tag, count = string.match(current, '^([^:]+):(%-?%d+)$')
if tag ~= ARGV[2] then return 0 end
redis.call('SET', KEYS[1], tag .. ':' .. string.format('%d', tonumber(count) + tonumber(ARGV[1])), 'KEEPTTL')
return 1
"""


class RedisCache:
    """Commands go through ``RespClient`` (one pipelined connection); subscriptions
    through redis-py, each on a connection of its own."""

    def __init__(self, client: RespClient, pubsub_client: aioredis.Redis) -> None:
        self._client = client
        self._redis = pubsub_client

    @classmethod
    def from_url(cls, url: str) -> RedisCache:
        if url.startswith("valkey://"):
            url = "redis://" + url.removeprefix("valkey://")
        pubsub_client = aioredis.Redis.from_url(url, socket_connect_timeout=3, health_check_interval=30)
        return cls(RespClient(url), pubsub_client)

    async def get(self, key: str) -> bytes | None:
        value: bytes | None = await self._client.execute("GET", key)
        return value

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        if not keys:
            return []
        values: list[bytes | None] = await self._client.execute("MGET", *keys)
        return values

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        await self._client.execute(*_set(key, value, ttl))

    async def set_many(self, items: Mapping[str, bytes], ttl: int | None = None) -> None:
        if items:
            await self._client.batch([_set(key, value, ttl) for key, value in items.items()])

    async def get_prefixes(self, keys: Sequence[str], size: int) -> list[bytes | None]:
        # GETRANGE answers "" for a missing key: no value held here is empty.
        replies = await self._client.batch([("GETRANGE", key, 0, size - 1) for key in keys])
        return [reply or None for reply in replies]

    async def swap_many(self, swaps: Sequence[Swap], shared: Sequence[bytes] = ()) -> list[bool]:
        if not swaps:
            return []
        keys: list[str] = []
        args: list[Arg] = [len(swaps), len(shared), *shared]
        for swap in swaps:
            keys += [swap.key, *swap.also]
            args += ["1" if swap.expected is not None else "0", swap.expected or b"", swap.value, swap.ttl or 0]
            args.append(len(swap.also))
            for value, ttl in swap.also.values():
                if isinstance(value, Splice):
                    args += ["s", max(1, ttl), value.expected, value.length, len(value.parts)]
                    for part in value.parts:
                        if isinstance(part, bytes):
                            args += ["b", part]
                        elif isinstance(part, int):
                            args += ["x", part]
                        else:
                            args += ["o", part[0], part[1]]
                else:
                    args += ["v", max(1, ttl), value]
        done = await self._client.script(_SWAP_MANY, keys, args)
        return [bool(int(flag)) for flag in done]

    async def delete(self, *keys: str) -> int:
        if not keys:
            return 0
        return int(await self._client.execute("DEL", *keys))

    async def exists(self, key: str) -> bool:
        return bool(await self._client.execute("EXISTS", key))

    async def expire(self, key: str, ttl: int) -> None:
        await self._client.execute("EXPIRE", key, ttl)

    async def ttl(self, key: str) -> int | None:
        left = int(await self._client.execute("TTL", key))
        return left if left >= 0 else None  # -2: missing, -1: no expiry

    async def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        if ttl is None:
            return int(await self._client.execute("INCRBY", key, amount))
        # The expiry only when the key is created: the window does not slide.
        value, _ = await self._client.batch([("INCRBY", key, amount), ("EXPIRE", key, ttl, "NX")])
        return int(value)

    async def incr_tagged(self, key: str, amount: int, tag: str, ttl: int) -> str:
        name: bytes = await self._client.script(_INCR_TAGGED, [key], [amount, tag, ttl])
        return name.decode()

    async def incr_if_tagged(self, key: str, amount: int, tag: str) -> bool:
        return bool(int(await self._client.script(_INCR_IF_TAGGED, [key], [amount, tag])))

    async def zadd(self, key: str, members: Mapping[str, float], cap: int | None = None) -> None:
        if members:
            await self._client.batch(_zadd(key, members, cap))

    async def zadd_many(self, entries: Mapping[str, Mapping[str, float]], cap: int | None = None) -> None:
        commands = [command for key, members in entries.items() if members for command in _zadd(key, members, cap)]
        if commands:
            await self._client.batch(commands)

    async def zrem_many(self, keys: Sequence[str], members: Sequence[str]) -> None:
        if keys and members:
            await self._client.batch([("ZREM", key, *members) for key in keys])

    async def zrem(self, key: str, *members: str) -> int:
        if not members:
            return 0
        return int(await self._client.execute("ZREM", key, *members))

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
        flat: list[bytes] = await self._client.execute(
            "ZREVRANGEBYSCORE",
            key,
            _bound(max_score, exclusive_max),
            _bound(min_score, exclusive_min),
            "WITHSCORES",
            "LIMIT",
            0,
            limit,
        )
        return [(flat[i].decode(), float(flat[i + 1])) for i in range(0, len(flat), 2)]

    async def zcard(self, key: str) -> int:
        return int(await self._client.execute("ZCARD", key))

    async def hit_rate_limit(self, key: str, limit: int, window: int) -> RateLimitState:
        name = f"ratelimit:{key}"
        count, _, ttl = await self._client.transaction([("INCR", name), ("EXPIRE", name, window, "NX"), ("TTL", name)])
        count = int(count)
        reset_after = int(ttl) if int(ttl) > 0 else window
        return RateLimitState(count <= limit, limit, max(limit - count, 0), reset_after)

    async def publish(self, channel: str, message: bytes) -> None:
        await self._client.execute("PUBLISH", channel, message)

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
        flat = await self._client.execute("PUBSUB", "NUMSUB", *channels)
        return any(int(count) > 0 for count in flat[1::2])

    async def flush(self) -> None:
        await self._client.execute("FLUSHDB")

    async def ping(self) -> None:
        await self._client.execute("PING")

    async def close(self) -> None:
        await self._client.close()
        await self._redis.aclose()


def _set(key: str, value: bytes, ttl: int | None) -> tuple[Arg, ...]:
    return ("SET", key, value) if ttl is None else ("SET", key, value, "EX", ttl)


def _zadd(key: str, members: Mapping[str, float], cap: int | None) -> list[tuple[Arg, ...]]:
    """Add the members; then, with a cap, drop all but the ``cap`` highest scored."""
    add: tuple[Arg, ...] = ("ZADD", key, *(x for member, score in members.items() for x in (score, member)))
    return [add] if cap is None else [add, ("ZREMRANGEBYRANK", key, 0, -(cap + 1))]
