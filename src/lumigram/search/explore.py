"""The explore grid (an extension, like Pixelfed's discover): public posts from accounts
the viewer does not follow, ranked for the viewer.

Candidates are the newest ``CANDIDATES`` public, top-level posts of the last
``WINDOW_DAYS`` days by open, discoverable accounts the viewer neither follows, blocked,
was blocked by, nor muted (and not the viewer's own, nor posts it already liked). Each
is scored from four parts, each between 0 and 1:

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
"""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, func, or_, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.tables import accounts, blocks, favourites, follows, mutes, status_tags, statuses, tag_follows

CANDIDATES = 500
WINDOW_DAYS = 7
AFFINITY_DAYS = 30
PER_AUTHOR = 2
WEIGHTS = {"engagement": 0.35, "hashtags": 0.25, "accounts": 0.25, "recency": 0.15}


@dataclass(frozen=True, slots=True)
class Ranked:
    status_id: int
    author_id: int
    score: float
    parts: dict[str, float] = field(default_factory=dict)


def _candidates(viewer_id: int | None, now: datetime) -> Any:
    conditions: list[ColumnElement[bool]] = [
        statuses.c.visibility == "public",
        statuses.c.in_reply_to_id.is_(None),
        statuses.c.deleted_at.is_(None),
        statuses.c.created_at >= now - timedelta(days=WINDOW_DAYS),
        accounts.c.locked.is_(False),
        accounts.c.discoverable.is_(True),
    ]
    if viewer_id is not None:
        author = statuses.c.account_id
        conditions += [
            author != viewer_id,
            author.not_in(select(follows.c.target_account_id).where(follows.c.account_id == viewer_id)),
            author.not_in(select(blocks.c.target_account_id).where(blocks.c.account_id == viewer_id)),
            author.not_in(select(blocks.c.account_id).where(blocks.c.target_account_id == viewer_id)),
            author.not_in(
                select(mutes.c.target_account_id).where(
                    mutes.c.account_id == viewer_id, or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > now)
                )
            ),
            statuses.c.id.not_in(select(favourites.c.status_id).where(favourites.c.account_id == viewer_id)),
        ]
    return (
        select(
            statuses.c.id,
            statuses.c.account_id,
            statuses.c.created_at,
            statuses.c.favourites_count,
            statuses.c.replies_count,
        )
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(*conditions)
        .order_by(statuses.c.id.desc())
        .limit(CANDIDATES)
    )


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
        .where(follows.c.account_id.in_(circle), follows.c.target_account_id.in_(authors))
        .group_by(follows.c.target_account_id)
    )
    return {author: int(count) for author, count in await conn.execute(query)}


async def _tags_of(conn: AsyncConnection, status_ids: list[int]) -> dict[int, list[int]]:
    found: dict[int, list[int]] = defaultdict(list)
    if status_ids:
        query = select(status_tags.c.status_id, status_tags.c.tag_id).where(status_tags.c.status_id.in_(status_ids))
        for status_id, tag_id in await conn.execute(query):
            found[status_id].append(tag_id)
    return found


async def ranked(conn: AsyncConnection, viewer_id: int | None, now: datetime) -> list[Ranked]:
    rows = (await conn.execute(_candidates(viewer_id, now))).all()
    since = now - timedelta(days=AFFINITY_DAYS)
    interest: dict[int, float] = {}
    similar: dict[int, int] = {}
    if viewer_id is not None and rows:
        interest = await _tag_interest(conn, viewer_id, since)
        circle = await _circle(conn, viewer_id, since)
        similar = await _followed_by_circle(conn, circle, sorted({row.account_id for row in rows}))
    tags = await _tags_of(conn, [row.id for row in rows]) if interest else {}
    found = []
    for row in rows:
        hours = max(0.0, (now - row.created_at).total_seconds() / 3600)
        velocity = (row.favourites_count + 2 * row.replies_count) / (hours + 2) ** 1.5
        parts = {
            "engagement": velocity / (velocity + 1),
            "hashtags": 1 - math.exp(-sum(interest.get(tag, 0.0) for tag in tags.get(row.id, [])) / 3),
            "accounts": 1 - math.exp(-similar.get(row.account_id, 0) / 2),
            "recency": 0.5 ** (hours / 24),
        }
        score = sum(WEIGHTS[name] * value for name, value in parts.items())
        found.append(Ranked(row.id, row.account_id, score, parts))
    found.sort(key=lambda item: (-item.score, -item.status_id))
    return found


def page(ranking: list[Ranked], number: int, size: int) -> tuple[list[Ranked], int]:
    """Page ``number`` (from 0) of the ranking, at most ``PER_AUTHOR`` posts of one author
    on each: a post over the cap waits, in its order, for the next page with room. With
    how many posts are left for the pages after it."""
    if number >= len(ranking):
        return [], 0  # every page before holds a post at least: this one is past the end
    waiting = list(ranking)
    current: list[Ranked] = []
    for _ in range(number + 1):
        current, held = [], []
        per_author: dict[int, int] = {}
        for item in waiting:
            if len(current) < size and per_author.get(item.author_id, 0) < PER_AUTHOR:
                current.append(item)
                per_author[item.author_id] = per_author.get(item.author_id, 0) + 1
            else:
                held.append(item)
        waiting = held
    return current, len(waiting)


def clock(now: datetime | None = None) -> datetime:
    return (now or datetime.now(UTC)).replace(microsecond=0)
