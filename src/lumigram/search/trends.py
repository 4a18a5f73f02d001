"""Trending hashtags and posts: what grows against its own past, not what is merely big.

Only public posts of open, discoverable accounts count, and nothing an admin hid
(``trend_exclusions``). Each account counts once per hashtag per day, however often it
posts, and weighs by its age: an account younger than ``SETTLED_DAYS`` weighs from
``NEWCOMER_WEIGHT`` up to 1, so a swarm of fresh accounts moves little.

A hashtag's **recent** score adds up the weights of the accounts that used it in the
last 24 hours, each decayed by how long ago (half every ``HALF_LIFE_HOURS``); its
**baseline** is the weighted accounts per day over the 7 days before. It trends by its
growth, ``(recent - baseline) / sqrt(baseline + 1)``, when at least ``MIN_ACCOUNTS``
accounts used it: a tag used by the same crowd every day does not trend, however large.

A post trends by the weighted accounts that liked it (1) or commented on it (2) within
``POST_WINDOW_HOURS`` of its making, decayed by its age and divided by the square root
of one plus its author's usual engagement (the mean likes and comments of their earlier
posts), so a post doing well for its author rises above one doing as usual for a star.
"""

from __future__ import annotations

import asyncio
import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.tables import accounts, favourites, status_tags, statuses, tags, trend_exclusions

HALF_LIFE_HOURS = 12.0
RECENT = timedelta(hours=24)
BASELINE_DAYS = 7
MIN_ACCOUNTS = 2
SETTLED_DAYS = 7.0
NEWCOMER_WEIGHT = 0.25
POST_WINDOW_HOURS = 48
#: How many of an author's earlier posts their usual engagement is drawn from.
BASELINE_POSTS = 20
#: Rows counted between two turns of the serving loop (a few milliseconds of Python).
ROWS_BETWEEN_TURNS = 2_000


@dataclass(frozen=True, slots=True)
class TrendingTag:
    id: int
    name: str
    score: float
    recent: float
    baseline: float


@dataclass(frozen=True, slots=True)
class TrendingPost:
    id: int
    score: float


def account_weight(created_at: datetime, now: datetime) -> float:
    age_days = max(0.0, (now - created_at).total_seconds() / 86400)
    if age_days >= SETTLED_DAYS:
        return 1.0
    return NEWCOMER_WEIGHT + (1 - NEWCOMER_WEIGHT) * age_days / SETTLED_DAYS


def _decay(then: datetime, now: datetime, half_life_hours: float) -> float:
    hours = max(0.0, (now - then).total_seconds() / 3600)
    return float(0.5 ** (hours / half_life_hours))


def _countable() -> tuple[Any, ...]:
    """Public, live, top-level posts of open, discoverable accounts."""
    return (
        statuses.c.deleted_at.is_(None),
        statuses.c.visibility == "public",
        accounts.c.locked.is_(False),
        accounts.c.discoverable.is_(True),
    )


def _not_hidden(kind: str, column: Any) -> Any:
    return column.not_in(select(trend_exclusions.c.target_id).where(trend_exclusions.c.kind == kind))


def _day(dialect: str, column: Any) -> Any:
    return func.date_trunc("day", column) if dialect == "postgresql" else func.date(column)


async def trending_tags(conn: AsyncConnection, now: datetime | None = None) -> list[TrendingTag]:
    now = now or datetime.now(UTC)
    recent_since = now - RECENT
    since = recent_since - timedelta(days=BASELINE_DAYS)
    # One row per hashtag and account, not per day as well: an account's recent weight
    # decays from its latest use (the later, the more it weighs), and its baseline counts
    # the days it used the tag before the recent window, each day once.
    query = (
        select(
            status_tags.c.tag_id,
            func.max(statuses.c.created_at).label("last"),
            func.count(
                case((statuses.c.created_at < recent_since, _day(conn.dialect.name, statuses.c.created_at))).distinct()
            ).label("baseline_days"),
            func.min(accounts.c.created_at).label("account_created"),
        )
        .select_from(status_tags.join(statuses, statuses.c.id == status_tags.c.status_id))
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(*_countable(), statuses.c.created_at >= since, _not_hidden("tag", status_tags.c.tag_id))
        .group_by(status_tags.c.tag_id, statuses.c.account_id)
    )
    recent: dict[int, list[float]] = defaultdict(list)
    baseline: dict[int, float] = defaultdict(float)
    # A busy server's rows run to tens of thousands: they are read into Python and counted
    # a slice at a time, the serving loop's requests going in between.
    for rows in (await conn.execute(query)).partitions(ROWS_BETWEEN_TURNS):
        await asyncio.sleep(0)
        for tag_id, last, baseline_days, account_created in rows:
            weight = account_weight(account_created, now)
            if last >= recent_since:
                recent[tag_id].append(weight * _decay(last, now, HALF_LIFE_HOURS))
            if baseline_days:
                baseline[tag_id] += weight * baseline_days / BASELINE_DAYS
    scored: dict[int, tuple[float, float, float]] = {}
    for tag_id, people in recent.items():
        if len(people) < MIN_ACCOUNTS:
            continue
        observed, expected = sum(people), baseline.get(tag_id, 0.0)
        growth = (observed - expected) / math.sqrt(expected + 1)
        if growth > 0:
            scored[tag_id] = (growth, observed, expected)
    if not scored:
        return []
    names = dict((await conn.execute(select(tags.c.id, tags.c.name).where(tags.c.id.in_(list(scored))))).all())
    found = [TrendingTag(i, names[i], *parts) for i, parts in scored.items() if i in names]
    found.sort(key=lambda tag: (-tag.score, tag.name))
    return found


