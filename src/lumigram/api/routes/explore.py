"""The explore grid (an extension): public posts from accounts you do not follow, ranked
for you (``lumigram.search.explore`` says how), paged by an opaque ``cursor``."""

from __future__ import annotations

import re
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import OptionalAccount, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.responses import OrjsonResponse
from lumigram.errors import ValidationFailed
from lumigram.search import service

router = APIRouter(tags=["explore"])

_CURSOR = re.compile(r"^(\d{1,10})-(\d{1,4})$")  # UNIX seconds (to 2286), page


def _cursor(value: str | None) -> tuple[int | None, int]:
    if not value:
        return None, 0
    match = _CURSOR.fullmatch(value)
    if match is None:
        raise ValidationFailed.field("cursor", "ERR_INVALID", "is not a cursor this server gave")
    return int(match.group(1)), int(match.group(2))


@router.get(
    "/api/v1/explore",
    summary="Posts you may like from accounts you do not follow (an extension)",
    dependencies=[scopes_if_token("read:statuses")],
)
async def explore_grid(
    request: Request,
    viewer: OptionalAccount,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=40, description="At most 40")] = 20,
    cursor: Annotated[
        str | None, Query(max_length=20, pattern=_CURSOR.pattern, description="From the Link header's next page")
    ] = None,
    explain: Annotated[bool, Query(description="Each post's score and its parts")] = False,
) -> Response:
    viewer_id = viewer.account_id if viewer else None
    clock_s, number = _cursor(cursor)
    found = await service.explore_statuses(services, viewer_id, limit, clock_s, number)
    body = []
    for entity, ranked in found.statuses:
        if explain:
            parts = {name: round(value, 4) for name, value in ranked.parts.items()}
            entity["lumigram"] = {**entity["lumigram"], "score": {"total": round(ranked.score, 4), **parts}}
        body.append(entity)
    headers = {}
    if found.next_page is not None:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query = urlencode([*kept, ("cursor", f"{found.clock}-{found.next_page}")])
        headers["Link"] = f'<{services.settings.base_url}{request.url.path}?{query}>; rel="next"'
    return OrjsonResponse(body, headers=headers)
