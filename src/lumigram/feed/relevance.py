"""``?order=relevance``: the recent home-feed candidates re-ranked for the viewer.

    score = 0.45 · recency + 0.25 · engagement + 0.30 · affinity, then a diversity pass

* recency    = 0.5 ** (age_hours / 12): a post loses half its freshness every 12 hours.
* engagement = v / (v + 1) with v = (likes + 2 · comments) / (age_hours + 2) ** 1.5:
  interactions per hour with a gravity, so a burst of likes on a new post counts more
  than the same likes spread over a week (Hacker News's decay, squashed into 0..1).
* affinity   = 1 − exp(−(likes + 3 · comments + 2 · messages + 0.5 · visits) / 5), over
  what the viewer did towards the author in the last 30 days: likes given, comments
  written, direct messages sent, profile visits. Own posts count as affinity 1.
* diversity: walking down the ranking, a post by the same author as the one just
  placed is multiplied by 0.7, one of the same media kind (photo, album, video) by 0.85,
  and the list is re-sorted as it goes, so the top of the feed mixes people and formats.

Only the most recent ``CANDIDATES`` visible posts are ranked; chronological order stays
the default and is what paging past them uses.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Select, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.feed import home
from lumigram.ids import unix_ms_of
from lumigram.infra.sql import one_of
from lumigram.infra.tables import favourites, mentions, statuses, utcnow
from lumigram.paging import PageRequest
from lumigram.posts.models import HydratedPost
from lumigram.services import Services

CANDIDATES = 200
AFFINITY_WINDOW = timedelta(days=30)
WEIGHTS = {"recency": 0.45, "engagement": 0.25, "affinity": 0.30}
SAME_AUTHOR = 0.7
SAME_KIND = 0.85
#: Profile visits are remembered this long (a counter per viewer and author).
VISIT_TTL = 30 * 86400


@dataclass(frozen=True, slots=True)
class Scored:
    item: HydratedPost
    score: float
    components: dict[str, float]


def visit_key(viewer_id: int, author_id: int) -> str:
    return f"affinity:visits:{viewer_id}:{author_id}"


async def record_visit(services: Services, viewer_id: int, author_id: int) -> None:
    """A profile visit: one of the affinity signals."""
    if viewer_id != author_id:
        await services.cache.incr(visit_key(viewer_id, author_id), ttl=VISIT_TTL)


def media_kind(item: HydratedPost) -> str:
    if any(m.kind in ("video", "gifv") for m in item.media):
        return "video"
    return "album" if len(item.media) > 1 else "photo"


async def _candidates(services: Services, viewer_id: int) -> list[HydratedPost]:
    found: list[HydratedPost] = []
    max_id: int | None = None
    while len(found) < CANDIDATES:
        page = await home.home(services, viewer_id, PageRequest(max_id=max_id, limit=40))
        found += page.items
        if not page.full or not page.items:
            break
        max_id = page.cursors[-1]
    return found[:CANDIDATES]


#: What each thing the viewer did towards an author weighs in affinity (the formula above).
AFFINITY_WEIGHTS = {"likes": 1.0, "comments": 3.0, "messages": 2.0, "visits": 0.5}

#: Grouped queries giving (author, count) rows, each named for the count it adds to.
CountQueries = list[tuple[str, Select[int, int]]]
#: Makes more such queries for a caller that counts more than the home feed does.
MoreQueries = Callable[[AsyncConnection, int, list[int], datetime], CountQueries]


def squashed(weighted: float) -> float:
    """A weighted sum of interactions, 0 up, squashed into 0..1 (the formula above)."""
    return 1 - math.exp(-weighted / 5)


def interaction_queries(conn: AsyncConnection, viewer_id: int, authors: list[int], since: datetime) -> CountQueries:
    """What the viewer did towards ``authors`` since ``since``: likes given to their posts,
    comments on them, and direct posts to them (counted as messages)."""
    likes = (
        select(statuses.c.account_id, func.count())
        .select_from(favourites.join(statuses, statuses.c.id == favourites.c.status_id))
        .where(
            favourites.c.account_id == viewer_id,
            one_of(conn, statuses.c.account_id, authors),
            favourites.c.created_at >= since,
        )
        .group_by(statuses.c.account_id)
    )
    comments = (
        select(statuses.c.in_reply_to_account_id, func.count())
        .where(
            statuses.c.account_id == viewer_id,
            one_of(conn, statuses.c.in_reply_to_account_id, authors),
            statuses.c.created_at >= since,
        )
        .group_by(statuses.c.in_reply_to_account_id)
    )
    direct_posts = (
        select(mentions.c.account_id, func.count())
        .select_from(mentions.join(statuses, statuses.c.id == mentions.c.status_id))
        .where(
            statuses.c.account_id == viewer_id,
            statuses.c.visibility == "direct",
            one_of(conn, mentions.c.account_id, authors),
            statuses.c.created_at >= since,
        )
        .group_by(mentions.c.account_id)
    )
    return [("likes", likes), ("comments", comments), ("messages", direct_posts)]


async def interaction_counts(
    services: Services, viewer_id: int, authors: list[int], since: datetime, more: MoreQueries | None = None
) -> dict[int, dict[str, int]]:
    """Per author, how often the viewer did each thing towards them since ``since``: the
    counts of ``interaction_queries`` (and of ``more``), and profile visits. Counts that
    are zero are left out."""
    counts: dict[int, dict[str, int]] = {author: {} for author in authors}
    async with services.db.connect() as conn:
        queries = interaction_queries(conn, viewer_id, authors, since)
        if more is not None:
            queries += more(conn, viewer_id, authors, since)
        for name, query in queries:
            for author, count in (await conn.execute(query)).all():
                found = counts[int(author)]
                found[name] = found.get(name, 0) + int(count)
    visits = await services.cache.get_many([visit_key(viewer_id, author) for author in authors])
    for author, value in zip(authors, visits, strict=True):
        if value is not None:
            counts[author]["visits"] = int(value)
    return counts


async def affinity_signals(services: Services, viewer_id: int, authors: list[int]) -> dict[int, float]:
    """The viewer's affinity to each author, 0..1 (the formula above); the reels feed shares it."""
    counts = await interaction_counts(services, viewer_id, authors, utcnow() - AFFINITY_WINDOW)
    return {
        author: squashed(sum(AFFINITY_WEIGHTS[name] * count for name, count in found.items()))
        for author, found in counts.items()
    }


