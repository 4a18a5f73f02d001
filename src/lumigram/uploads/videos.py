"""Uploading videos, Mastodon's way: accept now (202), transcode in the worker, poll until ready.

A video takes seconds to a minute of CPU to transcode, too long for a request. The
upload is streamed to the blob store as sent (never whole in memory), the row is
recorded as ``processing`` and ``media.uploaded`` is emitted in the same transaction;
the ``media.process_video`` consumer (``uploads.handlers``) does the rest. The original
is deleted once processed or refused, so, as for photos, only re-encoded files remain.
"""

from __future__ import annotations

import hashlib
from collections.abc import AsyncIterator
from typing import Protocol

import orjson
from sqlalchemy import insert, select

from lumigram import ids
from lumigram.errors import ValidationFailed
from lumigram.events import MediaUploaded
from lumigram.infra.tables import accounts, media_attachments, utcnow
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work
from lumigram.uploads import service
from lumigram.uploads.models import MediaRecord
from lumigram.uploads.transcode import EXTENSIONS, MAX_BYTES, SUPPORTED, sniff_video

#: Read size when hashing and streaming the spooled upload.
CHUNK = 1024 * 1024
UPLOADED = "media.uploaded"


class Upload(Protocol):
    """What we need of Starlette's UploadFile (a spooled temporary file with async access)."""

    size: int | None

    async def read(self, size: int = -1) -> bytes: ...

    async def seek(self, offset: int) -> None: ...


def _too_large() -> ValidationFailed:
    return ValidationFailed.field("file", "ERR_TOO_LARGE", f"must be at most {MAX_BYTES // (1024 * 1024)} MB")


async def _digest(file: Upload) -> tuple[str, int]:
    """SHA-256 and size, read once before storing: the key names the content, and an
    oversized upload is refused before a byte of it reaches the store."""
    await file.seek(0)
    digest = hashlib.sha256()
    size = 0
    while chunk := await file.read(CHUNK):
        size += len(chunk)
        if size > MAX_BYTES:
            raise _too_large()
        digest.update(chunk)
    return digest.hexdigest(), size


async def _chunks(file: Upload) -> AsyncIterator[bytes]:
    await file.seek(0)
    while chunk := await file.read(CHUNK):
        yield chunk


async def start_video_upload(
    services: Services, account_id: int, file: Upload, description: str | None, focus: tuple[float, float]
) -> MediaRecord:
    """Store the upload and queue it for transcoding; the record is ``processing`` with no URL yet.

    ValidationFailed (422) when the file is empty, too large or not a video by its first bytes.
    """
    if description is not None and len(description) > service.MAX_DESCRIPTION:
        raise ValidationFailed.field("description", "ERR_TOO_LONG", f"is too long (at most {service.MAX_DESCRIPTION})")
    if file.size is not None and file.size > MAX_BYTES:
        raise _too_large()
    await file.seek(0)
    head = await file.read(64)
    if not head:
        raise ValidationFailed.field("file", "ERR_BLANK", "is empty")
    mime = sniff_video(head)
    if mime is None:
        raise ValidationFailed.field("file", "ERR_UNSUPPORTED", f"is not a supported video ({SUPPORTED})")
    sha256, size = await _digest(file)
    async with services.db.connect() as conn:
        locked = (await conn.execute(select(accounts.c.locked).where(accounts.c.id == account_id))).scalar_one()
    shard = ids.shard_of(account_id)
    media_id = services.ids.next_id(shard)
    key = f"media/{media_id}/original-{sha256[:16]}.{EXTENSIONS[mime]}"
    await services.blobs.put(key, _chunks(file), mime)
    meta = {"focus": {"x": focus[0], "y": focus[1]}}
    try:
        async with unit_of_work(services) as work:
            await work.conn.execute(
                insert(media_attachments).values(
                    id=media_id,
                    account_id=account_id,
                    kind="video",
                    state="processing",
                    original_key=key,
                    content_type=mime,
                    size=size,
                    sha256=sha256,
                    variants="{}",
                    meta=orjson.dumps(meta).decode(),
                    description=description,
                    focus_x=focus[0],
                    focus_y=focus[1],
                    private=bool(locked),
                    created_at=utcnow(),
                )
            )
            await work.emit(MediaUploaded(media_id=media_id, account_id=account_id), shard=shard)
    except BaseException:
        # No row points at the blob, so nothing would ever delete it. (``media.uploaded``
        # has no after-commit handler: nothing that could fail runs after the commit.)
        await services.blobs.delete(key)
        raise
    return await service.get_media(services, account_id, media_id)
