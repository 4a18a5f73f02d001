"""The web app's pages: welcome, sign-up, home feed, profiles, posts, hashtags and the
composer (notifications: ``notification_pages``).

Pages are rendered on the server from the same services the JSON API calls; what a page
then does (like, comment, save, follow, upload, post, delete, load more) its scripts do
through the JSON API with the web app's token (``lumigram.web.visit``). Forms that post
to these pages carry the session's CSRF token. A record the viewer may not see is a 404
page, as the API answers 404.
"""

from __future__ import annotations

import re
from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from lumigram.accounts import service as accounts
from lumigram.accounts.ratelimits import hit_limits
from lumigram.api.auth import client_address
from lumigram.api.deps import ServicesDep
from lumigram.entities.accounts import account_entity
from lumigram.errors import LumigramError, NotFound, RateLimited, ValidationFailed
from lumigram.feed import home as home_feed
from lumigram.feed import public, relevance
from lumigram.graph import service as graph
from lumigram.interactions import service as interactions
from lumigram.messages import queries as message_queries
from lumigram.notifications import service as notifications
from lumigram.paging import MAX_ID, PageRequest
from lumigram.posts import queries
from lumigram.posts import service as posts
from lumigram.posts import tags as hashtags
from lumigram.posts.models import HydratedPost
from lumigram.services import Services
from lumigram.uploads.filters import ADJUSTMENT_RANGES
from lumigram.web import TEMPLATES_DIR
from lumigram.web.csp import page_headers
from lumigram.web.session import csrf_ok, signed_in, write_session
from lumigram.web.story_views import home_tray
from lumigram.web.views import post_views
from lumigram.web.visit import Visit, current_visit, signer

router = APIRouter(include_in_schema=False)
templates = Jinja2Templates(directory=str(TEMPLATES_DIR))

#: Posts per page of a feed (the next ones are fetched as the reader nears the end).
FEED_PAGE = 8
#: Tiles on a profile or hashtag grid.
GRID_PAGE = 30
#: Who liked a post, named on its page ("Liked by alice, bob and 3 others").
LIKERS_SHOWN = 3
_DIGITS = re.compile(r"[0-9]{1,19}")


def _secure(services: Services) -> bool:
    return services.settings.base_url.startswith("https://")


async def _render(
    request: Request,
    services: Services,
    visit: Visit,
    template: str,
    context: dict[str, Any],
    status_code: int = 200,
) -> Response:
    me = account_entity(services.settings, visit.account).model_dump(mode="json") if visit.account else None
    unread = await notifications.unread_count(services, visit.account.id) if visit.account else 0
    waiting = await message_queries.unread(services, visit.account.id) if visit.account else None
    full = {
        "instance_title": services.settings.instance_title,
        "instance_description": services.settings.instance_description,
        "base_url": services.settings.base_url,
        "me": me,
        "csrf": visit.session.csrf,
        "api_token": visit.session.api_token if visit.account else None,
        "unread": unread,
        # Inbox threads with unread messages, and pending requests: the Messages badge.
        "messages_unread": waiting.threads + waiting.requests if waiting else 0,
        "og": None,
        **context,
    }
    headers = page_headers(services.settings)
    response = templates.TemplateResponse(request, template, full, status_code=status_code, headers=headers)
    if visit.changed:
        write_session(response, visit.session, signer(services), _secure(services))
    return response


async def _not_found(request: Request, services: Services, visit: Visit) -> Response:
    context = {"title": "Page not found", "nav": None}
    return await _render(request, services, visit, "app/not_found.html", context, status_code=404)


def _sign_in_redirect(path: str) -> Response:
    return RedirectResponse(f"/auth/sign_in?next={path}", status_code=303, headers={"Cache-Control": "no-store"})


def _id(raw: str | None) -> int | None:
    if raw is None or not _DIGITS.fullmatch(raw):
        return None
    value = int(raw)
    return value if 0 < value <= MAX_ID else None


async def post_at(services: Services, viewer_id: int | None, username: str, status_id: str) -> HydratedPost:
    """The post a page's address ``/@username/<id>`` names, as the viewer may see it;
    NotFound for a malformed id, a post hidden from the viewer, or another author's name."""
    wanted = _id(status_id)
    if wanted is None:
        raise NotFound
    item = await posts.get_post(services, viewer_id, wanted)
    if item.account.username.lower() != username.lower():
        raise NotFound
    return item


# -- welcome and home ------------------------------------------------------------------


#: "Why am I seeing this", for each part of a post's relevance score (the explain data).
_REASONS = {
    "recency": "it is recent",
    "engagement": "people are liking and commenting on it",
    "affinity": "you often interact with this account",
}


