"""The cache port: key/values, counters, sorted sets (feeds), rate limits and pub/sub.

Two adapters, chosen by ``LUMIGRAM_CACHE_URL``: ``memory://`` (in-process, embedded)
and ``redis://host:port/db`` (Redis or Valkey). Values are bytes; callers encode.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateLimitState:
    """The outcome of one hit on a fixed-window rate limit."""

    allowed: bool
    limit: int
    remaining: int
    reset_after: int  # seconds until the window resets


#: A part of a ``Splice``'s new value: bytes as they are, a ``(start, end)`` slice of the
#: value the key holds, or the index of one of ``swap_many``'s ``shared`` values.
Part = bytes | tuple[int, int] | int


@dataclass(frozen=True, slots=True)
class Splice:
    """A new value made from the one a key holds, so that a large value changed a little
    need not travel to the store and back whole: it applies only where the key holds a
    value of ``length`` bytes starting with ``expected``, and the new value is ``parts``
    joined (see ``Part``)."""

    expected: bytes
    length: int
    parts: tuple[Part, ...]


def spliced(splice: Splice, held: bytes | None, shared: Sequence[bytes]) -> bytes | None:
    """The value ``splice`` makes of ``held``; None where it does not apply."""
    if held is None or len(held) != splice.length or not held.startswith(splice.expected):
        return None
    pieces = []
    for part in splice.parts:
        if isinstance(part, bytes):
            pieces.append(part)
        elif isinstance(part, int):
            pieces.append(shared[part])
        else:
            pieces.append(held[part[0] : part[1]])
    return b"".join(pieces)


@dataclass(frozen=True, slots=True)
class Swap:
    """One compare-and-set of ``swap_many``: if ``key`` holds ``expected`` (None: if it is
    absent), and every ``Splice`` among ``also`` applies, set it to ``value`` and write
    ``also`` (key → value or splice, and its ttl)."""

    key: str
    expected: bytes | None
    value: bytes
    ttl: int | None
    also: Mapping[str, tuple[bytes | Splice, int]]


class Subscription(Protocol):
    """An open pub/sub subscription; iterate for (channel, message) pairs."""

    def __aiter__(self) -> AsyncIterator[tuple[str, bytes]]: ...

    async def close(self) -> None: ...


class Cache(Protocol):
    async def get(self, key: str) -> bytes | None: ...

    async def get_many(self, keys: Sequence[str]) -> list[bytes | None]: ...

    async def set(self, key: str, value: bytes, ttl: int | None = None) -> None:
        """Store a value; ``ttl`` in seconds, None for no expiry."""
        ...

    async def set_many(self, items: Mapping[str, bytes], ttl: int | None = None) -> None: ...

    async def get_prefixes(self, keys: Sequence[str], size: int) -> list[bytes | None]:
        """The first ``size`` bytes of each key's value (None: missing or empty)."""
        ...

    async def swap_many(self, swaps: Sequence[Swap], shared: Sequence[bytes] = ()) -> list[bool]:
        """Each swap atomically, in one round trip; which of them took place. ``shared``:
        values the swaps' splices name by index, sent once for them all."""
        ...

    async def delete(self, *keys: str) -> int:
        """Remove keys; returns how many existed."""
        ...

    async def exists(self, key: str) -> bool: ...

    async def expire(self, key: str, ttl: int) -> None: ...

    async def ttl(self, key: str) -> int | None:
        """Seconds before the key expires, in whole seconds as the store rounds them; None
        when it is missing or never expires."""
        ...

    async def incr(self, key: str, amount: int = 1, ttl: int | None = None) -> int:
        """Add ``amount`` to an integer counter (created at 0); ``ttl`` set when it is created."""
        ...

    async def incr_tagged(self, key: str, amount: int, tag: str, ttl: int) -> str:
        """Add ``amount`` to the tagged counter at ``key``; where there is none (never made,
        expired, evicted, flushed), first make one at 0 named ``tag`` that lives ``ttl``
        seconds. Returns the name of the counter the amount went into: pass it to
        ``incr_if_tagged`` to take the amount back from that counter and no other."""
        ...

    async def incr_if_tagged(self, key: str, amount: int, tag: str) -> bool:
        """Add ``amount`` only if ``key`` holds the counter named ``tag``; otherwise (the key
        is absent, or a newer counter replaced it) change nothing and return False.

        A delta is never applied to a key that is not there: a counter lost with the cache
        would come back holding only the corrections of changes it never saw."""
        ...

    async def zadd(self, key: str, members: Mapping[str, float], cap: int | None = None) -> None:
        """Add members with scores; then keep only the ``cap`` highest-scored, if given."""
        ...

    async def zrem(self, key: str, *members: str) -> int: ...

    async def zadd_many(self, entries: Mapping[str, Mapping[str, float]], cap: int | None = None) -> None:
        """``zadd`` on many keys in one round trip (a fan-out writes one post to many feeds)."""
        ...

    async def zrem_many(self, keys: Sequence[str], members: Sequence[str]) -> None:
        """Remove ``members`` from every key of ``keys``, in one round trip."""
        ...

    async def zrevrange_by_score(
        self,
        key: str,
        max_score: float = float("inf"),
        min_score: float = float("-inf"),
        limit: int = 20,
        exclusive_max: bool = False,
        exclusive_min: bool = False,
    ) -> list[tuple[str, float]]:
        """Members from the highest score down, within bounds, at most ``limit``."""
        ...

    async def zcard(self, key: str) -> int: ...

    async def hit_rate_limit(self, key: str, limit: int, window: int) -> RateLimitState:
        """Count one hit against ``limit`` per ``window`` seconds for ``key``."""
        ...

    async def publish(self, channel: str, message: bytes) -> None:
        """Fire-and-forget delivery to current subscribers of ``channel``."""
        ...

    async def subscribe(self, *channels: str) -> Subscription: ...

    async def listened(self, channels: Sequence[str]) -> bool:
        """Whether any of ``channels`` has a subscriber now (a publisher may then skip
        rendering a message nobody would receive)."""
        ...

    async def flush(self) -> None:
        """Drop everything (tests and the feed consistency checks use it)."""
        ...

    async def ping(self) -> None: ...

    async def close(self) -> None: ...


def tagged_value(tag: str, count: int) -> bytes:
    """How a tagged counter is stored: its name and its value (``get`` returns this)."""
    return f"{tag}:{count}".encode()


def parse_tagged(raw: bytes) -> tuple[str, int] | None:
    """(name, value) of a stored tagged counter; None for anything else."""
    tag, colon, count = raw.partition(b":")
    if not colon or not tag:
        return None
    try:
        return tag.decode(), int(count)
    except ValueError:
        return None


def open_cache(url: str) -> Cache:
    """The adapter for ``url``'s scheme."""
    if url.startswith("memory:"):
        from lumigram.infra.cache.memory import MemoryCache

        return MemoryCache()
    if url.startswith(("redis:", "rediss:", "valkey:")):
        from lumigram.infra.cache.redis import RedisCache

        return RedisCache.from_url(url)
    raise ValueError(f"unsupported cache URL {url!r}")
