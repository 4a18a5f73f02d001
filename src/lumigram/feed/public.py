"""The public timeline and hashtag timelines: public posts of public accounts, newest first.

Unlisted, private and direct posts never appear here, nor do posts of private
accounts. Signed-in viewers do not see authors they blocked, who blocked them, or
whom they muted.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from lumigram.infra.tables import accounts, media_attachments, status_tags, statuses, tags
from lumigram.paging import Page, PageRequest, window
from lumigram.posts import text as captions
from lumigram.posts.hydrate import hydrate_with_context
from lumigram.posts.models import HydratedPost
from lumigram.posts.queries import MAX_LIMIT
from lumigram.services import Services

_MAX_ROUNDS = 4


def _public_posts(only_media: bool) -> Any:
    query = (
        select(statuses.c.id)
        .join(accounts, accounts.c.id == statuses.c.account_id)
        .where(
            statuses.c.visibility == "public",
            statuses.c.in_reply_to_id.is_(None),
            accounts.c.locked.is_(False),
        )
    )
    if only_media:
        query = query.where(exists().where(media_attachments.c.status_id == statuses.c.id))
    return query


async def _paged(services: Services, viewer_id: int | None, base: Any, page: PageRequest) -> Page[HydratedPost]:
    limit = max(1, min(page.limit, MAX_LIMIT))
    if page.is_empty():
        return Page(limit=limit)
    shown: list[HydratedPost] = []
    cursor = page
    async with services.db.connect() as conn:
        for _ in range(_MAX_ROUNDS):
            query, ascending = window(base, statuses.c.id, cursor, limit)
            ids = list((await conn.execute(query)).scalars())
            if ascending:
                ids.reverse()
            items, context = await hydrate_with_context(conn, viewer_id, ids, cache=services.cache)
            shown += [
                item
                for item in items
                if item.post.account_id not in context.blocked and item.post.account_id not in context.muted
            ]
            if len(ids) < limit or len(shown) >= limit or page.min_id is not None:
                break
            cursor = PageRequest(max_id=min(ids), since_id=page.since_id, limit=limit)
    shown = shown[:limit]
    return Page(items=shown, cursors=[item.post.id for item in shown], limit=limit)


async def public(
    services: Services, viewer_id: int | None, page: PageRequest, only_media: bool = False
) -> Page[HydratedPost]:
    return await _paged(services, viewer_id, _public_posts(only_media), page)


def _can_be_hashtag(name: str) -> bool:
    name = name.removeprefix("#")
    return bool(name) and captions.hashtags(f"#{name}") == [name]


async def hashtag(
    services: Services,
    viewer_id: int | None,
    name: str,
    page: PageRequest,
    only_media: bool = False,
    any_of: list[str] | None = None,
    all_of: list[str] | None = None,
    none_of: list[str] | None = None,
) -> Page[HydratedPost]:
    """Public posts tagged ``name`` (or any of ``any_of``), with all of ``all_of`` and
    none of ``none_of`` (Mastodon's any[]/all[]/none[])."""

    def tagged(names: list[str]) -> Any:
        # A name no hashtag can have names no stored tag; leaving it out also keeps bytes
        # such as NUL, which PostgreSQL refuses, out of the query.
        lowered = [captions.normalise_tag(n) for n in names if _can_be_hashtag(n)]
        return exists().where(
            status_tags.c.status_id == statuses.c.id,
            status_tags.c.tag_id.in_(select(tags.c.id).where(tags.c.name_lower.in_(lowered))),
        )

    query = _public_posts(only_media).where(tagged([name, *(any_of or [])]))
    for required in all_of or []:
        query = query.where(tagged([required]))
    if none_of:
        query = query.where(~tagged(none_of))
    return await _paged(services, viewer_id, query, page)
