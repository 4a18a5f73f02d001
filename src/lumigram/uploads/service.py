"""Uploading media: check, process (in a worker process), store variants, record the row.

Photos are processed while the request waits, off the event loop, and answer ready at
once (Mastodon's 200 from POST /api/v2/media): a small one (at most ``SMALL_PIXELS``)
on a thread of this process, a larger one in the process pool. Only
re-encoded variants are stored: the upload itself, with whatever metadata it
carried, is never kept. Beside them lies the unfiltered 1080 px master JPEG (the row's
``original_key``, never served), from which a change of filter re-renders the variants
until the photo is posted.
"""

from __future__ import annotations

import asyncio
import hashlib
import io
from collections.abc import Mapping, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, NoReturn

import orjson
from PIL import Image
from sqlalchemy import Insert, bindparam, func, insert, select, update

from lumigram import ids
from lumigram.errors import Conflict, NotFound, ValidationFailed
from lumigram.infra.sql import Prebuilt
from lumigram.infra.tables import accounts, media_attachments, utcnow
from lumigram.media_access.service import MASTER_PREFIX, forget_privacy
from lumigram.services import Services
from lumigram.uploads import filters, previews
from lumigram.uploads.images import (
    Crop,
    ImageRejected,
    ProcessedImage,
    Variant,
    process_image,
    rerender,
    sniff,
)
from lumigram.uploads.models import MediaRecord, media_record
from lumigram.uploads.story_frames import NAME as STORY_FRAME
from lumigram.uploads.story_frames import story_frame

MAX_DESCRIPTION = 1500
_CROP_SLACK = 1e-3
_EXTENSIONS = {"image/jpeg": "jpg", "image/webp": "webp"}


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


def parse_crop(value: str | None) -> Crop | None:
    """Lumigram's ``crop=left,top,width,height``: fractions of the upright photo, inside it."""
    if value is None or value == "":
        return None
    try:
        left, top, width, height = (float(part) for part in value.split(","))
    except ValueError:
        raise ValidationFailed.field("crop", "ERR_INVALID", "must be four numbers: left,top,width,height") from None
    inside = 0 <= left < 1 and 0 <= top < 1 and 0 < width <= 1 and 0 < height <= 1
    # A little slack for the rounding of fractions a browser computed.
    if not inside or left + width > 1 + _CROP_SLACK or top + height > 1 + _CROP_SLACK:
        raise ValidationFailed.field("crop", "ERR_INVALID", "must lie within the photo (fractions from 0 to 1)")
    return left, top, min(width, 1 - left), min(height, 1 - top)


def _check_description(description: str | None) -> str | None:
    if description is not None and len(description) > MAX_DESCRIPTION:
        raise ValidationFailed.field("description", "ERR_TOO_LONG", f"is too long (at most {MAX_DESCRIPTION})")
    return description


#: Photos of at most this many pixels (by their header) are processed on a thread of the
#: serving process: a 1 MP photo takes some tens of milliseconds, mostly in Pillow's C
#: code, which lets go of the GIL, and a trip to the process pool cost more than that
#: for the small photos most uploads are (bench/write_profile.py). Larger ones, whose
#: pure-Python share would hold the event loop for longer, go to the pool.
SMALL_PIXELS = 1_000_000
_SMALL_THREADS = 2
_threads: ThreadPoolExecutor | None = None


def _small_photo_threads() -> ThreadPoolExecutor:
    global _threads
    if _threads is None:
        _threads = ThreadPoolExecutor(max_workers=_SMALL_THREADS, thread_name_prefix="small-photos")
    return _threads


def _header_pixels(data: bytes) -> int | None:
    """Width × height from the image's header (no pixel decoded), or None when the header
    cannot be read: the pool's full check then says what is wrong with the file."""
    if sniff(data[:32]) not in ("image/jpeg", "image/png", "image/webp", "image/gif"):
        return None
    # No ``warnings.catch_warnings`` here: it swaps the process's filters, which the photo
    # threads' own checks swap too. A photo past Pillow's bomb threshold warns (once) and
    # goes to the pool, whose check refuses it.
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
    except Exception:  # anything unreadable is the full check's to refuse, in its words
        return None
    return width * height


def _executor_for(services: Services, data: bytes) -> Executor:
    pixels = _header_pixels(data)
    if pixels is not None and pixels <= SMALL_PIXELS:
        return _small_photo_threads()
    return services.cpu_pool()


