"""Mastodon's status routes: post, read, edit (with history), delete, pin, and a profile's posts.

* A top-level post carries 1-10 photos or videos (an album); text alone is accepted
  only for comments (``in_reply_to_id``) and direct messages.
* ``Idempotency-Key`` is honoured for an hour, so a client retrying a timed-out post
  does not publish it twice.
* A post the viewer may not see answers 404, exactly like one that does not exist.
* A repost's own id reads as Mastodon's reblog wrapper (the repost, its original nested),
  and its reposter's delete of it takes the repost back.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from pydantic.config import JsonDict
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.models import Viewer
from lumigram.accounts.scopes import READ_STATUSES
from lumigram.api.auth import CurrentAccount, OptionalAccount, account_with_scopes, require_scopes, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import cursor, link_header
from lumigram.api.params import (
    ID_SCHEMA,
    IdString,
    OptionalIdString,
    id_param,
    one_or_many,
    openapi_body,
    parse,
    read_params,
    record_id,
)
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.scheduled_statuses import parse_time, scheduled_entity
from lumigram.entities.statuses import status_entity, version_entity
from lumigram.errors import NotFound, ValidationFailed
from lumigram.feed import relevance
from lumigram.filters import service as hidden_words
from lumigram.paging import PageRequest
from lumigram.polls.models import (
    MAX_CHARACTERS_PER_OPTION,
    MAX_EXPIRATION,
    MAX_OPTIONS,
    MIN_EXPIRATION,
    MIN_OPTIONS,
    check_poll,
)
from lumigram.posts import conversation_mutes, queries, scheduled
from lumigram.posts import service as posts
from lumigram.posts.models import MAX_MEDIA, Draft, Edit, MediaChange
from lumigram.posts.text import MAX_SPOILER, MAX_TEXT
from lumigram.reposts import service as reposts
from lumigram.uploads.service import parse_focus

router = APIRouter(tags=["statuses"])

WRITE_STATUSES = ("write:statuses",)
MAX_IDS = 40


def _id(raw: str | None, field: str) -> int:
    return id_param(raw, field)


def _status_id(raw: str) -> int:
    return record_id(raw)


#: ``media_ids``: a list of ids, or one bare id.
MediaIds = Annotated[list[IdString], WithJsonSchema(one_or_many(ID_SCHEMA, MAX_MEDIA * 2))]


class _Ids(BaseModel):
    @field_validator("media_ids", mode="before", check_fields=False)
    @classmethod
    def _list(cls, value: Any) -> Any:
        # A form sending one ``media_ids`` without brackets gives a bare string.
        if isinstance(value, str):
            return [value]
        return value


#: The caption limits are the service's to check (on the text as stored, control characters
#: and surrounding whitespace dropped), so its error names them; the body limit bounds the
#: raw size. The schema still tells clients the limits.
_CAPTION: JsonDict = {"maxLength": MAX_TEXT}
_SPOILER: JsonDict = {"maxLength": MAX_SPOILER}
_OPTION: JsonDict = {"maxLength": MAX_CHARACTERS_PER_OPTION}
_EXPIRES_IN: JsonDict = {"minimum": MIN_EXPIRATION, "maximum": MAX_EXPIRATION}


class PollParams(BaseModel):
    """Mastodon's ``poll[...]``: the real limits are checked by ``polls.models.check_poll``."""

    model_config = ConfigDict(extra="ignore")

    options: list[Annotated[str, Field(json_schema_extra=_OPTION)]] = Field(
        min_length=MIN_OPTIONS, max_length=MAX_OPTIONS
    )
    expires_in: int = Field(json_schema_extra=_EXPIRES_IN)
    multiple: bool = False
    hide_totals: bool = False


class StatusParams(_Ids):
    model_config = ConfigDict(extra="ignore")

    status: str = Field(default="", json_schema_extra=_CAPTION)
    media_ids: MediaIds = Field(default_factory=list, max_length=MAX_MEDIA * 2)
    in_reply_to_id: OptionalIdString | None = None
    sensitive: bool = False
    spoiler_text: str = Field(default="", json_schema_extra=_SPOILER)
    visibility: str | None = Field(default=None, max_length=16)
    language: str | None = Field(default=None, max_length=40)
    scheduled_at: str | None = None
    poll: PollParams | None = None
    comments_disabled: bool = False
    #: Extension: post the one vertical video of ``media_ids`` as a reel.
    reel: bool = False


