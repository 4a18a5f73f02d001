"""A list's timeline: the posts of its members, read as the home feed is read.

Members' posts come from the database (the pull model the home feed falls back on past
its cached window), newest first, paged by id without end, so a reader can scroll back
to a member's first post. Every post passes the home feed's checks: the viewer may see
it, the member is still followed, neither member nor author is blocked or muted, and
the viewer's hidden words for home apply. Replies follow the list's ``replies_policy``
(Mastodon's: to a followed account, to a member, or none); a member's reposts are shown
as in home.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.filters import service as hidden_words
from lumigram.infra.sql import one_of
from lumigram.infra.tables import reblogs, statuses
from lumigram.lists.models import AccountList
from lumigram.lists.service import get_list, member_ids
from lumigram.paging import Page, PageRequest
from lumigram.posts.models import HydratedPost
from lumigram.posts.queries import MAX_LIMIT
from lumigram.posts.visibility import ViewerContext
from lumigram.reposts.service import timeline_items_in
from lumigram.services import Services

_MAX_ROUNDS = 4


def _bounded(query: Any, column: Any, max_id: int | None, lower: int | None, oldest_first: bool, limit: int) -> Any:
    if max_id is not None:
        query = query.where(column < max_id)
    if lower is not None:
        query = query.where(column > lower)
    return query.order_by(column.asc() if oldest_first else column.desc()).limit(limit)


async def _candidates(
    conn: AsyncConnection,
    members: list[int],
    max_id: int | None,
    lower: int | None,
    oldest_first: bool,
    limit: int,
) -> list[int]:
    posts = select(statuses.c.id).where(one_of(conn, statuses.c.account_id, members), statuses.c.visibility != "direct")
    shared = select(reblogs.c.id).where(one_of(conn, reblogs.c.account_id, members))
    found = set((await conn.execute(_bounded(posts, statuses.c.id, max_id, lower, oldest_first, limit))).scalars())
    found.update((await conn.execute(_bounded(shared, reblogs.c.id, max_id, lower, oldest_first, limit))).scalars())
    return sorted(found, reverse=not oldest_first)[:limit]


def _replies_allowed(item: HydratedPost, the_list: AccountList, members: set[int], context: ViewerContext) -> bool:
    replied_to = item.post.in_reply_to_account_id
    if item.post.in_reply_to_id is None or replied_to is None or item.repost is not None:
        return True
    if the_list.replies_policy == "none":
        return False
    if the_list.replies_policy == "list":
        return replied_to in members or replied_to == item.post.account_id
    return replied_to in context.following or replied_to in (item.post.account_id, context.viewer_id)


async def list_timeline(services: Services, viewer_id: int, list_id: int, page: PageRequest) -> Page[HydratedPost]:
    """A page of the viewer's list, newest first (NotFound for a list not theirs)."""
    the_list = await get_list(services, viewer_id, list_id)
    limit = max(1, min(page.limit, MAX_LIMIT))
    if page.is_empty():
        return Page(limit=limit)
    lower = page.min_id if page.min_id is not None else page.since_id
    oldest_first = page.min_id is not None
    shown: list[HydratedPost] = []
    max_id = page.max_id
    async with services.db.connect() as conn:
        members = await member_ids(conn, list_id)
        if not members:
            return Page(limit=limit)
        judge = hidden_words.Applied(await hidden_words.active_filters(conn, viewer_id, "home"))
        member_set = set(members)
        for _ in range(_MAX_ROUNDS):
            wanted = limit - len(shown)
            ids = await _candidates(conn, members, max_id, lower, oldest_first, wanted)
            if not ids:
                break
            items, context = await timeline_items_in(conn, viewer_id, ids, cache=services.cache)
            hidden = context.blocked | context.muted
            for item in items:
                member = item.repost.account.id if item.repost is not None else item.post.account_id
                if member not in context.following or member in hidden or item.post.account_id in hidden:
                    continue
                if not _replies_allowed(item, the_list, member_set, context):
                    continue
                judged = judge.judge(item)
                if judged is not None:
                    shown.append(judged)
            if len(ids) < wanted or len(shown) >= limit or oldest_first or page.since_id is not None:
                break
            max_id = min(ids)
    if oldest_first:
        shown.sort(key=lambda item: item.key, reverse=True)
    shown = shown[:limit]
    return Page(items=shown, cursors=[item.key for item in shown], limit=limit)
