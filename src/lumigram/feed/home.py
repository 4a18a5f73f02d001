"""Reading the home feed: the cached window, celebrities merged in, the database behind both.

1. A warm feed answers from its sorted set; a cold one (never read, idle, or lost in a
   cache flush) answers from the database at once and is rebuilt in the background.
2. Followed authors above the celebrity threshold are not fanned out; their recent
   posts are merged in here.
3. When the cached window runs out (the feed keeps 800 entries), paging continues from
   the database, so a reader can scroll back to the first post of everyone they follow.
4. Whatever the source, every post passes the same checks before it is shown: the
   viewer may see it, the author is followed (or it carries a followed hashtag, or it is
   the viewer's own), and the author is neither blocked nor muted. Cache entries left
   behind by an unfollow not yet processed are therefore never shown.
"""

from __future__ import annotations

import logging
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.feed import fanout, store
from lumigram.filters import service as hidden_words
from lumigram.graph.service import hidden_account_ids
from lumigram.infra.sql import Prebuilt, one_of
from lumigram.infra.tables import accounts, follows, reblogs, status_tags, statuses, tag_follows, tags
from lumigram.lists.service import exclusive_member_ids
from lumigram.paging import Page, PageRequest
from lumigram.posts.models import HydratedPost
from lumigram.posts.queries import MAX_LIMIT, feed_items
from lumigram.posts.visibility import ViewerContext
from lumigram.reposts.service import timeline_items_in
from lumigram.services import Services

log = logging.getLogger(__name__)

#: Rounds of "fetch candidates, drop the hidden ones" before a page is returned short.
_MAX_ROUNDS = 4


def _bounded(query: Any, max_id: int | None, min_id: int | None) -> Any:
    if max_id is not None:
        query = query.where(statuses.c.id < max_id)
    if min_id is not None:
        query = query.where(statuses.c.id > min_id)
    return query


async def pull(
    conn: AsyncConnection,
    viewer_id: int,
    max_id: int | None,
    limit: int,
    min_id: int | None = None,
    oldest_first: bool = False,
) -> list[int]:
    """The feed straight from the database (the pull model): the viewer's own posts, the
    followed accounts' and the followed hashtags', newest first (or oldest first above
    ``min_id``). Three indexed queries, merged."""
    order = statuses.c.id.asc() if oldest_first else statuses.c.id.desc()
    own = _bounded(feed_items(select(statuses.c.id).where(statuses.c.account_id == viewer_id)), max_id, min_id)
    followed = _bounded(
        feed_items(
            select(statuses.c.id)
            .join(follows, follows.c.target_account_id == statuses.c.account_id)
            .where(follows.c.account_id == viewer_id)
        ),
        max_id,
        min_id,
    )
    tagged = _bounded(
        feed_items(
            select(statuses.c.id)
            .join(status_tags, status_tags.c.status_id == statuses.c.id)
            .join(tag_follows, tag_follows.c.tag_id == status_tags.c.tag_id)
            .where(tag_follows.c.account_id == viewer_id)
        ),
        max_id,
        min_id,
    )
    found: set[int] = set()
    for query in (own, followed, tagged):
        found.update((await conn.execute(query.order_by(order).limit(limit))).scalars())
    found.update(await reposts_pulled(conn, viewer_id, max_id, limit, min_id, oldest_first))
    return sorted(found, reverse=not oldest_first)[:limit]


async def reposts_pulled(
    conn: AsyncConnection,
    viewer_id: int,
    max_id: int | None,
    limit: int,
    min_id: int | None = None,
    oldest_first: bool = False,
) -> list[int]:
    """The reposts a home feed holds, from the database: the viewer's own, and those of
    followed accounts whose reposts the viewer shows (a follow's ``reblogs`` option)."""
    followed = select(follows.c.target_account_id).where(follows.c.account_id == viewer_id, follows.c.reblogs.is_(True))
    query = select(reblogs.c.id).where(
        reblogs.c.account_id.in_(followed.scalar_subquery()) | (reblogs.c.account_id == viewer_id)
    )
    if max_id is not None:
        query = query.where(reblogs.c.id < max_id)
    if min_id is not None:
        query = query.where(reblogs.c.id > min_id)
    order = reblogs.c.id.asc() if oldest_first else reblogs.c.id.desc()
    return list((await conn.execute(query.order_by(order).limit(limit))).scalars())


