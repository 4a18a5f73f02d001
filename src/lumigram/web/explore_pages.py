"""The web app's search and explore pages.

``/explore`` is the search box (with typeahead), the signed-in person's recent searches,
trending hashtags and the explore grid, which grows as the reader scrolls
(``/web/explore`` hands out the next tiles as HTML). ``/search?q=`` shows the results,
all kinds at once or one kind (``type``) with more pages. Everything comes from the same
search service as ``/api/v2/search`` and ``/api/v1/explore``, so a page finds exactly
what the API would for the same viewer; the typeahead and the recent searches' buttons
call the JSON API. Pages are drawn with ``app_pages``' layout and its context (who is
signed in, the badges, the session cookie), made there for every page.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.deps import ServicesDep
from lumigram.entities.accounts import account_entity
from lumigram.search import recent
from lumigram.search import service as search
from lumigram.search.models import MAX_OFFSET, TYPES, SearchRequest, TagHit
from lumigram.search.query import MAX_QUERY
from lumigram.services import Services
from lumigram.web.app_pages import _render, templates
from lumigram.web.csp import page_headers
from lumigram.web.views import post_views
from lumigram.web.visit import current_visit

router = APIRouter(include_in_schema=False)

#: Tiles on each page of the explore grid (a multiple of the grid's three columns).
EXPLORE_PAGE = 24
#: Results of one kind on a results page.
RESULTS_PAGE = 20
#: Results of each kind when all kinds are shown at once.
TOP_EACH = 6
RECENT_SHOWN = 10
TRENDING_SHOWN = 10
_CURSOR = re.compile(r"(\d{1,10})-(\d{1,4})")  # as the explore API's: ranking clock, page number
_LABELS = {"accounts": "Accounts", "hashtags": "Tags", "statuses": "Posts"}


def _explore_next(clock: int, next_page: int | None) -> str | None:
    return None if next_page is None else f"cursor={clock}-{next_page}"


def _tag_view(tag: TagHit) -> dict[str, Any]:
    week = sum(day.uses for day in tag.history)
    return {"name": tag.name, "uses": tag.uses, "week": week, "path": f"/tags/{tag.name.casefold()}"}


def _cursor(raw: str | None) -> tuple[int | None, int] | None:
    """(ranking clock, page number) of an explore cursor; None when it is not one."""
    match = _CURSOR.fullmatch(raw or "")
    return (int(match.group(1)), int(match.group(2))) if match else None


async def _grid(services: Services, viewer_id: int | None, clock: int | None, number: int) -> dict[str, Any]:
    found = await search.explore_grid(services, viewer_id, EXPLORE_PAGE, clock, number)
    items = post_views(services, [item for item, _ in found.items], viewer_id)
    return {"posts": items, "next_query": _explore_next(found.clock, found.next_page)}


@router.get("/explore")
async def explore_page(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    viewer_id = visit.viewer_id
    trending = await search.trending_tags(services, viewer_id, TRENDING_SHOWN, 0)
    recents = await recent.recent(services, viewer_id, RECENT_SHOWN) if viewer_id is not None else []
    # Without scripts, the grid's "More posts" link comes back here with the next cursor.
    clock, number = _cursor(request.query_params.get("cursor")) or (None, 0)
    context: dict[str, Any] = {
        "title": "Explore",
        "nav": "search",
        "q": "",
        "trending": [_tag_view(tag) for tag in trending],
        "recent": recents,
        **await _grid(services, viewer_id, clock, number),
    }
    return await _render(request, services, visit, "explore/explore.html", context)


@router.get("/web/explore")
async def explore_more(request: Request, services: ServicesDep) -> Response:
    """The next tiles of the explore grid, as HTML to append (its infinite scroll)."""
    visit = await current_visit(request, services)
    cursor = _cursor(request.query_params.get("cursor"))
    if cursor is None:
        return Response("", status_code=400, headers=page_headers(services.settings))
    grid = await _grid(services, visit.viewer_id, *cursor)
    headers = page_headers(services.settings)
    return templates.TemplateResponse(request, "explore/_tiles_page.html", grid, headers=headers)


def _offset(raw: str | None) -> int:
    return int(raw) if raw is not None and raw.isascii() and raw.isdigit() and int(raw) <= MAX_OFFSET else 0


@router.get("/search")
async def results_page(request: Request, services: ServicesDep) -> Response:
    """Results for ``q``: every kind (a few of each) or one ``type`` with further pages."""
    visit = await current_visit(request, services)
    viewer_id = visit.viewer_id
    q = request.query_params.get("q", "")[: MAX_QUERY * 2]
    kind = request.query_params.get("type")
    kind = kind if kind in TYPES else None
    offset = _offset(request.query_params.get("offset")) if kind else 0
    limit = RESULTS_PAGE if kind else TOP_EACH
    found = await search.search(services, viewer_id, SearchRequest(q=q, type=kind, limit=limit, offset=offset))
    next_query = None
    if kind and len(getattr(found, kind)) == limit and offset + limit <= MAX_OFFSET:
        next_query = urlencode({"q": q, "type": kind, "offset": offset + limit})
    context: dict[str, Any] = {
        "title": f"Search: {q}" if q.strip() else "Search",
        "nav": "search",
        "q": q,
        "kind": kind,
        "tabs": [(None, "Top"), *((name, _LABELS[name]) for name in TYPES)],
        "tab_query": lambda name: urlencode({"q": q, **({"type": name} if name else {})}),
        "accounts": [account_entity(services.settings, hit.account).model_dump(mode="json") for hit in found.accounts],
        "hashtags": [_tag_view(tag) for tag in found.hashtags],
        "posts": post_views(services, found.statuses, viewer_id),
        "next_query": next_query,
    }
    return await _render(request, services, visit, "explore/results.html", context)
