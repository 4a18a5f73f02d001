"""Lumigram's story API (an extension: Mastodon has no stories), under ``/api/v1/lumigram``.

* ``POST /stories`` makes a story from an upload (``media_id`` from ``POST /api/v2/media``),
  shown to the followers (or the close friends) for exactly 24 hours.
* ``GET /stories/tray``: the followed accounts with live stories, unseen first;
  ``GET /accounts/:id/stories``: one account's live stories in the order they play.
* ``GET``/``PATCH``/``DELETE /stories/:id``; ``POST /stories/:id/seen`` (idempotent);
  ``POST /stories/:id/reply`` and ``/react``; for the owner, ``GET /stories/:id/viewers``
  and ``/replies`` (newest first, ``Link`` paging), ``GET /stories/archive`` and
  ``GET``/``PUT /stories/settings``.
* Highlights: ``GET /accounts/:id/highlights``, ``POST /highlights``,
  ``GET``/``PATCH``/``DELETE /highlights/:id``, ``POST /highlights/:id/stories`` and
  ``DELETE /highlights/:id/stories/:story_id``.
* Close friends: ``GET``/``POST /close_friends``, ``DELETE /close_friends/:account_id``, on
  the caller's list marked as close friends (made on the first addition); only an account
  that follows the caller can be added.

A story the caller may not see answers 404, exactly like one that does not exist.
"""

from __future__ import annotations

from typing import Annotated, Any

import orjson
from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import ID_SCHEMA, IdString, id_param, one_or_many, openapi_body, parse, read_params, record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import account_entity
from lumigram.entities.stories import (
    highlight_entity,
    reply_entity,
    story_entity,
    tray_entity,
    viewer_entity,
)
from lumigram.lists import service as lists
from lumigram.messages import service as messages
from lumigram.stories import highlights
from lumigram.stories import service as stories
from lumigram.stories.models import (
    FOLLOWERS,
    MAX_CAPTION,
    MAX_DURATION,
    MAX_EMOJI,
    MAX_HIGHLIGHT_STORIES,
    MAX_HIGHLIGHT_TITLE,
    MAX_LINK,
    MAX_REPLY,
    REACTION,
    Story,
    StoryDraft,
    TrayEntry,
)
from lumigram.stories.tray_cache import TRAY

router = APIRouter(tags=["stories"])

#: For routes that name a record in their body rather than their path.
NOT_FOUND = {
    404: {
        "description": "The record named does not exist or is hidden from the caller",
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
    }
}

PREFIX = "/api/v1/lumigram"
READ = require_scopes("read:statuses")
WRITE = require_scopes("write:statuses")
READ_FOLLOWS = require_scopes("read:follows")
WRITE_FOLLOWS = require_scopes("write:follows")


class StoryParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    media_id: IdString
    caption: str = Field(default="", max_length=MAX_CAPTION)
    # A host is required; the service checks the same.
    link: str | None = Field(default=None, max_length=MAX_LINK, pattern=r"^https?://[^\s/?#\[\]@]+[^\s]*$")
    audience: str = Field(default=FOLLOWERS, pattern="^(followers|close_friends)$")
    replies_enabled: bool = True
    reactions_enabled: bool = True
    duration: int = Field(default=10, ge=1, le=MAX_DURATION)


class StoryChange(BaseModel):
    model_config = ConfigDict(extra="ignore")

    replies_enabled: bool | None = None
    reactions_enabled: bool | None = None


class ReplyParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(min_length=1, max_length=MAX_REPLY)


class ReactParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    emoji: str = Field(min_length=1, max_length=MAX_EMOJI)


class SettingsParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    archive: bool


#: ``story_ids``: a list of ids, or one bare id (a form sending one without brackets).
StoryIds = Annotated[list[IdString], WithJsonSchema(one_or_many(ID_SCHEMA, MAX_HIGHLIGHT_STORIES))]