def _score(item: HydratedPost, affinity: float, now: datetime) -> dict[str, float]:
    age_hours = max((now.timestamp() * 1000 - unix_ms_of(item.post.id)) / 3_600_000, 0.0)
    velocity = (item.post.favourites_count + 2 * item.post.replies_count) / (age_hours + 2) ** 1.5
    return {
        "recency": 0.5 ** (age_hours / 12),
        "engagement": velocity / (velocity + 1),
        "affinity": affinity,
    }


def diversify(scored: list[Scored]) -> list[Scored]:
    """Greedy re-ranking: take the best remaining post, discounting ones that repeat the
    author or the media kind of the post placed just before."""
    remaining = list(scored)
    placed: list[Scored] = []
    while remaining:
        previous = placed[-1] if placed else None

        def adjusted(entry: Scored, previous: Scored | None = previous) -> float:
            factor = 1.0
            if previous is not None:
                if entry.item.post.account_id == previous.item.post.account_id:
                    factor *= SAME_AUTHOR
                if media_kind(entry.item) == media_kind(previous.item):
                    factor *= SAME_KIND
            return entry.score * factor

        best = max(remaining, key=lambda entry: (adjusted(entry), entry.item.post.id))
        remaining.remove(best)
        factor = adjusted(best) / best.score if best.score else 1.0
        placed.append(Scored(best.item, adjusted(best), {**best.components, "diversity": round(factor, 4)}))
    return placed


async def ranked_home(services: Services, viewer_id: int, offset: int, limit: int) -> list[Scored]:
    """A page of the viewer's home feed in relevance order, each with its score parts."""
    candidates = await _candidates(services, viewer_id)
    if not candidates:
        return []
    authors = sorted({c.post.account_id for c in candidates} - {viewer_id})
    affinity = await affinity_signals(services, viewer_id, authors) if authors else {}
    now = utcnow()
    scored = []
    for item in candidates:
        parts = _score(item, 1.0 if item.post.account_id == viewer_id else affinity.get(item.post.account_id, 0.0), now)
        total = sum(WEIGHTS[name] * value for name, value in parts.items())
        scored.append(Scored(item, total, {name: round(value, 4) for name, value in parts.items()}))
    scored.sort(key=lambda entry: (entry.score, entry.item.post.id), reverse=True)
    return diversify(scored)[offset : offset + limit]