_CELEBRITIES = Prebuilt(
    lambda _dialect: (
        select(follows.c.target_account_id)
        .join(accounts, accounts.c.id == follows.c.target_account_id)
        .where(follows.c.account_id == bindparam("viewer"), accounts.c.followers_count > bindparam("threshold"))
    )
)


async def celebrities_followed(services: Services, conn: AsyncConnection, viewer_id: int) -> list[int]:
    """Followed accounts not fanned out on write (above the threshold)."""
    params = {"viewer": viewer_id, "threshold": services.settings.fanout_celebrity_threshold}
    return [row[0] for row in await _CELEBRITIES.rows(conn, params)]


async def _celebrity_posts(
    conn: AsyncConnection,
    authors: list[int],
    max_id: int | None,
    limit: int,
    min_id: int | None = None,
    oldest_first: bool = False,
) -> list[int]:
    if not authors:
        return []
    order = statuses.c.id.asc() if oldest_first else statuses.c.id.desc()
    by_authors = select(statuses.c.id).where(one_of(conn, statuses.c.account_id, authors))
    query = _bounded(feed_items(by_authors), max_id, min_id)
    return list((await conn.execute(query.order_by(order).limit(limit))).scalars())


async def rebuild(services: Services, account_id: int) -> None:
    """Fill the account's cached feed from the database. Fan-out writes into it while
    this runs (the building marker), so nothing posted meanwhile is missed."""
    await store.begin_rebuild(services, account_id)
    narrowing = await services.cache.get(store.narrowed_key(account_id))
    hidden = await hidden_account_ids(services, account_id)
    async with services.db.connect() as conn:
        ids = await pull(conn, account_id, None, store.FEED_CAP)
        # Muted and blocked authors, and those the reader keeps in an exclusive list, never
        # enter the cached feed: the fan-out skips them too, so a feed rebuilt after their
        # post holds what one fanned out to would.
        hidden |= await exclusive_member_ids(conn, account_id)
        if hidden and ids:
            among = one_of(conn, statuses.c.id, ids)
            rows = await conn.execute(select(statuses.c.id, statuses.c.account_id).where(among))
            dropped = {row.id for row in rows if row.account_id in hidden}
            ids = [i for i in ids if i not in dropped]
    await store.finish_rebuild(services, account_id, ids)
    # A block, mute, unfollow or deletion handled while this ran took its posts out of a
    # feed that did not yet hold them (``lumigram.feed.fanout``).
    if ids and not await fanout.settled(services, store.narrowed_key(account_id), narrowing, ids):
        await fanout.prune(services, account_id, ids)


def _rebuild_soon(services: Services, account_id: int) -> None:
    async def run() -> None:
        try:
            await rebuild(services, account_id)
        except Exception:  # the next read tries again
            log.exception("rebuilding the home feed of %s failed", account_id)

    services.spawn(run(), name=f"home rebuild {account_id}")


async def _followed_tag_names(conn: AsyncConnection, viewer_id: int) -> set[str]:
    query = select(tags.c.name_lower).join(tag_follows, tag_follows.c.tag_id == tags.c.id)
    return set((await conn.execute(query.where(tag_follows.c.account_id == viewer_id))).scalars())


