"""Search as Mastodon's ``/api/v2/search`` gives it (accounts, hashtags and posts at once,
or one kind with ``type``, each paged by ``offset``), and a hashtag's page: its history,
top posts and related tags; trends; the explore grid."""

from __future__ import annotations

import logging
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.entities.statuses import status_entity
from lumigram.errors import NotFound
from lumigram.filters.service import Applied, active_filters
from lumigram.infra.tables import statuses
from lumigram.posts.hydrate import hydrate_in, hydrate_with_context, viewer_marks
from lumigram.posts.models import HydratedPost
from lumigram.search import explore, explore_pool, hashtags, kept_statuses, trend_cache, trends
from lumigram.search.accounts import find_accounts
from lumigram.search.models import MAX_LIMIT, AccountHit, Results, SearchRequest, TagDay, TagHit
from lumigram.search.posts import find_posts, found_post_ids
from lumigram.search.query import clean
from lumigram.services import Services

log = logging.getLogger(__name__)


def _clamped(request: SearchRequest) -> SearchRequest:
    limit, offset = max(1, min(request.limit, MAX_LIMIT)), max(0, request.offset)
    return replace(request, q=clean(request.q), limit=limit, offset=offset)


async def search(
    services: Services, viewer_id: int | None, request: SearchRequest, statuses_rendered: bool = False
) -> Results:
    """``statuses_rendered``: the posts found as the viewer's Statuses
    (``Results.rendered_statuses``), most of them from their kept renderings."""
    request = _clamped(request)
    results = Results()
    if not request.q.strip():
        return results
    wanted = {request.type} if request.type else {"accounts", "hashtags", "statuses"}
    async with services.db.connect() as conn:
        if "accounts" in wanted and request.account_id is None:
            results.accounts.extend(
                await find_accounts(conn, viewer_id, request.q, request.limit, request.offset, request.following)
            )
        if "hashtags" in wanted and request.account_id is None:
            results.hashtags.extend(
                await hashtags.find_hashtags(conn, viewer_id, request.q, request.limit, request.offset)
            )
        if "statuses" in wanted and statuses_rendered:
            results.rendered_statuses.extend(await _rendered_posts(services, conn, viewer_id, request))
        elif "statuses" in wanted:
            results.statuses.extend(await find_posts(conn, services.cache, viewer_id, request))
    return results


async def _rendered_posts(
    services: Services, conn: AsyncConnection, viewer_id: int | None, request: SearchRequest
) -> list[dict[str, Any]]:
    """The posts found, as the viewer's Statuses: the public posts of open accounts from
    their kept renderings (``kept_statuses``; the search decided who may see them), the
    rest (comments, posts for followers, the viewer's own) hydrated and rendered."""
    ids = await found_post_ids(conn, viewer_id, request)
    if not ids:
        return []
    _pinned, liked, saved, reposted = await viewer_marks(conn, viewer_id, ids)
    marks = explore.Marks(frozenset(liked), frozenset(saved), frozenset(reposted))
    found = await kept_statuses.rendered(services, conn, viewer_id, ids, marks)
    rest = [i for i in ids if i not in found]
    if rest:
        cache: dict[int, dict[str, Any]] = {}
        for item in await hydrate_in(conn, viewer_id, rest, cache=services.cache):
            found[item.post.id] = status_entity(services, item, viewer_id, cache)
    return [found[i] for i in ids if i in found]


async def search_accounts(
    services: Services, viewer_id: int | None, q: str, limit: int, offset: int, following: bool
) -> list[AccountHit]:
    request = _clamped(SearchRequest(q=q, limit=limit, offset=offset, following=following))
    async with services.db.connect() as conn:
        return await find_accounts(conn, viewer_id, request.q, request.limit, request.offset, request.following)


async def tag_history(services: Services, tag_id: int) -> list[TagDay]:
    async with services.db.connect() as conn:
        return (await hashtags.histories(conn, [tag_id]))[tag_id]


async def top_posts(
    services: Services, viewer_id: int | None, name: str, limit: int, offset: int
) -> list[HydratedPost]:
    """A hashtag's top posts (``hashtags.top_post_ids``) that the viewer may see, less
    those of accounts they blocked or muted, as on the hashtag timeline."""
    async with services.db.connect() as conn:
        found = await hashtags.tag_by_name(conn, name)
        if found is None:
            return []
        ids = await hashtags.top_post_ids(conn, found[0], max(1, min(limit, MAX_LIMIT)), max(0, offset))
        items, context = await hydrate_with_context(conn, viewer_id, ids, cache=services.cache)
    hidden = context.blocked | context.muted
    return [item for item in items if item.post.account_id not in hidden]


async def related_tags(services: Services, viewer_id: int | None, name: str, limit: int) -> list[TagHit]:
    async with services.db.connect() as conn:
        found = await hashtags.tag_by_name(conn, name)
        if found is None:
            return []
        return await hashtags.related(conn, viewer_id, found[0], max(1, min(limit, MAX_LIMIT)))


async def trending_tags(services: Services, viewer_id: int | None, limit: int, offset: int) -> list[TagHit]:
    found = (await trend_cache.tags(services))[offset : offset + limit]
    async with services.db.connect() as conn:
        ids = [tag.id for tag in found]
        history = await hashtags.histories(conn, ids)
        followed = await hashtags.followed_among(conn, viewer_id, ids)
    return [TagHit(tag.id, tag.name, 0, history[tag.id], tag.id in followed) for tag in found]


