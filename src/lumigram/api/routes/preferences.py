"""A person's own settings as clients read them: posting preferences and domain blocks.

* ``GET /api/v1/preferences`` gives the defaults a new post starts from, the same ones the
  signed-in account's ``source`` shows.
* ``/api/v1/domain_blocks`` keeps the domains a person blocked. This server does not
  federate yet, so no account comes from another domain and the list changes nothing
  else; it is stored and listed so clients that manage it work, and will apply once
  federation exists.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.service import get_user
from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.graph import domain_blocks

router = APIRouter(tags=["preferences"])

Preferences = dict[str, str | bool | None]


#: A domain name of two labels or more; the server lower-cases it.
DOMAIN_PATTERN = r"^([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$"


class DomainParams(BaseModel):
    domain: str = Field(max_length=253, pattern=DOMAIN_PATTERN, description="The domain, e.g. example.com")


class UnblockParams(BaseModel):
    # Given here or in the query string: one of the two (see ``unblock_domain``).
    domain: str | None = Field(default=None, max_length=253, pattern=DOMAIN_PATTERN, description="The domain")


@router.get(
    "/api/v1/preferences",
    summary="Your posting and reading preferences",
    response_model=Preferences,
    dependencies=[require_scopes("read:accounts")],
)
async def preferences(viewer: CurrentAccount, services: ServicesDep) -> Response:
    user = await get_user(services, viewer.user_id)
    body: Preferences = {
        "posting:default:visibility": "public",
        "posting:default:sensitive": False,
        "posting:default:language": user.locale,
        "reading:expand:media": "default",
        "reading:expand:spoilers": False,
    }
    return OrjsonResponse(body)


@router.get(
    "/api/v1/domain_blocks",
    summary="The domains you blocked, most recent first",
    response_model=list[str],
    dependencies=[require_scopes("read:blocks")],
)
async def list_domain_blocks(
    request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    found = await domain_blocks.list_domain_blocks(services, viewer.account_id, page)
    return OrjsonResponse(found.items, headers=link_header(request, services.settings.base_url, found))


@router.post(
    "/api/v1/domain_blocks",
    summary="Block a domain",
    response_model=dict[str, str],
    openapi_extra=openapi_body(DomainParams),
    dependencies=[require_scopes("write:blocks")],
)
async def block_domain(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(DomainParams, await read_params(request))
    await domain_blocks.block_domain(services, viewer.account_id, params.domain)
    return OrjsonResponse({})


@router.delete(
    "/api/v1/domain_blocks",
    summary="Lift a domain block (the domain in the body, or in the query as Mastodon.py sends it)",
    response_model=dict[str, str],
    openapi_extra=openapi_body(UnblockParams),
    dependencies=[require_scopes("write:blocks")],
)
async def unblock_domain(
    request: Request,
    viewer: CurrentAccount,
    services: ServicesDep,
    domain: Annotated[str | None, Query(max_length=253, pattern=DOMAIN_PATTERN, description="The domain")] = None,
) -> Response:
    # Clients send the domain in the query (Mastodon.py) or in a body (others): take either,
    # the body's first, each checked; a request with neither is a 422.
    given = parse(UnblockParams, await read_params(request))
    params = parse(DomainParams, {"domain": given.domain if given.domain is not None else domain})
    await domain_blocks.unblock_domain(services, viewer.account_id, params.domain)
    return OrjsonResponse({})
