"""``POST /api/v1/statuses/:id/translate``, answered as Mastodon answers it when no
translation service is configured: 404 ``Record not found`` (after the same visibility
check as any read of the post, so the answer reveals nothing either way). Instances
advertise ``configuration.translation.enabled: false`` so clients hide the button.
"""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import record_id
from lumigram.errors import NotFound
from lumigram.posts.service import get_post

router = APIRouter(tags=["statuses"])


@router.post(
    "/api/v1/statuses/{status_id}/translate",
    summary="Translate a post (no translation service is configured: always 404)",
    responses={404: {"description": "No translation service is configured, or the post is not visible"}},
    dependencies=[require_scopes("read:statuses")],
)
async def translate(status_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    await get_post(services, viewer.account_id, record_id(status_id))
    raise NotFound()