class MediaAttribute(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: IdString
    description: str | None = Field(default=None, max_length=10_000)
    focus: str | None = Field(default=None, max_length=64)


class EditParams(_Ids):
    model_config = ConfigDict(extra="ignore")

    status: str | None = Field(default=None, json_schema_extra=_CAPTION)
    spoiler_text: str | None = Field(default=None, json_schema_extra=_SPOILER)
    sensitive: bool | None = None
    language: str | None = Field(default=None, max_length=40)
    media_ids: MediaIds | None = Field(default=None, max_length=MAX_MEDIA * 2)
    media_attributes: list[MediaAttribute] = Field(default_factory=list, max_length=MAX_MEDIA * 2)
    poll: Any = None
    comments_disabled: bool | None = None


async def statuses_page(
    max_id: Annotated[str | None, Query(max_length=40)] = None,
    since_id: Annotated[str | None, Query(max_length=40)] = None,
    min_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(description="At most 40")] = queries.DEFAULT_LIMIT,
) -> PageRequest:
    """Mastodon's statuses paging: 20 by default, at most 40."""
    return PageRequest(
        cursor("max_id", max_id),
        cursor("since_id", since_id),
        cursor("min_id", min_id),
        max(1, min(limit, queries.MAX_LIMIT)),
    )


StatusesPage = Annotated[PageRequest, Depends(statuses_page)]


@router.post(
    "/api/v1/statuses",
    summary="Publish a post, a comment or a direct message",
    openapi_extra=openapi_body(StatusParams),
)
async def create_status(
    request: Request,
    viewer: Annotated[Viewer, account_with_scopes(*WRITE_STATUSES)],
    services: ServicesDep,
    idempotency_key: Annotated[str | None, Header(max_length=256)] = None,
) -> Response:
    params = parse(StatusParams, await read_params(request))
    poll = params.poll
    draft = Draft(
        text=params.status,
        media_ids=[_id(m, "media_ids") for m in params.media_ids],
        in_reply_to_id=_id(params.in_reply_to_id, "in_reply_to_id") if params.in_reply_to_id else None,
        visibility=params.visibility,
        sensitive=params.sensitive,
        spoiler_text=params.spoiler_text,
        language=params.language,
        comments_disabled=params.comments_disabled,
        poll=None if poll is None else check_poll(poll.options, poll.expires_in, poll.multiple, poll.hide_totals),
        reel=params.reel,
    )
    if params.scheduled_at:
        if params.reel:
            raise ValidationFailed.field("scheduled_at", "ERR_UNSUPPORTED", "cannot be used with reel")
        when = parse_time(params.scheduled_at)
        waiting = await scheduled.schedule(services, viewer.account_id, draft, when)
        return OrjsonResponse(scheduled_entity(services, waiting))
    created = await posts.create_post(services, viewer.account_id, draft, idempotency_key or None)
    return OrjsonResponse(status_entity(services, created, viewer.account_id))


@router.get(
    "/api/v1/statuses/{status_id}",
    summary="One post",
    dependencies=[scopes_if_token(*READ_STATUSES)],
)
async def get_status(status_id: str, viewer: OptionalAccount, services: ServicesDep) -> Response:
    viewer_id = viewer.account_id if viewer else None
    target = _status_id(status_id)
    try:
        item = await posts.get_post(services, viewer_id, target)
    except NotFound:
        item = await reposts.get_repost(services, viewer_id, target)
    entity = status_entity(services, item, viewer_id)
    if viewer_id is not None:
        muted = await conversation_mutes.is_muted(services, viewer_id, item)
        entity["muted"] = muted
        if entity.get("reblog"):
            entity["reblog"]["muted"] = muted
    return OrjsonResponse(entity)


@router.get(
    "/api/v1/statuses",
    summary="Several posts by id (those the viewer may see)",
    dependencies=[scopes_if_token(*READ_STATUSES)],
)
async def get_statuses(
    viewer: OptionalAccount,
    services: ServicesDep,
    ids: Annotated[list[str], Query(alias="id[]")] = [],  # noqa: B006 (FastAPI copies defaults)
    plain_ids: Annotated[list[str], Query(alias="id")] = [],  # noqa: B006
) -> Response:
    wanted = [int(i) for i in [*ids, *plain_ids][:MAX_IDS] if i.isascii() and i.isdigit() and len(i) <= 18]
    viewer_id = viewer.account_id if viewer else None
    found = await reposts.timeline_items(services, viewer_id, wanted)
    cache: dict[int, dict[str, Any]] = {}
    return OrjsonResponse([status_entity(services, item, viewer_id, cache) for item in found])


