"""Search: Mastodon's ``/api/v2/search`` and ``/api/v1/accounts/search``.

Everything here is local (no federation), so ``resolve`` is accepted and changes nothing.
What the viewer may not see is never found (``lumigram.search.posts`` says how).
"""

from __future__ import annotations

from calendar import timegm
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel
from starlette.responses import Response

from lumigram.api.auth import OptionalAccount, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import cursor
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import Account, account_entity
from lumigram.entities.statuses import status_entity
from lumigram.posts import tags as hashtags
from lumigram.search import service
from lumigram.search.models import MAX_LIMIT, MAX_OFFSET, SearchRequest, TagDay, TagHit
from lumigram.search.query import MAX_QUERY
from lumigram.services import Services

router = APIRouter(tags=["search"])

READ_SEARCH = ("read:search", "read:accounts", "read:statuses")


class TagHistory(BaseModel):
    day: str
    uses: str
    accounts: str


class Tag(BaseModel):
    id: str
    name: str
    url: str
    history: list[TagHistory]
    following: bool | None = None


class SearchResults(BaseModel):
    accounts: list[Account]
    statuses: list[dict[str, Any]]
    hashtags: list[Tag]


def history_entity(days: list[TagDay]) -> list[dict[str, str]]:
    """Mastodon's Tag ``history``: strings, newest day first, the day as the UNIX time of
    its midnight (UTC)."""
    return [
        {"day": str(timegm(day.day.timetuple())), "uses": str(day.uses), "accounts": str(day.accounts)} for day in days
    ]


def tag_entity(services: Services, tag: TagHit, signed_in: bool) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": str(tag.id),
        "name": tag.name,
        "url": f"{services.settings.base_url}/tags/{tag.name.casefold()}",
        "history": history_entity(tag.history),
    }
    if signed_in:
        entity["following"] = tag.following
    return entity


Limit = Annotated[int, Query(ge=1, le=MAX_LIMIT, description="At most 40")]
Offset = Annotated[int, Query(ge=0, le=MAX_OFFSET)]


@router.get(
    "/api/v2/search",
    summary="Accounts, hashtags and posts matching a query",
    response_model=SearchResults,
    dependencies=[scopes_if_token(*READ_SEARCH)],
)
async def search(
    viewer: OptionalAccount,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=MAX_QUERY * 2)] = "",
    type: Annotated[Literal["accounts", "hashtags", "statuses"] | None, Query()] = None,
    limit: Limit = 20,
    offset: Offset = 0,
    following: bool = False,
    account_id: Annotated[str | None, Query(max_length=40)] = None,
    min_id: Annotated[str | None, Query(max_length=40)] = None,
    max_id: Annotated[str | None, Query(max_length=40)] = None,
    resolve: bool = False,
    exclude_unreviewed: bool = False,
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    request = SearchRequest(
        q=q,
        type=type,
        limit=limit,
        offset=offset,
        following=following,
        account_id=cursor("account_id", account_id),
        min_id=cursor("min_id", min_id),
        max_id=cursor("max_id", max_id),
    )
    results = await service.search(services, viewer_id, request, statuses_rendered=True)
    body = {
        "accounts": [
            account_entity(services.settings, hit.account).model_dump(mode="json") for hit in results.accounts
        ],
        "statuses": results.rendered_statuses,
        "hashtags": [tag_entity(services, tag, viewer is not None) for tag in results.hashtags],
    }
    return OrjsonResponse(body)


@router.get(
    "/api/v1/accounts/search",
    summary="Accounts matching a name, followed and popular ones first",
    response_model=list[Account],
    dependencies=[scopes_if_token("read:accounts")],
)
async def search_accounts(
    viewer: OptionalAccount,
    services: ServicesDep,
    q: Annotated[str, Query(max_length=MAX_QUERY * 2)] = "",
    limit: Limit = 40,
    offset: Offset = 0,
    following: bool = False,
    resolve: bool = False,
) -> Response:
    hits = await service.search_accounts(services, viewer.account_id if viewer else None, q, limit, offset, following)
    return OrjsonResponse([account_entity(services.settings, hit.account).model_dump(mode="json") for hit in hits])


# --- a hashtag's page (extensions) ----------------------------------------------------


@router.get(
    "/api/v1/tags/{name}/top",
    summary="A hashtag's top posts: its newest public posts, most liked and commented first (an extension)",
    dependencies=[scopes_if_token("read:statuses")],
)
async def tag_top_posts(
    name: str, viewer: OptionalAccount, services: ServicesDep, limit: Limit = 20, offset: Offset = 0
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    tag = await hashtags.get_tag(services, viewer_id, name)  # NotFound for what cannot be a hashtag
    items = await service.top_posts(services, viewer_id, tag.name, limit, offset)
    cache: dict[int, dict[str, Any]] = {}
    return OrjsonResponse([status_entity(services, item, viewer_id, cache) for item in items])


@router.get(
    "/api/v1/tags/{name}/related",
    summary="Hashtags most often used beside this one (an extension)",
    response_model=list[Tag],
    dependencies=[scopes_if_token("read")],
)
async def related_tags(name: str, viewer: OptionalAccount, services: ServicesDep, limit: Limit = 10) -> Response:
    viewer_id = viewer.account_id if viewer else None
    tag = await hashtags.get_tag(services, viewer_id, name)
    found = await service.related_tags(services, viewer_id, tag.name, limit)
    return OrjsonResponse([tag_entity(services, hit, viewer is not None) for hit in found])