def _why(components: dict[str, float]) -> str:
    """The two parts that weigh most in the post's score, in words."""
    weighed = sorted(
        (name for name in components if name in relevance.WEIGHTS),
        key=lambda name: -components[name] * relevance.WEIGHTS[name],
    )
    return " and ".join(_REASONS[name] for name in weighed[:2] if name in _REASONS)


async def _home_page(services: Services, viewer_id: int, feed: str, cursor: str | None) -> tuple[list[Any], str | None]:
    """One page of the home feed and the query of the next one (None at the end)."""
    if feed == "foryou":
        offset = int(cursor) if cursor and cursor.isdigit() and int(cursor) < relevance.CANDIDATES else 0
        ranked = await relevance.ranked_home(services, viewer_id, offset, FEED_PAGE)
        items = post_views(services, [entry.item for entry in ranked], viewer_id)
        for view, entry in zip(items, ranked, strict=True):
            view["web"]["why"] = _why(entry.components)
        more = len(ranked) == FEED_PAGE and offset + FEED_PAGE < relevance.CANDIDATES
        return items, f"feed=foryou&cursor={offset + FEED_PAGE}" if more else None
    page = await home_feed.home(services, viewer_id, PageRequest(max_id=_id(cursor), limit=FEED_PAGE))
    items = post_views(services, page.items, viewer_id)
    return items, f"cursor={page.cursors[-1]}" if page.full and page.cursors else None


