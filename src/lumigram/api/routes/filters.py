"""Mastodon's filters: hidden words (v2), and v1 over the same rows.

* ``/api/v2/filters``: a filter is a title, where it applies (``context``: home,
  notifications, public, thread, account), what a match does (``filter_action``: ``warn``
  shows the post with ``filtered`` set, ``hide`` leaves it out), an optional expiry
  (``expires_in`` seconds) and its keywords (``keywords_attributes``, each with
  ``whole_word``; nested, so sent as JSON). Keywords also have routes of their own.
* ``/api/v1/filters``: each keyword as a v1 filter (``phrase``; ``irreversible`` is
  ``hide``), reading and writing the same rows.
* Another account's filter answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import OptionalIdString, id_param, openapi_body, parse, read_params, record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import iso
from lumigram.filters import service
from lumigram.filters.models import (
    CONTEXTS,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_TITLE,
    Filter,
    FilterDraft,
    Keyword,
    KeywordChange,
)
from lumigram.filters.service import MAX_EXPIRES_IN

router = APIRouter(tags=["filters"])

READ_FILTERS = ("read:filters",)
#: A title or keyword of spaces alone is none.
NOT_BLANK = r"\S"
WRITE_FILTERS = ("write:filters",)

Context = Literal["home", "notifications", "public", "thread", "account"]
Contexts = Annotated[
    list[Context],
    WithJsonSchema(
        {
            "anyOf": [
                {"type": "array", "items": {"enum": list(CONTEXTS)}, "minItems": 1, "maxItems": len(CONTEXTS)},
                {"enum": list(CONTEXTS)},
            ]
        }
    ),
]


def _listed(value: Any) -> Any:
    # A form sending one ``context`` without brackets gives a bare string.
    return [value] if isinstance(value, str) else value


def _expires_in(value: Any) -> Any:
    # Clients send an empty value for "never"; that clears the expiry. A flag is no duration.
    if isinstance(value, bool):
        raise ValueError("must be a number of seconds")
    return 0 if value == "" or value is None else value


class KeywordEntity(BaseModel):
    id: str
    keyword: str
    whole_word: bool


class FilterEntity(BaseModel):
    id: str
    title: str
    context: list[Context]
    expires_at: str | None
    filter_action: Literal["warn", "hide"]
    keywords: list[KeywordEntity]
    statuses: list[Any]


class FilterV1Entity(BaseModel):
    id: str
    phrase: str
    context: list[Context]
    expires_at: str | None
    irreversible: bool
    whole_word: bool


class KeywordAttribute(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)

    keyword: str | None = Field(default=None, min_length=1, max_length=MAX_KEYWORD, pattern=NOT_BLANK)
    whole_word: bool | None = None
    id: OptionalIdString | None = None
    destroy: bool = Field(default=False, alias="_destroy")


class FilterParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    title: str | None = Field(default=None, min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK)
    context: Contexts | None = Field(default=None, max_length=len(CONTEXTS))
    filter_action: Literal["warn", "hide"] | None = None
    expires_in: int | None = Field(default=None, ge=0, le=MAX_EXPIRES_IN, description="Seconds; empty or 0: never")
    keywords_attributes: list[KeywordAttribute] = Field(default_factory=list, max_length=MAX_KEYWORDS)

    _context = field_validator("context", mode="before")(_listed)
    _expiry = field_validator("expires_in", mode="before")(_expires_in)

    def draft(self) -> FilterDraft:
        changes = [
            KeywordChange(k.keyword, k.whole_word, None if k.id is None else id_param(k.id, "id"), k.destroy)
            for k in self.keywords_attributes
        ]
        contexts = tuple(self.context) if self.context is not None else None
        return FilterDraft(self.title, contexts, self.filter_action, self.expires_in, changes)


class NewFilterParams(FilterParams):
    title: str = Field(min_length=1, max_length=MAX_TITLE, pattern=NOT_BLANK)
    context: Contexts = Field(min_length=1, max_length=len(CONTEXTS))


class KeywordParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    keyword: str | None = Field(default=None, min_length=1, max_length=MAX_KEYWORD, pattern=NOT_BLANK)
    whole_word: bool | None = None


class NewKeywordParams(KeywordParams):
    keyword: str = Field(min_length=1, max_length=MAX_KEYWORD, pattern=NOT_BLANK)


class FilterV1Params(BaseModel):
    model_config = ConfigDict(extra="ignore")

    phrase: str | None = Field(default=None, min_length=1, max_length=MAX_KEYWORD, pattern=NOT_BLANK)
    context: Contexts | None = Field(default=None, max_length=len(CONTEXTS))
    irreversible: bool | None = None
    whole_word: bool | None = None
    expires_in: int | None = Field(default=None, ge=0, le=MAX_EXPIRES_IN, description="Seconds; empty or 0: never")

    _context = field_validator("context", mode="before")(_listed)
    _expiry = field_validator("expires_in", mode="before")(_expires_in)

    def draft(self) -> FilterDraft:
        action = None if self.irreversible is None else ("hide" if self.irreversible else "warn")
        contexts = tuple(self.context) if self.context is not None else None
        return FilterDraft(None, contexts, action, self.expires_in)


class NewFilterV1Params(FilterV1Params):
    phrase: str = Field(min_length=1, max_length=MAX_KEYWORD, pattern=NOT_BLANK)
    context: Contexts = Field(min_length=1, max_length=len(CONTEXTS))


def keyword_entity(keyword: Keyword) -> dict[str, Any]:
    return {"id": str(keyword.id), "keyword": keyword.keyword, "whole_word": keyword.whole_word}


def filter_entity(found: Filter) -> dict[str, Any]:
    return {
        "id": str(found.id),
        "title": found.title,
        "context": list(found.contexts),
        "expires_at": iso(found.expires_at) if found.expires_at else None,
        "filter_action": found.action,
        "keywords": [keyword_entity(k) for k in found.keywords],
        "statuses": [],
    }


def v1_entity(found: Filter, keyword: Keyword) -> dict[str, Any]:
    return {
        "id": str(keyword.id),
        "phrase": keyword.keyword,
        "context": list(found.contexts),
        "expires_at": iso(found.expires_at) if found.expires_at else None,
        "irreversible": found.action == "hide",
        "whole_word": keyword.whole_word,
    }


# --- v2 ------------------------------------------------------------------------------------


@router.get(
    "/api/v2/filters", summary="Your hidden words", response_model=list[FilterEntity],
    dependencies=[require_scopes(*READ_FILTERS)],
)  # fmt: skip
async def filters(viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse([filter_entity(f) for f in await service.list_filters(services, viewer.account_id)])


@router.post(
    "/api/v2/filters",
    summary="Hide or warn about posts with some words",
    response_model=FilterEntity,
    openapi_extra=openapi_body(NewFilterParams),
    dependencies=[require_scopes(*WRITE_FILTERS)],
)
async def create_filter(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(NewFilterParams, await read_params(request))
    return OrjsonResponse(filter_entity(await service.create_filter(services, viewer.account_id, params.draft())))


@router.get(
    "/api/v2/filters/{filter_id}", summary="One of your filters", response_model=FilterEntity,
    dependencies=[require_scopes(*READ_FILTERS)],
)  # fmt: skip
async def get_filter(filter_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse(filter_entity(await service.get_filter(services, viewer.account_id, record_id(filter_id))))


@router.put(
    "/api/v2/filters/{filter_id}",
    summary="Change a filter, and add, change or remove its keywords",
    response_model=FilterEntity,
    openapi_extra=openapi_body(FilterParams),
    dependencies=[require_scopes(*WRITE_FILTERS)],
)
async def update_filter(filter_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    the_id = record_id(filter_id)
    params = parse(FilterParams, await read_params(request))
    found = await service.update_filter(services, viewer.account_id, the_id, params.draft())
    return OrjsonResponse(filter_entity(found))


@router.delete("/api/v2/filters/{filter_id}", summary="Delete a filter", dependencies=[require_scopes(*WRITE_FILTERS)])
async def delete_filter(filter_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.delete_filter(services, viewer.account_id, record_id(filter_id))
    return OrjsonResponse({})


@router.get(
    "/api/v2/filters/{filter_id}/keywords", summary="A filter's keywords", response_model=list[KeywordEntity],
    dependencies=[require_scopes(*READ_FILTERS)],
)  # fmt: skip
async def keywords(filter_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await service.get_filter(services, viewer.account_id, record_id(filter_id))
    return OrjsonResponse([keyword_entity(k) for k in found.keywords])


@router.post(
    "/api/v2/filters/{filter_id}/keywords",
    summary="Add a keyword to a filter",
    response_model=KeywordEntity,
    openapi_extra=openapi_body(NewKeywordParams),
    dependencies=[require_scopes(*WRITE_FILTERS)],
)
async def add_keyword(filter_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    the_id = record_id(filter_id)
    params = parse(NewKeywordParams, await read_params(request))
    whole_word = True if params.whole_word is None else params.whole_word
    made = await service.add_keyword(services, viewer.account_id, the_id, params.keyword, whole_word)
    return OrjsonResponse(keyword_entity(made))


#: Mastodon's paths are /api/v2/filters/keywords/:id (what clients call); the
#: /api/v2/filter_keywords/:id spelling answered first and stays for those that used it.
KEYWORD_PATHS = ("/api/v2/filters/keywords/{keyword_id}", "/api/v2/filter_keywords/{keyword_id}")
Endpoint = TypeVar("Endpoint", bound=Callable[..., Awaitable[Response]])


def _keyword_route(method: str, **options: Any) -> Callable[[Endpoint], Endpoint]:
    """Routes ``method`` of a keyword at both spellings of its path, declared alike."""

    def register(endpoint: Endpoint) -> Endpoint:
        # The old spelling first: the order the routes were always matched in.
        for path in reversed(KEYWORD_PATHS):
            router.add_api_route(path, endpoint, methods=[method], **options)
        return endpoint

    return register


@_keyword_route(
    "GET", summary="One keyword of your filters", response_model=KeywordEntity,
    dependencies=[require_scopes(*READ_FILTERS)],
)  # fmt: skip
async def get_keyword(keyword_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse(keyword_entity(await service.get_keyword(services, viewer.account_id, record_id(keyword_id))))


@_keyword_route(
    "PUT",
    summary="Change a keyword",
    response_model=KeywordEntity,
    openapi_extra=openapi_body(KeywordParams),
    dependencies=[require_scopes(*WRITE_FILTERS)],
)
async def update_keyword(keyword_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    the_id = record_id(keyword_id)
    params = parse(KeywordParams, await read_params(request))
    changed = await service.update_keyword(services, viewer.account_id, the_id, params.keyword, params.whole_word)
    return OrjsonResponse(keyword_entity(changed))


@_keyword_route("DELETE", summary="Remove a keyword", dependencies=[require_scopes(*WRITE_FILTERS)])
async def delete_keyword(keyword_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.delete_keyword(services, viewer.account_id, record_id(keyword_id))
    return OrjsonResponse({})


# --- v1 ------------------------------------------------------------------------------------


@router.get(
    "/api/v1/filters", summary="Your hidden words, one keyword each (v1)", response_model=list[FilterV1Entity],
    dependencies=[require_scopes(*READ_FILTERS)],
)  # fmt: skip
async def filters_v1(viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse([v1_entity(f, k) for f, k in await service.list_v1(services, viewer.account_id)])


@router.post(
    "/api/v1/filters",
    summary="Hide or warn about posts with a phrase (v1)",
    response_model=FilterV1Entity,
    openapi_extra=openapi_body(NewFilterV1Params),
    dependencies=[require_scopes(*WRITE_FILTERS)],
)
async def create_filter_v1(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(NewFilterV1Params, await read_params(request))
    whole_word = True if params.whole_word is None else params.whole_word
    found, keyword = await service.create_v1(services, viewer.account_id, params.phrase, params.draft(), whole_word)
    return OrjsonResponse(v1_entity(found, keyword))


@router.get(
    "/api/v1/filters/{filter_id}", summary="One of your v1 filters", response_model=FilterV1Entity,
    dependencies=[require_scopes(*READ_FILTERS)],
)  # fmt: skip
async def get_filter_v1(filter_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse(v1_entity(*await service.get_v1(services, viewer.account_id, record_id(filter_id))))


@router.put(
    "/api/v1/filters/{filter_id}",
    summary="Change a v1 filter",
    response_model=FilterV1Entity,
    openapi_extra=openapi_body(FilterV1Params),
    dependencies=[require_scopes(*WRITE_FILTERS)],
)
async def update_filter_v1(filter_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    the_id = record_id(filter_id)
    params = parse(FilterV1Params, await read_params(request))
    found = await service.update_v1(
        services, viewer.account_id, the_id, params.phrase, params.draft(), params.whole_word
    )
    return OrjsonResponse(v1_entity(*found))


@router.delete(
    "/api/v1/filters/{filter_id}", summary="Delete a v1 filter", dependencies=[require_scopes(*WRITE_FILTERS)]
)
async def delete_filter_v1(filter_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.delete_v1(services, viewer.account_id, record_id(filter_id))
    return OrjsonResponse({})
