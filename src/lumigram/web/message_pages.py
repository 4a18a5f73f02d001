"""The web app's direct messages: the inbox, message requests, a thread, a new message.

Pages are rendered from the message service as the extension API under
``/api/v1/lumigram`` sees it: a thread the viewer is not a current member of is a 404
page, like one that does not exist. Opening a thread marks it read, as opening the
notifications page clears their badge. Sending, unsending, accepting, declining,
typing and starting threads are done by the page's script through the JSON API; what
others do arrives over the ``direct`` stream, and the script then fetches the new part
as HTML from the ``/web/messages`` fragments, so a message is drawn by one template.
Pages are drawn with ``app_pages``' layout and its context, made there for every page.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.deps import ServicesDep
from lumigram.entities.accounts import account_entity
from lumigram.entities.media import media_entity
from lumigram.entities.statuses import status_entity
from lumigram.errors import NotFound
from lumigram.messages import queries
from lumigram.messages import service as messages
from lumigram.messages.models import INBOX, REQUESTS, Message, Thread
from lumigram.paging import PageRequest
from lumigram.services import Services
from lumigram.web.app_pages import _id, _not_found, _render, _sign_in_redirect, templates
from lumigram.web.csp import page_headers
from lumigram.web.visit import current_visit

router = APIRouter(include_in_schema=False)

#: Threads on a page of the inbox or the requests.
THREADS_PAGE = 30
#: Messages shown when a thread opens (older ones a link away).
MESSAGES_PAGE = 40


def _thread_view(services: Services, thread: Thread) -> dict[str, Any]:
    """What a row of the inbox and a thread's header show."""
    others = [a for a in thread.accounts if a.id != thread.viewer_id]
    names = ", ".join(a.username for a in others) or "Only you"
    last = thread.last_message
    if last is None:
        preview = ""
    elif last.unsent:
        preview = "Message unsent"
    else:
        preview = last.text or ("Sent a photo" if last.media else "Shared something")
    if last is not None and last.account_id == thread.viewer_id:
        preview = f"You: {preview}"
    return {
        "id": str(thread.id),
        "title": thread.name or names,
        "group": thread.kind != "direct",
        "others": [account_entity(services.settings, a).model_dump(mode="json") for a in others[:2]],
        "names": {str(a.id): a.username for a in others},
        "preview": preview,
        "at": last.created_at.isoformat() if last else thread.created_at.isoformat(),
        "unread": thread.unread_count,
        "folder": thread.me.folder,
    }


def _message_view(services: Services, message: Message, thread: Thread) -> dict[str, Any]:
    viewer_id = thread.viewer_id
    author = next((a for a in thread.accounts if a.id == message.account_id), None)
    return {
        "id": str(message.id),
        "mine": message.account_id == viewer_id,
        "author": author.username if author else "a former member",
        "text": message.text,
        "unsent": message.unsent,
        "media": [media_entity(services, record) for record in message.media],
        "post": status_entity(services, message.shared_post, viewer_id) if message.shared_post else None,
        "account": account_entity(services.settings, message.shared_account).model_dump(mode="json")
        if message.shared_account
        else None,
        "story": message.story_id is not None,
        "reactions": [reaction.emoji for reaction in message.reactions],
        "at": message.created_at.isoformat(),
    }


def _seen(thread: Thread, messages_shown: list[dict[str, Any]]) -> str | None:
    """The read state under the viewer's message when it is the thread's newest and others
    have read it: "Seen" in a 1:1 thread, "Seen by N" in a group."""
    if not messages_shown or not messages_shown[-1]["mine"]:
        return None
    newest = int(messages_shown[-1]["id"])
    readers = [m for m in thread.members if m.account_id != thread.viewer_id and m.last_read_id >= newest]
    if not readers:
        return None
    return "Seen" if thread.kind == "direct" else f"Seen by {len(readers)}"


async def _threads(services: Services, viewer_id: int, folder: str) -> list[dict[str, Any]]:
    page = await queries.list_threads(services, viewer_id, folder, PageRequest(limit=THREADS_PAGE))
    return [_thread_view(services, thread) for thread in page.items]


