"""The explore grid (an extension, like Pixelfed's discover): public posts from accounts
the viewer does not follow, ranked for the viewer.

Candidates are the newest ``CANDIDATES`` public, top-level posts of the last
``explore_pool.WINDOW_DAYS`` days by open, discoverable accounts the viewer neither
follows, blocked, was blocked by, nor muted (and not the viewer's own, nor posts it
already liked). Each is scored from four parts, each between 0 and 1:

* engagement velocity: v / (v + 1), v = (likes + 2 · comments) / (age in hours + 2)^1.5;
* hashtag affinity: 1 − e^(−s/3), s adding up the viewer's interest in the post's tags
  (1 per post with the tag it liked in the last 30 days, 2 per one it commented on,
  3 for a tag it follows);
* account affinity: 1 − e^(−n/2), n being how many of the accounts the viewer follows or
  interacted with in the last 30 days follow the author (accounts like those it likes);
* recency: 0.5^(age in hours / 24);

weighed 0.35, 0.25, 0.25 and 0.15. Pages hold at most ``PER_AUTHOR`` posts of one author;
the rest wait for later pages. A page's cursor fixes the ranking's clock, so following
cursors walks one ranking without repeats.

What a request costs: the candidates come from a pool shared by every reader
(``explore_pool``, read once a minute, plus the posts made since); the viewer's follows,
blocks, mutes and likes are read fresh, in one statement of index ranges, and taken out
of it; the viewer's affinity is kept, as it only moves scores. The pool and each
affinity are read anew in the background once a minute old, requests being answered from
the kept ones meanwhile, so no request but a viewer's first waits for either. So likes,
comments and affinity in the scores may be a minute old (and the renewal's time), while
who and what is left out counts at once.
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import orjson
from sqlalchemy import BigInteger, bindparam, func, literal_column, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram import ahead
from lumigram.infra.sql import Prebuilt, one_of
from lumigram.infra.tables import (
    blocks,
    bookmarks,
    favourites,
    filters,
    follows,
    mutes,
    reblogs,
    status_tags,
    statuses,
    tag_follows,
)
from lumigram.posts.models import HydratedPost
from lumigram.search import explore_pool
from lumigram.search.explore_pool import Candidate
from lumigram.services import Services

CANDIDATES = 500
AFFINITY_DAYS = 30
AFFINITY_TTL_SECONDS = 60
#: How long a viewer's affinity is kept unread. It weighs a month of their likes and
#: comments, so an older one still ranks well while a new one is worked out behind it;
#: kept five minutes (as other kept values), every explore opened less often than that
#: worked it out first, a few statements and about 4 ms of CPU, and all readers' first
#: pages at once gave p99 80-355 ms against 18-33 ms for pages after them
#: (docs/benchmarks.md). About 12 kB a viewer seen in the last half hour.
AFFINITY_KEEP_SECONDS = 30 * 60
PER_AUTHOR = 2
WEIGHTS = {"engagement": 0.35, "hashtags": 0.25, "accounts": 0.25, "recency": 0.15}
PARTS = ("engagement", "hashtags", "accounts", "recency")
#: The hidden words that apply to the grid: those for public timelines, as Mastodon's
#: explore applies them.
HIDDEN_WORDS_CONTEXT = "public"


class Ranked(NamedTuple):
    """A scored post (a named tuple: hundreds are made on every request, and a tuple is
    made fastest)."""

    status_id: int
    author_id: int
    score: float
    #: Each part's value, in the order of ``PARTS``.
    values: tuple[float, float, float, float]

    @property
    def parts(self) -> dict[str, float]:
        return dict(zip(PARTS, self.values, strict=True))


def _exclusions(dialect: str) -> Any:
    """Accounts the viewer bound as ``viewer`` follows, blocked, is blocked by or muted
    (kind 0), the posts from ``oldest`` on it liked (kind 1), its hidden words for public
    timelines in force (kind 2, so that a viewer with none, most of them, is spared reading
    them), and the posts from ``oldest`` on it bookmarked (kind 3) and reposted (kind 4),
    the marks its page shows: each an index range."""
    viewer = bindparam("viewer", type_=BigInteger)
    now = bindparam("now", type_=mutes.c.expires_at.type)
    return union_all(
        select(literal_column("0").label("kind"), follows.c.target_account_id.label("id")).where(
            follows.c.account_id == viewer
        ),
        select(literal_column("0"), blocks.c.target_account_id).where(blocks.c.account_id == viewer),
        select(literal_column("0"), blocks.c.account_id).where(blocks.c.target_account_id == viewer),
        select(literal_column("0"), mutes.c.target_account_id).where(
            mutes.c.account_id == viewer, or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > now)
        ),
        select(literal_column("1"), favourites.c.status_id).where(
            favourites.c.account_id == viewer, favourites.c.status_id >= bindparam("oldest", type_=BigInteger)
        ),
        select(literal_column("2"), filters.c.id).where(
            filters.c.account_id == viewer,
            filters.c.contexts.contains(HIDDEN_WORDS_CONTEXT),
            or_(filters.c.expires_at.is_(None), filters.c.expires_at > now),
        ),
        *(
            select(literal_column(str(kind)), table.c.status_id).where(
                table.c.account_id == viewer, table.c.status_id >= bindparam("oldest", type_=BigInteger)
            )
            for kind, table in ((3, bookmarks), (4, reblogs))
        ),
    )


_EXCLUSIONS = Prebuilt(_exclusions)


class Marks(NamedTuple):
    """The viewer's own marks among the candidates, which its page shows."""

    liked: frozenset[int] = frozenset()
    bookmarked: frozenset[int] = frozenset()
    reposted: frozenset[int] = frozenset()


