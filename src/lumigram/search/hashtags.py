"""Hashtags: found by the start of their name, most used first, with the daily
``history`` Mastodon's Tag entity carries (uses and distinct accounts per day, public
posts only, newest day first)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import BigInteger, Integer, String, bindparam, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, search_tag_days, search_tags, status_tags, statuses, tag_follows, tags
from lumigram.posts import text as captions
from lumigram.search import tag_counts
from lumigram.search.models import TagDay, TagHit
from lumigram.search.query import like_prefix

#: Days in a tag's history, as Mastodon gives.
HISTORY_DAYS = 7

# Each statement built once per dialect, its values bound (``Prebuilt``): building them
# cost more than SQLite spends running them.
_DAYS = Prebuilt(
    lambda dialect: select(
        search_tag_days.c.tag_id, search_tag_days.c.day, search_tag_days.c.uses, search_tag_days.c.accounts
    ).where(
        among(dialect, search_tag_days.c.tag_id, "ids"),
        search_tag_days.c.day > bindparam("after", type_=Integer),
        search_tag_days.c.day <= bindparam("until", type_=Integer),
    )
)
_FOLLOWED = Prebuilt(
    lambda dialect: select(tag_follows.c.tag_id).where(
        tag_follows.c.account_id == bindparam("viewer", type_=BigInteger), among(dialect, tag_follows.c.tag_id, "ids")
    )
)
_FIND = Prebuilt(
    lambda dialect: (
        select(tags.c.id, tags.c.name, search_tags.c.uses)
        .select_from(search_tags.join(tags, tags.c.id == search_tags.c.tag_id))
        .where(search_tags.c.name_lower.like(bindparam("like", type_=String), escape="/"), search_tags.c.uses > 0)
        .order_by(search_tags.c.uses.desc(), search_tags.c.name_lower)
        .limit(bindparam("limit", type_=Integer))
        .offset(bindparam("offset", type_=Integer))
    )
)


async def histories(
    conn: AsyncConnection, tag_ids: Sequence[int], days: int = HISTORY_DAYS, now: datetime | None = None
) -> dict[int, list[TagDay]]:
    """Each tag's uses and distinct accounts on each of the last ``days`` days (UTC),
    today first; days without a use are there with zeros. Read from the kept counts."""
    if not tag_ids:
        return {}
    today = tag_counts.day_of(now or datetime.now(UTC))
    rows = await _DAYS.rows(conn, {"ids": list(tag_ids), "after": today - days, "until": today})
    kept = {(int(tag_id), int(day)): (int(uses), int(people)) for tag_id, day, uses, people in rows}
    return {
        tag_id: [
            TagDay(tag_counts.date_of(day), *kept.get((tag_id, day), (0, 0)))
            for day in (today - back for back in range(days))
        ]
        for tag_id in tag_ids
    }


async def followed_among(conn: AsyncConnection, viewer_id: int | None, tag_ids: Sequence[int]) -> set[int]:
    if viewer_id is None or not tag_ids:
        return set()
    return {row[0] for row in await _FOLLOWED.rows(conn, {"viewer": viewer_id, "ids": list(tag_ids)})}


async def find_hashtags(
    conn: AsyncConnection, viewer_id: int | None, text: str, limit: int, offset: int
) -> list[TagHit]:
    """Hashtags whose name starts with the query (``#sun`` finds ``sunset``), most used
    first. Uses are public posts', and a tag no public post carries is not listed, so
    that a tag used only in private or direct posts stays unknown to others."""
    prefix = captions.normalise_tag(text.strip().removeprefix("#"))
    if not prefix or not captions.hashtags(f"#{prefix}"):
        return []
    # The kept counts (``tag_counts``): an indexed prefix read of a few rows per request.
    rows = await _FIND.rows(conn, {"like": like_prefix(prefix), "limit": limit, "offset": offset})
    ids = [row.id for row in rows]
    history = await histories(conn, ids)
    followed = await followed_among(conn, viewer_id, ids)
    return [TagHit(row.id, row.name, int(row.uses), history[row.id], row.id in followed) for row in rows]


#: How many of a tag's newest public posts its top posts and related tags are drawn from.
RECENT_WINDOW = 1000


async def tag_by_name(conn: AsyncConnection, name: str) -> tuple[int, str] | None:
    row = (
        await conn.execute(select(tags.c.id, tags.c.name).where(tags.c.name_lower == captions.normalise_tag(name)))
    ).first()
    return None if row is None else (row.id, row.name)


def _recent_tagged(tag_id: int) -> Any:
    """The newest public posts of open accounts with the tag, comments left out."""
    return (
        select(statuses.c.id)
        .select_from(status_tags.join(statuses, statuses.c.id == status_tags.c.status_id))
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(
            status_tags.c.tag_id == tag_id,
            statuses.c.deleted_at.is_(None),
            statuses.c.visibility == "public",
            statuses.c.in_reply_to_id.is_(None),
            accounts.c.locked.is_(False),
        )
        .order_by(status_tags.c.status_id.desc())
        .limit(RECENT_WINDOW)
    )


async def top_post_ids(conn: AsyncConnection, tag_id: int, limit: int, offset: int) -> list[int]:
    """A tag's top posts: among its newest public posts, the most liked and commented
    (a comment counts twice), newest first among equals."""
    recent = _recent_tagged(tag_id).subquery()
    engagement = statuses.c.favourites_count + 2 * statuses.c.replies_count
    query = (
        select(statuses.c.id)
        .where(statuses.c.id.in_(select(recent.c.id)))
        .order_by(engagement.desc(), statuses.c.id.desc())
        .limit(limit)
        .offset(offset)
    )
    return list((await conn.execute(query)).scalars())


async def related(conn: AsyncConnection, viewer_id: int | None, tag_id: int, limit: int) -> list[TagHit]:
    """Tags that appear most often beside this one on its newest public posts."""
    recent = _recent_tagged(tag_id).subquery()
    together = func.count()
    query = (
        select(tags.c.id, tags.c.name, together.label("uses"))
        .join(status_tags, status_tags.c.tag_id == tags.c.id)
        .where(status_tags.c.status_id.in_(select(recent.c.id)), tags.c.id != tag_id)
        .group_by(tags.c.id, tags.c.name)
        .order_by(together.desc(), tags.c.name)
        .limit(limit)
    )
    rows = (await conn.execute(query)).all()
    ids = [row.id for row in rows]
    history = await histories(conn, ids)
    followed = await followed_among(conn, viewer_id, ids)
    return [TagHit(row.id, row.name, int(row.uses), history[row.id], row.id in followed) for row in rows]