async def trending_posts(services: Services, viewer_id: int | None, limit: int, offset: int) -> list[HydratedPost]:
    """Trending posts the viewer may see, less those of accounts they blocked or muted."""
    ids = [post.id for post in await trend_cache.posts(services)][offset : offset + limit]
    async with services.db.connect() as conn:
        items, context = await hydrate_with_context(conn, viewer_id, ids, cache=services.cache)
    hidden = context.blocked | context.muted
    return [item for item in items if item.post.account_id not in hidden]


async def hide_from_trends(services: Services, tag: str | None, status_id: int | None, hidden: bool = True) -> bool:
    """Keep a hashtag (by name) or a post (by id) out of trends, or let it back in
    (``hidden`` False); whether anything changed. NotFound for an unknown one. The kept
    rankings are forgotten after a change, so it shows at the next read (a server on an
    in-process cache, which a separate command cannot reach, shows it within a minute)."""
    async with services.db.begin() as conn:
        if tag is not None:
            found = await hashtags.tag_by_name(conn, tag)
            if found is None:
                raise NotFound("Hashtag not found")
            changed = await trends.hide(conn, "tag", found[0], hidden)
        elif status_id is None:
            raise NotFound("Give a hashtag or a post")
        else:
            exists = (await conn.execute(select(statuses.c.id).where(statuses.c.id == status_id))).first()
            if exists is None:
                raise NotFound("Post not found")
            changed = await trends.hide(conn, "status", status_id, hidden)
    if changed:
        await trend_cache.forget(services)
    return changed


@dataclass(frozen=True, slots=True)
class ExplorePage:
    items: list[tuple[HydratedPost, explore.Ranked]]
    #: The ranking's clock (UNIX seconds) and the next page's number, for the next cursor.
    clock: int
    next_page: int | None


@dataclass(frozen=True, slots=True)
class ExploreStatuses:
    """``ExplorePage`` as Mastodon Statuses, each with its ranking."""

    statuses: list[tuple[dict[str, Any], explore.Ranked]]
    clock: int
    next_page: int | None


@dataclass(frozen=True, slots=True)
class _Chosen:
    ranking: explore.Ranking
    items: list[explore.Ranked]
    clock: int
    next_page: int | None


async def _chosen(
    services: Services, conn: AsyncConnection, viewer_id: int | None, limit: int, clock_s: int | None, number: int
) -> _Chosen:
    """Page ``number`` of the explore grid ranked at ``clock_s`` (now when None)."""
    limit = max(1, min(limit, MAX_LIMIT))
    now = explore.clock(datetime.fromtimestamp(clock_s, UTC) if clock_s is not None else None)
    ranking = await explore.ranked(services, conn, viewer_id, now)
    chosen, left = explore.page(ranking.items, number, limit)
    return _Chosen(ranking, chosen, int(now.timestamp()), number + 1 if chosen and left else None)


async def _hydrated(
    services: Services, conn: AsyncConnection, viewer_id: int | None, chosen: _Chosen
) -> list[HydratedPost]:
    items = await hydrate_in(conn, viewer_id, [item.status_id for item in chosen.items], cache=services.cache)
    # Read fresh, the posts may have stopped qualifying since the pool was kept; the
    # viewer's hidden words take theirs out. Each leaves a gap: later pages stay as they were.
    items = [item for item in items if explore.still_explorable(item)]
    if chosen.ranking.filtering:
        items = Applied(await active_filters(conn, viewer_id, explore.HIDDEN_WORDS_CONTEXT)).apply(items)
    return items


async def explore_grid(
    services: Services, viewer_id: int | None, limit: int, clock_s: int | None = None, number: int = 0
) -> ExplorePage:
    """Page ``number`` of the explore grid ranked at ``clock_s`` (now when None)."""
    async with services.db.connect() as conn:
        chosen = await _chosen(services, conn, viewer_id, limit, clock_s, number)
        items = await _hydrated(services, conn, viewer_id, chosen)
    by_id = {item.status_id: item for item in chosen.items}
    shown = [(item, by_id[item.post.id]) for item in items]
    return ExplorePage(shown, chosen.clock, chosen.next_page)


async def explore_statuses(
    services: Services, viewer_id: int | None, limit: int, clock_s: int | None = None, number: int = 0
) -> ExploreStatuses:
    """``explore_grid``'s page as the viewer's Statuses: from the kept renderings
    (``kept_statuses``), or, for a viewer whose hidden words may apply, rendered as
    hydrated and filtered."""
    async with services.db.connect() as conn:
        chosen = await _chosen(services, conn, viewer_id, limit, clock_s, number)
        ids = [item.status_id for item in chosen.items]
        if chosen.ranking.filtering:
            cache: dict[int, dict[str, Any]] = {}
            items = await _hydrated(services, conn, viewer_id, chosen)
            found = {item.post.id: status_entity(services, item, viewer_id, cache) for item in items}
        else:
            found = await kept_statuses.rendered(services, conn, viewer_id, ids, chosen.ranking.marks, True)
    shown = [(found[item.status_id], item) for item in chosen.items if item.status_id in found]
    return ExploreStatuses(shown, chosen.clock, chosen.next_page)


async def warm_shared(services: Services) -> None:
    """Compute the values every reader shares (trending hashtags and posts, the explore
    grid's pool) where none is kept, as a server starts: the first readers after a
    start would otherwise wait for them (on the 1M-post world, 0.2 s for the pool and
    0.5 s for the trending hashtags), and every reader who came meanwhile with them.
    Where they are kept already (another process, or before a restart) this is three
    reads of the cache."""
    try:
        await trend_cache.tags(services)
        await trend_cache.posts(services)
        await explore_pool.pool(services)
    except Exception:  # the readers compute them as before
        log.warning("could not compute the shared trends and explore pool at start", exc_info=True)
