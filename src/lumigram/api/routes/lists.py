"""Mastodon's lists, as Instagram's Favorites and Close Friends.

* ``/api/v1/lists``: the caller's lists (title, ``replies_policy``, ``exclusive``), with
  Lumigram's extension ``lumigram: {close_friends: true}`` marking the one list per account
  that is its close friends (settable on create and update: ``lumigram[close_friends]``).
* ``/api/v1/lists/:id/accounts``: members, only accounts the caller follows (422 otherwise).
* ``/api/v1/timelines/list/:id``: the members' posts, paged as home is.
* Another account's list answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.scopes import READ_STATUSES
from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import ID_SCHEMA, IdString, id_param, one_or_many, openapi_body, parse, read_params, record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.statuses import StatusesPage
from lumigram.entities.accounts import Account, account_entity
from lumigram.entities.statuses import status_entity
from lumigram.feed.lists import list_timeline
from lumigram.lists import service
from lumigram.lists.models import MAX_MEMBERS, MAX_TITLE, AccountList, ListDraft

router = APIRouter(tags=["lists"])

READ_LISTS = ("read:lists",)
#: A title of spaces alone is no title.
NOT_BLANK = r"\S"
WRITE_LISTS = ("write:lists",)


class ListExtension(BaseModel):
    close_friends: bool = Field(description="The account's close-friends list (one per account)")


class ListEntity(BaseModel):
    id: str
    title: str
    replies_policy: Literal["followed", "list", "none"]
    exclusive: bool
    lumigram: ListExtension


class ListParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK)
    replies_policy: Literal["followed", "list", "none"] | None = None
    exclusive: bool | None = None
    lumigram: ListExtension | None = None

    def draft(self) -> ListDraft:
        close = self.lumigram.close_friends if self.lumigram is not None else None
        return ListDraft(self.title, self.replies_policy, self.exclusive, close)


class NewListParams(ListParams):
    title: str = Field(min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK)


AccountIds = Annotated[list[IdString], WithJsonSchema(one_or_many(ID_SCHEMA, MAX_MEMBERS))]


class MembersParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_ids: AccountIds = Field(min_length=1, max_length=MAX_MEMBERS)

    @field_validator("account_ids", mode="before")
    @classmethod
    def _list(cls, value: Any) -> Any:
        # A form sending one ``account_ids`` without brackets gives a bare string.
        return [value] if isinstance(value, str) else value


def list_entity(record: AccountList) -> dict[str, Any]:
    return {
        "id": str(record.id),
        "title": record.title,
        "replies_policy": record.replies_policy,
        "exclusive": record.exclusive,
        "lumigram": {"close_friends": record.close_friends},
    }


def _ids(params: MembersParams) -> list[int]:
    return [id_param(raw, "account_ids") for raw in params.account_ids]


@router.get(
    "/api/v1/lists", summary="Your lists", response_model=list[ListEntity], dependencies=[require_scopes(*READ_LISTS)]
)
async def lists(viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse([list_entity(r) for r in await service.list_lists(services, viewer.account_id)])


@router.post(
    "/api/v1/lists",
    summary="Make a list (a close-friends list with lumigram[close_friends])",
    response_model=ListEntity,
    openapi_extra=openapi_body(NewListParams),
    dependencies=[require_scopes(*WRITE_LISTS)],
)
async def create_list(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(NewListParams, await read_params(request))
    return OrjsonResponse(list_entity(await service.create_list(services, viewer.account_id, params.draft())))


@router.get(
    "/api/v1/lists/{list_id}", summary="One of your lists", response_model=ListEntity,
    dependencies=[require_scopes(*READ_LISTS)],
)  # fmt: skip
async def get_list(list_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse(list_entity(await service.get_list(services, viewer.account_id, record_id(list_id))))


@router.put(
    "/api/v1/lists/{list_id}",
    summary="Rename a list or change its options",
    response_model=ListEntity,
    openapi_extra=openapi_body(ListParams),
    dependencies=[require_scopes(*WRITE_LISTS)],
)
async def update_list(list_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    the_id = record_id(list_id)
    params = parse(ListParams, await read_params(request))
    return OrjsonResponse(list_entity(await service.update_list(services, viewer.account_id, the_id, params.draft())))


@router.delete("/api/v1/lists/{list_id}", summary="Delete a list", dependencies=[require_scopes(*WRITE_LISTS)])
async def delete_list(list_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.delete_list(services, viewer.account_id, record_id(list_id))
    return OrjsonResponse({})


@router.get(
    "/api/v1/lists/{list_id}/accounts",
    summary="The accounts in a list, most recently added first",
    response_model=list[Account],
    dependencies=[require_scopes(*READ_LISTS)],
)
async def list_accounts(
    list_id: str, request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    listed = await service.list_members(services, viewer.account_id, record_id(list_id), page)
    body = [account_entity(services.settings, account).model_dump(mode="json") for account in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.post(
    "/api/v1/lists/{list_id}/accounts",
    summary="Add accounts you follow to a list",
    openapi_extra=openapi_body(MembersParams),
    dependencies=[require_scopes(*WRITE_LISTS)],
)
async def add_accounts(list_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    the_id = record_id(list_id)
    params = parse(MembersParams, await read_params(request))
    await service.add_members(services, viewer.account_id, the_id, _ids(params))
    return OrjsonResponse({})


@router.delete(
    "/api/v1/lists/{list_id}/accounts",
    summary="Take accounts out of a list",
    openapi_extra=openapi_body(MembersParams),
    dependencies=[require_scopes(*WRITE_LISTS)],
)
async def remove_accounts(list_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    the_id = record_id(list_id)
    params = parse(MembersParams, await read_params(request))
    await service.remove_members(services, viewer.account_id, the_id, _ids(params))
    return OrjsonResponse({})


@router.get(
    "/api/v1/accounts/{account_id}/lists",
    summary="Which of your lists hold an account",
    response_model=list[ListEntity],
    dependencies=[require_scopes(*READ_LISTS)],
)
async def account_lists(account_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await service.lists_with(services, viewer.account_id, record_id(account_id))
    return OrjsonResponse([list_entity(r) for r in found])


@router.get(
    "/api/v1/timelines/list/{list_id}",
    summary="The posts of a list's members, newest first",
    dependencies=[require_scopes(*READ_STATUSES)],
)
async def timeline(
    list_id: str, request: Request, page: StatusesPage, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    result = await list_timeline(services, viewer.account_id, record_id(list_id), page)
    cache: dict[int, dict[str, Any]] = {}
    body = [status_entity(services, item, viewer.account_id, cache) for item in result.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, result))
