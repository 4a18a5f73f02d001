"""Lumigram's direct messages API, under ``/api/v1/lumigram``: threads (1:1 and groups),
their messages, requests, reactions, read state and typing. The README shows each call.

A thread that the caller is not a current member of answers 404 on every path, exactly
like one that does not exist. Messages page newest first by id (max_id/since_id/min_id,
``Link`` header), as Mastodon's lists do.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query
from pydantic import BaseModel, ConfigDict, Field, WithJsonSchema, field_validator
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import link_header
from lumigram.api.params import ID_SCHEMA, IdString, id_param, one_or_many, openapi_body, parse, read_params, record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.statuses import StatusesPage
from lumigram.entities.messages import edit_entity, message_entity, thread_entity
from lumigram.graph import service as graph
from lumigram.messages import queries
from lumigram.messages import service as messages
from lumigram.messages.models import ACCEPT_CHOICES, INBOX, REQUESTS
from lumigram.streaming.messages import publish_sent, publish_typing

router = APIRouter(tags=["messages"])

READ = "read:statuses"
WRITE = "write:conversations"
BASE = "/api/v1/lumigram/threads"

#: A list of ids, or one bare id.
AccountIds = Annotated[list[IdString], WithJsonSchema(one_or_many(ID_SCHEMA, messages.MAX_MEMBERS))]


class _Ids(BaseModel):
    model_config = ConfigDict(extra="ignore")

    @field_validator("account_ids", "media_ids", mode="before", check_fields=False)
    @classmethod
    def _list(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value


class ThreadParams(_Ids):
    account_ids: AccountIds = Field(min_length=1, max_length=messages.MAX_MEMBERS)
    name: str | None = Field(default=None, max_length=messages.MAX_NAME)


class MembersParams(_Ids):
    account_ids: AccountIds = Field(min_length=1, max_length=messages.MAX_MEMBERS)


class ThreadChanges(BaseModel):
    model_config = ConfigDict(extra="ignore")

    name: str | None = Field(default=None, max_length=messages.MAX_NAME)
    muted: bool | None = None


class MessageParams(_Ids):
    text: str = Field(default="", max_length=messages.MAX_TEXT * 4)
    media_ids: Annotated[list[IdString], WithJsonSchema(one_or_many(ID_SCHEMA, messages.MAX_MEDIA))] = Field(
        default_factory=list, max_length=messages.MAX_MEDIA
    )
    status_id: IdString | None = None
    account_id: IdString | None = None


class EditParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    text: str = Field(max_length=messages.MAX_TEXT * 4)


class ReactionParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    emoji: str = Field(min_length=1, max_length=messages.MAX_EMOJI)


class ReadParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    last_read_id: IdString | None = None


class SettingsParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    accept: Literal["everyone", "followed", "nobody"]


def _ids(raw: list[str], field: str) -> list[int]:
    return [id_param(value, field) for value in raw]


async def _thread(services: ServicesDep, viewer_id: int, thread_id: int) -> Response:
    return OrjsonResponse(thread_entity(services, await queries.get_thread(services, viewer_id, thread_id)))


async def _message(services: ServicesDep, viewer_id: int, thread_id: int, message_id: int) -> Response:
    found = await queries.get_message(services, viewer_id, thread_id, message_id)
    return OrjsonResponse(message_entity(services, found, viewer_id))


# --- threads ----------------------------------------------------------------------------


@router.get(BASE, summary="Your message threads (inbox or requests), latest first", dependencies=[require_scopes(READ)])
async def list_threads(
    request: Request,
    page: StatusesPage,
    viewer: CurrentAccount,
    services: ServicesDep,
    folder: Annotated[Literal["inbox", "requests"], Query()] = "inbox",
) -> Response:
    listed = await queries.list_threads(services, viewer.account_id, folder if folder == REQUESTS else INBOX, page)
    body = [thread_entity(services, thread) for thread in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.post(
    BASE,
    summary="Start a thread (or find your 1:1 thread) with account_ids[]; a name makes a group",
    openapi_extra=openapi_body(ThreadParams),
    dependencies=[require_scopes(WRITE)],
)
async def start_thread(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(ThreadParams, await read_params(request))
    others = _ids(params.account_ids, "account_ids")
    thread_id = await messages.start_thread(services, viewer.account_id, others, params.name)
    return await _thread(services, viewer.account_id, thread_id)


@router.get(
    "/api/v1/lumigram/unread",
    summary="Unread messages in your inbox, and pending requests",
    dependencies=[require_scopes(READ)],
)
async def unread(viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await queries.unread(services, viewer.account_id)
    return OrjsonResponse({"total": found.total, "threads": found.threads, "requests": found.requests})


@router.get(BASE + "/{thread_id}", summary="One thread", dependencies=[require_scopes(READ)])
async def get_thread(thread_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    return await _thread(services, viewer.account_id, record_id(thread_id))


@router.patch(
    BASE + "/{thread_id}",
    summary="Rename a group (admins) or mute the thread for yourself",
    openapi_extra=openapi_body(ThreadChanges),
    dependencies=[require_scopes(WRITE)],
)
async def update_thread(thread_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(ThreadChanges, await read_params(request))
    thread = record_id(thread_id)
    await messages.update_thread(services, viewer.account_id, thread, params.name, params.muted)
    return await _thread(services, viewer.account_id, thread)


@router.post(
    BASE + "/{thread_id}/members",
    summary="Add accounts to a group (admins)",
    openapi_extra=openapi_body(MembersParams),
    dependencies=[require_scopes(WRITE)],
)
async def add_members(thread_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(MembersParams, await read_params(request))
    thread = record_id(thread_id)
    await messages.add_members(services, viewer.account_id, thread, _ids(params.account_ids, "account_ids"))
    return await _thread(services, viewer.account_id, thread)


@router.delete(
    BASE + "/{thread_id}/members/{account_id}",
    summary="Remove a member from a group (admins)",
    dependencies=[require_scopes(WRITE)],
)
async def remove_member(thread_id: str, account_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    thread = record_id(thread_id)
    await messages.remove_member(services, viewer.account_id, thread, record_id(account_id))
    return await _thread(services, viewer.account_id, thread)


@router.post(BASE + "/{thread_id}/leave", summary="Leave a group", dependencies=[require_scopes(WRITE)])
async def leave(thread_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await messages.leave(services, viewer.account_id, record_id(thread_id))
    return OrjsonResponse({})


@router.post(BASE + "/{thread_id}/accept", summary="Move a request to your inbox", dependencies=[require_scopes(WRITE)])
async def accept(thread_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    thread = record_id(thread_id)
    await messages.accept_request(services, viewer.account_id, thread)
    return await _thread(services, viewer.account_id, thread)


@router.post(
    BASE + "/{thread_id}/decline",
    summary="Hide a request (its sender is not told)",
    dependencies=[require_scopes(WRITE)],
)
async def decline(thread_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await messages.decline_request(services, viewer.account_id, record_id(thread_id))
    return OrjsonResponse({})


@router.post(
    BASE + "/{thread_id}/block",
    summary="Decline a request and block whoever started the thread",
    dependencies=[require_scopes(WRITE), require_scopes("write:blocks")],
)
async def block(thread_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    starter = await messages.decline_request(services, viewer.account_id, record_id(thread_id))
    if starter != viewer.account_id:
        await graph.block(services, viewer.account_id, starter)
    return OrjsonResponse({})


@router.post(
    BASE + "/{thread_id}/read",
    summary="Mark the thread read up to last_read_id (the newest message by default)",
    openapi_extra=openapi_body(ReadParams),
    dependencies=[require_scopes(WRITE)],
)
async def read(thread_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(ReadParams, await read_params(request))
    last = None if params.last_read_id is None else id_param(params.last_read_id, "last_read_id")
    thread = record_id(thread_id)
    await messages.mark_read(services, viewer.account_id, thread, last)
    return await _thread(services, viewer.account_id, thread)


@router.post(
    BASE + "/{thread_id}/typing",
    summary="Tell the thread's members you are typing",
    dependencies=[require_scopes(WRITE)],
)
async def typing(thread_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    thread = record_id(thread_id)
    audience = await messages.typing_audience(services, viewer.account_id, thread)
    await publish_typing(services, viewer.account_id, thread, audience)
    return OrjsonResponse({})


# --- messages ---------------------------------------------------------------------------


@router.get(
    BASE + "/{thread_id}/messages", summary="A thread's messages, newest first", dependencies=[require_scopes(READ)]
)
async def list_messages(
    thread_id: str, request: Request, page: StatusesPage, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    listed = await queries.list_messages(services, viewer.account_id, record_id(thread_id), page)
    body = [message_entity(services, m, viewer.account_id) for m in listed.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))


@router.post(
    BASE + "/{thread_id}/messages",
    summary="Send text, media_ids[], a post (status_id) or a profile (account_id)",
    openapi_extra=openapi_body(MessageParams),
    dependencies=[require_scopes(WRITE)],
)
async def send(thread_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(MessageParams, await read_params(request))
    sent = await messages.send_message(
        services,
        viewer.account_id,
        record_id(thread_id),
        params.text,
        _ids(params.media_ids, "media_ids"),
        None if params.status_id is None else id_param(params.status_id, "status_id"),
        None if params.account_id is None else id_param(params.account_id, "account_id"),
        publishes=True,
    )
    # The answer and every open stream's copy are one rendering of what the send wrote.
    body = message_entity(services, sent.message, viewer.account_id)
    if sent.streamed:
        await publish_sent(services, sent, body)
    return OrjsonResponse(body)


@router.put(
    BASE + "/{thread_id}/messages/{message_id}",
    summary="Edit your message's text (within 15 minutes of sending it)",
    openapi_extra=openapi_body(EditParams),
    dependencies=[require_scopes(WRITE)],
)
async def edit(
    thread_id: str, message_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    params = parse(EditParams, await read_params(request))
    thread, message = record_id(thread_id), record_id(message_id)
    await messages.edit_message(services, viewer.account_id, thread, message, params.text)
    return await _message(services, viewer.account_id, thread, message)


@router.get(
    BASE + "/{thread_id}/messages/{message_id}/history",
    summary="A message's texts, oldest first",
    dependencies=[require_scopes(READ)],
)
async def history(thread_id: str, message_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    found = await queries.message_history(services, viewer.account_id, record_id(thread_id), record_id(message_id))
    return OrjsonResponse([edit_entity(e) for e in found])


@router.delete(
    BASE + "/{thread_id}/messages/{message_id}",
    summary="Unsend your message: gone for everyone",
    dependencies=[require_scopes(WRITE)],
)
async def unsend(thread_id: str, message_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await messages.unsend_message(services, viewer.account_id, record_id(thread_id), record_id(message_id))
    return OrjsonResponse({})


@router.post(
    BASE + "/{thread_id}/messages/{message_id}/hide",
    summary="Delete a message for yourself only",
    dependencies=[require_scopes(WRITE)],
)
async def hide(thread_id: str, message_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await messages.delete_for_me(services, viewer.account_id, record_id(thread_id), record_id(message_id))
    return OrjsonResponse({})


@router.put(
    BASE + "/{thread_id}/messages/{message_id}/reaction",
    summary="React to a message with an emoji (one reaction each)",
    openapi_extra=openapi_body(ReactionParams),
    dependencies=[require_scopes(WRITE)],
)
async def react(
    thread_id: str, message_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    params = parse(ReactionParams, await read_params(request))
    return await _set_reaction(services, viewer.account_id, thread_id, message_id, params.emoji)


@router.delete(
    BASE + "/{thread_id}/messages/{message_id}/reaction",
    summary="Take your reaction back",
    dependencies=[require_scopes(WRITE)],
)
async def unreact(thread_id: str, message_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    return await _set_reaction(services, viewer.account_id, thread_id, message_id, None)


async def _set_reaction(
    services: ServicesDep, viewer_id: int, thread_id: str, message_id: str, emoji: str | None
) -> Response:
    """The viewer's reaction to a message set to ``emoji`` (None: taken back); the message after."""
    thread, message = record_id(thread_id), record_id(message_id)
    await messages.react(services, viewer_id, thread, message, emoji)
    return await _message(services, viewer_id, thread, message)


# --- settings ---------------------------------------------------------------------------


@router.get(
    "/api/v1/lumigram/message_settings",
    summary="Who may start a thread with you",
    dependencies=[require_scopes("read:accounts")],
)
async def get_settings(viewer: CurrentAccount, services: ServicesDep) -> Response:
    return OrjsonResponse({"accept": await messages.get_accept(services, viewer.account_id)})


@router.put(
    "/api/v1/lumigram/message_settings",
    summary=f"Set who may start a thread with you: {', '.join(ACCEPT_CHOICES)}",
    openapi_extra=openapi_body(SettingsParams),
    dependencies=[require_scopes("write:accounts")],
)
async def put_settings(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(SettingsParams, await read_params(request))
    return OrjsonResponse({"accept": await messages.set_accept(services, viewer.account_id, params.accept)})