async def _process(
    services: Services,
    data: bytes,
    focus: tuple[float, float],
    look: tuple[str | None, dict[str, int]],
    crop: Crop | None,
) -> ProcessedImage:
    loop = asyncio.get_running_loop()
    try:
        return await loop.run_in_executor(_executor_for(services, data), process_image, data, *focus, *look, crop)
    except ImageRejected as exc:
        reason = str(exc)
        raise ValidationFailed(reason, {"file": [{"error": "ERR_UNPROCESSABLE", "description": reason}]}) from None


def variant_blobs(
    media_id: int, made: Sequence[Variant]
) -> tuple[list[tuple[str, bytes, str]], dict[str, dict[str, dict[str, Any]]]]:
    """Each variant's blob under its content-addressed key, and the variants document for
    the row that names them."""
    variants: dict[str, dict[str, dict[str, Any]]] = {}
    puts = []
    for variant in made:
        digest = hashlib.sha256(variant.data).hexdigest()[:16]
        key = f"media/{media_id}/{variant.name}-{digest}.{_EXTENSIONS[variant.content_type]}"
        puts.append((key, variant.data, variant.content_type))
        variants.setdefault(variant.name, {})[variant.content_type.removeprefix("image/")] = {
            "key": key,
            "width": variant.width,
            "height": variant.height,
            "size": len(variant.data),
        }
    return puts, variants


async def _store_variants(
    services: Services, media_id: int, made: Sequence[Variant], master: tuple[str, bytes] | None = None
) -> dict[str, dict[str, dict[str, Any]]]:
    """Put every variant under its content-addressed key (and ``master``'s bytes under its
    key); the variants document for the row. The blobs are put in one call
    (``BlobStore.put_many``: side by side on S3, in one hop to a thread in a folder)."""
    puts, variants = variant_blobs(media_id, made)
    if master is not None:
        puts.append((master[0], master[1], "image/jpeg"))
    await services.blobs.put_many(puts)
    return variants


def _variant_keys(variants: dict[str, Any]) -> set[str]:
    return {entry["key"] for formats in variants.values() for entry in formats.values()}


def _adjustments_json(adjustments: dict[str, int]) -> str | None:
    return orjson.dumps(adjustments).decode() if adjustments else None


async def upload_photo(
    services: Services,
    account_id: int,
    data: bytes,
    description: str | None,
    focus: tuple[float, float],
    filter_name: str | None = None,
    adjustments: Mapping[str, object] | None = None,
    crop: Crop | None = None,
) -> MediaRecord:
    """Process and store a photo; ValidationFailed (422) with the reason when it is refused.

    ``crop`` (from ``parse_crop``) is cut before anything else; the master keeps only the
    cropped part, so a crop cannot be changed later without uploading again.
    """
    description = _check_description(description)
    # Checked before any pixel work, so a typo in the filter name costs nothing.
    look = filters.check(filter_name, adjustments)
    processed = await _process(services, data, focus, look, crop)
    media_id = services.ids.next_id(ids.shard_of(account_id))
    master_key = None
    if processed.master is not None:
        master_key = f"media/{media_id}/{MASTER_PREFIX}{hashlib.sha256(processed.master).hexdigest()[:16]}.jpg"
    master = None if master_key is None or processed.master is None else (master_key, processed.master)
    variants = await _store_variants(services, media_id, processed.variants, master)
    meta = {
        "original": _dimensions(processed.width, processed.height),
        "focus": {"x": focus[0], "y": focus[1]},
    }
    largest = next(iter(variants.values()))["jpeg"]
    meta["large"] = _dimensions(largest["width"], largest["height"])
    small = variants.get("320", variants.get("150", next(iter(variants.values()))))["jpeg"]
    meta["small"] = _dimensions(small["width"], small["height"])
    now = utcnow()
    params = {
        "id": media_id,
        "account_id": account_id,
        "kind": "image",
        "state": "ready",
        "content_type": "image/jpeg",
        "size": len(data),
        "sha256": hashlib.sha256(data).hexdigest(),
        "variants": orjson.dumps(variants).decode(),
        "meta": orjson.dumps(meta).decode(),
        "description": description,
        "focus_x": focus[0],
        "focus_y": focus[1],
        "created_at": now,
        "processed_at": now,
        "original_key": master_key,
        "blurhash": processed.blurhash,
        "filter": look[0],
        "adjustments": _adjustments_json(look[1]),
    }
    async with services.db.begin() as conn:
        row = (await conn.execute(_INSERT_PHOTO(conn), params)).one()
    return media_record(row)


