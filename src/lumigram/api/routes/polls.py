"""Mastodon's poll routes: read a poll, and vote in it.

* A poll shares its post's id and is readable exactly by who may see the post; any
  other reader gets 404, as for a poll that does not exist.
* A vote names ``choices`` (option indexes; one unless the poll is multiple-choice);
  voting twice, after the end, or in one's own poll answers 422.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.scopes import READ_STATUSES
from lumigram.api.auth import CurrentAccount, OptionalAccount, require_scopes, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.params import openapi_body, parse, read_params, record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.statuses import poll_entity
from lumigram.polls import service
from lumigram.polls.models import MAX_OPTIONS

router = APIRouter(tags=["polls"])

_CHOICE: dict[str, Any] = {"type": "integer", "minimum": 0, "maximum": MAX_OPTIONS - 1}
Choices = Annotated[
    list[int], WithJsonSchema({"type": "array", "items": _CHOICE, "minItems": 1, "maxItems": MAX_OPTIONS})
]


class VoteParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    choices: Choices = Field(max_length=MAX_OPTIONS)

    @field_validator("choices", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        # A form sending one ``choices`` without brackets gives a bare string.
        if isinstance(value, str | int):
            return [value]
        return value


@router.get(
    "/api/v1/polls/{poll_id}",
    summary="A poll, with its counts and your vote",
    dependencies=[scopes_if_token(*READ_STATUSES)],
)
async def get_poll(poll_id: str, viewer: OptionalAccount, services: ServicesDep) -> Response:
    viewer_id = viewer.account_id if viewer else None
    item = await service.get_poll(services, viewer_id, record_id(poll_id))
    assert item.poll is not None
    return OrjsonResponse(poll_entity(services, item.poll, viewer_id))


@router.post(
    "/api/v1/polls/{poll_id}/votes",
    summary="Vote in a poll",
    openapi_extra=openapi_body(VoteParams),
    dependencies=[require_scopes("write:statuses")],
)
async def vote(poll_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(VoteParams, await read_params(request))
    item = await service.vote(services, viewer.account_id, record_id(poll_id), params.choices)
    assert item.poll is not None
    return OrjsonResponse(poll_entity(services, item.poll, viewer.account_id))
