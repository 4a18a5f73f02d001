"""Deleting one's own account (an extension: Mastodon does it on a web page only).

``POST /api/v1/lumigram/account/delete`` with the current ``password``: answers ``{}``
once the account is deleted and every token acting as it revoked; what it left behind is
removed in the background (``lumigram.accounts.deletion``).
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from lumigram.accounts import deletion
from lumigram.accounts.passwords import MAX_LENGTH
from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse

router = APIRouter(tags=["accounts"])


class DeleteParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    password: str = Field(min_length=1, max_length=MAX_LENGTH)


@router.post(
    "/api/v1/lumigram/account/delete",
    summary="Delete your account, with your current password; every token of it stops working",
    openapi_extra=openapi_body(DeleteParams),
    response_model=dict[str, Any],
    dependencies=[require_scopes("write:accounts")],
)
async def delete_account(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(DeleteParams, await read_params(request))
    await deletion.delete_own_account(services, viewer.account_id, params.password)
    return OrjsonResponse({})
