"""Pages that list people: a profile's followers and following, the follow requests
waiting for the signed-in person, and who liked a post.

Each list is the API's own (``graph.list_followers``, ``interactions.favourited_by`` …),
so it hides what the API hides: a private account's network is shown to its approved
followers only, an account that blocks the viewer is a 404 page, as its profile is.
Approving and rejecting go through the JSON API from the page's script.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts import service as accounts
from lumigram.accounts.models import Account
from lumigram.api.deps import ServicesDep
from lumigram.entities.accounts import account_entity
from lumigram.errors import NotFound
from lumigram.graph import service as graph
from lumigram.interactions import service as interactions
from lumigram.paging import Page, PageRequest
from lumigram.services import Services
from lumigram.web.app_pages import _id, _not_found, _render, _sign_in_redirect, post_at
from lumigram.web.visit import Visit, current_visit

router = APIRouter(include_in_schema=False)

#: People per page of a list (the next ones are a link away).
PEOPLE_PAGE = 40

_Lister = Callable[[Services, int, int | None, PageRequest], Awaitable[Page[Account]]]


async def _people(
    request: Request, services: Services, visit: Visit, page: Page[Account], context: dict[str, Any]
) -> Response:
    """Render ``page`` of accounts with the viewer's relationship to each."""
    viewer_id = visit.viewer_id
    relations = {}
    if viewer_id is not None:
        relations = await graph.relationship_flags(services, viewer_id, [account.id for account in page.items])
    people = [
        {**account_entity(services.settings, account).model_dump(mode="json"), "relation": relations.get(account.id)}
        for account in page.items
    ]
    more = f"max_id={page.cursors[-1]}" if page.full and page.cursors else None
    return await _render(request, services, visit, "app/people.html", {"people": people, "next_query": more, **context})


async def _network(request: Request, services: Services, username: str, which: str, lister: _Lister) -> Response:
    visit = await current_visit(request, services)
    try:
        owner = await accounts.find_account(services, username)
        viewer_id = visit.viewer_id
        if (
            viewer_id is not None
            and viewer_id != owner.id
            and (await graph.relationship(services, viewer_id, owner.id)).blocked_by
        ):
            raise NotFound
        wanted = PageRequest(max_id=_id(request.query_params.get("max_id")), limit=PEOPLE_PAGE)
        page = await lister(services, owner.id, viewer_id, wanted)
    except NotFound:
        return await _not_found(request, services, visit)
    hidden = (
        not page.items
        and owner.locked
        and viewer_id != owner.id
        and not (viewer_id is not None and await graph.is_following(services, viewer_id, owner.id))
    )
    title = "Followers" if which == "followers" else "Following"
    context = {
        "title": f"{title} of @{owner.username}",
        "heading": title,
        "nav": "profile" if viewer_id == owner.id else None,
        "owner": owner.username,
        "which": which,
        "hidden": hidden,
        "empty": "No followers yet." if which == "followers" else "Not following anyone yet.",
    }
    return await _people(request, services, visit, page, context)


@router.get("/@{username}/followers")
async def followers_page(username: str, request: Request, services: ServicesDep) -> Response:
    return await _network(request, services, username, "followers", graph.list_followers)


@router.get("/@{username}/following")
async def following_page(username: str, request: Request, services: ServicesDep) -> Response:
    return await _network(request, services, username, "following", graph.list_following)


@router.get("/follow_requests")
async def follow_requests_page(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect("/follow_requests")
    wanted = PageRequest(max_id=_id(request.query_params.get("max_id")), limit=PEOPLE_PAGE)
    page = await graph.list_follow_requests(services, visit.account.id, wanted)
    context = {
        "title": "Follow requests",
        "heading": "Follow requests",
        "nav": "profile",
        "which": "requests",
        "hidden": False,
        "empty": "No one is waiting for you to answer.",
    }
    return await _people(request, services, visit, page, context)


@router.get("/@{username}/{status_id}/likes")
async def likes_page(username: str, status_id: str, request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    try:
        item = await post_at(services, visit.viewer_id, username, status_id)
        wanted = item.post.id
        cursor = PageRequest(max_id=_id(request.query_params.get("max_id")), limit=PEOPLE_PAGE)
        page = await interactions.favourited_by(services, visit.viewer_id, wanted, cursor)
    except NotFound:
        return await _not_found(request, services, visit)
    context = {
        "title": f"Likes of a post by @{item.account.username}",
        "heading": "Likes",
        "nav": None,
        "which": "likes",
        "hidden": False,
        "post_path": f"/@{item.account.username}/{item.post.id}",
        "empty": "No likes yet.",
    }
    return await _people(request, services, visit, page, context)
