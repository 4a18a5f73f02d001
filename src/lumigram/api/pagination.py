"""Paging over HTTP: the max_id/since_id/min_id/limit query parameters in, a ``Link``
header (rel="next"/"prev") out; the pages themselves are ``lumigram.paging``'s."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Depends, Query
from starlette.requests import Request

from lumigram.errors import ValidationFailed
from lumigram.paging import CURSORS, DEFAULT_LIMIT, MAX_ID, Page, PageRequest, page_links


def cursor(name: str, value: str | None) -> int | None:
    if value is None or value == "":
        return None
    # Ids are positive 64-bit numbers; anything else is the client's mistake, not ours.
    if not (value.isascii() and value.isdigit() and len(value) <= 19 and int(value) <= MAX_ID):
        raise ValidationFailed.field(name, "ERR_INVALID", "must be an id")
    return int(value)


async def page_request(
    max_id: Annotated[str | None, Query(max_length=40)] = None,
    since_id: Annotated[str | None, Query(max_length=40)] = None,
    min_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(description="At most 80")] = DEFAULT_LIMIT,
) -> PageRequest:
    return PageRequest(
        max_id=cursor("max_id", max_id),
        since_id=cursor("since_id", since_id),
        min_id=cursor("min_id", min_id),
        limit=limit,
    )


PageParams = Annotated[PageRequest, Depends(page_request)]


def link_header(request: Request, base_url: str, page: Page[Any]) -> dict[str, str]:
    """``Link`` for the pages around ``page``: next (older) only when it was full, so a
    client walking ``next`` stops at the end; prev (newer) whenever there were items."""
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in CURSORS]
    links = page_links(f"{base_url}{request.url.path}", kept, page)
    return {"Link": links} if links else {}