def _insert_photo(_dialect: str) -> Insert:
    """A processed photo's row, in one statement built once: the owner's ``locked`` read
    inside it (the photo is private if they are), the row read back by RETURNING (it was
    a read before, the insert and a read after)."""
    owner_locked = (
        select(func.coalesce(accounts.c.locked, False))
        .where(accounts.c.id == bindparam("account_id"))
        .scalar_subquery()
    )
    values: dict[str, Any] = {name: bindparam(name) for name in _PHOTO_COLUMNS}
    values["private"] = owner_locked
    return insert(media_attachments).values(values).returning(*media_attachments.c)


#: The columns a photo's insert binds (``private`` is read in it).
_PHOTO_COLUMNS = (
    "id",
    "account_id",
    "kind",
    "state",
    "content_type",
    "size",
    "sha256",
    "variants",
    "meta",
    "description",
    "focus_x",
    "focus_y",
    "created_at",
    "processed_at",
    "original_key",
    "blurhash",
    "filter",
    "adjustments",
)
_INSERT_PHOTO = Prebuilt(_insert_photo)


def _dimensions(width: int, height: int) -> dict[str, Any]:
    return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": round(width / height, 4)}


async def _own_row(services: Services, account_id: int, media_id: int) -> Any:
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
    return row


async def get_media(services: Services, account_id: int, media_id: int) -> MediaRecord:
    """The caller's own media; NotFound for anyone else's."""
    return media_record(await _own_row(services, account_id, media_id))


@dataclass(frozen=True, slots=True)
class FilterPreview:
    #: The name a client sends ("normal" for none) and what the filter does.
    filter: str
    description: str
    jpeg: bytes


async def filter_previews(
    services: Services,
    account_id: int,
    media_id: int,
    width: int,
    filter_name: str | None = None,
    adjustments: Mapping[str, object] | None = None,
) -> list[FilterPreview]:
    """Small renders of the caller's own photo under one filter or (``filter_name`` None)
    every filter, with its stored adjustments overlaid by ``adjustments``; nothing is stored.

    Only photos kept with their master (every photo uploaded as such) have previews.
    """
    row = await _own_row(services, account_id, media_id)
    record = media_record(row)
    _, adjust = filters.check(None, {**record.adjustments, **(adjustments or {})})
    if filter_name is None:
        names: list[str | None] = [None, *filters.FILTERS]
        if width > previews.MAX_WIDTH_ALL:
            raise ValidationFailed.field(
                "width", "ERR_INVALID", f"must be at most {previews.MAX_WIDTH_ALL} when previewing every filter"
            )
    else:
        names = [filters.check(filter_name, None)[0]]
    if row.kind != "image" or not row.original_key or row.state != "ready":
        raise ValidationFailed.field("media", "ERR_INVALID", "has no filter previews: only photos have them")
    master = await services.blobs.get(row.original_key)
    loop = asyncio.get_running_loop()
    rendered = await loop.run_in_executor(services.cpu_pool(), previews.render_previews, master, width, names, adjust)
    return [
        FilterPreview(
            filter=name or filters.NORMAL,
            description=filters.FILTERS[name].description if name else "No filter",
            jpeg=jpeg,
        )
        for name, jpeg in zip(names, rendered, strict=True)
    ]


def _posted() -> ValidationFailed:
    # Posted photos are in followers' feeds and caches under their current URLs; changing
    # the pixels behind a post would also need an edit history, so it is refused.
    reason = "Cannot change the filter of posted media"
    return ValidationFailed(reason, {"filter": [{"error": "ERR_INVALID", "description": reason}]})


async def _rerender(
    services: Services, row: Any, focus: tuple[float, float], look: tuple[str | None, dict[str, int]]
) -> tuple[dict[str, Any], str | None]:
    """Fresh variants of an unposted photo under ``look``, stored; the row is not changed yet."""
    if row.kind != "image":
        raise ValidationFailed.field("filter", "ERR_INVALID", "can only be set on photos")
    if not row.original_key or row.state != "ready":
        raise ValidationFailed.field("filter", "ERR_INVALID", "cannot be changed on this upload; upload it again")
    master = await services.blobs.get(row.original_key)
    loop = asyncio.get_running_loop()
    processed = await loop.run_in_executor(services.cpu_pool(), rerender, master, *focus, *look)
    return await _store_variants(services, row.id, processed.variants), processed.blurhash


async def _abandon_render(services: Services, account_id: int, media_id: int, new_keys: set[str]) -> NoReturn:
    """The row changed under a re-render: drop the blobs it made that the row does not use, and say why."""
    async with services.db.connect() as conn:
        current = (await conn.execute(select(media_attachments).where(media_attachments.c.id == media_id))).first()
    in_use = _variant_keys(orjson.loads(current.variants)) if current is not None else set()
    for key in new_keys - in_use:
        await services.blobs.delete(key)
    if current is None or current.account_id != account_id or current.state != "ready":
        raise NotFound()
    if current.status_id is not None:
        raise _posted()
    raise Conflict("The photo was changed by another request at the same time; try again")


