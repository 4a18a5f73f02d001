"""The settings pages: profile, privacy, blocked and muted accounts, sessions and apps,
and push notifications in the browser; with the service worker those pushes need.

The pages are rendered from the same services as the API. Editing the profile, the
private toggle, unblocking, unmuting and the push subscription are done by the pages'
scripts through the JSON API with the web app's token, as every other page does. Ending
sessions has no Mastodon route, so those two are forms posted here with the session's
CSRF token.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from fastapi import APIRouter
from markupsafe import Markup
from starlette.requests import Request
from starlette.responses import FileResponse, RedirectResponse, Response

from lumigram.accounts import oauth, sessions
from lumigram.accounts.models import Account
from lumigram.api.deps import ServicesDep
from lumigram.entities.accounts import account_entity
from lumigram.errors import NotFound
from lumigram.graph import service as graph
from lumigram.graph.models import MutedAccount
from lumigram.notifications import service as notifications
from lumigram.notifications.models import FOLLOW, FOLLOW_REQUEST
from lumigram.paging import Page, PageRequest
from lumigram.push.keys import vapid_keys
from lumigram.push.service import ALERT_TYPES
from lumigram.services import Services
from lumigram.web import STATIC_DIR
from lumigram.web.app_pages import _id, _not_found, _render, _secure, _sign_in_redirect
from lumigram.web.csp import page_headers
from lumigram.web.session import csrf_ok, signed_out, write_session
from lumigram.web.visit import Visit, current_visit, signer

router = APIRouter(include_in_schema=False)

#: Accounts per page of the blocked and muted lists.
LIST_PAGE = 40
#: The settings sections, in the order the settings menu lists them.
SECTIONS = (
    ("profile", "Edit profile"),
    ("privacy", "Privacy"),
    ("blocked", "Blocked accounts"),
    ("muted", "Muted accounts"),
    ("sessions", "Sessions and apps"),
    ("notifications", "Push notifications"),
)
#: What each push alert is called on the page (Mastodon's types Lumigram makes).
ALERT_LABELS = {
    "favourite": "Likes",
    "mention": "Comments and mentions",
    "follow": "New followers",
    "follow_request": "Follow requests",
    "reblog": "Reposts",
    "status": "Posts from accounts you get notified about",
    "poll": "Polls that ended",
    "update": "Edits of posts you interacted with",
}
#: The worker is checked for a new version on every visit (no-cache), and runs under
#: the pages' policy: it fetches nothing itself, and its notifications' icons are avatars.
_WORKER_HEADERS = {"Cache-Control": "no-cache", "X-Content-Type-Options": "nosniff"}


async def _settings_page(
    request: Request,
    services: Services,
    visit: Visit,
    section: str,
    context: dict[str, Any],
    template: str | None = None,
) -> Response:
    """The page of ``section``, from ``app/settings/<template>.html`` (by default the
    section's own)."""
    base: dict[str, Any] = {
        "title": dict(SECTIONS)[section],
        "nav": "settings",
        "sections": SECTIONS,
        "section": section,
    }
    return await _render(request, services, visit, f"app/settings/{template or section}.html", {**base, **context})


async def _signed_in(request: Request, services: Services, path: str) -> Visit | Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect(path)
    return visit


def _next_query(cursors: list[int], full: bool) -> str | None:
    return f"max_id={cursors[-1]}" if full and cursors else None


@router.get("/settings")
async def settings_home() -> Response:
    return RedirectResponse("/settings/profile", status_code=303)


@router.get("/settings/profile")
async def profile_settings(request: Request, services: ServicesDep) -> Response:
    visit = await _signed_in(request, services, "/settings/profile")
    if isinstance(visit, Response):
        return visit
    assert visit.account is not None
    entity = account_entity(services.settings, visit.account).model_dump(mode="json")
    context = {"account": entity, "bio": visit.account.note}
    return await _settings_page(request, services, visit, "profile", context)


@router.get("/settings/privacy")
async def privacy_settings(request: Request, services: ServicesDep) -> Response:
    visit = await _signed_in(request, services, "/settings/privacy")
    if isinstance(visit, Response):
        return visit
    assert visit.account is not None
    requests = await graph.list_follow_requests(services, visit.account.id, PageRequest(limit=1))
    context = {"locked": visit.account.locked, "has_requests": bool(requests.items)}
    return await _settings_page(request, services, visit, "privacy", context)


# -- accounts set apart: blocked and muted -------------------------------------------------

Listed = TypeVar("Listed")


@dataclass(frozen=True, slots=True)
class PeopleSection(Generic[Listed]):
    """A settings section listing accounts the viewer set apart, a page at a time, each
    with a button that undoes it through the API (``settings.js``)."""

    section: str
    #: The viewer's page of the list, from the graph service.
    page: Callable[[Services, int, PageRequest], Awaitable[Page[Listed]]]
    #: An item of that page: the account, and when it leaves the list by itself (or None).
    person: Callable[[Listed], tuple[Account, datetime | None]]
    #: The API action that undoes it (``/api/v1/accounts/:id/<undo>``), its button's
    #: word, and what the button turns into once done.
    undo: str
    verb: str
    done: str
    #: What the section says above its list, and instead of it when empty: our own
    #: words, given to the template as they are (an apostrophe stays one).
    intro: Markup
    empty: Markup


BLOCKED: PeopleSection[Account] = PeopleSection(
    "blocked",
    graph.list_blocks,
    lambda account: (account, None),
    "unblock",
    "Unblock",
    "Unblocked",
    Markup("Blocked accounts cannot see your profile or posts, follow you or message you."),
    Markup("You have not blocked anyone."),
)
MUTED: PeopleSection[MutedAccount] = PeopleSection(
    "muted",
    graph.list_mutes,
    lambda item: (item.account, item.expires_at),
    "unmute",
    "Unmute",
    "Unmuted",
    Markup("Muted accounts' posts stay out of your feed; they are not told."),
    Markup("You have not muted anyone."),
)


async def _people_settings(request: Request, services: Services, listing: PeopleSection[Listed]) -> Response:
    visit = await _signed_in(request, services, f"/settings/{listing.section}")
    if isinstance(visit, Response):
        return visit
    assert visit.account is not None
    wanted = PageRequest(max_id=_id(request.query_params.get("max_id")), limit=LIST_PAGE)
    page = await listing.page(services, visit.account.id, wanted)
    people = []
    for item in page.items:
        account, until = listing.person(item)
        people.append({**account_entity(services.settings, account).model_dump(mode="json"), "until": until})
    context = {"people": people, "next_query": _next_query(page.cursors, page.full), "listing": listing}
    return await _settings_page(request, services, visit, listing.section, context, template="people")


@router.get("/settings/blocked")
async def blocked_settings(request: Request, services: ServicesDep) -> Response:
    return await _people_settings(request, services, BLOCKED)


@router.get("/settings/muted")
async def muted_settings(request: Request, services: ServicesDep) -> Response:
    return await _people_settings(request, services, MUTED)


# -- sessions and apps ---------------------------------------------------------------------


async def _this_token_id(services: Services, visit: Visit) -> int | None:
    token = visit.session.api_token
    grant = await oauth.resolve_token(services, token) if token else None
    return grant.token_id if grant is not None else None


@router.get("/settings/sessions")
async def sessions_settings(request: Request, services: ServicesDep) -> Response:
    visit = await _signed_in(request, services, "/settings/sessions")
    if isinstance(visit, Response):
        return visit
    assert visit.account is not None
    listed = await sessions.list_signed_in(services, visit.account.user_id)
    context = {"signed_in": listed, "this_token": await _this_token_id(services, visit)}
    return await _settings_page(request, services, visit, "sessions", context)


async def _checked_form(request: Request, services: Services) -> tuple[Visit, bool]:
    """The visit, and whether the form carries its session's CSRF token."""
    form = await request.form(max_files=0, max_fields=5)
    visit = await current_visit(request, services)
    csrf = form.get("csrf")
    return visit, not visit.changed and csrf_ok(visit.session, csrf if isinstance(csrf, str) else None)


async def _expired_form(request: Request, services: Services, visit: Visit) -> Response:
    context = {"title": "Session expired", "nav": None}
    return await _render(request, services, visit, "app/settings/expired.html", context, status_code=403)


def _signed_out_here(services: Services, visit: Visit) -> Response:
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    write_session(response, signed_out(visit.session), signer(services), _secure(services))
    return response


@router.post("/settings/sessions/{token_id}/end")
async def end_session(token_id: str, request: Request, services: ServicesDep) -> Response:
    visit, fresh = await _checked_form(request, services)
    if visit.account is None:
        return _sign_in_redirect("/settings/sessions")
    if not fresh:
        return await _expired_form(request, services, visit)
    wanted = _id(token_id)
    this_token = await _this_token_id(services, visit)
    try:
        if wanted is None:
            raise NotFound
        await sessions.end_session(services, visit.account.user_id, wanted)
    except NotFound:
        return await _not_found(request, services, visit)
    if wanted == this_token:
        return _signed_out_here(services, visit)
    return RedirectResponse("/settings/sessions", status_code=303, headers={"Cache-Control": "no-store"})


@router.post("/settings/sessions/end_all")
async def end_all_sessions(request: Request, services: ServicesDep) -> Response:
    visit, fresh = await _checked_form(request, services)
    if visit.account is None:
        return _sign_in_redirect("/settings/sessions")
    if not fresh:
        return await _expired_form(request, services, visit)
    await sessions.end_all_sessions(services, visit.account.user_id)
    return _signed_out_here(services, visit)


# -- push notifications ----------------------------------------------------------------------


@router.get("/settings/notifications")
async def push_settings(request: Request, services: ServicesDep) -> Response:
    visit = await _signed_in(request, services, "/settings/notifications")
    if isinstance(visit, Response):
        return visit
    alerts = [(name, label) for name, label in ALERT_LABELS.items() if name in ALERT_TYPES]
    context = {"server_key": vapid_keys(services.settings).public_key, "alerts": alerts}
    return await _settings_page(request, services, visit, "notifications", context)


@router.get("/sw.js")
async def service_worker(services: ServicesDep) -> Response:
    """The service worker, from the site's root so that its scope is the whole app."""
    headers = {**_WORKER_HEADERS, "Content-Security-Policy": page_headers(services.settings)["Content-Security-Policy"]}
    return FileResponse(STATIC_DIR / "sw.js", media_type="text/javascript", headers=headers)


@router.get("/notifications/{notification_id}")
async def open_notification(notification_id: str, request: Request, services: ServicesDep) -> Response:
    """Where a notification leads (the worker opens this when a push is clicked): its
    post, the follower's profile, or the follow requests."""
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect(request.url.path)
    wanted = _id(notification_id)
    try:
        if wanted is None:
            raise NotFound
        found = await notifications.get_notification(services, visit.account.id, wanted)
    except NotFound:
        return await _not_found(request, services, visit)
    if found.type == FOLLOW_REQUEST:
        target = "/follow_requests"
    elif found.status is not None:
        target = f"/@{found.status.account.username}/{found.status.post.id}"
    elif found.type == FOLLOW:
        target = f"/@{found.account.username}"
    else:
        target = "/notifications"
    return RedirectResponse(target, status_code=303, headers={"Cache-Control": "no-store"})