async def _for_viewer(
    conn: AsyncConnection, viewer_id: int, now: datetime, found: list[Candidate]
) -> tuple[list[Candidate], bool, Marks]:
    """The newest ``CANDIDATES`` of ``found`` (newest first) the viewer may be shown,
    whether it has hidden words that may apply, and its marks among them: read fresh on
    every request, so a follow, block, mute, like or hidden word counts at once although
    the pool is kept."""
    params = {"viewer": viewer_id, "now": now, "oldest": found[-1].id}
    hidden_authors: set[int] = {viewer_id}
    marked: tuple[set[int], set[int], set[int]] = (set(), set(), set())
    filtering = False
    for kind, found_id in await _EXCLUSIONS.rows(conn, params):
        if kind == 0:
            hidden_authors.add(found_id)
        elif kind == 2:
            filtering = True
        else:
            marked[0 if kind == 1 else kind - 2].add(found_id)
    liked = marked[0]
    kept = [c for c in found if c.account_id not in hidden_authors and c.id not in liked]
    return kept[:CANDIDATES], filtering, Marks(*map(frozenset, marked))


async def _tag_interest(conn: AsyncConnection, viewer_id: int, since: datetime) -> dict[int, float]:
    liked = (
        select(status_tags.c.tag_id, func.count().label("weight"))
        .join(favourites, favourites.c.status_id == status_tags.c.status_id)
        .where(favourites.c.account_id == viewer_id, favourites.c.created_at >= since)
        .group_by(status_tags.c.tag_id)
    )
    commented = (
        select(status_tags.c.tag_id, (func.count() * 2).label("weight"))
        .join(statuses, statuses.c.in_reply_to_id == status_tags.c.status_id)
        .where(statuses.c.account_id == viewer_id, statuses.c.created_at >= since, statuses.c.deleted_at.is_(None))
        .group_by(status_tags.c.tag_id)
    )
    followed = (
        select(tag_follows.c.tag_id, func.count() * 3)
        .where(tag_follows.c.account_id == viewer_id)
        .group_by(tag_follows.c.tag_id)
    )
    interest: dict[int, float] = defaultdict(float)
    for tag_id, weight in await conn.execute(union_all(liked, commented, followed)):
        interest[tag_id] += float(weight)
    return interest


async def _circle(conn: AsyncConnection, viewer_id: int, since: datetime) -> list[int]:
    """Accounts the viewer follows or interacted with lately."""
    liked_authors = (
        select(statuses.c.account_id)
        .join(favourites, favourites.c.status_id == statuses.c.id)
        .where(favourites.c.account_id == viewer_id, favourites.c.created_at >= since)
    )
    answered = select(statuses.c.in_reply_to_account_id).where(
        statuses.c.account_id == viewer_id,
        statuses.c.created_at >= since,
        statuses.c.in_reply_to_account_id.is_not(None),
    )
    followed = select(follows.c.target_account_id).where(follows.c.account_id == viewer_id)
    found = {row[0] for row in await conn.execute(union_all(liked_authors, answered, followed))}
    found.discard(viewer_id)
    return sorted(found)


