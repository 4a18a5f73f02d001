"""``POST /api/v1/statuses/:id/mute`` and ``/unmute``: stop (or resume) notifications
about a conversation. Both answer the Status with ``muted`` set, and are idempotent."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.statuses import status_entity
from lumigram.posts import conversation_mutes

router = APIRouter(tags=["statuses"])


@router.post(
    "/api/v1/statuses/{status_id}/mute",
    summary="Hear no more notifications about this post's conversation",
    dependencies=[require_scopes("write:mutes")],
)
async def mute_conversation(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await conversation_mutes.mute(services, viewer.account_id, record_id(status_id))
    return OrjsonResponse({**status_entity(services, item, viewer.account_id), "muted": True})


@router.post(
    "/api/v1/statuses/{status_id}/unmute",
    summary="Hear notifications about this post's conversation again",
    dependencies=[require_scopes("write:mutes")],
)
async def unmute_conversation(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await conversation_mutes.unmute(services, viewer.account_id, record_id(status_id))
    return OrjsonResponse({**status_entity(services, item, viewer.account_id), "muted": False})