async def _usual_engagement(conn: AsyncConnection, author_ids: set[int], before: datetime) -> dict[int, float]:
    if not author_ids:
        return {}
    earlier = (
        select(
            statuses.c.account_id,
            (statuses.c.favourites_count + statuses.c.replies_count).label("engagement"),
            func.row_number().over(partition_by=statuses.c.account_id, order_by=statuses.c.id.desc()).label("position"),
        )
        .where(
            statuses.c.account_id.in_(list(author_ids)),
            statuses.c.created_at < before,
            statuses.c.in_reply_to_id.is_(None),
            statuses.c.deleted_at.is_(None),
        )
        .subquery()
    )
    query = (
        select(earlier.c.account_id, func.avg(earlier.c.engagement))
        .where(earlier.c.position <= BASELINE_POSTS)
        .group_by(earlier.c.account_id)
    )
    return {account_id: float(mean or 0) for account_id, mean in await conn.execute(query)}


async def trending_posts(conn: AsyncConnection, now: datetime | None = None) -> list[TrendingPost]:
    now = now or datetime.now(UTC)
    since = now - timedelta(hours=POST_WINDOW_HOURS)
    candidates = (
        select(statuses.c.id, statuses.c.account_id, statuses.c.created_at)
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(
            *_countable(),
            statuses.c.created_at >= since,
            statuses.c.in_reply_to_id.is_(None),
            _not_hidden("status", statuses.c.id),
        )
        .subquery()
    )
    engager = accounts.alias("engager")
    likes = (
        select(candidates.c.id, favourites.c.account_id, engager.c.created_at)
        .join(favourites, favourites.c.status_id == candidates.c.id)
        .join(engager, engager.c.id == favourites.c.account_id)
        .where(favourites.c.account_id != candidates.c.account_id)
    )
    reply = statuses.alias("reply")
    comments = (
        select(candidates.c.id, reply.c.account_id, engager.c.created_at)
        .join(reply, reply.c.in_reply_to_id == candidates.c.id)
        .join(engager, engager.c.id == reply.c.account_id)
        .where(reply.c.deleted_at.is_(None), reply.c.account_id != candidates.c.account_id)
        .distinct()
    )
    engaged: dict[int, dict[int, float]] = defaultdict(dict)
    for statement, worth in ((likes, 1.0), (comments, 2.0)):
        for status_id, account_id, account_created in await conn.execute(statement):
            value = worth * account_weight(account_created, now)
            engaged[status_id][account_id] = max(engaged[status_id].get(account_id, 0.0), value)
    engaged = {i: people for i, people in engaged.items() if len(people) >= MIN_ACCOUNTS}
    if not engaged:
        return []
    rows = (
        await conn.execute(
            select(statuses.c.id, statuses.c.account_id, statuses.c.created_at).where(statuses.c.id.in_(list(engaged)))
        )
    ).all()
    usual = await _usual_engagement(conn, {row.account_id for row in rows}, since)
    found = [
        TrendingPost(
            row.id,
            sum(engaged[row.id].values())
            * _decay(row.created_at, now, POST_WINDOW_HOURS / 2)
            / math.sqrt(1 + usual.get(row.account_id, 0.0)),
        )
        for row in rows
    ]
    found.sort(key=lambda post: (-post.score, -post.id))
    return found


async def hide(conn: AsyncConnection, kind: str, target_id: int, hidden: bool) -> bool:
    """Keep a hashtag (``kind`` "tag") or a post ("status") out of trends, or let it back
    in; whether anything changed."""
    where = (trend_exclusions.c.kind == kind, trend_exclusions.c.target_id == target_id)
    present = (await conn.execute(select(trend_exclusions.c.kind).where(*where))).first() is not None
    if hidden and not present:
        await conn.execute(
            trend_exclusions.insert().values(kind=kind, target_id=target_id, created_at=datetime.now(UTC))
        )
    elif not hidden and present:
        await conn.execute(trend_exclusions.delete().where(*where))
    return hidden != present