async def _followed_by_circle(conn: AsyncConnection, circle: list[int], authors: list[int]) -> dict[int, int]:
    if not circle or not authors:
        return {}
    query = (
        select(follows.c.target_account_id, func.count())
        # "+ 0": through the primary key from each account of the circle (a few rows each),
        # not probing the target index once per pair, as SQLite otherwise does.
        .where(one_of(conn, follows.c.account_id, circle), one_of(conn, follows.c.target_account_id + 0, authors))
        .group_by(follows.c.target_account_id)
    )
    return {author: int(count) for author, count in await conn.execute(query)}


@dataclass(frozen=True, slots=True)
class Affinity:
    """What the viewer is drawn to: interest per hashtag, the accounts it follows or
    interacted with lately (its circle), and how many of them follow each author of
    ``known`` (absent: none)."""

    interest: dict[int, float]
    circle: list[int]
    similar: dict[int, int]
    known: set[int]


def _affinity_key(viewer_id: int) -> str:
    return f"explore:v2:affinity:{viewer_id}"


async def _computed_affinity(services: Services, viewer_id: int, authors: list[int]) -> bytes:
    since = datetime.now(UTC) - timedelta(days=AFFINITY_DAYS)
    async with services.db.connect() as conn:
        interest = dict(await _tag_interest(conn, viewer_id, since))
        circle = await _circle(conn, viewer_id, since)
        similar = await _followed_by_circle(conn, circle, authors)
    return orjson.dumps(
        {"interest": list(interest.items()), "circle": circle, "similar": list(similar.items()), "known": authors}
    )


def _decoded_affinity(raw: bytes) -> Affinity:
    found = orjson.loads(raw)
    return Affinity(
        {int(tag): float(weight) for tag, weight in found["interest"]},
        [int(i) for i in found["circle"]],
        {int(author): int(count) for author, count in found["similar"]},
        {int(i) for i in found["known"]},
    )


#: (the database's identity, viewer) → the kept affinity last decoded in this process and
#: the bytes it came from: a viewer's next requests within the minute do not decode it again.
_decoded: dict[tuple[int, int], tuple[bytes, Affinity]] = {}
#: Viewers whose decoded affinity a process keeps; past it, all are dropped at once. One
#: is about 12 kB (on the seeded world), so at most about 12 MB a process.
DECODED_MAX = 1000


async def _affinity(services: Services, conn: AsyncConnection, viewer_id: int, authors: list[int]) -> Affinity:
    """The viewer's affinity, kept: it reads a month of their likes and comments, and only
    moves scores. Computed on the viewer's first request; then, once
    ``AFFINITY_TTL_SECONDS`` old, computed anew in the background while the kept one is
    still used (``lumigram.ahead``), for up to ``AFFINITY_KEEP_SECONDS`` unread.
    Authors it was not counted for yet are counted on the request that meets them (and
    then known to the process's decoded copy)."""
    compute = lambda: _computed_affinity(services, viewer_id, authors)  # noqa: E731
    raw = await ahead.read(
        services, _affinity_key(viewer_id), AFFINITY_TTL_SECONDS, compute, keep_seconds=AFFINITY_KEEP_SECONDS
    )
    slot = (id(services.db), viewer_id)
    memo = _decoded.get(slot)
    if memo is not None and memo[0] == raw:
        affinity = memo[1]
    else:
        affinity = _decoded_affinity(raw)
        if len(_decoded) >= DECODED_MAX:
            _decoded.clear()
        _decoded[slot] = (raw, affinity)
    missing = [author for author in authors if author not in affinity.known]
    if missing and affinity.circle:
        affinity.similar.update(await _followed_by_circle(conn, affinity.circle, missing))
    affinity.known.update(missing)
    return affinity


class Ranking(NamedTuple):
    #: Best first.
    items: list[Scored]
    #: Whether the viewer has hidden words that may apply (``HIDDEN_WORDS_CONTEXT``).
    filtering: bool
    #: The viewer's marks among the ranked posts (none for a visitor).
    marks: Marks = Marks()


async def ranked(services: Services, conn: AsyncConnection, viewer_id: int | None, now: datetime) -> Ranking:
    """The explore ranking for ``viewer_id`` (None: a visitor) at ``now``."""
    found = await explore_pool.candidates(services, conn, now)
    interest: dict[int, float] = {}
    similar: dict[int, int] = {}
    filtering = False
    marks = Marks()
    if viewer_id is None or not found:
        found = found[:CANDIDATES]
    else:
        found, filtering, marks = await _for_viewer(conn, viewer_id, now, found)
        if found:
            affinity = await _affinity(services, conn, viewer_id, sorted({c.account_id for c in found}))
            interest, similar = affinity.interest, affinity.similar
    return Ranking(_scored(found, interest, similar, now.timestamp()), filtering, marks)


