"""Pixelfed's story endpoints (``/api/v1.1/stories/...``), so Pixelfed's apps show and post
stories here. Their answers keep Pixelfed's shapes: ``{"code": 200, "msg": ...}`` for the
commands, the carousel's ``self``/``nodes``, and the viewers as a paginated ``data`` list.

Pixelfed posts a story in two steps: ``add`` uploads the file and answers a draft's id
(as ``media_id``), ``publish`` makes that draft live. The rules are the extension API's
(``lumigram.stories``): a story Pixelfed's app may not see answers 404.
"""

from __future__ import annotations

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import cursor
from lumigram.api.params import (
    OPTIONAL_ID_SCHEMA,
    IdString,
    id_param,
    openapi_body,
    parse,
    read_params,
    record_id,
    upload,
)
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.media import MediaParams, receive_upload
from lumigram.api.routes.stories import NOT_FOUND
from lumigram.entities.accounts import account_entity
from lumigram.entities.stories import pixelfed_carousel, story_media
from lumigram.errors import ValidationFailed
from lumigram.messages import service as messages
from lumigram.paging import PageRequest
from lumigram.stories import service as stories
from lumigram.stories.models import DEFAULT_DURATION, MAX_DURATION, MAX_REPLY, Story, StoryDraft, TrayEntry
from lumigram.stories.tray_cache import CAROUSEL

router = APIRouter(tags=["stories (Pixelfed)"])

PREFIX = "/api/v1.1/stories"
READ = require_scopes("read")
WRITE = require_scopes("write")
#: Pixelfed's viewers page size.
VIEWERS_PAGE = 10


class AddParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    duration: int = Field(default=DEFAULT_DURATION, ge=1, le=MAX_DURATION)


class PublishParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    media_id: IdString
    duration: int = Field(default=DEFAULT_DURATION, ge=1, le=MAX_DURATION)
    can_reply: bool = True
    can_react: bool = True


class SeenParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    id: IdString


class CommentParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    sid: IdString
    caption: str = Field(min_length=1, max_length=MAX_REPLY)


def _ok(message: str) -> dict[str, object]:
    return {"code": 200, "msg": message}


@router.get(
    f"{PREFIX}/carousel", summary="Pixelfed: your stories and those of the accounts you follow", dependencies=[READ]
)
async def carousel(viewer: CurrentAccount, services: ServicesDep) -> Response:
    def render(entries: list[TrayEntry], own: list[Story]) -> bytes:
        return orjson.dumps(pixelfed_carousel(services, viewer.account_id, entries, own))

    body = await stories.kept_tray(services, viewer.account_id, CAROUSEL, render, with_own=True)
    return Response(body, media_type="application/json")


@router.post(
    f"{PREFIX}/add",
    summary="Pixelfed: upload a story's photo or video (published by `publish`)",
    openapi_extra=openapi_body(AddParams, files=("file",)),
    dependencies=[WRITE],
)
async def add(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    raw = await read_params(request)
    params = parse(AddParams, raw)
    file = upload(raw, "file")
    if file is None:
        raise ValidationFailed.field("file", "ERR_BLANK", "can't be blank")
    record = await receive_upload(services, viewer.account_id, file, MediaParams())
    draft = await stories.create_story(
        services, viewer.account_id, StoryDraft(media_id=record.id, duration=params.duration), publish=False
    )
    return OrjsonResponse(
        {
            **_ok("Successfully added"),
            "media_id": str(draft.id),
            "media_url": story_media(services, draft)["url"],
            "media_type": "video" if draft.media.kind == "video" else "photo",
        }
    )


@router.post(
    f"{PREFIX}/publish",
    summary="Pixelfed: publish a story added with `add`",
    openapi_extra=openapi_body(PublishParams),
    dependencies=[WRITE],
    responses=NOT_FOUND,  # type: ignore[arg-type]
)
async def publish(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(PublishParams, await read_params(request))
    await stories.publish(
        services,
        viewer.account_id,
        id_param(params.media_id, "media_id"),
        duration=params.duration,
        replies_enabled=params.can_reply,
        reactions_enabled=params.can_react,
    )
    return OrjsonResponse(_ok("Successfully published"))


@router.post(
    f"{PREFIX}/seen",
    summary="Pixelfed: mark a story seen",
    openapi_extra=openapi_body(SeenParams),
    dependencies=[WRITE],
    responses=NOT_FOUND,  # type: ignore[arg-type]
)
async def seen(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(SeenParams, await read_params(request))
    await stories.mark_seen(services, viewer.account_id, id_param(params.id, "id"))
    return OrjsonResponse({"code": 200})


@router.post(f"{PREFIX}/self-expire/{{story_id:id}}", summary="Pixelfed: take your story down", dependencies=[WRITE])
@router.delete(
    f"{PREFIX}/self-expire/{{story_id:id}}",
    summary="Pixelfed: take your story down (as DELETE)",
    dependencies=[WRITE],
)
async def self_expire(story_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await stories.delete_story(services, viewer.account_id, record_id(story_id))
    return OrjsonResponse(_ok("Successfully deleted"))


@router.post(
    f"{PREFIX}/comment",
    summary="Pixelfed: reply to a story",
    openapi_extra=openapi_body(CommentParams),
    dependencies=[WRITE],
    responses=NOT_FOUND,  # type: ignore[arg-type]
)
async def comment(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(CommentParams, await read_params(request))
    await messages.reply_to_story(services, viewer.account_id, id_param(params.sid, "sid"), params.caption)
    return OrjsonResponse(_ok("Sent!"))


@router.get(
    f"{PREFIX}/viewers",
    summary="Pixelfed: who saw your story, most recent first, ten at a time",
    dependencies=[READ],
    responses=NOT_FOUND,  # type: ignore[arg-type]
)
@router.get(
    "/api/v1.2/stories/viewers",
    summary="Pixelfed: who saw your story (the route its newer apps call)",
    dependencies=[READ],
    responses=NOT_FOUND,  # type: ignore[arg-type]
)
async def viewers(
    request: Request,
    viewer: CurrentAccount,
    services: ServicesDep,
    sid: str = Query(min_length=1, max_length=50),
    cursor_id: str | None = Query(default=None, alias="cursor", pattern=OPTIONAL_ID_SCHEMA["pattern"]),
) -> Response:
    page = PageRequest(max_id=cursor("cursor", cursor_id), limit=VIEWERS_PAGE)
    listed = await stories.viewers(services, viewer.account_id, record_id(sid), page)
    data = [account_entity(services.settings, item.account).model_dump(mode="json") for item in listed.items]
    path = f"{services.settings.base_url}{request.url.path}"
    next_cursor = str(listed.cursors[-1]) if listed.full and listed.cursors else None
    return OrjsonResponse(
        {
            "data": data,
            "links": {
                "first": None,
                "last": None,
                "prev": None,
                "next": f"{path}?sid={sid}&cursor={next_cursor}" if next_cursor else None,
            },
            "meta": {"path": path, "per_page": VIEWERS_PAGE, "next_cursor": next_cursor, "prev_cursor": None},
        }
    )
