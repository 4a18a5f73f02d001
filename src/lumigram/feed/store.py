"""The cache side of home feeds: one sorted set of post ids per account.

* ``feed:{account}``: member = post id, score = the post's creation time in ms (Redis
  scores are doubles, exact only to 2**53, so the 64-bit id itself cannot be the score;
  ids made in the same millisecond tie on score and Redis then orders them by member,
  which for same-length decimal ids is id order).
* ``feed:ready:{account}``: the set is complete back to its cap; readers trust it.
* ``feed:building:{account}``: a rebuild is under way; fan-out already writes into it,
  so a post made during the rebuild is not lost.

Both markers expire after ``feed_active_days``: a feed nobody reads stops receiving
fan-out and is rebuilt from the database on its owner's next visit.

Two more keys let a consumer that adds posts notice a removal it may have raced with
(``lumigram.feed.fanout``): consumers run side by side, so a block handled between a
fan-out's check of the author's followers and its write would remove the post before it
was written, and the write would then stay.

* ``feed:narrowed:{account}``: a fresh token each time the account's posts may no
  longer go where they did (an unfollow, a block or mute either way, a deletion of one of
  its posts), set before anything is removed for it.
* ``feed:gone:{post}``: the post was deleted.

An adder reads the tokens it depends on before it checks who may have what, and again
after its writes; only when one changed (or the post is gone) does it check again and
take back what it should not have written.
"""

from __future__ import annotations

import time
from collections.abc import Iterable, Sequence

from lumigram.ids import token, unix_ms_of
from lumigram.services import Services

#: Entries kept per feed (Mastodon keeps 800 too); older posts come from the database.
FEED_CAP = 800
_BUILD_TTL = 120
#: Seconds a narrowing token or a deletion's mark outlives its cause: far longer than a
#: consumer takes from its first check to its last write, backlog included.
_MARK_TTL = 86400


def feed_key(account_id: int) -> str:
    return f"feed:{account_id}"


def ready_key(account_id: int) -> str:
    return f"feed:ready:{account_id}"


def building_key(account_id: int) -> str:
    return f"feed:building:{account_id}"


def narrowed_key(account_id: int) -> str:
    return f"feed:narrowed:{account_id}"


def gone_key(post_id: int) -> str:
    return f"feed:gone:{post_id}"


async def narrow(services: Services, account_ids: Iterable[int], gone: int | None = None) -> None:
    """Mark these accounts' posts as reaching fewer feeds than before (and the post
    ``gone`` as deleted), before what no longer belongs is taken out."""
    fresh = token(4).encode()
    marks = {narrowed_key(a): fresh for a in account_ids}
    if gone is not None:
        marks[gone_key(gone)] = b"1"
    await services.cache.set_many(marks, ttl=_MARK_TTL)


def score(post_id: int) -> float:
    return float(unix_ms_of(post_id))


def _ttl(services: Services) -> int:
    return services.settings.feed_active_days * 86400


async def is_ready(services: Services, account_id: int) -> bool:
    return await services.cache.get(ready_key(account_id)) is not None


async def receiving(services: Services, account_ids: Sequence[int]) -> list[int]:
    """Those of ``account_ids`` whose feed is kept (ready or being rebuilt): fan-out targets."""
    if not account_ids:
        return []
    keys = [k for a in account_ids for k in (ready_key(a), building_key(a))]
    values = await services.cache.get_many(keys)
    return [a for i, a in enumerate(account_ids) if values[2 * i] is not None or values[2 * i + 1] is not None]


async def add(services: Services, account_ids: Iterable[int], post_ids: Sequence[int]) -> list[int]:
    """Put posts into these accounts' feeds; the accounts whose feed was written (none
    when there was nothing to add), whose kept pages the caller sees to."""
    members = {str(p): score(p) for p in post_ids}
    accounts = list(account_ids)
    if not members or not accounts:
        return []
    await services.cache.zadd_many({feed_key(a): members for a in accounts}, cap=FEED_CAP)
    return accounts


async def remove(services: Services, account_ids: Sequence[int], post_ids: Sequence[int]) -> list[int]:
    """Take posts out of these accounts' feeds; the accounts whose feed was written, as ``add``."""
    if not account_ids or not post_ids:
        return []
    await services.cache.zrem_many([feed_key(a) for a in account_ids], [str(p) for p in post_ids])
    return list(account_ids)


async def go_cold(services: Services, account_id: int) -> None:
    """Stop trusting the account's cached feed: its next read rebuilds it from the database."""
    await services.cache.delete(ready_key(account_id))


async def begin_rebuild(services: Services, account_id: int) -> None:
    await services.cache.set(building_key(account_id), b"1", ttl=_BUILD_TTL)


async def finish_rebuild(services: Services, account_id: int, post_ids: Sequence[int]) -> None:
    await add(services, [account_id], post_ids)
    await services.cache.set(ready_key(account_id), b"1", ttl=_ttl(services))
    await services.cache.delete(building_key(account_id))


#: When this process last renewed each reader's marker (see ``touch``).
_touched: dict[int, float] = {}
#: Seconds between renewals of one reader's marker by one process.
_TOUCH_EVERY = 3600.0
_TOUCHED_MAX = 200_000


async def touch(services: Services, account_id: int) -> None:
    """Keep an active reader's feed warm for another ``feed_active_days``. The marker
    lives for days, so renewing it on every read was a round trip for nothing: each
    process renews it at most once an hour (or a tenth of its life, if shorter)."""
    ttl = _ttl(services)
    now = time.monotonic()
    last = _touched.get(account_id)
    if last is not None and now - last < min(_TOUCH_EVERY, ttl / 10):
        return
    await services.cache.expire(ready_key(account_id), ttl)
    if len(_touched) >= _TOUCHED_MAX:
        _touched.clear()
    _touched[account_id] = now


async def window(services: Services, account_id: int, max_id: int | None, limit: int) -> list[int]:
    """Up to ``limit`` cached post ids below ``max_id``, newest first."""
    max_score = score(max_id) if max_id is not None else float("inf")
    rows = await services.cache.zrevrange_by_score(feed_key(account_id), max_score=max_score, limit=limit + 8)
    ids = [int(member) for member, _ in rows]
    if max_id is not None:
        ids = [i for i in ids if i < max_id]
    return ids[:limit]


async def size(services: Services, account_id: int) -> int:
    return await services.cache.zcard(feed_key(account_id))
