"""Recent searches (extensions): the signed-in account's searches and the results it
opened (``opened`` = "account:ID", "hashtag:ID" or "status:ID"), listed newest first,
removable one by one or all at once (``lumigram.search.recent``)."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import ID_PATTERN, openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import iso
from lumigram.errors import NotFound
from lumigram.search import recent
from lumigram.search.query import MAX_QUERY

router = APIRouter(tags=["search"])

READ = ("read:search",)
WRITE = ("write:accounts",)
PATH = "/api/v1/search/recent"


class Opened(BaseModel):
    type: str
    id: str


class RecentSearch(BaseModel):
    id: str
    q: str
    opened: Opened | None
    created_at: str


#: The result opened from a search: its kind and id, as "account:123".
OPENED_PATTERN = f"^(account|hashtag|status):(?:{ID_PATTERN[1:-1]})$"


class RecordParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    # At least one character that is neither a space nor a control character.
    q: str = Field(min_length=1, max_length=MAX_QUERY * 2, pattern=r"[^\s\x00-\x1f\x7f-\x9f]")
    opened: str | None = Field(default=None, max_length=40, pattern=OPENED_PATTERN)


def _entity(entry: recent.RecentSearch) -> dict[str, object]:
    opened = None
    if entry.opened_kind is not None and entry.opened_id is not None:
        opened = {"type": entry.opened_kind, "id": str(entry.opened_id)}
    return {"id": str(entry.id), "q": entry.query, "opened": opened, "created_at": iso(entry.created_at)}


@router.get(PATH, summary="Your recent searches, newest first (an extension)", response_model=list[RecentSearch],
            dependencies=[require_scopes(*READ)])  # fmt: skip
async def list_recent(
    viewer: CurrentAccount,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=recent.KEPT, description="At most 50")] = 20,
) -> Response:
    return OrjsonResponse([_entity(entry) for entry in await recent.recent(services, viewer.account_id, limit)])


@router.post(
    PATH,
    summary="Remember a search, and the result opened from it (an extension)",
    response_model=RecentSearch,
    openapi_extra=openapi_body(RecordParams),
    dependencies=[require_scopes(*WRITE)],
)
async def record_recent(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(RecordParams, await read_params(request))
    kind, opened_id = None, None
    if params.opened:
        kind, _, number = params.opened.partition(":")
        opened_id = int(number)
    entry = await recent.record(services, viewer.account_id, params.q, kind, opened_id)
    return OrjsonResponse(_entity(entry))


@router.delete(PATH, summary="Forget all your recent searches (an extension)", dependencies=[require_scopes(*WRITE)])
async def clear_recent(viewer: CurrentAccount, services: ServicesDep) -> Response:
    await recent.clear(services, viewer.account_id)
    return OrjsonResponse({})


@router.delete(
    PATH + "/{search_id}", summary="Forget one recent search (an extension)", dependencies=[require_scopes(*WRITE)]
)
async def remove_recent(search_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    if not (search_id.isascii() and search_id.isdigit() and 0 < int(search_id) < 2**63):
        raise NotFound("Recent search not found")
    await recent.remove(services, viewer.account_id, int(search_id))
    return OrjsonResponse({})