#: A ranked candidate while the ranking is sorted: (score, post id, author id, each part's
#: value in the order of ``PARTS``). A plain tuple, sorted as it is (score, then the newer
#: post first), and made ``Ranked`` only for the page answered.
Scored = tuple[float, int, int, tuple[float, float, float, float]]

#: Each clock's (UNIX seconds) engagement and recency of the candidates scored at it: the
#: same for every reader, so worked out once per candidate and second, not per request.
#: Post id → (the candidate they were worked out for, engagement, recency).
_shared_parts: dict[float, dict[int, tuple[Candidate, float, float]]] = {}
#: Clocks kept: now, and a few that cursors of recent pages name.
_SHARED_CLOCKS = 4


def _parts_at(now_s: float) -> dict[int, tuple[Candidate, float, float]]:
    found = _shared_parts.get(now_s)
    if found is None:
        if len(_shared_parts) >= _SHARED_CLOCKS:
            del _shared_parts[min(_shared_parts)]
        found = _shared_parts[now_s] = {}
    return found


def _scored(found: list[Candidate], interest: dict[int, float], similar: dict[int, int], now_s: float) -> list[Scored]:
    """``found`` scored and sorted, best first. Written out, with no dict per post: a
    ranking scores hundreds of posts on every request."""
    w_engagement, w_hashtags, w_accounts, w_recency = (WEIGHTS[name] for name in PARTS)
    exp = math.exp
    shared = _parts_at(now_s)
    ranking: list[Scored] = []
    append = ranking.append
    for candidate in found:
        known = shared.get(candidate.id)
        if known is not None and known[0] is candidate:  # the same pool's candidate
            engagement, recency = known[1], known[2]
        else:
            hours = max(0.0, (now_s - candidate.created_at) / 3600)
            engaged = candidate.likes + 2 * candidate.comments
            velocity = engaged / (hours + 2) ** 1.5 if engaged else 0.0
            engagement = velocity / (velocity + 1)
            recency = 0.5 ** (hours / 24)
            shared[candidate.id] = (candidate, engagement, recency)
        tags_interest = 0.0
        if interest:  # a loop, not sum() over a generator: most posts have no tag or one
            for tag in candidate.tags:
                tags_interest += interest.get(tag, 0.0)
        hashtags = 1 - exp(-tags_interest / 3) if tags_interest else 0.0
        alike = similar.get(candidate.account_id, 0) if similar else 0
        accounts = 1 - exp(-alike / 2) if alike else 0.0
        score = w_engagement * engagement + w_hashtags * hashtags + w_accounts * accounts + w_recency * recency
        append((score, candidate.id, candidate.account_id, (engagement, hashtags, accounts, recency)))
    ranking.sort(reverse=True)
    return ranking


def still_explorable(item: HydratedPost) -> bool:
    """Whether a post read fresh still qualifies: the kept pool may predate its author
    going private or undiscoverable (a deleted post is not read at all)."""
    post, author = item.post, item.account
    return post.visibility == "public" and post.in_reply_to_id is None and not author.locked and author.discoverable


def page(ranking: list[Scored], number: int, size: int) -> tuple[list[Ranked], int]:
    """Page ``number`` (from 0) of the ranking, at most ``PER_AUTHOR`` posts of one author
    on each: a post over the cap waits, in its order, for the next page with room. With
    how many posts are left for the pages after it."""
    if number >= len(ranking):
        return [], 0  # every page before holds a post at least: this one is past the end
    waiting = ranking
    current: list[Scored] = []
    for _ in range(number + 1):
        current, held = [], []
        per_author: dict[int, int] = {}
        for at, item in enumerate(waiting):
            if len(current) == size:  # full: the rest wait as they are
                held.extend(waiting[at:])
                break
            author = item[2]
            count = per_author.get(author, 0)
            if count < PER_AUTHOR:
                current.append(item)
                per_author[author] = count + 1
            else:
                held.append(item)
        waiting = held
    return [Ranked(status_id, author, score, values) for score, status_id, author, values in current], len(waiting)


def clock(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).replace(microsecond=0)
