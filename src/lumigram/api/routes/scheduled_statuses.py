"""Scheduled posts: ``POST /api/v1/statuses`` with ``scheduled_at`` answers a
ScheduledStatus, and ``/api/v1/scheduled_statuses`` lists, shows, moves and cancels them.
A worker publishes each at its time (within a minute), checked again as any post is."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import openapi_body, parse, read_params, record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import iso
from lumigram.entities.media import media_entity
from lumigram.errors import ValidationFailed
from lumigram.posts import scheduled
from lumigram.services import Services

router = APIRouter(tags=["statuses"])


class RescheduleParams(BaseModel):
    scheduled_at: str = Field(
        max_length=64, description="ISO 8601; at least 5 minutes away", json_schema_extra={"format": "date-time"}
    )


def parse_time(raw: str) -> datetime:
    """An ISO 8601 time (UTC when it names no zone); a 422 naming ``scheduled_at`` otherwise."""
    try:
        value = datetime.fromisoformat(raw.strip())
    except ValueError:
        raise ValidationFailed.field("scheduled_at", "ERR_INVALID", "is not an ISO 8601 time") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def scheduled_entity(services: Services, item: scheduled.ScheduledPost) -> dict[str, Any]:
    draft = item.draft
    return {
        "id": str(item.id),
        "scheduled_at": iso(item.scheduled_at),
        "params": {
            "text": draft.text,
            "media_ids": [str(m) for m in draft.media_ids] or None,
            "sensitive": draft.sensitive,
            "spoiler_text": draft.spoiler_text,
            "visibility": draft.visibility or "public",
            "in_reply_to_id": None if draft.in_reply_to_id is None else str(draft.in_reply_to_id),
            "language": draft.language,
            "application_id": None,
            "scheduled_at": None,
            "idempotency": None,
            "with_rate_limit": False,
            "poll": None
            if draft.poll is None
            else {
                "options": list(draft.poll.options),
                "expires_in": str(draft.poll.expires_in),
                "multiple": draft.poll.multiple,
                "hide_totals": draft.poll.hide_totals,
            },
        },
        "media_attachments": [media_entity(services, media) for media in item.media],
    }


@router.get(
    "/api/v1/scheduled_statuses",
    summary="Your posts waiting to be published, most recently scheduled first",
    dependencies=[require_scopes("read:statuses")],
)
async def list_scheduled(request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await scheduled.list_scheduled(services, viewer.account_id, page)
    body = [scheduled_entity(services, item) for item in found.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, found))


@router.get(
    "/api/v1/scheduled_statuses/{scheduled_id}",
    summary="One of your scheduled posts",
    dependencies=[require_scopes("read:statuses")],
)
async def get_scheduled(scheduled_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await scheduled.get_scheduled(services, viewer.account_id, record_id(scheduled_id))
    return OrjsonResponse(scheduled_entity(services, item))


@router.put(
    "/api/v1/scheduled_statuses/{scheduled_id}",
    summary="Move a scheduled post to another time",
    openapi_extra=openapi_body(RescheduleParams),
    dependencies=[require_scopes("write:statuses")],
)
async def reschedule(scheduled_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(RescheduleParams, await read_params(request))
    when = parse_time(params.scheduled_at)
    item = await scheduled.reschedule(services, viewer.account_id, record_id(scheduled_id), when)
    return OrjsonResponse(scheduled_entity(services, item))


@router.delete(
    "/api/v1/scheduled_statuses/{scheduled_id}",
    summary="Cancel a scheduled post",
    dependencies=[require_scopes("write:statuses")],
)
async def cancel_scheduled(scheduled_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await scheduled.cancel(services, viewer.account_id, record_id(scheduled_id))
    return OrjsonResponse({})