class _StoryIds(BaseModel):
    @field_validator("story_ids", mode="before", check_fields=False)
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class HighlightParams(_StoryIds):
    model_config = ConfigDict(extra="ignore")

    title: str = Field(min_length=1, max_length=MAX_HIGHLIGHT_TITLE)
    story_ids: StoryIds = Field(default_factory=list, max_length=MAX_HIGHLIGHT_STORIES)
    cover_story_id: IdString | None = None


class HighlightChange(_StoryIds):
    model_config = ConfigDict(extra="ignore")

    title: str | None = Field(default=None, min_length=1, max_length=MAX_HIGHLIGHT_TITLE)
    story_ids: StoryIds | None = Field(default=None, max_length=MAX_HIGHLIGHT_STORIES)
    cover_story_id: IdString | None = None
    position: int | None = Field(default=None, ge=0, le=10_000)


class HighlightStory(BaseModel):
    model_config = ConfigDict(extra="ignore")

    story_id: IdString


class CloseFriend(BaseModel):
    model_config = ConfigDict(extra="ignore")

    account_id: IdString


def _ids(raw: list[str] | None, field: str) -> list[int] | None:
    return None if raw is None else [id_param(value, field) for value in raw]


# --- stories ---------------------------------------------------------------------------------


@router.post(
    f"{PREFIX}/stories",
    summary="Share a story: one of your uploads, shown for 24 hours",
    openapi_extra=openapi_body(StoryParams),
    dependencies=[WRITE],
    responses=NOT_FOUND,  # type: ignore[arg-type]
)
async def create_story(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(StoryParams, await read_params(request))
    draft = StoryDraft(
        media_id=id_param(params.media_id, "media_id"),
        caption=params.caption,
        link=params.link,
        audience=params.audience,
        replies_enabled=params.replies_enabled,
        reactions_enabled=params.reactions_enabled,
        duration=params.duration,
    )
    story = await stories.create_story(services, viewer.account_id, draft)
    return OrjsonResponse(story_entity(services, story, viewer.account_id))


@router.get(
    f"{PREFIX}/stories/tray",
    summary="Followed accounts with live stories: unseen first, then the closest, then the newest",
    dependencies=[READ],
)
async def story_tray(
    viewer: CurrentAccount,
    services: ServicesDep,
    explain: Annotated[bool, Query(description="Each account's affinity and the signals behind it")] = False,
) -> Response:
    if explain:  # rare, and its scores are not kept: computed each time
        entries = await stories.tray(services, viewer.account_id)
        return OrjsonResponse([tray_entity(services, entry, viewer.account_id, True) for entry in entries])

    def render(entries: list[TrayEntry], _own: list[Story]) -> bytes:
        return orjson.dumps([tray_entity(services, entry, viewer.account_id) for entry in entries])

    body = await stories.kept_tray(services, viewer.account_id, TRAY, render)
    return Response(body, media_type="application/json")


@router.get(
    f"{PREFIX}/stories/archive", summary="Your stories, expired ones included, newest first", dependencies=[READ]
)
async def story_archive(request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep) -> Response:
    listed = await stories.archive(services, viewer.account_id, page)
    body = [story_entity(services, story, viewer.account_id) for story in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.get(f"{PREFIX}/stories/settings", summary="Your story settings", dependencies=[READ])
async def story_settings(viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse({"archive": await stories.archive_enabled(services, viewer.account_id)})


@router.put(
    f"{PREFIX}/stories/settings",
    summary="Keep expired stories in your archive (the default), or not",
    openapi_extra=openapi_body(SettingsParams),
    dependencies=[WRITE],
)
async def change_story_settings(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(SettingsParams, await read_params(request))
    return OrjsonResponse({"archive": await stories.set_archive(services, viewer.account_id, params.archive)})


@router.get(f"{PREFIX}/stories/{{story_id:id}}", summary="A live story", dependencies=[READ])
async def get_story(story_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    story = await stories.get_story(services, viewer.account_id, record_id(story_id))
    return OrjsonResponse(story_entity(services, story, viewer.account_id))


@router.patch(
    f"{PREFIX}/stories/{{story_id:id}}",
    summary="Turn replies or reactions on or off for your story",
    openapi_extra=openapi_body(StoryChange),
    dependencies=[WRITE],
)
async def change_story(story_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(StoryChange, await read_params(request))
    story = await stories.update_story(
        services, viewer.account_id, record_id(story_id), params.replies_enabled, params.reactions_enabled
    )
    return OrjsonResponse(story_entity(services, story, viewer.account_id))


@router.delete(f"{PREFIX}/stories/{{story_id:id}}", summary="Take your story down now", dependencies=[WRITE])
async def delete_story(story_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await stories.delete_story(services, viewer.account_id, record_id(story_id))
    return OrjsonResponse({})


@router.post(
    f"{PREFIX}/stories/{{story_id:id}}/seen", summary="Mark a story seen (once per viewer)", dependencies=[WRITE]
)
async def mark_seen(story_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    story = await stories.mark_seen(services, viewer.account_id, record_id(story_id))
    return OrjsonResponse(story_entity(services, story, viewer.account_id))


@router.get(
    f"{PREFIX}/stories/{{story_id:id}}/viewers", summary="Who saw your story, most recent first", dependencies=[READ]
)
async def story_viewers(
    story_id: str, request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    listed = await stories.viewers(services, viewer.account_id, record_id(story_id), page)
    body = [viewer_entity(services, item) for item in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.post(
    f"{PREFIX}/stories/{{story_id:id}}/reply",
    summary="Reply to a story: a message to its owner, in your 1:1 thread",
    openapi_extra=openapi_body(ReplyParams),
    dependencies=[WRITE],
)
async def reply(story_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(ReplyParams, await read_params(request))
    made = await messages.reply_to_story(services, viewer.account_id, record_id(story_id), params.text)
    return OrjsonResponse(reply_entity(services, made))


@router.post(
    f"{PREFIX}/stories/{{story_id:id}}/react",
    summary="React to a story with an emoji",
    openapi_extra=openapi_body(ReactParams),
    dependencies=[WRITE],
)
async def react(story_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(ReactParams, await read_params(request))
    made = await stories.answer(services, viewer.account_id, record_id(story_id), REACTION, params.emoji)
    return OrjsonResponse(reply_entity(services, made))


@router.get(
    f"{PREFIX}/stories/{{story_id:id}}/replies",
    summary="Replies and reactions to your story, newest first",
    dependencies=[READ],
)
async def story_replies(
    story_id: str, request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    listed = await stories.replies(services, viewer.account_id, record_id(story_id), page)
    body = [reply_entity(services, item) for item in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.get(
    f"{PREFIX}/accounts/{{account_id:id}}/stories",
    summary="An account's live stories, in the order they play",
    dependencies=[READ],
)
async def account_stories(account_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await stories.account_stories(services, viewer.account_id, record_id(account_id))
    return OrjsonResponse([story_entity(services, story, viewer.account_id) for story in found])


# --- highlights ------------------------------------------------------------------------------


@router.get(f"{PREFIX}/accounts/{{account_id:id}}/highlights", summary="An account's highlights", dependencies=[READ])
async def account_highlights(account_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await highlights.of_account(services, viewer.account_id, record_id(account_id))
    return OrjsonResponse([highlight_entity(services, item, viewer.account_id, full=False) for item in found])


@router.post(
    f"{PREFIX}/highlights",
    summary="Make a highlight from stories in your archive",
    openapi_extra=openapi_body(HighlightParams),
    dependencies=[WRITE],
)
async def create_highlight(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(HighlightParams, await read_params(request))
    cover = id_param(params.cover_story_id, "cover_story_id") if params.cover_story_id is not None else None
    made = await highlights.create(
        services, viewer.account_id, params.title, _ids(params.story_ids, "story_ids") or [], cover
    )
    return OrjsonResponse(highlight_entity(services, made, viewer.account_id, full=True))


@router.get(f"{PREFIX}/highlights/{{highlight_id:id}}", summary="A highlight and its stories", dependencies=[READ])
async def get_highlight(highlight_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await highlights.get(services, viewer.account_id, record_id(highlight_id))
    return OrjsonResponse(highlight_entity(services, found, viewer.account_id, full=True))


@router.patch(
    f"{PREFIX}/highlights/{{highlight_id:id}}",
    summary="Rename, reorder or replace the stories of, recover or move your highlight",
    openapi_extra=openapi_body(HighlightChange),
    dependencies=[WRITE],
)
async def change_highlight(
    highlight_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    params = parse(HighlightChange, await read_params(request))
    changed = await highlights.change(
        services,
        viewer.account_id,
        record_id(highlight_id),
        title=params.title,
        story_ids=_ids(params.story_ids, "story_ids"),
        cover_story_id=(
            id_param(params.cover_story_id, "cover_story_id") if params.cover_story_id is not None else None
        ),
        position=params.position,
    )
    return OrjsonResponse(highlight_entity(services, changed, viewer.account_id, full=True))


@router.delete(f"{PREFIX}/highlights/{{highlight_id:id}}", summary="Delete your highlight", dependencies=[WRITE])
async def delete_highlight(highlight_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await highlights.remove(services, viewer.account_id, record_id(highlight_id))
    return OrjsonResponse({})


@router.post(
    f"{PREFIX}/highlights/{{highlight_id:id}}/stories",
    summary="Add a story from your archive to your highlight",
    openapi_extra=openapi_body(HighlightStory),
    dependencies=[WRITE],
)
async def add_to_highlight(
    highlight_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    params = parse(HighlightStory, await read_params(request))
    changed = await highlights.add_story(
        services, viewer.account_id, record_id(highlight_id), id_param(params.story_id, "story_id")
    )
    return OrjsonResponse(highlight_entity(services, changed, viewer.account_id, full=True))


@router.delete(
    f"{PREFIX}/highlights/{{highlight_id:id}}/stories/{{story_id:id}}",
    summary="Take a story out of your highlight",
    dependencies=[WRITE],
)
async def remove_from_highlight(
    highlight_id: str, story_id: str, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    changed = await highlights.remove_story(services, viewer.account_id, record_id(highlight_id), record_id(story_id))
    return OrjsonResponse(highlight_entity(services, changed, viewer.account_id, full=True))


# --- close friends ---------------------------------------------------------------------------


@router.get(f"{PREFIX}/close_friends", summary="Your close friends, last added first", dependencies=[READ_FOLLOWS])
async def list_close_friends(
    request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    listed = await lists.close_friends(services, viewer.account_id, page)
    body = [account_entity(services.settings, account).model_dump(mode="json") for account in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.post(
    f"{PREFIX}/close_friends",
    summary="Add one of your followers to your close friends",
    openapi_extra=openapi_body(CloseFriend),
    dependencies=[WRITE_FOLLOWS],
    responses=NOT_FOUND,  # type: ignore[arg-type]
)
async def add_close_friend(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(CloseFriend, await read_params(request))
    account = await lists.add_close_friend(services, viewer.account_id, id_param(params.account_id, "account_id"))
    return OrjsonResponse(account_entity(services.settings, account).model_dump(mode="json"))


@router.delete(
    f"{PREFIX}/close_friends/{{account_id:id}}",
    summary="Take an account off your close friends",
    dependencies=[WRITE_FOLLOWS],
)
async def remove_close_friend(account_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await lists.remove_close_friend(services, viewer.account_id, record_id(account_id))
    return OrjsonResponse({})
