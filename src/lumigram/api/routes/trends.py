"""Mastodon's trends: hashtags and posts growing against their own past
(``lumigram.search.trends`` says how), public content only."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from starlette.responses import Response

from lumigram.api.auth import OptionalAccount, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.search import Tag, tag_entity
from lumigram.entities.statuses import status_entity
from lumigram.search import service

router = APIRouter(tags=["trends"])

Offset = Annotated[int, Query(ge=0, le=1000)]


@router.get(
    "/api/v1/trends/tags",
    summary="Hashtags in use more than usual",
    response_model=list[Tag],
    dependencies=[scopes_if_token("read")],
)
@router.get(
    "/api/v1/trends",
    summary="Hashtags in use more than usual (the older name of /api/v1/trends/tags)",
    response_model=list[Tag],
    dependencies=[scopes_if_token("read")],
)
async def trending_tags(
    viewer: OptionalAccount,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=20, description="At most 20")] = 10,
    offset: Offset = 0,
) -> Response:
    found = await service.trending_tags(services, viewer.account_id if viewer else None, limit, offset)
    return OrjsonResponse([tag_entity(services, tag, viewer is not None) for tag in found])


@router.get(
    "/api/v1/trends/statuses",
    summary="Posts drawing more likes and comments than their authors' usual",
    dependencies=[scopes_if_token("read:statuses")],
)
async def trending_statuses(
    viewer: OptionalAccount,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=40, description="At most 40")] = 20,
    offset: Offset = 0,
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    items = await service.trending_posts(services, viewer_id, limit, offset)
    cache: dict[int, dict[str, Any]] = {}
    return OrjsonResponse([status_entity(services, item, viewer_id, cache) for item in items])
