"""Mastodon's reblog routes: repost a post, take the repost back, and who reposted.

* Reposting answers the repost (a Status whose ``reblog`` is the post), unreposting the
  post itself, each with the viewer's ``reblogged`` flag; both are idempotent.
* Only posts shared with everyone may be reposted (403 otherwise); a post the viewer may
  not see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, OptionalAccount, require_scopes, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import Account, account_entity
from lumigram.entities.statuses import status_entity
from lumigram.reposts import service

router = APIRouter(tags=["reposts"])


@router.post(
    "/api/v1/statuses/{status_id}/reblog",
    summary="Repost a post to your followers",
    dependencies=[require_scopes("write:statuses")],
)
async def reblog(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await service.reblog(services, viewer.account_id, record_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.post(
    "/api/v1/statuses/{status_id}/unreblog",
    summary="Take a repost back",
    dependencies=[require_scopes("write:statuses")],
)
async def unreblog(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await service.unreblog(services, viewer.account_id, record_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.get(
    "/api/v1/statuses/{status_id}/reblogged_by",
    summary="Who reposted a post, most recent repost first",
    response_model=list[Account],
    dependencies=[scopes_if_token("read:accounts")],
)
async def reblogged_by(
    status_id: str, request: Request, page: PageParams, viewer: OptionalAccount, services: ServicesDep
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    listed = await service.reblogged_by(services, viewer_id, record_id(status_id), page)
    body = [account_entity(services.settings, account).model_dump(mode="json") for account in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))
