"""Mastodon-style paging for the follow graph's lists: max_id/since_id/min_id/limit in,
a ``Link`` header (rel="next"/"prev") out, cursors being the edge ids.

Kept apart from any general pagination helper so the two can merge later without a clash.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Depends, Query
from starlette.requests import Request

from lumigram.errors import ValidationFailed
from lumigram.graph.models import DEFAULT_LIMIT, MAX_ID, Page, PageRequest

CURSORS = ("max_id", "since_id", "min_id")


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


def page_links(base: str, kept: Sequence[tuple[str, str]], page: Page[Any]) -> str | None:
    """The ``Link`` value of ``link_header`` for a request to ``base`` whose parameters,
    cursors left out, were ``kept``."""
    if not page.cursors:
        return None
    links = []
    if page.full:
        links.append(f'<{base}?{urlencode([*kept, ("max_id", str(page.cursors[-1]))])}>; rel="next"')
    links.append(f'<{base}?{urlencode([*kept, ("min_id", str(page.cursors[0]))])}>; rel="prev"')
    return ", ".join(links)