async def update_media(
    services: Services,
    account_id: int,
    media_id: int,
    description: str | None,
    focus: tuple[float, float] | None,
    filter_name: str | None = None,
    adjustments: Mapping[str, object] | None = None,
) -> MediaRecord:
    """Alt text, focus point, and, until the photo is posted, its filter (PUT /api/v1/media/:id).

    A ``filter_name`` or ``adjustments`` given replace those stored (adjustments one by
    one; ``"normal"`` removes the filter), and the variants are made again from the master.
    A photo may already be in a post, whose cached parts show its alt text and focus: the
    route goes through ``lumigram.posts.attachments``, which drops them afterwards.
    """
    row = await _own_row(services, account_id, media_id)
    record = media_record(row)
    changes: dict[str, Any] = {}
    if description is not None:
        changes["description"] = _check_description(description)
    if focus is not None:
        changes["focus_x"], changes["focus_y"] = focus
        meta = dict(record.meta)
        meta["focus"] = {"x": focus[0], "y": focus[1]}
        changes["meta"] = orjson.dumps(meta).decode()
    new_keys: set[str] = set()
    if filter_name is not None or adjustments:
        if record.status_id is not None:
            raise _posted()
        look = filters.check(
            filter_name if filter_name is not None else record.filter, {**record.adjustments, **(adjustments or {})}
        )
        variants, blurhash = await _rerender(services, row, focus or (record.focus_x, record.focus_y), look)
        new_keys = _variant_keys(variants)
        changes.update(
            variants=orjson.dumps(variants).decode(),
            blurhash=blurhash,
            filter=look[0],
            adjustments=_adjustments_json(look[1]),
            processed_at=utcnow(),
        )
    if changes:
        statement = update(media_attachments).where(media_attachments.c.id == media_id)
        if new_keys:
            # Only if nobody posted it or re-rendered it meanwhile: otherwise our blobs are
            # the ones to go, not the ones the row (and maybe a post) points at.
            statement = statement.where(
                media_attachments.c.status_id.is_(None),
                media_attachments.c.state == "ready",
                media_attachments.c.variants == row.variants,
            )
        async with services.db.begin() as conn:
            updated = (await conn.execute(statement.values(**changes))).rowcount
        if new_keys and updated == 0:
            await _abandon_render(services, account_id, media_id, new_keys)
        if new_keys:
            # The replaced variants were never posted, so nothing else points at them.
            for key in _variant_keys(record.variants) - new_keys:
                await services.blobs.delete(key)
        await forget_privacy(services, media_id)
    return await get_media(services, account_id, media_id)


async def frame_for_story(services: Services, account_id: int, media_id: int) -> None:
    """Give the caller's upload, about to be a story, its 9:16 ``story`` variant
    (``uploads.story_frames``): the photo fitted on its backdrop, or a video's backdrop.
    Nothing for media still processing, in a post, or framed already; the story's own
    checks then say what is wrong, if anything."""
    row = await _own_row(services, account_id, media_id)
    record = media_record(row)
    if row.state != "ready" or row.status_id is not None or STORY_FRAME in record.variants:
        return
    if record.kind == "image":
        source_key = row.original_key or next(iter(record.variants.values()))["jpeg"]["key"]
    elif record.kind == "video" and "poster" in record.variants:
        source_key = record.variants["poster"]["jpeg"]["key"]
    else:
        return
    source = await services.blobs.get(source_key)
    video = record.kind == "video"
    filter_name, adjustments = (None, None) if video else (record.filter, record.adjustments)
    loop = asyncio.get_running_loop()
    frame = await loop.run_in_executor(services.cpu_pool(), story_frame, source, filter_name, adjustments, video)
    made = await _store_variants(services, media_id, frame.variants)
    meta = dict(record.meta)
    meta[STORY_FRAME] = _dimensions(*frame.size) | {"fills": frame.fills, "background": frame.colour}
    # Only onto the variants it was made from: a re-render meanwhile wins, and ours go.
    async with services.db.begin() as conn:
        updated = (
            await conn.execute(
                update(media_attachments)
                .where(media_attachments.c.id == media_id, media_attachments.c.variants == row.variants)
                .values(variants=orjson.dumps({**record.variants, **made}).decode(), meta=orjson.dumps(meta).decode())
            )
        ).rowcount
    if updated == 0:
        for key in _variant_keys(made):
            await services.blobs.delete(key)
