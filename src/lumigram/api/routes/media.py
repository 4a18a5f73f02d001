"""Mastodon's media routes: ``POST /api/v2/media`` (and v1), ``GET``/``PUT /api/v1/media/:id``.

Photos are processed during the request and answer 200 with their URLs. Videos answer
202 with ``url: null`` while the worker transcodes them, and ``GET`` answers 206 until
they are ready (200), or 422 with the reason when they were refused, as Mastodon does.
The file's first bytes decide which it is, never its name or declared type.
"""

from __future__ import annotations

import base64
from typing import Annotated

from fastapi import APIRouter, Query, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.datastructures import UploadFile
from starlette.responses import Response

from lumigram.accounts.models import Viewer
from lumigram.api.auth import CurrentAccount, account_with_scopes, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import openapi_body, parse, read_params, record_id, upload
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.media import media_entity
from lumigram.errors import ValidationFailed
from lumigram.posts import attachments
from lumigram.services import Services
from lumigram.uploads import images, previews, videos
from lumigram.uploads import service as uploads
from lumigram.uploads.filters import ADJUSTMENT_RANGES
from lumigram.uploads.models import MediaRecord
from lumigram.uploads.transcode import sniff_video

router = APIRouter(tags=["media"])

WRITE_MEDIA = ("write:media",)


class MediaParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    description: str | None = Field(default=None, max_length=uploads.MAX_DESCRIPTION)
    focus: str | None = Field(default=None, max_length=64)
    # Lumigram's crop (upload only): left,top,width,height as fractions of the upright photo.
    crop: str | None = Field(default=None, max_length=128)
    # Lumigram's photo look (not in Mastodon): a filter name ("normal" for none) and
    # adjustments, each a plain form field; 0 means unchanged. See uploads/filters.py.
    filter: str | None = Field(default=None, max_length=32)
    brightness: int | None = Field(default=None, ge=-100, le=100)
    contrast: int | None = Field(default=None, ge=-100, le=100)
    saturation: int | None = Field(default=None, ge=-100, le=100)
    warmth: int | None = Field(default=None, ge=-100, le=100)
    vignette: int | None = Field(default=None, ge=0, le=100)

    def adjustments(self) -> dict[str, int]:
        """The adjustments the client sent (those it left out are not in the dict)."""
        given = {name: getattr(self, name) for name in ADJUSTMENT_RANGES}
        return {name: value for name, value in given.items() if value is not None}


def _media_id(raw: str) -> int:
    return record_id(raw)


def _focus(value: str | None) -> tuple[float, float]:
    return uploads.parse_focus(value)


@router.post(
    "/api/v2/media",
    summary="Upload a photo or video",
    openapi_extra=openapi_body(MediaParams, files=("file",)),
)
@router.post(
    "/api/v1/media",
    summary="Upload a photo or video (the older route some clients still use)",
    openapi_extra=openapi_body(MediaParams, files=("file",)),
)
async def upload_media(
    request: Request, viewer: Annotated[Viewer, account_with_scopes(*WRITE_MEDIA)], services: ServicesDep
) -> Response:
    raw = await read_params(request)
    params = parse(MediaParams, raw)
    file = upload(raw, "file")
    if file is None:
        raise ValidationFailed.field("file", "ERR_BLANK", "can't be blank")
    record = await receive_upload(services, viewer.account_id, file, params)
    return OrjsonResponse(media_entity(services, record), status_code=202 if record.state == "processing" else 200)


