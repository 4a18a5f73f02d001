"""Turning post ids into everything a client shows, in a fixed number of queries.

A page of 40 posts costs the same queries as a page of one: posts, mentions, authors,
media, tags, the viewer's follows, blocks and mutes among the authors, and the viewer's
pins, likes and bookmarks among the posts. Nothing here loops over posts with a query
inside. Given the cache, like counts include the likes not yet folded into the
``favourites_count`` column (one more round trip; see ``lumigram.interactions.counters``).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.service import account_from_row
from lumigram.bootstrap import Services
from lumigram.infra.cache import Cache
from lumigram.infra.tables import (
    accounts,
    bookmarks,
    favourites,
    media_attachments,
    mentions,
    status_pins,
    status_tags,
    statuses,
    tags,
)
from lumigram.interactions.counters import pending, with_pending
from lumigram.posts.models import HydratedPost, Mention, Post
from lumigram.posts.visibility import ViewerContext, can_see, load_context
from lumigram.uploads.service import MediaRecord
from lumigram.uploads.service import _record as media_record

MAX_ID = 2**63 - 1


def post_from_row(row: Any) -> Post:
    return Post(
        id=row.id,
        account_id=row.account_id,
        in_reply_to_id=row.in_reply_to_id,
        in_reply_to_account_id=row.in_reply_to_account_id,
        text=row.text,
        spoiler_text=row.spoiler_text,
        sensitive=bool(row.sensitive),
        visibility=row.visibility,
        language=row.language,
        kind=row.kind,
        comments_disabled=bool(row.comments_disabled),
        replies_count=row.replies_count,
        favourites_count=row.favourites_count,
        reblogs_count=row.reblogs_count,
        created_at=row.created_at,
        edited_at=row.edited_at,
    )


async def hydrate_in(
    conn: AsyncConnection,
    viewer_id: int | None,
    post_ids: Sequence[int],
    check_visibility: bool = True,
    cache: Cache | None = None,
) -> list[HydratedPost]:
    """The posts of ``post_ids`` the viewer may see, in the order asked."""
    return (await hydrate_with_context(conn, viewer_id, post_ids, check_visibility, cache))[0]


async def _viewer_marks(conn: AsyncConnection, table: Any, viewer_id: int | None, post_ids: list[int]) -> set[int]:
    """Which of ``post_ids`` the viewer has a row for in ``table`` (likes, bookmarks, pins)."""
    if viewer_id is None:
        return set()
    query = select(table.c.status_id).where(table.c.account_id == viewer_id, table.c.status_id.in_(post_ids))
    return set((await conn.execute(query)).scalars())


async def hydrate_with_context(
    conn: AsyncConnection,
    viewer_id: int | None,
    post_ids: Sequence[int],
    check_visibility: bool = True,
    cache: Cache | None = None,
) -> tuple[list[HydratedPost], ViewerContext]:
    """``hydrate_in``, plus the viewer's follows, blocks and mutes among the authors
    (feeds filter on them without another query)."""
    wanted = list(dict.fromkeys(i for i in post_ids if 0 < i <= MAX_ID))
    if not wanted:
        return [], ViewerContext(viewer_id)
    # Pending like counts first, rows second (see ``with_pending`` for why the order matters).
    deltas = await pending(cache, wanted) if cache is not None else {}
    rows = (await conn.execute(select(statuses).where(statuses.c.id.in_(wanted)))).all()
    if not rows:
        return [], ViewerContext(viewer_id)
    posts = {row.id: post_from_row(row) for row in rows}
    found = list(posts)

    mention_rows = (
        await conn.execute(
            select(mentions.c.status_id, accounts.c.id, accounts.c.username)
            .join(accounts, accounts.c.id == mentions.c.account_id)
            .where(mentions.c.status_id.in_(found))
        )
    ).all()
    mentioned: dict[int, list[Mention]] = {}
    for status_id, account_id, username in mention_rows:
        mentioned.setdefault(status_id, []).append(Mention(account_id, username))

    author_ids = {post.account_id for post in posts.values()}
    authors = {
        row.id: account_from_row(row)
        for row in (await conn.execute(select(accounts).where(accounts.c.id.in_(author_ids)))).all()
    }
    context = await load_context(conn, viewer_id, author_ids)
    if check_visibility:
        visible = {
            post_id
            for post_id, post in posts.items()
            if post.account_id in authors
            and can_see(
                context,
                post.account_id,
                authors[post.account_id].locked,
                post.visibility,
                (m.id for m in mentioned.get(post_id, [])),
            )
        }
    else:
        visible = set(posts)
    if not visible:
        return [], context
    shown = sorted(visible)

    media: dict[int, list[MediaRecord]] = {}
    for row in (
        await conn.execute(
            select(media_attachments)
            .where(media_attachments.c.status_id.in_(shown))
            .order_by(media_attachments.c.status_id, media_attachments.c.position)
        )
    ).all():
        media.setdefault(row.status_id, []).append(media_record(row))

    tag_names: dict[int, list[str]] = {}
    for status_id, name in (
        await conn.execute(
            select(status_tags.c.status_id, tags.c.name)
            .join(tags, tags.c.id == status_tags.c.tag_id)
            .where(status_tags.c.status_id.in_(shown))
            .order_by(tags.c.name_lower)
        )
    ).all():
        tag_names.setdefault(status_id, []).append(name)

    pinned = await _viewer_marks(conn, status_pins, viewer_id, shown)
    liked = await _viewer_marks(conn, favourites, viewer_id, shown)
    saved = await _viewer_marks(conn, bookmarks, viewer_id, shown)

    items = [
        HydratedPost(
            post=posts[post_id],
            account=authors[posts[post_id].account_id],
            media=media.get(post_id, []),
            tags=tag_names.get(post_id, []),
            mentions=mentioned.get(post_id, []),
            pinned=post_id in pinned,
            favourited=post_id in liked,
            bookmarked=post_id in saved,
        )
        for post_id in wanted
        if post_id in visible
    ]
    return with_pending(items, deltas), context


async def hydrate(
    services: Services, viewer_id: int | None, post_ids: Sequence[int], check_visibility: bool = True
) -> list[HydratedPost]:
    async with services.db.connect() as conn:
        return await hydrate_in(conn, viewer_id, post_ids, check_visibility, services.cache)
