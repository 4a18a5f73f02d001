"""Mastodon's notification routes: the list (v1), grouped notifications (v2, Mastodon 4.3),
one notification, dismiss, clear and the unread counts.

Lumigram adds two types where Mastodon has none: ``lumigram.comment`` (someone commented
on your post without naming you) and ``lumigram.direct`` (a direct message to you).
Clients that ask for ``types[]`` they know never see them; clients that ask for
everything get them with the post attached.
"""

from __future__ import annotations

import dataclasses
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Depends, Query
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.pagination import cursor
from lumigram.api.params import record_id
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.notifications import cached_account, grouped_body, notification_entity
from lumigram.filters import service as hidden_words
from lumigram.notifications import grouping, service
from lumigram.notifications.models import DEFAULT_LIMIT, GROUPABLE, MAX_LIMIT, TYPES, Filter, Notification
from lumigram.paging import CURSORS, PageRequest
from lumigram.services import Services

router = APIRouter(tags=["notifications"])

READ = ("read:notifications",)
WRITE = ("write:notifications",)
#: The unread counts count at most this many, 100 unless asked (Mastodon's caps).
UNREAD_DEFAULT = 100
UNREAD_MAX = 1000

ListParam = Annotated[list[str], Query()]


async def notifications_page(
    max_id: Annotated[str | None, Query(max_length=40)] = None,
    since_id: Annotated[str | None, Query(max_length=40)] = None,
    min_id: Annotated[str | None, Query(max_length=40)] = None,
    limit: Annotated[int, Query(description=f"At most {MAX_LIMIT}")] = DEFAULT_LIMIT,
) -> PageRequest:
    """Mastodon's notifications paging: 40 by default, at most 80."""
    return PageRequest(
        cursor("max_id", max_id),
        cursor("since_id", since_id),
        cursor("min_id", min_id),
        max(1, min(limit, MAX_LIMIT)),
    )


NotificationsPage = Annotated[PageRequest, Depends(notifications_page)]


async def notification_filter(
    types: Annotated[list[str], Query(alias="types[]", max_length=20)] = [],  # noqa: B006 (FastAPI copies defaults)
    plain_types: Annotated[list[str], Query(alias="types", max_length=20)] = [],  # noqa: B006
    exclude_types: Annotated[list[str], Query(alias="exclude_types[]", max_length=20)] = [],  # noqa: B006
    plain_exclude: Annotated[list[str], Query(alias="exclude_types", max_length=20)] = [],  # noqa: B006
    account_id: Annotated[str | None, Query(max_length=40)] = None,
) -> Filter:
    """``types[]`` (only these), ``exclude_types[]`` (not these), ``account_id`` (only from them)."""
    wanted = [*types, *plain_types]
    # Only known types reach the query: an unknown one matches nothing anyway, and text
    # PostgreSQL cannot hold (a NUL byte) would otherwise fail the whole request.
    return Filter(
        types=frozenset(t for t in wanted if t in TYPES) if wanted else None,
        exclude_types=frozenset(t for t in [*exclude_types, *plain_exclude] if t in TYPES),
        account_id=cursor("account_id", account_id),
    )


NotificationFilter = Annotated[Filter, Depends(notification_filter)]


async def grouped_types_param(
    grouped: Annotated[list[str], Query(alias="grouped_types[]", max_length=20)] = [],  # noqa: B006
    plain: Annotated[list[str], Query(alias="grouped_types", max_length=20)] = [],  # noqa: B006
) -> frozenset[str]:
    """Which groupable types to group (Mastodon's ``grouped_types[]``; default all)."""
    given = [*grouped, *plain]
    return frozenset(t for t in given if t in GROUPABLE) if given else frozenset(GROUPABLE)


GroupedTypes = Annotated[frozenset[str], Depends(grouped_types_param)]


def _links(request: Request, services: Services, newest: int | None, oldest: int | None, more: bool) -> dict[str, str]:
    """``Link``: next (older, while there may be more) and prev (newer), from the ids read."""
    if newest is None or oldest is None:
        return {}
    kept = [(k, v) for k, v in request.query_params.multi_items() if k not in CURSORS]
    base = f"{services.settings.base_url}{request.url.path}"
    links = []
    if more:
        links.append(f'<{base}?{urlencode([*kept, ("max_id", str(oldest))])}>; rel="next"')
    links.append(f'<{base}?{urlencode([*kept, ("min_id", str(newest))])}>; rel="prev"')
    return {"Link": ", ".join(links)}


def _notification_id(raw: str) -> int:
    """A path id; anything that cannot be one is simply not found."""
    return record_id(raw)


def _judged(judge: hidden_words.Applied, items: list[Notification]) -> list[Notification]:
    """Notifications as the viewer's hidden words leave them: one about a post a ``hide``
    filter takes out is left out (the page's cursors still move past it)."""
    if not judge:
        return items
    shown = []
    for item in items:
        if item.status is None:
            shown.append(item)
            continue
        judged = judge.judge(item.status)
        if judged is not None:
            shown.append(dataclasses.replace(item, status=judged))
    return shown


