"""Editing a photo that may already be attached to a post.

An upload's alt text and focus point can change after it is posted (only its filter
cannot), and a post keeps its attachments among its cached parts (``lumigram.posts.parts``).
Uploads sit below posts and know nothing of that cache, so the edit goes through here:
the upload's own command, then the post's parts dropped once it has committed.
"""

from __future__ import annotations

from collections.abc import Mapping

from lumigram.posts import parts
from lumigram.services import Services
from lumigram.uploads import service as uploads
from lumigram.uploads.models import MediaRecord


async def update_attachment(
    services: Services,
    account_id: int,
    media_id: int,
    description: str | None,
    focus: tuple[float, float] | None,
    filter_name: str | None = None,
    adjustments: Mapping[str, object] | None = None,
) -> MediaRecord:
    """``uploads.update_media``, then the parts of the post it is in (if any) forgotten."""
    record = await uploads.update_media(services, account_id, media_id, description, focus, filter_name, adjustments)
    if record.status_id is not None:
        await parts.forget(services, record.status_id)
    return record
