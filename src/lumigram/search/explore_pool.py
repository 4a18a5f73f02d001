"""The explore grid's candidates, read once a minute for every reader, not once a request.

Which posts may be explored (public, top-level, of the last ``WINDOW_DAYS`` days, by an
open, discoverable account) is the same for every reader: only what each reader follows,
blocks, mutes and liked differs, and ``lumigram.search.explore`` takes that out per
request. So the newest ``POOL_SIZE`` such posts, with their counts and hashtags, are
kept in the cache port under one key and read anew in the background once ``TTL_SECONDS``
old (``lumigram.ahead``), readers being answered from the pool kept meanwhile; only
readers that find none at all wait, in one process for one computation.

A kept pool never hides a post made after it: each request also reads the posts newer
than the pool's ``tail_from`` (an index range on the primary key, empty on a quiet
server), so a new post is explored at once, however old the pool. The tail starts
``TAIL_OVERLAP_MS`` before the pool was read, so a post whose transaction committed just after that read, with an
id below the pool's newest, is read too. What can be up to ``TTL_SECONDS`` old is a
post's like and comment counts (longer by the renewal's own time, or after a quiet spell
by the time to the next reader), and the oldest posts leaving the window; whether a post
still qualifies (deleted, its author made private or undiscoverable) is checked on the
rows each page reads.
"""

from __future__ import annotations

import time
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import BigInteger, ColumnElement, bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram import ahead
from lumigram.ids import lowest_id_at
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, status_tags, statuses
from lumigram.services import Services

#: Twice the candidates one reader ranks (``explore.CANDIDATES``): what a reader follows
#: or liked is taken out of the pool, and the rest must still fill their ranking.
POOL_SIZE = 1000
WINDOW_DAYS = 7
TTL_SECONDS = 60
#: The format's version is in the key, so a server of another version never reads it.
KEY = "explore:v2:pool"
#: How long before a pool's read its tail starts (see the module).
TAIL_OVERLAP_MS = 10_000


@dataclass(frozen=True, slots=True)
class Candidate:
    id: int
    account_id: int
    #: UNIX seconds.
    created_at: float
    likes: int
    comments: int
    tags: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class Pool:
    #: Newest first.
    candidates: list[Candidate]
    #: Posts with a greater id are read on each request, not taken from the pool.
    tail_from: int


def public_top_level(dialect: str) -> list[ColumnElement[bool]]:
    """A post the same for every reader, on ``statuses`` joined to its author in
    ``accounts``: public, top-level and live, by an open account."""
    top_level = statuses.c.in_reply_to_id.is_(None)
    if dialect == "sqlite":
        # "+ 0" keeps SQLite off the in_reply_to_id index, which it would otherwise pick
        # to find the top-level posts, reading every one of them to sort them; walking
        # the primary key (from the newest, or for given ids) is what is wanted. Not on
        # PostgreSQL: it has no statistics for the expression and guesses that one post
        # in 200 is top-level, so it plans to read every recent post and sort them (a
        # parallel scan of a million posts, 170 ms on three cores) where walking the
        # newest by id stops after the first thousand (5 ms).
        top_level = (statuses.c.in_reply_to_id + 0).is_(None)
    return [
        statuses.c.visibility == "public",
        top_level,
        statuses.c.deleted_at.is_(None),
        accounts.c.locked.is_(False),
    ]


def explorable(dialect: str) -> list[ColumnElement[bool]]:
    """What makes a post explorable (its age aside): ``public_top_level``, by a
    discoverable account."""
    return [*public_top_level(dialect), accounts.c.discoverable.is_(True)]