async def _candidates(
    services: Services,
    conn: AsyncConnection,
    viewer_id: int,
    warm: bool,
    page: PageRequest,
    max_id: int | None,
    limit: int,
    celebrities: list[int],
) -> list[int]:
    """Up to ``limit`` post ids for the window, from the cache or the database."""
    lower = page.min_id if page.min_id is not None else page.since_id
    if lower is not None:
        # Newer than a cursor: a client catching up. The database answers exactly.
        oldest_first = page.min_id is not None
        ids = await pull(conn, viewer_id, max_id, limit, lower, oldest_first)
        ids += await _celebrity_posts(conn, celebrities, max_id, limit, lower, oldest_first)
        return sorted(set(ids), reverse=not oldest_first)[:limit]
    ids = await store.window(services, viewer_id, max_id, limit) if warm else []
    if len(ids) < limit:
        # Past the end of the cached window (or no cache): the database goes on.
        below = min(ids) if ids else max_id
        ids += await pull(conn, viewer_id, below, limit - len(ids))
    ids += await _celebrity_posts(conn, celebrities, max_id, limit)
    return sorted(set(ids), reverse=True)[:limit]


async def home(services: Services, viewer_id: int, page: PageRequest) -> Page[HydratedPost]:
    """A page of the viewer's home feed, newest first."""
    limit = max(1, min(page.limit, MAX_LIMIT))
    if page.is_empty():
        return Page(limit=limit)
    warm = await store.is_ready(services, viewer_id)
    if warm:
        await store.touch(services, viewer_id)
    else:
        _rebuild_soon(services, viewer_id)
    shown: list[HydratedPost] = []
    max_id = page.max_id
    async with services.db.connect() as conn:
        celebrities = await celebrities_followed(services, conn, viewer_id)
        exclusive = await exclusive_member_ids(conn, viewer_id)
        hiding_reposts = await _hiding_reposts(conn, viewer_id)
        judge = hidden_words.Applied(await hidden_words.active_filters(conn, viewer_id, "home"))
        followed_tags: set[str] | None = None
        originals: set[int] = set()
        for _ in range(_MAX_ROUNDS):
            wanted = limit - len(shown)
            ids = await _candidates(services, conn, viewer_id, warm, page, max_id, wanted, celebrities)
            if not ids:
                break
            items, context = await timeline_items_in(conn, viewer_id, ids, cache=services.cache)
            for item in items:
                if item.repost is not None:
                    if item.repost.account.id in hiding_reposts:
                        continue
                    if not _shows_repost(viewer_id, item, context, exclusive, originals):
                        continue
                else:
                    author = item.post.account_id
                    if author in context.blocked or author in context.muted or author in exclusive:
                        continue
                    if author != viewer_id and author not in context.following:
                        if followed_tags is None:
                            followed_tags = await _followed_tag_names(conn, viewer_id)
                        if not followed_tags.intersection(t.casefold() for t in item.tags):
                            continue
                judged = judge.judge(item)
                if judged is None:
                    continue
                originals.add(item.post.id)
                shown.append(judged)
            if len(ids) < wanted or len(shown) >= limit or page.min_id is not None or page.since_id is not None:
                break
            max_id = min(ids)
    if page.min_id is not None:
        shown.sort(key=lambda item: item.key, reverse=True)
    shown = shown[:limit]
    return Page(items=shown, cursors=[item.key for item in shown], limit=limit)


async def _hiding_reposts(conn: AsyncConnection, viewer_id: int) -> set[int]:
    """Followed accounts whose reposts the viewer turned off (a follow's ``reblogs``)."""
    query = select(follows.c.target_account_id).where(follows.c.account_id == viewer_id, follows.c.reblogs.is_(False))
    return set((await conn.execute(query)).scalars())


def _shows_repost(
    viewer_id: int, item: HydratedPost, context: ViewerContext, exclusive: set[int], originals: set[int]
) -> bool:
    """Whether a repost belongs in the viewer's home: by someone they follow (or
    themselves), of a post not by anyone hidden, and not of a post the feed holds anyway
    (their own, a followed author's, or one already on this page: deduplicated against
    the original)."""
    assert item.repost is not None
    reposter, author = item.repost.account.id, item.post.account_id
    if reposter != viewer_id and (reposter not in context.following or reposter in exclusive):
        return False
    hidden = context.blocked | context.muted
    if reposter in hidden or author in hidden:
        return False
    if author == viewer_id or (author in context.following and author not in exclusive):
        return False
    return item.post.id not in originals
