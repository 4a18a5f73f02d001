"""The web app's story and reels pages: one account's stories in a full-screen viewer,
posting a story, and the reels feed (the home page's story tray is its scripts' work).

As the other pages (``lumigram.web.app_pages``): rendered from the services the JSON API
calls, with the API's entities; what the viewer does next (mark seen, reply, list the
viewers, post, report reel views) the scripts do through the JSON API with the web app's
token. No player library is loaded (none may be, under the pages' rules): each reel's
``<video>`` offers its HLS playlist first, typed, which browsers that play HLS themselves
take (Safari; Chromium from version 141), and its MP4 after it for the others.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts import service as accounts
from lumigram.api.deps import ServicesDep
from lumigram.entities.accounts import account_entity
from lumigram.entities.statuses import status_entity
from lumigram.entities.stories import story_entity
from lumigram.errors import NotFound, ValidationFailed
from lumigram.reels import service as reels
from lumigram.reels.models import Cursor
from lumigram.stories import service as stories
from lumigram.web.app_pages import _not_found, _render, _sign_in_redirect
from lumigram.web.visit import current_visit

router = APIRouter(include_in_schema=False)

#: Reels on one page of the web feed.
REELS_PAGE = 6


@router.get("/stories/new")
async def new_story(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect("/stories/new")
    return await _render(request, services, visit, "app/story_new.html", {"title": "New story", "nav": None})


@router.get("/stories/{username}")
async def story_viewer(username: str, request: Request, services: ServicesDep) -> Response:
    """One account's live stories, oldest first, from the first one the viewer has not seen."""
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect(f"/stories/{quote(username)}")
    viewer_id = visit.account.id
    try:
        owner = await accounts.find_account(services, username)
        found = await stories.account_stories(services, viewer_id, owner.id)
    except NotFound:
        return await _not_found(request, services, visit)
    account = account_entity(services.settings, owner).model_dump(mode="json")
    items = [story_entity(services, story, viewer_id, account) for story in found]
    start = next((index for index, item in enumerate(items) if not item["seen"]), 0)
    context = {
        "title": f"Stories of @{owner.username}",
        "nav": None,
        "owner": account,
        "own": owner.id == viewer_id,
        "stories": items,
        "start": start,
    }
    return await _render(request, services, visit, "app/story_viewer.html", context)


@router.get("/reels")
async def reels_page(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect("/reels")
    raw = request.query_params.get("cursor")
    try:
        cursor = Cursor.decode(raw) if raw else None
    except ValidationFailed:
        cursor = None  # a stale or hand-made link: start from the top
    page = await reels.reels_feed(services, visit.account.id, REELS_PAGE, cursor)
    cache: dict[int, dict[str, Any]] = {}
    items = [status_entity(services, entry.item, visit.account.id, cache) for entry in page.items]
    context = {
        "title": "Reels",
        "nav": "reels",
        "reels": items,
        "next_cursor": page.next_cursor.encode() if page.next_cursor else None,
    }
    return await _render(request, services, visit, "app/reels.html", context)
