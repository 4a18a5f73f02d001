"""Kept values refreshed ahead: a reader is served the kept value, even when it is due
for renewal, while one renewal runs in the background; only a reader that finds nothing
kept at all (the first, or after ``forget``) waits for a computation.

A value is kept with the time it was computed (``stamp``, by the services' clock). Once
it is ``fresh_seconds`` old the next reader starts a renewal and is answered with it as
it is; the renewal stores the new value and every later reader has that. One renewal runs at a time: in a
process, one task per key; across processes (the scaled shape's several ``serve``), a
short-lived claim in the cache, taken by the renewal, not by the reader. The value is
kept ``KEEP_FACTOR`` times longer than it is fresh, so a quiet spell does not leave the
next reader without one.

What a kept value may hold is each user of this module's call: it serves what the value
was when computed, up to the renewal's own time beyond ``fresh_seconds``.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Coroutine
from typing import Any, TypeVar, cast

from lumigram.services import Services

log = logging.getLogger(__name__)

#: How much longer than it is fresh a value is kept, for the reader after a quiet spell.
KEEP_FACTOR = 5
#: How long a renewal's claim holds off other processes' renewals, should it never end.
CLAIM_SECONDS = 30

Compute = Callable[[], Coroutine[Any, Any, bytes]]
T = TypeVar("T")

#: (the database's identity, key) → the computation or renewal under way in this process.
_pending: dict[tuple[int, str], asyncio.Task[Any]] = {}


def stamped(value: bytes, at: float) -> bytes:
    """``value`` as kept, with the time it was computed at (``stamp`` reads it back)."""
    return b"%.3f\n" % at + value


def stamp(raw: bytes) -> tuple[float, bytes]:
    """A kept entry's time of computation (UNIX seconds) and its value."""
    at, _, value = raw.partition(b"\n")
    return float(at), value


async def store(
    services: Services,
    key: str,
    value: bytes,
    fresh_seconds: int,
    at: float | None = None,
    keep_seconds: int | None = None,
) -> None:
    """Keep ``value`` as computed at ``at`` (now when None), for ``keep_seconds``
    (``KEEP_FACTOR`` times ``fresh_seconds`` when None)."""
    at = services.now().timestamp() if at is None else at
    keep = fresh_seconds * KEEP_FACTOR if keep_seconds is None else keep_seconds
    await services.cache.set(key, stamped(value, at), keep)


def _settled(task: asyncio.Task[Any]) -> None:
    if not task.cancelled() and task.exception() is not None:
        log.warning("computing a kept value failed", exc_info=task.exception())


def run_once(services: Services, key: str, work: Callable[[], Coroutine[Any, Any, T]]) -> asyncio.Task[T]:
    """The task under way for ``key`` in this process, or ``work`` started as one: a task
    of its own, so a reader that goes away does not cancel it under the others."""
    slot = (id(services.db), key)
    running = _pending.get(slot)
    if running is None:
        running = services.spawn(work(), name=f"kept {key}")
        _pending[slot] = running
        running.add_done_callback(_settled)
        running.add_done_callback(lambda done: _pending.pop(slot) if _pending.get(slot) is done else None)
    return running


async def read(
    services: Services, key: str, fresh_seconds: int, compute: Compute, keep_seconds: int | None = None
) -> bytes:
    """The value kept at ``key``, renewed in the background once ``fresh_seconds`` old;
    computed first (readers in this process waiting for one computation) if none is kept.
    ``keep_seconds``: how long a value is kept unread (``store``)."""

    async def computed_and_kept() -> bytes:
        value = await compute()
        await store(services, key, value, fresh_seconds, keep_seconds=keep_seconds)
        return value

    return await read_kept(services, key, fresh_seconds, computed_and_kept)


async def read_kept(services: Services, key: str, fresh_seconds: int, compute_and_keep: Compute) -> bytes:
    """``read`` for a value whose computation keeps it itself (``stamped``, however it
    stores it: under a guard, say) and gives it back."""
    raw = await services.cache.get(key)
    if raw is not None:
        at, value = stamp(raw)
        if services.now().timestamp() - at >= fresh_seconds:
            run_once(services, key, lambda: claimed(services, key, compute_and_keep))
        return value
    # The task under way may be another reader's renewal, which gives None where another
    # process held the claim.
    found = cast("bytes | None", await asyncio.shield(run_once(services, key, compute_and_keep)))
    if found is None:
        again = await services.cache.get(key)
        return stamp(again)[1] if again is not None else await compute_and_keep()
    return found


async def claimed(services: Services, key: str, work: Callable[[], Coroutine[Any, Any, T]]) -> T | None:
    """``work``'s result, run only if no other process is renewing ``key`` (a short claim
    in the cache, given back at the end); None if one is. Two serving processes renewing
    the same value at once would each take a core for the same answer."""
    claim = f"{key}:renewing"
    if await services.cache.incr(claim, 1, CLAIM_SECONDS) != 1:
        return None
    try:
        return await work()
    finally:
        await services.cache.delete(claim)


async def renewed(services: Services, key: str) -> None:
    """Wait for the computation or renewal of ``key`` under way in this process, if any."""
    running = _pending.get((id(services.db), key))
    if running is not None:
        await asyncio.wait([running])


def forget_pending(services: Services, key: str) -> None:
    """Let the next reader start a computation of its own (after the key was dropped)."""
    _pending.pop((id(services.db), key), None)