@router.get("/")
async def welcome_or_home(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        context: dict[str, Any] = {
            "title": "Welcome",
            "nav": None,
            "registrations_open": services.settings.registrations_open,
        }
        return await _render(request, services, visit, "app/welcome.html", context)
    feed = "foryou" if request.query_params.get("feed") == "foryou" else "following"
    cursor = request.query_params.get("cursor")
    items, next_query = await _home_page(services, visit.account.id, feed, cursor)
    page_context: dict[str, Any] = {"title": "Home", "nav": "home", "feed": feed, "posts": items}
    page_context["story_tray"] = await home_tray(services, visit.account.id)
    page_context["next_query"] = next_query
    return await _render(request, services, visit, "app/home.html", page_context)


@router.get("/web/home")
async def home_more(request: Request, services: ServicesDep) -> Response:
    """The next posts of the home feed, as HTML to append (the feed's infinite scroll)."""
    visit = await current_visit(request, services)
    if visit.account is None:
        return Response("", status_code=401, headers=page_headers(services.settings))
    feed = "foryou" if request.query_params.get("feed") == "foryou" else "following"
    items, next_query = await _home_page(services, visit.account.id, feed, request.query_params.get("cursor"))
    context = {"posts": items, "next_query": next_query, "me": True}
    return templates.TemplateResponse(request, "app/_feed_page.html", context, headers=page_headers(services.settings))


# -- sign-up -------------------------------------------------------------------------------


def _field_errors(exc: ValidationFailed) -> dict[str, str]:
    return {
        name: "; ".join(str(problem.get("description", "is invalid")) for problem in problems)
        for name, problems in exc.details.items()
    }


@router.get("/auth/sign_up")
async def sign_up_form(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is not None:
        return RedirectResponse("/", status_code=303)
    context: dict[str, Any] = {"title": "Create your account", "nav": None, "errors": {}, "values": {}}
    context["closed"] = not services.settings.registrations_open
    return await _render(request, services, visit, "app/sign_up.html", context)


@router.post("/auth/sign_up")
async def sign_up(request: Request, services: ServicesDep) -> Response:
    form = await request.form(max_files=0, max_fields=20)
    visit = await current_visit(request, services)
    values = {name: str(form.get(name) or "").strip() for name in ("username", "email", "phone")}
    context: dict[str, Any] = {"title": "Create your account", "nav": None, "values": values, "errors": {}}
    context["closed"] = not services.settings.registrations_open
    csrf = form.get("csrf")
    if visit.changed or not csrf_ok(visit.session, csrf if isinstance(csrf, str) else None):
        context["error"] = "Your session expired. Please try again."
        return await _render(request, services, visit, "app/sign_up.html", context, status_code=403)
    if context["closed"]:
        return await _render(request, services, visit, "app/sign_up.html", context, status_code=403)
    settings = services.settings
    try:
        await hit_limits(
            services, [f"rl:signup:{client_address(request)}"], settings.signup_rate_limit, settings.rate_limit_window
        )
        password = form.get("password")
        user, account = await accounts.register(
            services,
            accounts.Registration(
                username=values["username"],
                password=password if isinstance(password, str) else "",
                email=values["email"] or None,
                phone=values["phone"] or None,
                agreement=form.get("agreement") == "on",
            ),
        )
    except RateLimited:
        context["error"] = "Too many sign-ups from this address. Try again later."
        return await _render(request, services, visit, "app/sign_up.html", context, status_code=429)
    except ValidationFailed as exc:
        context["errors"] = _field_errors(exc)
        context["error"] = "Please correct the fields below."
        return await _render(request, services, visit, "app/sign_up.html", context, status_code=422)
    if settings.require_verification:
        # The same flow as the API: the login confirms its address before it may act.
        done = {"title": "Confirm your account", "nav": None, "email": user.email, "phone": user.phone}
        return await _render(request, services, visit, "app/signed_up.html", done)
    response = RedirectResponse("/", status_code=303, headers={"Cache-Control": "no-store"})
    write_session(response, signed_in(user.id, account.id), signer(services), _secure(services))
    return response


# -- profiles, posts, hashtags -----------------------------------------------------------


@router.get("/@{username}")
async def profile(username: str, request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    try:
        account = await accounts.find_account(services, username)
    except NotFound:
        return await _not_found(request, services, visit)
    viewer_id = visit.viewer_id
    relation = None
    if viewer_id is not None and viewer_id != account.id:
        relation = await graph.relationship(services, viewer_id, account.id)
    if relation is not None and relation.blocked_by:
        return await _not_found(request, services, visit)
    page = await queries.account_posts(
        services, viewer_id, account.id, PageRequest(limit=GRID_PAGE), only_media=True, exclude_replies=True
    )
    shut = account.locked and viewer_id != account.id and not (relation is not None and relation.following)
    entity = account_entity(services.settings, account).model_dump(mode="json")
    context = {
        "title": f"@{account.username}",
        "nav": "profile" if viewer_id == account.id else None,
        "account": entity,
        "bio": account.note,
        "relation": relation,
        "own": viewer_id == account.id,
        "shut": shut,
        "posts": post_views(services, page.items, viewer_id),
        "og": None
        if account.locked
        else {
            "title": f"@{account.username}",
            "description": account.note or "",
            "image": entity["avatar"],
            "url": entity["url"],
            "type": "profile",
        },
    }
    return await _render(request, services, visit, "app/profile.html", context)


@router.get("/@{username}/{status_id}")
async def post_page(username: str, status_id: str, request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    try:
        item = await post_at(services, visit.viewer_id, username, status_id)
        wanted = item.post.id
        thread = await interactions.context(services, visit.viewer_id, wanted)
    except NotFound:
        return await _not_found(request, services, visit)
    view, *comments = post_views(services, [item, *thread.descendants], visit.viewer_id)
    likers = await interactions.favourited_by(services, visit.viewer_id, wanted, PageRequest(limit=LIKERS_SHOWN))
    public_post = item.post.visibility == "public" and not item.account.locked
    first = next((m["image"] for m in view["web"]["media"] if m["image"]), None)
    og = None
    if public_post:
        og = {
            "title": f"@{item.account.username}",
            "description": item.post.text[:200],
            "image": first["src"] if first else None,
            "url": view["url"],
            "type": "article",
        }
    context: dict[str, Any] = {"title": f"A post by @{item.account.username}", "nav": None, "post": view}
    context["comments"] = comments
    context["og"] = og
    context["liked_by"] = [account.username for account in likers.items]
    return await _render(request, services, visit, "app/post.html", context)


@router.get("/tags/{name}")
async def hashtag_page(name: str, request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    try:
        tag = await hashtags.get_tag(services, visit.viewer_id, name)
    except LumigramError:
        return await _not_found(request, services, visit)
    page = await public.hashtag(services, visit.viewer_id, tag.name, PageRequest(limit=GRID_PAGE), only_media=True)
    context = {
        "title": f"#{tag.name}",
        "nav": None,
        "tag": tag,
        "posts": post_views(services, page.items, visit.viewer_id),
        "og": {
            "title": f"#{tag.name}",
            "description": f"Photos tagged #{tag.name}",
            "image": None,
            "url": f"{services.settings.base_url}/tags/{tag.name.casefold()}",
            "type": "website",
        },
    }
    return await _render(request, services, visit, "app/tag.html", context)


# -- composer ------------------------------------------------------------------------


@router.get("/new")
async def composer(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect("/new")
    context = {"title": "New post", "nav": "create", "adjustments": ADJUSTMENT_RANGES}
    return await _render(request, services, visit, "app/compose.html", context)