@router.put(
    "/api/v1/statuses/{status_id}",
    summary="Edit a post's caption, content warning, alt text or photos",
    openapi_extra=openapi_body(EditParams),
    dependencies=[require_scopes(*WRITE_STATUSES)],
)
async def edit_status(status_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    target = _status_id(status_id)
    params = parse(EditParams, await read_params(request))
    if params.poll:
        # Changing a poll would void the votes cast on it; its post's other parts can change.
        raise ValidationFailed.field("poll", "ERR_UNSUPPORTED", "cannot be changed once posted")
    changes = [
        MediaChange(
            id=_id(attribute.id, "media_attributes"),
            description=attribute.description,
            focus=parse_focus(attribute.focus) if attribute.focus else None,
        )
        for attribute in params.media_attributes
    ]
    edit = Edit(
        text=params.status,
        spoiler_text=params.spoiler_text,
        sensitive=params.sensitive,
        media_ids=[_id(m, "media_ids") for m in params.media_ids] if params.media_ids is not None else None,
        media_changes=changes,
        language=params.language,
        comments_disabled=params.comments_disabled,
    )
    item = await posts.edit_post(services, viewer.account_id, target, edit)
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.delete(
    "/api/v1/statuses/{status_id}",
    summary="Delete a post (or a comment on your post, or take back your repost)",
    dependencies=[require_scopes(*WRITE_STATUSES)],
)
async def delete_status(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    target = _status_id(status_id)
    try:
        gone = await posts.delete_post(services, viewer.account_id, target)
    except NotFound:
        # A repost's id: Mastodon deletes one's reblog like a status (an unreblog).
        taken_back = await reposts.undo_repost(services, viewer.account_id, target)
        return OrjsonResponse(status_entity(services, taken_back, viewer.account_id))
    return OrjsonResponse(status_entity(services, gone, viewer.account_id, with_source=True))


@router.get(
    "/api/v1/statuses/{status_id}/history",
    summary="Every version of a post, oldest first",
    dependencies=[scopes_if_token(*READ_STATUSES)],
)
async def status_history(status_id: str, viewer: OptionalAccount, services: ServicesDep) -> Response:
    viewer_id = viewer.account_id if viewer else None
    target = _status_id(status_id)
    versions = await queries.history(services, viewer_id, target)
    current = await posts.get_post(services, viewer_id, target)
    return OrjsonResponse([version_entity(services, version, current) for version in versions])


@router.get(
    "/api/v1/statuses/{status_id}/source",
    summary="The plain text of your post, for editing",
    dependencies=[require_scopes(*READ_STATUSES)],
)
async def status_source(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found_id, text, spoiler = await queries.source(services, viewer.account_id, _status_id(status_id))
    return OrjsonResponse({"id": str(found_id), "text": text, "spoiler_text": spoiler})


@router.post(
    "/api/v1/statuses/{status_id}/pin",
    summary="Pin your post to the top of your profile",
    dependencies=[require_scopes("write:accounts")],
)
async def pin_status(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await posts.pin(services, viewer.account_id, _status_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.post(
    "/api/v1/statuses/{status_id}/unpin",
    summary="Unpin a post",
    dependencies=[require_scopes("write:accounts")],
)
async def unpin_status(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await posts.unpin(services, viewer.account_id, _status_id(status_id))
    return OrjsonResponse(status_entity(services, item, viewer.account_id))


@router.get(
    "/api/v1/accounts/{account_id}/statuses",
    summary="A profile's posts (the grid), newest first",
    dependencies=[scopes_if_token(*READ_STATUSES)],
)
async def account_statuses(
    account_id: str,
    request: Request,
    viewer: OptionalAccount,
    services: ServicesDep,
    page: StatusesPage,
    only_media: bool = False,
    pinned: bool = False,
    exclude_replies: bool = False,
    exclude_reblogs: bool = False,
    tagged: Annotated[str | None, Query(max_length=100)] = None,
) -> Response:
    del exclude_reblogs  # there are no reblogs here; accepted because clients send it
    viewer_id = viewer.account_id if viewer else None
    if viewer_id is not None and page.max_id is None and page.min_id is None and page.since_id is None:
        # Opening someone's profile is a signal of interest (relevance ranking's affinity).
        await relevance.record_visit(services, viewer_id, _status_id(account_id))
    result = await queries.account_posts(
        services,
        viewer_id,
        _status_id(account_id),
        page,
        only_media=only_media,
        pinned=pinned,
        exclude_replies=exclude_replies,
        tagged=tagged,
    )
    result = await hidden_words.filtered_page(services, viewer_id, "account", result)
    cache: dict[int, dict[str, Any]] = {}
    body = [status_entity(services, item, viewer_id, cache) for item in result.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, result))
