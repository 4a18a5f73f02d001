"""Lumigram's reels API (an extension), under ``/api/v1/lumigram``.

A reel is made with ``POST /api/v1/statuses`` and ``reel=true`` (see
``lumigram.posts.reel_rules``); these routes are the feed and the view reports:

* ``GET /reels``: recent reels ranked for the caller, at most two per author on a page,
  those already started left out; ``cursor`` pages on (the ``Link`` header's next), and
  ``explain=true`` adds each reel's score parts under ``lumigram.score``.
* ``POST /reels/views``: a batch of what the player saw (``play``, ``complete``, ``loop``,
  ``watch`` with ``watch_ms``), counted in the cache and folded into ``plays_count`` and
  the ranking counters every minute.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, field_validator
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import IdString, id_param, openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.statuses import status_entity
from lumigram.reels import service as reels
from lumigram.reels.models import MAX_BATCH, MAX_WATCH_MS, Cursor, ViewEvent
from lumigram.reels.views import record_views

router = APIRouter(tags=["reels"])

PREFIX = "/api/v1/lumigram"
READ = require_scopes("read:statuses")
WRITE = require_scopes("write:statuses")


class ViewParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    status_id: IdString
    type: Literal["play", "complete", "loop", "watch"]
    watch_ms: int = Field(default=0, ge=0, le=MAX_WATCH_MS)

    @field_validator("watch_ms", mode="before")
    @classmethod
    def _not_a_flag(cls, value: Any) -> Any:
        # A JSON number only (a whole 5.0 is one, as JSON Schema has it): not true, false or "5".
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValueError("must be a whole number of milliseconds")
        return value


class ViewBatch(BaseModel):
    model_config = ConfigDict(extra="ignore")

    events: list[ViewParams] = Field(min_length=1, max_length=MAX_BATCH)


def _json_body(model: type[BaseModel]) -> dict[str, Any]:
    """``openapi_body`` for a body only JSON can carry: a form has no spelling for a list
    of objects, so none is documented (one sent anyway is refused with a 422)."""
    extra = openapi_body(model)
    content = extra["requestBody"]["content"]
    extra["requestBody"]["content"] = {"application/json": content["application/json"]}
    return extra


@router.get(f"{PREFIX}/reels", summary="Reels ranked for you, two per author at most on a page", dependencies=[READ])
async def reels_feed(
    request: Request,
    viewer: CurrentAccount,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=reels.MAX_LIMIT, description="At most 40")] = reels.DEFAULT_LIMIT,
    cursor: Annotated[str | None, Query(max_length=2048, description="From the previous page's Link")] = None,
    explain: Annotated[bool, Query(description="Each reel's score parts")] = False,
) -> Response:
    page = await reels.reels_feed(services, viewer.account_id, limit, Cursor.decode(cursor) if cursor else None)
    cache: dict[int, dict[str, Any]] = {}
    body = []
    for entry in page.items:
        entity = status_entity(services, entry.item, viewer.account_id, cache)
        if explain:
            entity["lumigram"] = {**entity["lumigram"], "score": {"total": round(entry.score, 4), **entry.components}}
        body.append(entity)
    headers = {}
    if page.next_cursor is not None:
        kept = [(k, v) for k, v in request.query_params.multi_items() if k != "cursor"]
        query = urlencode([*kept, ("cursor", page.next_cursor.encode())])
        headers["Link"] = f'<{services.settings.base_url}{request.url.path}?{query}>; rel="next"'
    return OrjsonResponse(body, headers=headers)


@router.post(
    f"{PREFIX}/reels/views",
    summary="Report what the player saw: plays, completions, loops and time watched",
    openapi_extra=_json_body(ViewBatch),
    dependencies=[WRITE],
)
async def report_views(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(ViewBatch, await read_params(request))
    events = [ViewEvent(id_param(event.status_id, "status_id"), event.type, event.watch_ms) for event in params.events]
    counted = await record_views(services, viewer.account_id, events)
    return OrjsonResponse({"counted": counted, "ignored": len(events) - counted})
