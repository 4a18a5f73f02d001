"""The notifications page, grouped as ``/api/v2/notifications`` groups them ("alice and
3 others liked your post"), and the same list as a fragment the page fetches again when
the streaming API announces a new notification, so it stays current without a reload.

Showing the list moves the notifications marker to its newest entry: the unread badge,
here and in every client, starts again from zero.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.deps import ServicesDep
from lumigram.entities.accounts import account_entity
from lumigram.notifications import grouping, markers
from lumigram.notifications.models import Group
from lumigram.paging import PageRequest
from lumigram.services import Services
from lumigram.web.app_pages import _render, _sign_in_redirect, templates
from lumigram.web.csp import page_headers
from lumigram.web.views import post_views
from lumigram.web.visit import current_visit

router = APIRouter(include_in_schema=False)

#: Groups on the page.
GROUPS_SHOWN = 40
#: Avatars stacked on a group.
AVATARS_SHOWN = 3

#: What the people of a group did, by notification type.
_DID = {
    "favourite": "liked your post.",
    "reblog": "reposted your post.",
    "follow": "started following you.",
    "follow_request": "asked to follow you.",
    "lumigram.comment": "commented:",
    "mention": "mentioned you:",
    "lumigram.direct": "sent you a message.",
    "status": "posted something new.",
    "poll": "made a poll that has ended.",
    "update": "edited a post.",
}
#: Types whose sentence ends with the post's words.
_QUOTED = frozenset({"lumigram.comment", "mention"})


def _group_view(services: Services, group: Group, viewer_id: int, post: dict[str, Any] | None) -> dict[str, Any]:
    people = [account_entity(services.settings, account).model_dump(mode="json") for account in group.sample_accounts]
    # The count is of notifications; a group's notifications are one per account.
    others = max(0, group.notifications_count - 1)
    return {
        "key": group.group_key,
        "type": group.type,
        "people": people[:AVATARS_SHOWN],
        "first": people[0] if people else None,
        "second": people[1] if others == 1 and len(people) > 1 else None,
        "others": others if not (others == 1 and len(people) > 1) else 0,
        "did": _DID.get(group.type, "sent you a notification."),
        "quoted": group.type in _QUOTED,
        "at": group.latest_page_notification_at,
        "post": post,
    }


async def _groups(services: Services, viewer_id: int) -> list[dict[str, Any]]:
    """The newest groups, as the template shows them; the marker moves past them."""
    page = await grouping.grouped_page(services, viewer_id, PageRequest(limit=GROUPS_SHOWN))
    shown = [group.status for group in page.groups if group.status is not None]
    views = {view["id"]: view for view in post_views(services, shown, viewer_id)}
    if page.newest_id is not None:
        await markers.save_markers(services, viewer_id, {"notifications": page.newest_id})
    return [
        _group_view(services, group, viewer_id, views.get(str(group.status.post.id)) if group.status else None)
        for group in page.groups
    ]


@router.get("/notifications")
async def notifications_page(request: Request, services: ServicesDep) -> Response:
    visit = await current_visit(request, services)
    if visit.account is None:
        return _sign_in_redirect("/notifications")
    groups = await _groups(services, visit.account.id)
    # Read after the marker moved: the badge of this page starts at zero.
    context = {"title": "Notifications", "nav": "notifications", "groups": groups}
    return await _render(request, services, visit, "app/notifications.html", context)


@router.get("/web/notifications")
async def notifications_fragment(request: Request, services: ServicesDep) -> Response:
    """The grouped list alone, as HTML to put in the open page's place."""
    visit = await current_visit(request, services)
    headers = page_headers(services.settings)
    if visit.account is None:
        return Response("", status_code=401, headers=headers)
    groups = await _groups(services, visit.account.id)
    context = {"groups": groups}
    return templates.TemplateResponse(request, "app/_notification_groups.html", context, headers=headers)
