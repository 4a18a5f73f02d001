"""Mastodon's conversations: direct posts, one entry per thread of them.

``GET /api/v1/conversations`` lists the caller's, latest post first, paged by that
post's id (``Link`` header); ``POST .../:id/read`` marks one read; ``DELETE .../:id``
takes it off the caller's list. Another account's conversation is a 404.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import link_header
from lumigram.api.params import record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.statuses import StatusesPage
from lumigram.entities.messages import conversation_entity
from lumigram.messages import conversations

router = APIRouter(tags=["conversations"])


@router.get(
    "/api/v1/conversations",
    summary="Your conversations of direct posts, latest post first",
    dependencies=[require_scopes("read:statuses")],
)
async def list_conversations(
    request: Request, page: StatusesPage, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    listed = await conversations.list_conversations(services, viewer.account_id, page)
    body = [conversation_entity(services, c, viewer.account_id) for c in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.post(
    "/api/v1/conversations/{conversation_id}/read",
    summary="Mark a conversation read",
    dependencies=[require_scopes("write:conversations")],
)
async def read_conversation(conversation_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await conversations.mark_read(services, viewer.account_id, record_id(conversation_id))
    return OrjsonResponse(conversation_entity(services, found, viewer.account_id))


@router.delete(
    "/api/v1/conversations/{conversation_id}",
    summary="Remove a conversation from your list (its posts stay)",
    dependencies=[require_scopes("write:conversations")],
)
async def remove_conversation(conversation_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await conversations.remove(services, viewer.account_id, record_id(conversation_id))
    return OrjsonResponse({})
