"""Uploading media: check, process (in a worker process), store variants, record the row.

Photos are processed while the request waits, in a process pool so the event loop
stays free, and answer ready at once (Mastodon's 200 from POST /api/v2/media). Only
re-encoded variants are stored: the upload itself, with whatever metadata it
carried, is never kept.
"""

from __future__ import annotations

import asyncio
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import insert, select, update

from lumigram import ids
from lumigram.bootstrap import Services
from lumigram.delivery.service import forget_privacy
from lumigram.errors import NotFound, ValidationFailed
from lumigram.infra.tables import accounts, media_attachments, utcnow
from lumigram.uploads.images import ImageRejected, ProcessedImage, process_image

MAX_DESCRIPTION = 1500
_EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp"}


@dataclass(frozen=True, slots=True)
class MediaRecord:
    id: int
    account_id: int
    status_id: int | None
    kind: str
    state: str
    description: str | None
    focus_x: float
    focus_y: float
    blurhash: str | None
    private: bool
    variants: dict[str, Any]
    meta: dict[str, Any]
    error: str | None


def parse_focus(value: str | None) -> tuple[float, float]:
    """Mastodon's ``focus=x,y`` with each in [-1, 1]."""
    if value is None or value == "":
        return 0.0, 0.0
    try:
        x_text, y_text = value.split(",")
        x, y = float(x_text), float(y_text)
    except ValueError:
        raise ValidationFailed.field("focus", "ERR_INVALID", "must be two numbers, x,y") from None
    if not (-1 <= x <= 1 and -1 <= y <= 1):
        raise ValidationFailed.field("focus", "ERR_INVALID", "must be within -1..1 on both axes")
    return x, y


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ValidationFailed.field("description", "ERR_TOO_LONG", f"is too long (at most {MAX_DESCRIPTION})")
    return description


def _record(row: Any) -> MediaRecord:
    return MediaRecord(
        id=row.id, account_id=row.account_id, status_id=row.status_id, kind=row.kind, state=row.state,
        description=row.description, focus_x=row.focus_x, focus_y=row.focus_y, blurhash=row.blurhash,
        private=row.private, variants=orjson.loads(row.variants), meta=orjson.loads(row.meta), error=row.error,
    )


async def _process(services: Services, data: bytes, focus: tuple[float, float]) -> ProcessedImage:
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(services.cpu_pool(), process_image, data, *focus)
    except ImageRejected as exc:
        reason = str(exc)
        raise ValidationFailed(reason, {"file": [{"error": "ERR_UNPROCESSABLE", "description": reason}]}) from None


async def upload_photo(
    services: Services, account_id: int, data: bytes, description: str | None, focus: tuple[float, float]
) -> MediaRecord:
    """Process and store a photo; ValidationFailed (422) with the reason when it is refused."""
    description = _check_description(description)
    processed = await _process(services, data, focus)
    async with services.db.connect() as conn:
        locked = (await conn.execute(select(accounts.c.locked).where(accounts.c.id == account_id))).scalar_one()
    media_id = services.ids.next_id(ids.shard_of(account_id))
    variants: dict[str, dict[str, dict[str, Any]]] = {}
    for variant in processed.variants:
        digest = hashlib.sha256(variant.data).hexdigest()[:16]
        key = f"media/{media_id}/{variant.name}-{digest}.{_EXTENSIONS[variant.content_type]}"
        await services.blobs.put(key, variant.data, variant.content_type)
        variants.setdefault(variant.name, {})[variant.content_type.removeprefix("image/")] = {
            "key": key, "width": variant.width, "height": variant.height, "size": len(variant.data),
        }
    meta = {
        "original": _dimensions(processed.width, processed.height),
        "focus": {"x": focus[0], "y": focus[1]},
    }
    largest = next(iter(variants.values()))["jpeg"]
    meta["large"] = _dimensions(largest["width"], largest["height"])
    small = variants.get("320", variants.get("150", next(iter(variants.values()))))["jpeg"]
    meta["small"] = _dimensions(small["width"], small["height"])
    now = utcnow()
    async with services.db.begin() as conn:
        await conn.execute(
            insert(media_attachments).values(
                id=media_id, account_id=account_id, kind="image", state="ready", content_type="image/jpeg",
                size=len(data), sha256=hashlib.sha256(data).hexdigest(), variants=orjson.dumps(variants).decode(),
                meta=orjson.dumps(meta).decode(), description=description, focus_x=focus[0], focus_y=focus[1],
                private=bool(locked), created_at=now, processed_at=now,
            )
        )
    return await get_media(services, account_id, media_id)


def _dimensions(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": round(width / height, 4)}


async def get_media(services: Services, account_id: int, media_id: int) -> MediaRecord:
    """The caller's own media; NotFound for anyone else's."""
    async with services.db.connect() as conn:
        row = (
            await conn.execute(
                select(media_attachments).where(
                    media_attachments.c.id == media_id, media_attachments.c.account_id == account_id
                )
            )
        ).first()
    if row is None:
        raise NotFound()
    return _record(row)


async def update_media(
    services: Services, account_id: int, media_id: int, description: str | None, focus: tuple[float, float] | None
) -> MediaRecord:
    """Alt text and focus point (PUT /api/v1/media/:id)."""
    record = await get_media(services, account_id, media_id)
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = _check_description(description)
    if focus is not None:
        changes["focus_x"], changes["focus_y"] = focus
        meta = dict(record.meta)
        meta["focus"] = {"x": focus[0], "y": focus[1]}
        changes["meta"] = orjson.dumps(meta).decode()
    if changes:
        async with services.db.begin() as conn:
            await conn.execute(update(media_attachments).where(media_attachments.c.id == media_id).values(**changes))
        await forget_privacy(services, media_id)
    return await get_media(services, account_id, media_id)
