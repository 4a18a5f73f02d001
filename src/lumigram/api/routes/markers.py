"""Mastodon's markers: where you stopped reading home and notifications, synced across devices."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import IdString, id_param, openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import iso
from lumigram.errors import ValidationFailed
from lumigram.notifications import markers
from lumigram.notifications.models import Marker

router = APIRouter(tags=["markers"])


class Position(BaseModel):
    model_config = ConfigDict(extra="ignore")

    last_read_id: IdString


def _given(name: str) -> dict[str, Any]:
    return {"required": [name], "properties": {name: {"type": "object"}}}


class MarkerParams(BaseModel):
    # At least one timeline: the schema says so, and save_markers checks it.
    model_config = ConfigDict(extra="ignore", json_schema_extra={"anyOf": [_given("home"), _given("notifications")]})

    home: Position | None = None
    notifications: Position | None = None


def _body(found: dict[str, Marker]) -> dict[str, Any]:
    return {
        name: {"last_read_id": str(m.last_read_id), "version": m.version, "updated_at": iso(m.updated_at)}
        for name, m in sorted(found.items())
    }


@router.get("/api/v1/markers", summary="Your saved reading positions", dependencies=[require_scopes("read:statuses")])
async def get_markers(
    viewer: CurrentAccount,
    services: ServicesDep,
    timelines: Annotated[list[str], Query(alias="timeline[]", max_length=10)] = [],  # noqa: B006 (FastAPI copies defaults)
    plain: Annotated[list[str], Query(alias="timeline", max_length=10)] = [],  # noqa: B006
) -> Response:
    found = await markers.get_markers(services, viewer.account_id, [*timelines, *plain])
    return OrjsonResponse(_body(found))


@router.post(
    "/api/v1/markers",
    summary="Save where you stopped reading (home[last_read_id], notifications[last_read_id])",
    openapi_extra=openapi_body(MarkerParams),
    dependencies=[require_scopes("write:statuses")],
)
async def save_markers(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(MarkerParams, await read_params(request))
    wanted = {
        name: id_param(position.last_read_id, f"{name}[last_read_id]")
        for name, position in (("home", params.home), ("notifications", params.notifications))
        if position is not None
    }
    if not wanted:
        raise ValidationFailed.field("home", "ERR_BLANK", "or notifications: give a timeline's last_read_id")
    return OrjsonResponse(_body(await markers.save_markers(services, viewer.account_id, wanted)))
