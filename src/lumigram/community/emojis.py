"""Custom emojis: small images the admin adds under a shortcode, for reactions and pickers.

The image is re-encoded as a PNG of at most ``MAX_SIDE`` pixels a side (nothing the
admin's file carried beyond its pixels is kept) and stored content-addressed in the blob
store, so its URL never changes meaning and is served like media.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
import re

from PIL import Image, UnidentifiedImageError
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from lumigram.community.models import Emoji
from lumigram.errors import Problems, ValidationFailed
from lumigram.infra.tables import custom_emojis, utcnow
from lumigram.services import Services

SHORTCODE = re.compile(r"[A-Za-z0-9_]{2,64}")
MAX_BYTES = 256 * 1024
MAX_SIDE = 128
#: The formats accepted as an emoji's source; photos (JPEG) are not emoji material.
SOURCE_FORMATS = ("PNG", "GIF", "WEBP")
KEY_PREFIX = "emoji"


def _as_png(data: bytes) -> bytes:
    """The image as a PNG no larger than MAX_SIDE; ValueError when it is not a usable image."""
    try:
        with Image.open(io.BytesIO(data)) as image:
            if image.format not in SOURCE_FORMATS:
                raise ValueError(f"must be one of {', '.join(SOURCE_FORMATS)}")
            if image.width * image.height > 4096 * 4096:
                raise ValueError("is too large")
            image.seek(0)
            frame = image.convert("RGBA")
    except (UnidentifiedImageError, OSError, Image.DecompressionBombError):
        raise ValueError("is not an image") from None
    frame.thumbnail((MAX_SIDE, MAX_SIDE))
    out = io.BytesIO()
    frame.save(out, format="PNG", optimize=True)
    return out.getvalue()


async def add_emoji(services: Services, shortcode: str, data: bytes, category: str | None = None) -> Emoji:
    """Add an emoji under a new shortcode; ValidationFailed names what was wrong."""
    problems = Problems()
    if not SHORTCODE.fullmatch(shortcode):
        problems.add("shortcode", "ERR_INVALID", "must be 2-64 letters, digits or underscores")
    if len(data) > MAX_BYTES:
        problems.add("image", "ERR_TOO_LARGE", f"must be smaller than {MAX_BYTES // 1024} KB")
    problems.raise_if_any()
    try:
        png = await asyncio.to_thread(_as_png, data)
    except ValueError as exc:
        raise ValidationFailed.field("image", "ERR_INVALID", str(exc)) from None
    key = f"{KEY_PREFIX}/{hashlib.sha256(png).hexdigest()}.png"
    await services.blobs.put(key, png, "image/png")
    category = (category or "").strip() or None
    try:
        async with services.db.begin() as conn:
            await conn.execute(
                custom_emojis.insert().values(
                    shortcode=shortcode, blob_key=key, category=category, visible_in_picker=True, created_at=utcnow()
                )
            )
    except IntegrityError:
        # The stored image stays: content-addressed, it may be another emoji's too.
        raise ValidationFailed.field("shortcode", "ERR_TAKEN", "has already been taken") from None
    return Emoji(shortcode, key, category, True)


async def list_emojis(services: Services) -> list[Emoji]:
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(custom_emojis).order_by(custom_emojis.c.shortcode))).all()
    return [Emoji(row.shortcode, row.blob_key, row.category, row.visible_in_picker) for row in rows]
