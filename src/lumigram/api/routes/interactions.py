"""Mastodon's routes for likes (favourites), saved posts (bookmarks) and threads (context).

* Liking, unliking, bookmarking and unbookmarking answer the Status with the viewer's
  ``favourited``/``bookmarked`` flag and the like count; each is idempotent.
* A post the viewer may not see answers 404, exactly like one that does not exist.
* ``/api/v1/favourites`` and ``/api/v1/bookmarks`` page by the like's or bookmark's id
  (not the post's), newest first, with a ``Link`` header, as Mastodon does.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.models import Viewer
from lumigram.api.auth import CurrentAccount, OptionalAccount, account_with_scopes, require_scopes, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.statuses import StatusesPage
from lumigram.entities.accounts import Account, account_entity
from lumigram.entities.statuses import status_entity
from lumigram.filters import service as hidden_words
from lumigram.interactions import service

router = APIRouter(tags=["interactions"])


def _status_id(raw: str) -> int:
    return record_id(raw)


#: A like's caller (one dependency: the like is the busiest write there is).
FavouritingAccount = Annotated[Viewer, account_with_scopes("write:favourites")]


@router.post(
    "/api/v1/statuses/{status_id}/favourite",
    summary="Like a post or a comment",
)
async def favourite(status_id: str, viewer: FavouritingAccount, services: ServicesDep) -> Response:
    item = await service.favourite(services, viewer.account_id, _status_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.post(
    "/api/v1/statuses/{status_id}/unfavourite",
    summary="Take a like back",
)
async def unfavourite(status_id: str, viewer: FavouritingAccount, services: ServicesDep) -> Response:
    item = await service.unfavourite(services, viewer.account_id, _status_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.get(
    "/api/v1/statuses/{status_id}/favourited_by",
    summary="Who liked a post, most recent like first",
    response_model=list[Account],
    dependencies=[scopes_if_token("read:accounts")],
)
async def favourited_by(
    status_id: str, request: Request, page: PageParams, viewer: OptionalAccount, services: ServicesDep
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    listed = await service.favourited_by(services, viewer_id, _status_id(status_id), page)
    body = [account_entity(services.settings, account).model_dump(mode="json") for account in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.get(
    "/api/v1/favourites",
    summary="The posts you liked, most recent like first",
    dependencies=[require_scopes("read:favourites")],
)
async def favourites(request: Request, page: StatusesPage, viewer: CurrentAccount, services: ServicesDep) -> Response:
    listed = await service.list_favourites(services, viewer.account_id, page)
    cache: dict[int, dict[str, Any]] = {}
    body = [status_entity(services, item, viewer.account_id, cache) for item in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.post(
    "/api/v1/statuses/{status_id}/bookmark",
    summary="Save a post (only you see your saved posts)",
    dependencies=[require_scopes("write:bookmarks")],
)
async def bookmark(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await service.bookmark(services, viewer.account_id, _status_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.post(
    "/api/v1/statuses/{status_id}/unbookmark",
    summary="Remove a post from your saved posts",
    dependencies=[require_scopes("write:bookmarks")],
)
async def unbookmark(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await service.unbookmark(services, viewer.account_id, _status_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.get(
    "/api/v1/bookmarks",
    summary="Your saved posts, most recently saved first",
    dependencies=[require_scopes("read:bookmarks")],
)
async def bookmarks(request: Request, page: StatusesPage, viewer: CurrentAccount, services: ServicesDep) -> Response:
    listed = await service.list_bookmarks(services, viewer.account_id, page)
    cache: dict[int, dict[str, Any]] = {}
    body = [status_entity(services, item, viewer.account_id, cache) for item in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.get(
    "/api/v1/statuses/{status_id}/context",
    summary="The thread around a post: the posts above it and the comments below",
    dependencies=[scopes_if_token("read:statuses")],
)
async def context(status_id: str, viewer: OptionalAccount, services: ServicesDep) -> Response:
    viewer_id = viewer.account_id if viewer else None
    thread = await service.context(services, viewer_id, _status_id(status_id))
    # The post's owner's hidden words hide matching comments from everyone but their
    # authors; the viewer's own filters for threads apply on top.
    hidden = await hidden_words.hidden_by_owner(services, thread.descendants, viewer_id)
    descendants = [item for item in thread.descendants if item.post.id not in hidden]
    judge = await hidden_words.applied(services, viewer_id, "thread")
    cache: dict[int, dict[str, Any]] = {}
    return OrjsonResponse(
        {
            "ancestors": [status_entity(services, item, viewer_id, cache) for item in judge.apply(thread.ancestors)],
            "descendants": [status_entity(services, item, viewer_id, cache) for item in judge.apply(descendants)],
        }
    )
