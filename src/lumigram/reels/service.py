"""The reels feed: recent reels of followed and unfollowed accounts, ranked for the viewer.

Candidates are the most recent ``CANDIDATES`` reels of the last ``MAX_AGE``, read through
the same hydration as every other read, so visibility and private accounts apply as
anywhere; then the reels of accounts the viewer blocked or muted, the viewer's own, those
already seen (``lumigram.reels.views``), and unlisted reels of accounts the viewer does
not follow (unlisted keeps a post out of discovery) are left out. The rest are scored
(``lumigram.reels.ranking``) with their folded and pending watching counts.

Paging walks the ranking from the top, taking at most ``PER_AUTHOR`` reels of one author
on a page; the ones held back are carried in the cursor and come first on the next page.
The cursor also keeps the clock the scores were taken at, so the next page ranks by the
same freshness and carries on below the last reel considered; a reel whose counts moved
meanwhile may move across the cursor, as in any feed ranked by live signals.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select

from lumigram.feed.relevance import affinity_signals
from lumigram.ids import unix_ms_of
from lumigram.infra.tables import reels, statuses
from lumigram.posts.hydrate import hydrate_with_context
from lumigram.posts.models import HydratedPost
from lumigram.reels import ranking
from lumigram.reels.models import MAX_DEFERRED, Counts, Cursor, ScoredReel
from lumigram.reels.views import pending_counts_of, seen_by
from lumigram.services import Services

CANDIDATES = 300
MAX_AGE = timedelta(days=30)
PER_AUTHOR = 2
MAX_LIMIT = 40
DEFAULT_LIMIT = 10


@dataclass(frozen=True, slots=True)
class ReelsPage:
    items: list[ScoredReel]
    next_cursor: Cursor | None


async def _candidates(
    services: Services, viewer_id: int, since: datetime, extra: tuple[int, ...]
) -> tuple[list[HydratedPost], dict[int, Counts], frozenset[int]]:
    """Visible candidate reels, their folded counts, and whom the viewer follows."""
    query = (
        select(reels.c.status_id, reels.c.completes_count, reels.c.loops_count, reels.c.watch_ms)
        .join(statuses, statuses.c.id == reels.c.status_id)
        .where(reels.c.created_at >= since, statuses.c.visibility.in_(("public", "unlisted", "private")))
        .order_by(reels.c.status_id.desc())
        .limit(CANDIDATES)
    )
    async with services.db.connect() as conn:
        rows = list((await conn.execute(query)).all())
        if extra:
            listed = {row.status_id for row in rows}
            missing = [i for i in extra if i not in listed]
            if missing:
                more = query.where(reels.c.status_id.in_(missing)).limit(None)
                rows += list((await conn.execute(more)).all())
        ids = [row.status_id for row in rows]
        items, context = await hydrate_with_context(conn, viewer_id, ids, cache=services.cache)
    counts = {row.status_id: Counts(0, row.completes_count, row.loops_count, row.watch_ms) for row in rows}
    kept = [
        item
        for item in items
        if item.post.kind == "reel"
        and item.post.account_id != viewer_id
        and item.post.account_id not in context.blocked
        and item.post.account_id not in context.muted
        and (item.post.visibility != "unlisted" or item.post.account_id in context.following)
    ]
    return kept, counts, context.following


async def _scored(services: Services, viewer_id: int, now: datetime, deferred: tuple[int, ...]) -> list[ScoredReel]:
    items, folded, following = await _candidates(services, viewer_id, now - MAX_AGE, deferred)
    seen = await seen_by(services, viewer_id)
    items = [item for item in items if item.post.id not in seen]
    authors = sorted({item.post.account_id for item in items})
    affinity = await affinity_signals(services, viewer_id, authors) if authors else {}
    pending_of = await pending_counts_of(services, [item.post.id for item in items])
    scored = []
    for item in items:
        pending = pending_of[item.post.id]
        stored = folded.get(item.post.id, Counts())
        counts = Counts(
            plays=item.post.plays_count + pending.plays,
            completes=stored.completes + pending.completes,
            loops=stored.loops + pending.loops,
            watch_ms=stored.watch_ms + pending.watch_ms,
        )
        age_hours = (now.timestamp() * 1000 - unix_ms_of(item.post.id)) / 3_600_000
        parts = ranking.components(
            counts,
            likes=item.post.favourites_count,
            comments=item.post.replies_count,
            age_hours=age_hours,
            affinity=affinity.get(item.post.account_id, 0.0),
            followed=item.post.account_id in following,
        )
        scored.append(ScoredReel(item, ranking.total(parts), {name: round(v, 4) for name, v in parts.items()}))
    scored.sort(key=lambda entry: (entry.score, entry.item.post.id), reverse=True)
    return scored


async def reels_feed(services: Services, viewer_id: int, limit: int, cursor: Cursor | None) -> ReelsPage:
    """One page of the viewer's reels feed and the cursor of the next (None at the end)."""
    limit = max(1, min(limit, MAX_LIMIT))
    # Whole milliseconds, as the cursor keeps them: the next page's scores must come out the same.
    now_ms = cursor.now_ms if cursor else int(services.now().timestamp() * 1000)
    now = datetime.fromtimestamp(now_ms / 1000, UTC)
    ranked = await _scored(services, viewer_id, now, cursor.deferred if cursor else ())
    if cursor is not None:
        held = set(cursor.deferred)
        below = (cursor.score, cursor.status_id)
        ranked = [e for e in ranked if e.item.post.id in held or (e.score, e.item.post.id) < below]
    placed: list[ScoredReel] = []
    deferred: list[int] = []
    per_author: dict[int, int] = {}
    last: ScoredReel | None = None
    for entry in ranked:
        if len(placed) == limit or len(deferred) == MAX_DEFERRED:
            break
        last = entry
        author = entry.item.post.account_id
        if per_author.get(author, 0) >= PER_AUTHOR:
            deferred.append(entry.item.post.id)
            continue
        per_author[author] = per_author.get(author, 0) + 1
        placed.append(entry)
    exhausted = last is None or last is ranked[-1]
    if last is None or (exhausted and not deferred):
        return ReelsPage(placed, None)
    if exhausted:
        # Only held-back reels remain: the next page is theirs, whatever the position.
        return ReelsPage(placed, Cursor(now_ms, -1.0, 0, tuple(deferred)))
    # Held-back reels ranked below the last one considered stay held back, but the last
    # one considered may itself be a deferred one: its position is still the right one.
    return ReelsPage(placed, Cursor(now_ms, last.score, last.item.post.id, tuple(deferred)))
