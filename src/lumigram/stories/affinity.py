"""How close the viewer is to each account in their story tray, kept in the cache.

    affinity = 1 − exp(−s / 5), where, over the last 30 days,
    s = likes + 3 · comments + 2 · messages + 0.5 · story views + 3 · story replies + 0.5 · visits

counting what the viewer did towards the account: likes given to its posts, comments on
them, direct posts and 1:1 messages sent to it, its stories watched, replies and
reactions sent to its stories, and profile visits (the home feed's signals, counted by
the home feed's code, plus the stories' own). The same squashing as the home feed's
relevance, so 0..1.

The tray is read far more often than these signals change, so the counts are computed
for the tray's accounts the first time they appear in it and kept in the cache, one key
per viewer, for ``TTL`` seconds: a warm tray read costs one cache round trip for its
ranking. An account new to the tray has its counts computed and added to the key, which
keeps the time it was first filled (so nothing is kept longer than ``TTL``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from dataclasses import astuple, dataclass, fields
from datetime import datetime, timedelta

import orjson
from sqlalchemy import and_, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.feed.relevance import AFFINITY_WEIGHTS, CountQueries, interaction_counts, squashed
from lumigram.infra.sql import one_of
from lumigram.infra.tables import dm_messages, dm_participants, dm_threads, stories, story_replies, story_views
from lumigram.services import Services

WINDOW = timedelta(days=30)
#: Seconds a viewer's counts are kept before they are computed again.
TTL = 600
WEIGHTS = {**AFFINITY_WEIGHTS, "story_views": 0.5, "story_replies": 3.0}


@dataclass(frozen=True, slots=True)
class Signals:
    """What the viewer did towards one account in the window."""

    likes: int = 0
    comments: int = 0
    messages: int = 0
    story_views: int = 0
    story_replies: int = 0
    visits: int = 0

    @property
    def score(self) -> float:
        return squashed(sum(WEIGHTS[name] * getattr(self, name) for name in WEIGHTS))

    def explained(self) -> dict[str, float]:
        return {"affinity": round(self.score, 4)} | {field.name: getattr(self, field.name) for field in fields(self)}


def _key(viewer_id: int) -> str:
    return f"stories:affinity:{viewer_id}"


async def affinities(services: Services, viewer_id: int, authors: Sequence[int]) -> dict[int, Signals]:
    """The viewer's signals towards each of ``authors``, from the cache where kept."""
    wanted = sorted(set(authors) - {viewer_id})
    if not wanted:
        return {}
    kept: dict[int, Signals] = {}
    filled_at = time.time()
    raw = await services.cache.get(_key(viewer_id))
    if raw is not None:
        body = orjson.loads(raw)
        filled_at = float(body["at"])
        kept = {int(author): Signals(*counts) for author, counts in body["signals"].items()}
    missing = [author for author in wanted if author not in kept]
    if missing:
        kept.update(await _count(services, viewer_id, missing))
        # Only the tray's current accounts are kept: the key stays as small as the tray.
        kept = {author: kept[author] for author in wanted}
        left = max(1, int(TTL - (time.time() - filled_at)))
        body = {"at": filled_at, "signals": {str(a): astuple(s) for a, s in kept.items()}}
        await services.cache.set(_key(viewer_id), orjson.dumps(body), ttl=left)
    return {author: kept[author] for author in wanted}


async def _count(services: Services, viewer_id: int, authors: list[int]) -> dict[int, Signals]:
    counts = await interaction_counts(services, viewer_id, authors, services.now() - WINDOW, more=_story_queries)
    return {author: Signals(**found) for author, found in counts.items()}


def _story_queries(conn: AsyncConnection, viewer_id: int, authors: list[int], since: datetime) -> CountQueries:
    """The stories' own signals, on top of the home feed's: 1:1 messages, stories
    watched, and replies and reactions sent to stories."""
    # A 1:1 thread's other member is the one the viewer's messages there were for.
    other = dm_participants.alias("other")
    pair_messages = (
        select(other.c.account_id, func.count())
        .select_from(
            dm_messages.join(dm_threads, dm_threads.c.id == dm_messages.c.thread_id).join(
                other, and_(other.c.thread_id == dm_threads.c.id, other.c.account_id != viewer_id)
            )
        )
        .where(
            dm_threads.c.kind == "direct",
            dm_messages.c.account_id == viewer_id,
            one_of(conn, other.c.account_id, authors),
            dm_messages.c.created_at >= since,
        )
        .group_by(other.c.account_id)
    )
    views = (
        select(stories.c.account_id, func.count())
        .select_from(story_views.join(stories, stories.c.id == story_views.c.story_id))
        .where(
            story_views.c.account_id == viewer_id,
            one_of(conn, stories.c.account_id, authors),
            story_views.c.created_at >= since,
        )
        .group_by(stories.c.account_id)
    )
    replies = (
        select(stories.c.account_id, func.count())
        .select_from(story_replies.join(stories, stories.c.id == story_replies.c.story_id))
        .where(
            story_replies.c.account_id == viewer_id,
            one_of(conn, stories.c.account_id, authors),
            story_replies.c.created_at >= since,
        )
        .group_by(stories.c.account_id)
    )
    return [("messages", pair_messages), ("story_views", views), ("story_replies", replies)]
