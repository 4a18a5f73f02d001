"""What people add to profiles: featured hashtags, endorsed accounts, private notes, and
the profile directory.

* Featured hashtags show on a profile with how many of its posts carry each; someone the
  account blocks sees none.
* Endorsing (``accounts/:id/pin``) needs a follow, as in Mastodon; ``endorsed`` and
  ``note`` show on the Relationship, the note to its writer only.
* The directory lists open, discoverable accounts (``lumigram.graph.directory``).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.service import get_account
from lumigram.api.auth import CurrentAccount, OptionalAccount, require_scopes, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import openapi_body, parse, read_params, record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.relationships import Relationship, relationship_entity
from lumigram.entities.accounts import Account, account_entity
from lumigram.entities.statuses import tag_entity
from lumigram.graph import directory, profile_extras
from lumigram.graph import service as graph
from lumigram.posts import featured_tags
from lumigram.services import Services

router = APIRouter(tags=["profile"])


class FeaturedTag(BaseModel):
    id: str
    name: str
    url: str
    statuses_count: str
    last_status_at: str | None


class TagSuggestion(BaseModel):
    name: str
    url: str
    history: list[dict[str, str]]


class FeatureParams(BaseModel):
    name: str = Field(min_length=1, max_length=200, description="The hashtag, with or without #")


class NoteParams(BaseModel):
    comment: str = Field(default="", max_length=profile_extras.MAX_NOTE, description="Empty removes the note")


def _featured_body(services: Services, found: list[featured_tags.FeaturedTag]) -> list[dict[str, Any]]:
    return [
        FeaturedTag(
            id=str(tag.id),
            name=tag.name,
            url=tag_entity(services, tag.name)["url"],
            # Mastodon sends the count as a string and the last post's day as a date.
            statuses_count=str(tag.statuses_count),
            last_status_at=None if tag.last_status_at is None else tag.last_status_at.date().isoformat(),
        ).model_dump()
        for tag in found
    ]


@router.get(
    "/api/v1/featured_tags",
    summary="The hashtags you feature on your profile",
    response_model=list[FeaturedTag],
    dependencies=[require_scopes("read:accounts")],
)
async def my_featured_tags(viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse(_featured_body(services, await featured_tags.list_featured(services, viewer.account_id)))


@router.post(
    "/api/v1/featured_tags",
    summary="Feature a hashtag on your profile (at most 10)",
    response_model=FeaturedTag,
    openapi_extra=openapi_body(FeatureParams),
    dependencies=[require_scopes("write:accounts")],
)
async def feature_tag(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(FeatureParams, await read_params(request))
    tag = await featured_tags.feature(services, viewer.account_id, params.name)
    return OrjsonResponse(_featured_body(services, [tag])[0])


@router.get(
    "/api/v1/featured_tags/suggestions",
    summary="Hashtags you use most and do not feature yet",
    response_model=list[TagSuggestion],
    dependencies=[require_scopes("read:accounts")],
)
async def featured_tag_suggestions(viewer: CurrentAccount, services: ServicesDep) -> Response:
    names = await featured_tags.suggested_tags(services, viewer.account_id)
    return OrjsonResponse([{**tag_entity(services, name), "history": []} for name in names])


@router.delete(
    "/api/v1/featured_tags/{featured_id:int}",
    summary="Stop featuring a hashtag",
    response_model=dict[str, str],
    dependencies=[require_scopes("write:accounts")],
)
async def unfeature_tag(featured_id: int, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await featured_tags.unfeature(services, viewer.account_id, record_id(str(featured_id)))
    return OrjsonResponse({})


@router.get(
    "/api/v1/accounts/{account_id:int}/featured_tags",
    summary="The hashtags an account features",
    response_model=list[FeaturedTag],
    dependencies=[scopes_if_token("read:accounts")],
)
async def account_featured_tags(account_id: int, viewer: OptionalAccount, services: ServicesDep) -> Response:
    await get_account(services, account_id)
    if viewer is not None and (await graph.relationship(services, viewer.account_id, account_id)).blocked_by:
        return OrjsonResponse([])
    return OrjsonResponse(_featured_body(services, await featured_tags.list_featured(services, account_id)))


async def _relationship_with(services: Services, viewer_id: int, account_id: int) -> Response:
    return OrjsonResponse(relationship_entity(await graph.relationship(services, viewer_id, account_id)))


@router.post(
    "/api/v1/accounts/{account_id:int}/pin",
    summary="Feature an account you follow on your profile",
    response_model=Relationship,
    dependencies=[require_scopes("write:accounts")],
)
async def endorse(account_id: int, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await profile_extras.endorse(services, viewer.account_id, account_id)
    return await _relationship_with(services, viewer.account_id, account_id)


@router.post(
    "/api/v1/accounts/{account_id:int}/unpin",
    summary="Stop featuring an account",
    response_model=Relationship,
    dependencies=[require_scopes("write:accounts")],
)
async def unendorse(account_id: int, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await profile_extras.unendorse(services, viewer.account_id, account_id)
    return await _relationship_with(services, viewer.account_id, account_id)


@router.get(
    "/api/v1/endorsements",
    summary="The accounts you feature, most recently featured first",
    response_model=list[Account],
    dependencies=[require_scopes("read:accounts")],
)
async def endorsements(request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await profile_extras.list_endorsements(services, viewer.account_id, page)
    body = [account_entity(services.settings, account).model_dump(mode="json") for account in found.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, found))


@router.post(
    "/api/v1/accounts/{account_id:int}/note",
    summary="Write your private note about an account (an empty one removes it)",
    response_model=Relationship,
    openapi_extra=openapi_body(NoteParams),
    dependencies=[require_scopes("write:accounts")],
)
async def note(account_id: int, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(NoteParams, await read_params(request))
    await profile_extras.set_note(services, viewer.account_id, account_id, params.comment)
    return await _relationship_with(services, viewer.account_id, account_id)


@router.get(
    "/api/v1/directory",
    summary="Open, discoverable accounts: most recently active or newest first",
    response_model=list[Account],
    dependencies=[scopes_if_token("read:accounts")],
)
async def profile_directory(
    viewer: OptionalAccount,
    services: ServicesDep,
    offset: Annotated[int, Query(ge=0, le=100_000)] = 0,
    limit: Annotated[int, Query(ge=1, le=directory.MAX_LIMIT)] = 40,
    order: Annotated[str, Query(pattern="^(active|new)$")] = "active",
    local: bool = False,
) -> Response:
    # Every account here is local, so ``local`` narrows nothing.
    found = await directory.directory(services, viewer.account_id if viewer else None, offset, limit, order)
    return OrjsonResponse([account_entity(services.settings, account).model_dump(mode="json") for account in found])
