"""Mastodon's timelines: home (fan-out feed), public, and hashtag; and followed hashtags.

Pages are newest first with ``max_id``/``since_id``/``min_id``/``limit`` (at most 40)
and a ``Link`` header, as Mastodon clients expect.
"""

from __future__ import annotations

from functools import partial
from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.scopes import READ_STATUSES
from lumigram.api.auth import CurrentAccount, OptionalAccount, require_scopes, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.search import history_entity
from lumigram.api.routes.statuses import StatusesPage
from lumigram.entities.statuses import status_entity
from lumigram.feed import public, relevance
from lumigram.filters import service as hidden_words
from lumigram.pagecache import recheck
from lumigram.pagecache import store as pages
from lumigram.pagecache.home_pages import HOME_PATH, home_statuses, render_home
from lumigram.paging import Page
from lumigram.posts import tags as hashtags
from lumigram.posts.models import HydratedPost
from lumigram.search import service as search
from lumigram.services import Services

router = APIRouter(tags=["timelines"])


async def _public_response(
    services: Services, request: Request, page: Page[HydratedPost], viewer_id: int | None
) -> Response:
    """A public or hashtag timeline's page, as the viewer's hidden words for public leave it."""
    page = await hidden_words.filtered_page(services, viewer_id, "public", page)
    return _page_response(services, request, page, viewer_id)


def _page_response(services: Services, request: Request, page: Page[HydratedPost], viewer_id: int | None) -> Response:
    cache: dict[int, dict[str, Any]] = {}
    body = [status_entity(services, item, viewer_id, cache) for item in page.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, page))


@router.get(
    HOME_PATH,
    summary="Posts of the accounts and hashtags you follow, newest first (or by relevance)",
    dependencies=[require_scopes(*READ_STATUSES)],
)
async def home_timeline(
    request: Request,
    viewer: CurrentAccount,
    services: ServicesDep,
    page: StatusesPage,
    order: Annotated[Literal["chronological", "relevance"], Query(description="An extension")] = "chronological",
    explain: Annotated[bool, Query(description="With order=relevance: each post's score parts")] = False,
    offset: Annotated[int, Query(ge=0, le=relevance.CANDIDATES, description="With order=relevance")] = 0,
) -> Response:
    if order == "relevance":
        return await _relevance_page(request, viewer.account_id, services, page.limit, offset, explain)
    # The newest page, asked for again and again, is served from its rendered copy (most
    # such reads are answered before the framework: lumigram.pagecache.home_fast_path).
    params = request.query_params.multi_items()
    page_variant = None
    if len(params) <= 1 and set(request.query_params) <= {"limit"}:
        page_variant = pages.variant(request.query_params.get("limit"))
    slot = await pages.lookup(services, viewer.account_id, page_variant)
    kept = slot.cached
    if kept is not None and not kept.fresh:
        kept = await recheck.refreshed(services, slot, partial(home_statuses, services, viewer.account_id))
    if kept is not None:
        return Response(kept.body, media_type="application/json", headers=_link(kept.link))
    rendered = await render_home(services, viewer.account_id, page, params)
    await pages.put(services, slot, rendered)
    return Response(rendered.body, media_type="application/json", headers=_link(rendered.link))


def _link(link: str | None) -> dict[str, str] | None:
    return {"Link": link} if link else None


async def _relevance_page(
    request: Request, viewer_id: int, services: Services, limit: int, offset: int, explain: bool
) -> Response:
    ranked = await relevance.ranked_home(services, viewer_id, offset, limit)
    cache: dict[int, dict[str, Any]] = {}
    body = []
    for entry in ranked:
        entity = status_entity(services, entry.item, viewer_id, cache)
        if explain:
            entity["lumigram"] = {**entity["lumigram"], "score": {"total": round(entry.score, 4), **entry.components}}
        body.append(entity)
    headers = {}
    if len(ranked) == limit and offset + limit < relevance.CANDIDATES:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "offset"]
        query = urlencode([*kept, ("offset", str(offset + limit))])
        headers["Link"] = f'<{services.settings.base_url}{request.url.path}?{query}>; rel="next"'
    return OrjsonResponse(body, headers=headers)


@router.get(
    "/api/v1/timelines/public",
    summary="Public posts of public accounts, newest first",
    dependencies=[scopes_if_token(*READ_STATUSES)],
)
async def public_timeline(
    request: Request,
    viewer: OptionalAccount,
    services: ServicesDep,
    page: StatusesPage,
    only_media: bool = False,
    local: bool = False,
    remote: bool = False,
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    if remote and not local:
        # Every account here is local; there is no remote content to show.
        return OrjsonResponse([])
    result = await public.public(services, viewer_id, page, only_media)
    return await _public_response(services, request, result, viewer_id)


@router.get(
    "/api/v1/timelines/tag/{hashtag}",
    summary="Public posts with a hashtag, newest first",
    dependencies=[scopes_if_token(*READ_STATUSES)],
)
async def tag_timeline(
    hashtag: str,
    request: Request,
    viewer: OptionalAccount,
    services: ServicesDep,
    page: StatusesPage,
    only_media: bool = False,
    any_of: Annotated[list[str], Query(alias="any[]", max_length=10)] = [],  # noqa: B006 (FastAPI copies defaults)
    all_of: Annotated[list[str], Query(alias="all[]", max_length=10)] = [],  # noqa: B006
    none_of: Annotated[list[str], Query(alias="none[]", max_length=10)] = [],  # noqa: B006
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    tag = await hashtags.get_tag(services, viewer_id, hashtag)
    result = await public.hashtag(services, viewer_id, tag.name, page, only_media, any_of, all_of, none_of)
    return await _public_response(services, request, result, viewer_id)


def _tag_entity(services: Services, tag: hashtags.Tag, signed_in: bool) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "id": str(tag.id) if tag.id is not None else tag.name.casefold(),
        "name": tag.name,
        "url": f"{services.settings.base_url}/tags/{tag.name.casefold()}",
        "history": [],
    }
    if signed_in:
        entity["following"] = tag.following
    return entity


@router.get("/api/v1/tags/{name}", summary="A hashtag", dependencies=[scopes_if_token("read")])
async def get_tag(name: str, viewer: OptionalAccount, services: ServicesDep) -> Response:
    tag = await hashtags.get_tag(services, viewer.account_id if viewer else None, name)
    entity = _tag_entity(services, tag, viewer is not None)
    if tag.id is not None:
        entity["history"] = history_entity(await search.tag_history(services, tag.id))
    return OrjsonResponse(entity)


@router.post(
    "/api/v1/tags/{name}/follow",
    summary="Follow a hashtag: its posts enter your home feed",
    dependencies=[require_scopes("write:follows")],
)
async def follow_tag(name: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    tag = await hashtags.follow_tag(services, viewer.account_id, name)
    return OrjsonResponse(_tag_entity(services, tag, True))


@router.post(
    "/api/v1/tags/{name}/unfollow", summary="Stop following a hashtag", dependencies=[require_scopes("write:follows")]
)
async def unfollow_tag(name: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    tag = await hashtags.unfollow_tag(services, viewer.account_id, name)
    return OrjsonResponse(_tag_entity(services, tag, True))


@router.get("/api/v1/followed_tags", summary="Hashtags you follow", dependencies=[require_scopes("read:follows")])
async def followed_tags(request: Request, viewer: CurrentAccount, services: ServicesDep, page: PageParams) -> Response:
    result = await hashtags.followed_tags(services, viewer.account_id, page)
    body = [_tag_entity(services, tag, True) for tag in result.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, result))
