"""Deciding who may fetch a blob, and finding the bytes.

Keys under ``media/<media id>/...`` belong to a media attachment; when that attachment
is private (a locked account's post, a direct message) the request must carry a valid
signature. Other keys (avatars, headers) are public. The privacy flag is cached
briefly, so serving a public image does not touch the database. A photo's unfiltered
master (``media/<id>/master-...``) is never served to anyone: it is only the source
the variants are re-rendered from.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select

from lumigram.bootstrap import Services
from lumigram.delivery import signing
from lumigram.errors import NotFound
from lumigram.infra.blobstore import BlobInfo
from lumigram.infra.tables import media_attachments

PRIVACY_TTL = 60
MEDIA_PREFIX = "media/"
#: File-name prefix of a photo's unfiltered master under ``media/<id>/``.
MASTER_PREFIX = "master-"
ORIGINAL_PREFIX = "original-"
UNSERVED_PREFIXES = (MASTER_PREFIX, ORIGINAL_PREFIX)


@dataclass(frozen=True, slots=True)
class Grant:
    """Permission to serve ``info``; ``redirect`` is a direct store URL to send the client to, if any."""

    info: BlobInfo
    private: bool
    redirect: str | None = None


def media_id_of(key: str) -> int | None:
    if not key.startswith(MEDIA_PREFIX):
        return None
    head = key[len(MEDIA_PREFIX) :].split("/", 1)[0]
    return int(head) if head.isdigit() else None


async def is_private(services: Services, media_id: int) -> bool | None:
    """Whether the media is private; None when there is no such media."""
    cache_key = f"media:private:{media_id}"
    cached = await services.cache.get(cache_key)
    if cached is not None:
        return None if cached == b"-" else cached == b"1"
    async with services.db.connect() as conn:
        row = (
            await conn.execute(select(media_attachments.c.private).where(media_attachments.c.id == media_id))
        ).first()
    value = None if row is None else bool(row.private)
    await services.cache.set(cache_key, b"-" if value is None else (b"1" if value else b"0"), ttl=PRIVACY_TTL)
    return value


async def forget_privacy(services: Services, *media_ids: int) -> None:
    """Call after changing media privacy, so the cached flag does not outlive the change."""
    if media_ids:
        await services.cache.delete(*(f"media:private:{m}" for m in media_ids))


async def authorize(services: Services, key: str, expires: int | None, signature: str | None) -> Grant:
    """Check that ``key`` may be served to this request; NotFound otherwise (never say why)."""
    if not key or ".." in key.split("/") or key.startswith("/"):
        raise NotFound()
    private = False
    media_id = media_id_of(key)
    if media_id is not None:
        # Kept for re-rendering or transcoding, never for viewers: the master still has
        # the unfiltered pixels, the original upload still has its metadata.
        if key.rsplit("/", 1)[-1].startswith(UNSERVED_PREFIXES):
            raise NotFound()
        flag = await is_private(services, media_id)
        if flag is None:
            raise NotFound()
        private = flag
    if private and (
        expires is None
        or signature is None
        or not signing.verify(services.settings.ensure_secret_key(), key, expires, signature)
    ):
        raise NotFound()
    try:
        info = await services.blobs.stat(key)
    except ValueError:
        raise NotFound() from None
    if info is None:
        raise NotFound()
    redirect = None
    if private:
        # A store that can presign (S3) serves the bytes itself; the app only vouches for the client.
        redirect = await services.blobs.presigned_url(key, 300)
    return Grant(info=info, private=private, redirect=redirect)


def media_url(services: Services, key: str, private: bool) -> str:
    """The URL a client gets for a stored blob."""
    settings = services.settings
    path = quote(key)
    if private:
        expires, signature = signing.sign(settings.ensure_secret_key(), key)
        return f"{settings.base_url}/media/{path}?exp={expires}&sig={signature}"
    if settings.media_base_url:
        return f"{settings.media_base_url}/{path}"
    return f"{settings.base_url}/media/{path}"