async def receive_upload(services: Services, account_id: int, file: UploadFile, params: MediaParams) -> MediaRecord:
    """Store an uploaded photo (processed now) or video (transcoded by the worker, so
    still ``processing``), told apart by its first bytes; 422 for anything else."""
    head = await file.read(64)
    crop = uploads.parse_crop(params.crop)
    if sniff_video(head) is not None:
        if crop is not None:
            raise ValidationFailed.field("crop", "ERR_INVALID", "can only be set on photos")
        if params.filter not in (None, "normal") or params.adjustments():
            # Looks are rendered on photos only; silently ignoring them would surprise the client.
            raise ValidationFailed.field("filter", "ERR_INVALID", "can only be set on photos")
        # Streamed to the store and transcoded by the worker. Mastodon's v1 route waits for
        # processing; answering 202 there too is what its own v2 does, and clients poll either way.
        return await videos.start_video_upload(services, account_id, file, params.description, _focus(params.focus))
    data = head + await file.read(images.MAX_BYTES + 1 - len(head))
    if len(data) > images.MAX_BYTES:
        raise ValidationFailed.field("file", "ERR_TOO_LARGE", "must be at most 30 MB")
    if not data:
        raise ValidationFailed.field("file", "ERR_BLANK", "is empty")
    if images.sniff(data[:32]) is None:
        raise ValidationFailed.field(
            "file",
            "ERR_UNSUPPORTED",
            "is not a supported photo (JPEG, PNG, WebP, GIF or HEIC) or video (MP4, MOV or WebM)",
        )
    return await uploads.upload_photo(
        services,
        account_id,
        data,
        params.description,
        _focus(params.focus),
        params.filter,
        params.adjustments(),
        crop,
    )


@router.get("/api/v1/media/{media_id}", summary="One of your uploads", dependencies=[require_scopes(*WRITE_MEDIA)])
async def get_media(media_id: str, viewer: CurrentAccount, services: ServicesDep) -> Response:
    record = await uploads.get_media(services, viewer.account_id, _media_id(media_id))
    if record.state == "failed":
        return OrjsonResponse({"error": record.error or "Processing failed"}, status_code=422)
    status = 206 if record.state == "processing" else 200
    return OrjsonResponse(media_entity(services, record), status_code=status)


@router.put(
    "/api/v1/media/{media_id}",
    summary="Set alt text or focus point, or (before posting) the filter and adjustments",
    openapi_extra=openapi_body(MediaParams),
    dependencies=[require_scopes(*WRITE_MEDIA)],
)
async def put_media(media_id: str, request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(MediaParams, await read_params(request))
    if params.crop:
        # The stored master holds only the part kept at upload: a new crop needs the upload.
        raise ValidationFailed.field("crop", "ERR_INVALID", "can only be set when uploading")
    focus = _focus(params.focus) if params.focus else None
    record = await attachments.update_attachment(
        services,
        viewer.account_id,
        _media_id(media_id),
        params.description,
        focus,
        params.filter,
        params.adjustments(),
    )
    return OrjsonResponse(media_entity(services, record))


_PERCENT = Query(ge=-100, le=100)


@router.get(
    "/api/v1/media/{media_id}/previews",
    summary="Small renders of one of your photos under every filter, or one (Lumigram)",
    dependencies=[require_scopes(*WRITE_MEDIA)],
)
async def filter_previews(
    media_id: str,
    viewer: CurrentAccount,
    services: ServicesDep,
    only: Annotated[str | None, Query(alias="filter", max_length=32, description="Only this filter")] = None,
    width: Annotated[
        int, Query(ge=previews.MIN_WIDTH, le=previews.MAX_WIDTH, description="At most 320 for every filter")
    ] = 160,
    brightness: Annotated[int | None, _PERCENT] = None,
    contrast: Annotated[int | None, _PERCENT] = None,
    saturation: Annotated[int | None, _PERCENT] = None,
    warmth: Annotated[int | None, _PERCENT] = None,
    vignette: Annotated[int | None, Query(ge=0, le=100)] = None,
) -> Response:
    given = {"brightness": brightness, "contrast": contrast, "saturation": saturation, "warmth": warmth}
    given["vignette"] = vignette
    rendered = await uploads.filter_previews(
        services,
        viewer.account_id,
        _media_id(media_id),
        width,
        only,
        {name: value for name, value in given.items() if value is not None},
    )
    return OrjsonResponse(
        [
            {
                "filter": preview.filter,
                "description": preview.description,
                "url": "data:image/jpeg;base64," + base64.b64encode(preview.jpeg).decode(),
            }
            for preview in rendered
        ]
    )
