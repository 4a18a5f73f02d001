"""Mastodon's follow-graph routes: follow, block, mute and their lists.

* Every write answers with the Relationship, as Mastodon does, and is idempotent.
* Followers/following of a private (locked) account are shown only to the account and
  its approved followers; anyone else gets ``200 []`` (what Mastodon answers for a hidden
  network), so a client cannot tell a hidden list from an empty one. The same holds when
  the account blocks the viewer.
* ``/api/v1/follow_requests/:id/...`` take the requesting account's id, as in Mastodon.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts.models import Account as AccountRecord
from lumigram.accounts.models import Viewer
from lumigram.accounts.ratelimits import hit_limits
from lumigram.api.auth import CurrentAccount, OptionalAccount, account_with_scopes, require_scopes, scopes_if_token
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import PageParams, link_header
from lumigram.api.params import openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import Account, account_entity
from lumigram.graph import service
from lumigram.graph.models import Relationship as RelationshipRecord
from lumigram.graph.service import MAX_MUTE_SECONDS
from lumigram.paging import Page
from lumigram.services import Services

router = APIRouter(tags=["relationships"])

WRITE_FOLLOWS = ("write:follows",)
READ_FOLLOWS = ("read:follows",)
MAX_IDS = 40


class Relationship(BaseModel):
    id: str
    following: bool
    showing_reblogs: bool
    notifying: bool
    languages: list[str] | None = None
    followed_by: bool
    blocking: bool
    blocked_by: bool
    muting: bool
    muting_notifications: bool
    requested: bool
    requested_by: bool
    domain_blocking: bool
    endorsed: bool
    note: str


class MutedAccount(Account):
    mute_expires_at: str | None = None


class FollowParams(BaseModel):
    reblogs: bool | None = Field(default=None, description="Show this account's boosts in the home feed")
    notify: bool | None = Field(default=None, description="Be notified when this account posts")
    languages: list[str] | None = None


class MuteParams(BaseModel):
    notifications: bool = Field(default=True, description="Also mute notifications from this account")
    duration: int = Field(default=0, ge=0, le=MAX_MUTE_SECONDS, description="Seconds; 0 mutes until unmuted")


def relationship_entity(record: RelationshipRecord) -> dict[str, Any]:
    return Relationship(
        id=str(record.id),
        following=record.following,
        showing_reblogs=record.showing_reblogs,
        notifying=record.notifying,
        followed_by=record.followed_by,
        blocking=record.blocking,
        blocked_by=record.blocked_by,
        muting=record.muting,
        muting_notifications=record.muting_notifications,
        requested=record.requested,
        requested_by=record.requested_by,
        # No federation yet, so no account here is on a blocked domain.
        domain_blocking=False,
        endorsed=record.endorsed,
        note=record.note,
    ).model_dump(mode="json", exclude_none=True)


def _relationship(record: RelationshipRecord) -> Response:
    return OrjsonResponse(relationship_entity(record))


def _account_list(request: Request, services: Services, page: Page[AccountRecord]) -> Response:
    body = [account_entity(services.settings, account).model_dump(mode="json") for account in page.items]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, page))


# --- writes ------------------------------------------------------------------------

FOLLOW_WINDOW = 24 * 3600


#: A graph service change that takes only the viewer and the other account.
PlainChange = Callable[[Services, int, int], Awaitable[RelationshipRecord]]


def _plain_route(name: str, path: str, summary: str, scopes: Sequence[str], change: PlainChange) -> None:
    """A write with no body: ``change`` between the viewer and the account in ``path``,
    answered with the Relationship after it. ``name`` is what the operation is called."""

    # One dependency for the caller, as the follow has: FastAPI resolves five for the pair
    # of CurrentAccount and require_scopes. A default, not an Annotated hint: the hint
    # would be a string naming this closure's ``scopes``, which FastAPI cannot resolve.
    caller = account_with_scopes(*scopes)

    async def endpoint(account_id: int, services: ServicesDep, viewer: Viewer = caller) -> Response:
        return _relationship(await change(services, viewer.account_id, account_id))

    router.add_api_route(path, endpoint, methods=["POST"], name=name, summary=summary, response_model=Relationship)


@router.post(
    "/api/v1/accounts/{account_id:int}/follow",
    summary="Follow an account (a follow request when it is locked)",
    response_model=Relationship,
    openapi_extra=openapi_body(FollowParams),
)
async def follow(
    account_id: int,
    request: Request,
    # One dependency for the caller, not five: a follow is among the busiest writes.
    viewer: Annotated[Viewer, account_with_scopes(*WRITE_FOLLOWS)],
    services: ServicesDep,
) -> Response:
    params = parse(FollowParams, await read_params(request))
    # Mass-following is the first tool of spam; a day's allowance is plenty for people.
    await hit_limits(services, [f"follow:{viewer.account_id}"], services.settings.follow_rate_limit, FOLLOW_WINDOW)
    record = await service.follow(services, viewer.account_id, account_id, reblogs=params.reblogs, notify=params.notify)
    return _relationship(record)


_plain_route(
    "unfollow",
    "/api/v1/accounts/{account_id:int}/unfollow",
    "Unfollow an account, or withdraw a pending follow request",
    WRITE_FOLLOWS,
    service.unfollow,
)
_plain_route(
    "remove_from_followers",
    "/api/v1/accounts/{account_id:int}/remove_from_followers",
    "Make an account stop following you",
    WRITE_FOLLOWS,
    service.remove_from_followers,
)
_plain_route(
    "block",
    "/api/v1/accounts/{account_id:int}/block",
    "Block an account (ends follows both ways)",
    ["write:blocks"],
    service.block,
)
_plain_route(
    "unblock", "/api/v1/accounts/{account_id:int}/unblock", "Unblock an account", ["write:blocks"], service.unblock
)


@router.post(
    "/api/v1/accounts/{account_id:int}/mute",
    summary="Mute an account, optionally for a while",
    response_model=Relationship,
    openapi_extra=openapi_body(MuteParams),
    dependencies=[require_scopes("write:mutes")],
)
async def mute(account_id: int, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(MuteParams, await read_params(request))
    record = await service.mute(
        services, viewer.account_id, account_id, notifications=params.notifications, duration=params.duration
    )
    return _relationship(record)


_plain_route("unmute", "/api/v1/accounts/{account_id:int}/unmute", "Unmute an account", ["write:mutes"], service.unmute)
_plain_route(
    "authorize",
    "/api/v1/follow_requests/{account_id:int}/authorize",
    "Accept an account's follow request",
    WRITE_FOLLOWS,
    service.authorize_follow_request,
)
_plain_route(
    "reject",
    "/api/v1/follow_requests/{account_id:int}/reject",
    "Turn down an account's follow request",
    WRITE_FOLLOWS,
    service.reject_follow_request,
)


# --- reads ---------------------------------------------------------------------------


def _ids(values: Sequence[str]) -> list[int]:
    # Unparseable ids are skipped, as unknown ones are: the answer covers the accounts found.
    return [int(v) for v in values[:MAX_IDS] if v.isascii() and v.isdigit() and len(v) <= 19]


@router.get(
    "/api/v1/accounts/relationships",
    summary="How you relate to the given accounts",
    response_model=list[Relationship],
    dependencies=[require_scopes(*READ_FOLLOWS)],
)
async def relationships(
    viewer: CurrentAccount,
    services: ServicesDep,
    ids: Annotated[list[str], Query(alias="id[]")] = [],  # noqa: B006 (FastAPI copies defaults)
    plain_ids: Annotated[list[str], Query(alias="id")] = [],  # noqa: B006
) -> Response:
    records = await service.relationships(services, viewer.account_id, _ids([*ids, *plain_ids]))
    return OrjsonResponse([relationship_entity(record) for record in records])


@router.get(
    "/api/v1/accounts/{account_id:int}/followers",
    summary="Who follows an account, newest first (empty when the account hides its network)",
    response_model=list[Account],
    dependencies=[scopes_if_token("read:accounts")],
)
async def followers(
    account_id: int, request: Request, page: PageParams, viewer: OptionalAccount, services: ServicesDep
) -> Response:
    viewer_id = viewer.account_id if viewer is not None else None
    return _account_list(request, services, await service.list_followers(services, account_id, viewer_id, page))


@router.get(
    "/api/v1/accounts/{account_id:int}/following",
    summary="Whom an account follows, newest first (empty when the account hides its network)",
    response_model=list[Account],
    dependencies=[scopes_if_token("read:accounts")],
)
async def following(
    account_id: int, request: Request, page: PageParams, viewer: OptionalAccount, services: ServicesDep
) -> Response:
    viewer_id = viewer.account_id if viewer is not None else None
    return _account_list(request, services, await service.list_following(services, account_id, viewer_id, page))


@router.get(
    "/api/v1/follow_requests",
    summary="Accounts waiting for you to answer their follow request",
    response_model=list[Account],
    dependencies=[require_scopes(*READ_FOLLOWS)],
)
async def follow_requests(
    request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep
) -> Response:
    return _account_list(request, services, await service.list_follow_requests(services, viewer.account_id, page))


@router.get(
    "/api/v1/blocks",
    summary="Accounts you block",
    response_model=list[Account],
    dependencies=[require_scopes("read:blocks")],
)
async def blocks(request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep) -> Response:
    return _account_list(request, services, await service.list_blocks(services, viewer.account_id, page))


@router.get(
    "/api/v1/mutes",
    summary="Accounts you mute, each with mute_expires_at",
    response_model=list[MutedAccount],
    dependencies=[require_scopes("read:mutes")],
)
async def mutes(request: Request, page: PageParams, viewer: CurrentAccount, services: ServicesDep) -> Response:
    listed = await service.list_mutes(services, viewer.account_id, page)
    body = [
        {
            **account_entity(services.settings, entry.account).model_dump(mode="json"),
            "mute_expires_at": entry.expires_at.isoformat().replace("+00:00", "Z") if entry.expires_at else None,
        }
        for entry in listed.items
    ]
    return OrjsonResponse(body, headers=link_header(request, services.settings.base_url, listed))
