"""Search as Mastodon's ``/api/v2/search`` gives it: accounts, hashtags and posts at once,
or one kind with ``type``, each paged by ``offset``."""

from __future__ import annotations

from dataclasses import replace

from lumigram.search.accounts import find_accounts
from lumigram.search.hashtags import find_hashtags
from lumigram.search.models import MAX_LIMIT, AccountHit, Results, SearchRequest
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
            results.hashtags.extend(await find_hashtags(conn, viewer_id, request.q, request.limit, request.offset))
        if "statuses" in wanted:
            results.statuses.extend(await find_posts(conn, services.cache, viewer_id, request))
    return results


async def search_accounts(
    services: Services, viewer_id: int | None, q: str, limit: int, offset: int, following: bool
) -> list[AccountHit]:
    request = _clamped(SearchRequest(q=q, limit=limit, offset=offset, following=following))
    async with services.db.connect() as conn:
        return await find_accounts(conn, viewer_id, request.q, request.limit, request.offset, request.following)
