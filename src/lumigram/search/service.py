"""Search as Mastodon's ``/api/v2/search`` gives it (accounts, hashtags and posts at once,
or one kind with ``type``, each paged by ``offset``), and a hashtag's page: its history,
top posts and related tags."""

from __future__ import annotations

from dataclasses import replace

from lumigram.posts.hydrate import hydrate_with_context
from lumigram.posts.models import HydratedPost
from lumigram.search import hashtags
from lumigram.search.accounts import find_accounts
from lumigram.search.models import MAX_LIMIT, AccountHit, Results, SearchRequest, TagDay, TagHit
from lumigram.search.posts import find_posts
from lumigram.services import Services


def _clamped(request: SearchRequest) -> SearchRequest:
    return replace(request, limit=max(1, min(request.limit, MAX_LIMIT)), offset=max(0, request.offset))


async def search(services: Services, viewer_id: int | None, request: SearchRequest) -> Results:
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
        if "statuses" in wanted:
            results.statuses.extend(await find_posts(conn, services.cache, viewer_id, request))
    return results


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