def _qualifying(dialect: str) -> Any:
    """The newest qualifying posts above the id bound as ``after`` made since ``since``."""
    return (
        select(
            statuses.c.id,
            statuses.c.account_id,
            statuses.c.created_at,
            statuses.c.favourites_count,
            statuses.c.replies_count,
        )
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(
            statuses.c.id > bindparam("after", type_=BigInteger),
            statuses.c.created_at >= bindparam("since", type_=statuses.c.created_at.type),
            *explorable(dialect),
        )
        .order_by(statuses.c.id.desc())
        .limit(POOL_SIZE)
    )


_QUALIFYING = Prebuilt(_qualifying)
_TAGS = Prebuilt(
    lambda dialect: select(status_tags.c.status_id, status_tags.c.tag_id).where(
        among(dialect, status_tags.c.status_id, "ids")
    )
)


def _seconds(value: datetime) -> float:
    return (value if value.tzinfo else value.replace(tzinfo=UTC)).timestamp()


async def read(conn: AsyncConnection, after: int, now: datetime) -> list[Candidate]:
    """The newest ``POOL_SIZE`` qualifying posts with an id above ``after``, newest first."""
    since = now - timedelta(days=WINDOW_DAYS)
    rows = await _QUALIFYING.rows(conn, {"after": after, "since": since})
    if not rows:
        return []
    tags: dict[int, list[int]] = defaultdict(list)
    for status_id, tag_id in await _TAGS.rows(conn, {"ids": [row.id for row in rows]}):
        tags[status_id].append(tag_id)
    return [
        Candidate(
            row.id,
            row.account_id,
            _seconds(row.created_at),
            row.favourites_count,
            row.replies_count,
            tuple(sorted(tags.get(row.id, ()))),
        )
        for row in rows
    ]


def _encode(pool: Pool) -> bytes:
    rows = [[c.id, c.account_id, c.created_at, c.likes, c.comments, c.tags] for c in pool.candidates]
    return orjson.dumps({"tail_from": pool.tail_from, "candidates": rows})


def _decode(raw: bytes) -> Pool:
    found = orjson.loads(raw)
    candidates = [
        Candidate(int(i), int(author), float(at), int(likes), int(comments), tuple(tags))
        for i, author, at, likes, comments, tags in found["candidates"]
    ]
    return Pool(candidates, int(found["tail_from"]))


#: The database's identity → the last pool decoded and the bytes it came from: a process
#: reading the same kept pool again does not decode it again.
_decoded: dict[int, tuple[bytes, Pool]] = {}


async def _compute(services: Services) -> bytes:
    started_ms = int(time.time() * 1000)
    async with services.db.connect() as conn:
        candidates = await read(conn, 0, datetime.now(UTC))
    overlap = lowest_id_at(started_ms - TAIL_OVERLAP_MS)
    tail_from = min(candidates[0].id, overlap) if candidates else overlap
    return _encode(Pool(candidates, tail_from))


async def pool(services: Services) -> Pool:
    """The kept pool, computed first if there is none; once ``TTL_SECONDS`` old, a new one
    is read in the background while this one is still answered (``ahead``)."""
    raw = await ahead.read(services, KEY, TTL_SECONDS, lambda: _compute(services))
    slot = id(services.db)
    memo = _decoded.get(slot)
    if memo is not None and memo[0] == raw:
        return memo[1]
    found = _decode(raw)
    _decoded[slot] = (raw, found)
    return found


async def candidates(services: Services, conn: AsyncConnection, now: datetime) -> list[Candidate]:
    """Every candidate for a request at ``now``, newest first: the kept pool's, with the
    posts made since it was read (fresh from ``conn``) in place of its newest."""
    kept = await pool(services)
    tail = await read(conn, kept.tail_from, now)
    oldest = _seconds(now - timedelta(days=WINDOW_DAYS))
    older = [c for c in kept.candidates if c.id <= kept.tail_from and c.created_at >= oldest]
    return [*tail, *older][:POOL_SIZE]


async def forget(services: Services) -> None:
    """Drop the kept pool: the next request reads a new one."""
    await services.cache.delete(KEY)
    ahead.forget_pending(services, KEY)