def _unread_limit(limit: int) -> int:
    return max(1, min(limit, UNREAD_MAX))


@router.get("/api/v1/notifications", summary="Your notifications, newest first", dependencies=[require_scopes(*READ)])
async def list_notifications(
    request: Request, viewer: CurrentAccount, services: ServicesDep, page: NotificationsPage, flt: NotificationFilter
) -> Response:
    result = await service.list_notifications(services, viewer.account_id, page, flt)
    judge = await hidden_words.applied(services, viewer.account_id, "notifications")
    cache: dict[int, dict[str, Any]] = {}
    body = [notification_entity(services, item, viewer.account_id, cache) for item in _judged(judge, result.items)]
    return OrjsonResponse(body, headers=_links(request, services, result.newest_id, result.oldest_id, result.more))


@router.get(
    "/api/v1/notifications/unread_count",
    summary="How many notifications are newer than your notifications marker",
    dependencies=[require_scopes(*READ)],
)
async def unread_count(
    viewer: CurrentAccount, services: ServicesDep, flt: NotificationFilter, limit: int = UNREAD_DEFAULT
) -> Response:
    count = await service.unread_count(services, viewer.account_id, flt, _unread_limit(limit))
    return OrjsonResponse({"count": count})


@router.post(
    "/api/v1/notifications/clear", summary="Dismiss all your notifications", dependencies=[require_scopes(*WRITE)]
)
async def clear_notifications(viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.clear(services, viewer.account_id)
    return OrjsonResponse({})


# ``:id`` so that a path like ``/notifications/clear`` is never taken for a notification.
@router.get(
    "/api/v1/notifications/{notification_id:id}", summary="One notification", dependencies=[require_scopes(*READ)]
)
async def get_notification(notification_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    item = await service.get_notification(services, viewer.account_id, _notification_id(notification_id))
    return OrjsonResponse(notification_entity(services, item, viewer.account_id))


@router.post(
    "/api/v1/notifications/{notification_id}/dismiss",
    summary="Dismiss one notification",
    dependencies=[require_scopes(*WRITE)],
)
async def dismiss_notification(notification_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.dismiss(services, viewer.account_id, _notification_id(notification_id))
    return OrjsonResponse({})


@router.get(
    "/api/v2/notifications",
    summary="Your notifications, grouped (alice and 12 others liked your post)",
    dependencies=[require_scopes(*READ)],
)
async def grouped_notifications(
    request: Request,
    viewer: CurrentAccount,
    services: ServicesDep,
    page: NotificationsPage,
    flt: NotificationFilter,
    grouped_types: GroupedTypes,
) -> Response:
    result = await grouping.grouped_page(services, viewer.account_id, page, flt, grouped_types)
    body = grouped_body(services, result.groups, viewer.account_id)
    return OrjsonResponse(body, headers=_links(request, services, result.newest_id, result.oldest_id, result.more))


@router.get(
    "/api/v2/notifications/unread_count",
    summary="How many notification groups are newer than your notifications marker",
    dependencies=[require_scopes(*READ)],
)
async def unread_group_count(
    viewer: CurrentAccount,
    services: ServicesDep,
    flt: NotificationFilter,
    grouped_types: GroupedTypes,
    limit: int = UNREAD_DEFAULT,
) -> Response:
    count = await grouping.unread_group_count(services, viewer.account_id, flt, _unread_limit(limit), grouped_types)
    return OrjsonResponse({"count": count})


@router.get("/api/v2/notifications/{group_key}", summary="One notification group", dependencies=[require_scopes(*READ)])
async def get_group(group_key: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    group = await grouping.get_group(services, viewer.account_id, group_key)
    return OrjsonResponse(grouped_body(services, [group], viewer.account_id))


@router.get(
    "/api/v2/notifications/{group_key}/accounts",
    summary="Every account behind a notification group, newest first",
    dependencies=[require_scopes(*READ)],
)
async def group_accounts(
    group_key: str, request: Request, viewer: CurrentAccount, services: ServicesDep, page: NotificationsPage
) -> Response:
    found, ids, more = await grouping.group_accounts(services, viewer.account_id, group_key, page)
    cache: dict[int, dict[str, Any]] = {}
    body = [cached_account(services, account, cache) for account in found]
    newest, oldest = (max(ids), min(ids)) if ids else (None, None)
    return OrjsonResponse(body, headers=_links(request, services, newest, oldest, more))


@router.post(
    "/api/v2/notifications/{group_key}/dismiss",
    summary="Dismiss every notification of a group",
    dependencies=[require_scopes(*WRITE)],
)
async def dismiss_group(group_key: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.dismiss_group(services, viewer.account_id, group_key)
    return OrjsonResponse({})
