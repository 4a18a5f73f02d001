"""Mastodon's MediaAttachment entity, with Lumigram's filter extension."""

from __future__ import annotations

from typing import Any

from lumigram.media_access.service import media_url
from lumigram.services import Services
from lumigram.uploads.filters import ADJUSTMENT_RANGES
from lumigram.uploads.models import MediaRecord

#: The adjustments a photo shows when it was uploaded without any.
_NO_ADJUSTMENTS = dict.fromkeys(ADJUSTMENT_RANGES, 0)


def media_entity(services: Services, record: MediaRecord, not_after: int | None = None) -> dict[str, Any]:
    """Mastodon's MediaAttachment: ``url`` is the largest JPEG, ``preview_url`` the 320 px one;
    for a video, the MP4 and its poster (both null while it is processing). ``not_after``
    bounds the life of signed URLs (``media_access.service.media_url``)."""
    variants = record.variants
    if not variants:
        url = preview = None
    elif record.kind == "video":
        url = media_url(services, variants["video"]["mp4"]["key"], record.private, not_after)
        preview = media_url(services, variants["poster"]["jpeg"]["key"], record.private, not_after)
    else:
        largest = next(iter(variants.values()))["jpeg"]["key"]
        small = variants.get("320", variants.get("150", next(iter(variants.values()))))["jpeg"]["key"]
        url = media_url(services, largest, record.private, not_after)
        preview = media_url(services, small, record.private, not_after)
    extension: dict[str, Any] = {
        "filter": record.filter or "normal",
        "adjustments": {**_NO_ADJUSTMENTS, **record.adjustments},
    }
    if record.kind == "video":
        # The HLS master playlist of a vertical video (what a reel plays), signed like the
        # MP4 when private; the player reaches the rest through the playlists. Null for
        # other videos.
        hls = variants.get("hls")
        extension["hls_url"] = media_url(services, hls["master"]["key"], record.private, not_after) if hls else None
    return {
        "id": str(record.id),
        "type": record.kind,
        "url": url,
        "preview_url": preview,
        "remote_url": None,
        "preview_remote_url": None,
        "text_url": None,
        "meta": record.meta,
        "description": record.description,
        "blurhash": record.blurhash,
        # Extension (Mastodon has no filters): the look the variants were rendered with.
        "lumigram": extension,
    }