async def _inbox(request: Request, services: Services, folder: str) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect("/messages" if folder == INBOX else "/messages/requests")
    viewer_id = visit.account.id
    waiting = await queries.unread(services, viewer_id)
    context = {
        "title": "Messages" if folder == INBOX else "Message requests",
        "nav": "messages",
        "folder": folder,
        "threads": await _threads(services, viewer_id, folder),
        "requests": waiting.requests,
    }
    return await _render(request, services, visit, "messages/inbox.html", context)


@router.get("/messages")
async def inbox(request: Request, services: ServicesDep) -> Response:
    return await _inbox(request, services, INBOX)


@router.get("/messages/requests")
async def message_requests(request: Request, services: ServicesDep) -> Response:
    return await _inbox(request, services, REQUESTS)


@router.get("/web/messages")
async def inbox_rows(request: Request, services: ServicesDep) -> Response:
    """The inbox's (or with ``folder=requests``, the requests') rows, as HTML to swap in
    when the stream says something changed."""
    visit = await current_visit(request, services)
    headers = page_headers(services.settings)
    if visit.account is None:
        return Response("", status_code=401, headers=headers)
    folder = REQUESTS if request.query_params.get("folder") == REQUESTS else INBOX
    waiting = await queries.unread(services, visit.account.id)
    context: dict[str, Any] = {"threads": await _threads(services, visit.account.id, folder), "folder": folder}
    context["requests"] = waiting.requests
    return templates.TemplateResponse(request, "messages/_rows.html", context, headers=headers)


@router.get("/messages/new")
async def new_message(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect("/messages/new")
    context = {"title": "New message", "nav": "messages", "max_members": messages.MAX_MEMBERS - 1}
    return await _render(request, services, visit, "messages/new.html", context)


async def _messages(services: Services, thread: Thread, page: PageRequest) -> tuple[list[dict[str, Any]], bool]:
    """The page's messages oldest first, and whether older ones exist."""
    listed = await queries.list_messages(services, thread.viewer_id, thread.id, page)
    shown = [_message_view(services, message, thread) for message in reversed(listed.items)]
    return shown, listed.full


@router.get("/messages/{thread_id}")
async def thread_page(thread_id: str, request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect(request.url.path)
    viewer_id = visit.account.id
    wanted = _id(thread_id)
    older_than = _id(request.query_params.get("max_id"))
    try:
        if wanted is None:
            raise NotFound
        thread = await queries.get_thread(services, viewer_id, wanted)
        if older_than is None and thread.me.folder == INBOX:
            # Seen on this page: the thread (here and in every app) is read up to its newest.
            # A request is not: its sender learns nothing until it is accepted.
            await messages.mark_read(services, viewer_id, wanted)
    except NotFound:
        return await _not_found(request, services, visit)
    shown, more = await _messages(services, thread, PageRequest(max_id=older_than, limit=MESSAGES_PAGE))
    view = _thread_view(services, thread)
    context = {
        "title": view["title"],
        "nav": "messages",
        "thread": view,
        "messages": shown,
        "older": shown[0]["id"] if more and shown else None,
        # An older page: what arrives meanwhile belongs on the newest one, not at its end.
        "paged": older_than is not None,
        "seen": _seen(thread, shown),
        "max_text": messages.MAX_TEXT,
    }
    return await _render(request, services, visit, "messages/thread.html", context)


@router.get("/web/messages/{thread_id}")
async def thread_news(thread_id: str, request: Request, services: ServicesDep) -> Response:
    """A thread's messages after ``since_id`` (oldest first) as HTML to append, and its
    read state: what the script fetches when the stream announces a change."""
    visit = await current_visit(request, services)
    headers = page_headers(services.settings)
    if visit.account is None:
        return Response("", status_code=401, headers=headers)
    wanted, since = _id(thread_id), _id(request.query_params.get("since_id"))
    try:
        if wanted is None:
            raise NotFound
        thread = await queries.get_thread(services, visit.account.id, wanted)
    except NotFound:
        return Response("", status_code=404, headers=headers)
    shown, _ = await _messages(services, thread, PageRequest(min_id=since, limit=MESSAGES_PAGE))
    latest, _ = await _messages(services, thread, PageRequest(limit=1)) if not shown else (shown, False)
    context = {"messages": shown, "seen": _seen(thread, latest)}
    return templates.TemplateResponse(request, "messages/_messages.html", context, headers=headers)
