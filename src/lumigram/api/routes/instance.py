"""``GET /api/v1/instance`` and ``/api/v2/instance``: what clients read first.

The version string claims Mastodon compatibility (``4.3.0 (compatible; Lumigram x)``)
so clients enable the features we implement, as Pixelfed and GoToSocial do.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from starlette.responses import Response

from lumigram import MASTODON_API_VERSION, __version__
from lumigram import instance as info
from lumigram.api.deps import ServicesDep
from lumigram.api.responses import OrjsonResponse
from lumigram.api.routes.community import rules_body
from lumigram.polls import models as polls
from lumigram.push.keys import vapid_keys
from lumigram.services import Services

router = APIRouter(tags=["instance"])

VERSION = f"{MASTODON_API_VERSION} (compatible; Lumigram {__version__})"


def _streaming_url(services: Services) -> str:
    base = services.settings.base_url
    return (
        "wss://" + base.removeprefix("https://")
        if base.startswith("https://")
        else "ws://" + base.removeprefix("http://")
    )


def _configuration() -> dict[str, Any]:
    return {
        "statuses": {
            "max_characters": info.MAX_CAPTION_CHARS,
            "max_media_attachments": info.MAX_MEDIA_ATTACHMENTS,
            "characters_reserved_per_url": 23,
        },
        "media_attachments": {
            "supported_mime_types": list(info.SUPPORTED_MIME_TYPES),
            "image_size_limit": info.MAX_IMAGE_BYTES,
            "image_matrix_limit": info.MAX_IMAGE_PIXELS,
            "video_size_limit": info.MAX_VIDEO_BYTES,
            "video_frame_rate_limit": info.MAX_VIDEO_FPS,
            "video_matrix_limit": info.MAX_VIDEO_PIXELS,
            # Extensions: longer uploads are refused (a reel may be this long, a post's
            # video the second), and photos may be given these filters.
            "video_duration_limit": info.MAX_VIDEO_SECONDS,
            "post_video_duration_limit": info.MAX_POST_VIDEO_SECONDS,
            "photo_filters": list(info.PHOTO_FILTERS),
        },
        "polls": {
            "max_options": polls.MAX_OPTIONS,
            "max_characters_per_option": polls.MAX_CHARACTERS_PER_OPTION,
            "min_expiration": polls.MIN_EXPIRATION,
            "max_expiration": polls.MAX_EXPIRATION,
        },
        "accounts": {"max_featured_tags": 10, "max_pinned_statuses": info.MAX_PINNED_STATUSES},
    }


@router.get("/api/v1/instance", summary="Server information (v1)")
async def instance_v1(services: ServicesDep) -> Response:
    settings = services.settings
    stats = await info.instance_stats(services)
    body = {
        "uri": settings.domain,
        "title": settings.instance_title,
        "short_description": settings.instance_description,
        "description": settings.instance_description,
        "email": settings.contact_email,
        "version": VERSION,
        "urls": {"streaming_api": _streaming_url(services)},
        "stats": {"user_count": stats.user_count, "status_count": stats.status_count, "domain_count": 0},
        "thumbnail": f"{settings.base_url}/static/thumbnail.png",
        "languages": ["en"],
        "registrations": settings.registrations_open,
        "approval_required": False,
        "invites_enabled": False,
        "configuration": _configuration(),
        "contact_account": None,
        "rules": await rules_body(services),
    }
    return OrjsonResponse(body)


@router.get("/api/v2/instance", summary="Server information (v2)")
async def instance_v2(services: ServicesDep) -> Response:
    settings = services.settings
    stats = await info.instance_stats(services)
    configuration = _configuration()
    configuration["urls"] = {"streaming": _streaming_url(services), "status": None}
    configuration["vapid"] = {"public_key": vapid_keys(settings).public_key}
    configuration["translation"] = {"enabled": False}
    body = {
        "domain": settings.domain,
        "title": settings.instance_title,
        "version": VERSION,
        "source_url": "https://github.com/lumigram/lumigram",
        "description": settings.instance_description,
        "usage": {"users": {"active_month": stats.active_month}},
        "thumbnail": {"url": f"{settings.base_url}/static/thumbnail.png"},
        "languages": ["en"],
        "configuration": configuration,
        "registrations": {"enabled": settings.registrations_open, "approval_required": False, "message": None},
        "api_versions": {"mastodon": 2},
        "contact": {"email": settings.contact_email, "account": None},
        "rules": await rules_body(services),
    }
    return OrjsonResponse(body)
