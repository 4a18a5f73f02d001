"""In-process cache for the embedded shape: dicts with expiry, sorted sets, counters, pub/sub.

Everything lives in this process, so it is only for a single ``lumigram serve``.
Expiry is checked lazily on access, plus a sweep every few thousand writes so keys
that are never read again do not pile up.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass, field

from lumigram.infra.cache import RateLimitState, Splice, Swap, parse_tagged, spliced, tagged_value

SWEEP_EVERY = 4096
SUBSCRIBER_BUFFER = 1024


@dataclass
class _Entry:
    value: bytes | int | dict[str, float]
    expires_at: float | None = None


class _MemorySubscription:
    def __init__(self, hub: MemoryCache, channels: tuple[str, ...]) -> None:
        self._hub = hub
        self.channels = channels
        self.queue: asyncio.Queue[tuple[str, bytes] | None] = asyncio.Queue(maxsize=SUBSCRIBER_BUFFER)
        self.closed = False

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]:
        return self._iterate()

    async def _iterate(self) -> AsyncIterator[tuple[str, bytes]]:
        while not self.closed:
            item = await self.queue.get()
            if item is None or self.closed:
                return
            yield item

    def deliver(self, channel: str, message: bytes) -> None:
        # A subscriber that does not keep up loses messages; the publisher never waits.
        with contextlib.suppress(asyncio.QueueFull):
            self.queue.put_nowait((channel, message))

    async def close(self) -> None:
        if self.closed:
            return
        self.closed = True
        self._hub._unsubscribe(self)
        # Make room for the wake-up marker: an iterator blocked on get() must return.
        with contextlib.suppress(asyncio.QueueEmpty):
            if self.queue.full():
                self.queue.get_nowait()
        self.queue.put_nowait(None)


@dataclass
class MemoryCache:
    _data: dict[str, _Entry] = field(default_factory=dict)
    _subscribers: dict[str, set[_MemorySubscription]] = field(default_factory=dict)
    _writes: int = 0

    # -- expiry -------------------------------------------------------------
    def _live(self, key: str, now: float | None = None) -> _Entry | None:
        """The key's entry unless expired (by ``now``, read from the clock when not given)."""
        entry = self._data.get(key)
        if entry is None:
            return None
        if entry.expires_at is not None and entry.expires_at <= (time.monotonic() if now is None else now):
            del self._data[key]
            return None
        return entry

    def _wrote(self) -> None:
        self._writes += 1
        if self._writes % SWEEP_EVERY == 0:
            now = time.monotonic()
            expired = [k for k, e in self._data.items() if e.expires_at is not None and e.expires_at <= now]
            for key in expired:
                del self._data[key]

    @staticmethod
    def _deadline(ttl: int | None) -> float | None:
        return None if ttl is None else time.monotonic() + ttl

    # -- key/value ----------------------------------------------------------
    @staticmethod
    def _as_bytes(key: str, entry: _Entry | None) -> bytes | None:
        if entry is None:
            return None
        if isinstance(entry.value, bytes):
            return entry.value
        if isinstance(entry.value, int):
            return str(entry.value).encode()
        raise TypeError(f"key {key!r} holds a sorted set")

    async def get(self, key: str) -> bytes | None:
        return self._as_bytes(key, self._live(key))

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]:
        # No coroutine and one clock read for them all: a new post reads its followers'
        # kept pages here, some eighty keys at once.
        now = time.monotonic()
        return [self._as_bytes(key, self._live(key, now)) for key in keys]

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        self._data[key] = _Entry(bytes(value), self._deadline(ttl))
        self._wrote()

    async def set_many(self, items: Mapping[str, bytes], ttl: int | None = None) -> None:
        for key, value in items.items():
            await self.set(key, value, ttl)

    async def get_prefixes(self, keys: Sequence[str], size: int) -> list[bytes | None]:
        now = time.monotonic()
        values = [self._as_bytes(key, self._live(key, now)) for key in keys]
        return [value[:size] if value else None for value in values]

    async def swap_many(self, swaps: Sequence[Swap], shared: Sequence[bytes] = ()) -> list[bool]:
        # No await between the read and the writes: atomic on the event loop.
        done = []
        for swap in swaps:
            entry = self._live(swap.key)
            current = entry.value if entry is not None else None
            writes: dict[str, tuple[bytes, int]] = {}
            taken = current == swap.expected
            for key, (value, ttl) in swap.also.items() if taken else ():
                if isinstance(value, Splice):
                    made = spliced(value, self._as_bytes(key, self._live(key)), shared)
                    if made is None:
                        taken = False
                        break
                    value = made
                writes[key] = (value, ttl)
            if taken:
                self._data[swap.key] = _Entry(bytes(swap.value), self._deadline(swap.ttl))
                for key, (value, ttl) in writes.items():
                    self._data[key] = _Entry(bytes(value), self._deadline(ttl))
                self._wrote()
            done.append(taken)
        return done

    async def delete(self, *keys: str) -> int:
        removed = 0
        for key in keys:
            if self._live(key) is not None:
                del self._data[key]
                removed += 1
        return removed

    async def exists(self, key: str) -> bool:
        return self._live(key) is not None

    async def expire(self, key: str, ttl: int) -> None:
        entry = self._live(key)
        if entry is not None:
            entry.expires_at = self._deadline(ttl)

    async def ttl(self, key: str) -> int | None:
        entry = self._live(key)
        if entry is None or entry.expires_at is None:
            return None
        return math.ceil(entry.expires_at - time.monotonic())

    async def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        entry = self._live(key)
        if entry is None:
            entry = _Entry(0, self._deadline(ttl))
            self._data[key] = entry
            self._wrote()
        if isinstance(entry.value, bytes):
            entry.value = int(entry.value)
        if not isinstance(entry.value, int):
            raise TypeError(f"key {key!r} is not a counter")
        entry.value += amount
        return entry.value

    async def incr_tagged(self, key: str, amount: int, tag: str, ttl: int) -> str:
        entry = self._live(key)
        found = parse_tagged(entry.value) if entry is not None and isinstance(entry.value, bytes) else None
        if entry is None or found is None:
            self._data[key] = _Entry(tagged_value(tag, amount), self._deadline(ttl))
            self._wrote()
            return tag
        entry.value = tagged_value(found[0], found[1] + amount)  # the expiry stays
        return found[0]

    async def incr_if_tagged(self, key: str, amount: int, tag: str) -> bool:
        entry = self._live(key)
        found = parse_tagged(entry.value) if entry is not None and isinstance(entry.value, bytes) else None
        if entry is None or found is None or found[0] != tag:
            return False
        entry.value = tagged_value(tag, found[1] + amount)
        return True

    # -- sorted sets ----------------------------------------------------------
    def _zset(self, key: str, create: bool) -> dict[str, float] | None:
        entry = self._live(key)
        if entry is None:
            if not create:
                return None
            entry = _Entry({})
            self._data[key] = entry
            self._wrote()
        if not isinstance(entry.value, dict):
            raise TypeError(f"key {key!r} is not a sorted set")
        return entry.value

    async def zadd(self, key: str, members: Mapping[str, float], cap: int | None = None) -> None:
        zset = self._zset(key, create=True)
        assert zset is not None
        zset.update({str(m): float(s) for m, s in members.items()})
        if cap is not None and len(zset) > cap:
            keep = sorted(zset.items(), key=lambda item: (item[1], item[0]), reverse=True)[:cap]
            zset.clear()
            zset.update(keep)

    async def zadd_many(self, entries: Mapping[str, Mapping[str, float]], cap: int | None = None) -> None:
        for key, members in entries.items():
            if members:
                await self.zadd(key, members, cap)

    async def zrem_many(self, keys: Sequence[str], members: Sequence[str]) -> None:
        for key in keys:
            await self.zrem(key, *members)

    async def zrem(self, key: str, *members: str) -> int:
        zset = self._zset(key, create=False)
        if zset is None:
            return 0
        removed = sum(1 for m in members if zset.pop(m, None) is not None)
        if not zset:
            del self._data[key]
        return removed

    async def zrevrange_by_score(
        self,
        key: str,
        max_score: float = float("inf"),
        min_score: float = float("-inf"),
        limit: int = 20,
        exclusive_max: bool = False,
        exclusive_min: bool = False,
    ) -> list[tuple[str, float]]:
        zset = self._zset(key, create=False)
        if not zset or limit <= 0:
            return []

        def within(score: float) -> bool:
            below = score < max_score if exclusive_max else score <= max_score
            above = score > min_score if exclusive_min else score >= min_score
            return below and above

        chosen = [(m, s) for m, s in zset.items() if within(s)]
        chosen.sort(key=lambda item: (item[1], item[0]), reverse=True)
        return chosen[:limit]

    async def zcard(self, key: str) -> int:
        zset = self._zset(key, create=False)
        return len(zset) if zset else 0

    # -- rate limits ------------------------------------------------------------
    async def hit_rate_limit(self, key: str, limit: int, window: int) -> RateLimitState:
        count = await self.incr(f"ratelimit:{key}", 1, ttl=window)
        entry = self._live(f"ratelimit:{key}")
        expires = entry.expires_at if entry and entry.expires_at else time.monotonic() + window
        reset_after = max(int(expires - time.monotonic() + 0.999), 1)
        return RateLimitState(count <= limit, limit, max(limit - count, 0), reset_after)

    # -- pub/sub ------------------------------------------------------------------
    async def publish(self, channel: str, message: bytes) -> None:
        for subscription in list(self._subscribers.get(channel, ())):
            subscription.deliver(channel, message)

    async def subscribe(self, *channels: str) -> _MemorySubscription:
        subscription = _MemorySubscription(self, channels)
        for channel in channels:
            self._subscribers.setdefault(channel, set()).add(subscription)
        return subscription

    async def listened(self, channels: Sequence[str]) -> bool:
        return any(self._subscribers.get(channel) for channel in channels)

    def _unsubscribe(self, subscription: _MemorySubscription) -> None:
        for channel in subscription.channels:
            subscribers = self._subscribers.get(channel)
            if subscribers is not None:
                subscribers.discard(subscription)
                if not subscribers:
                    del self._subscribers[channel]

    # -- admin ----------------------------------------------------------------------
    async def flush(self) -> None:
        self._data.clear()

    async def ping(self) -> None:
        return None

    async def close(self) -> None:
        for subscriptions in list(self._subscribers.values()):
            for subscription in list(subscriptions):
                await subscription.close()
