"""Deciding who may fetch a blob, and finding the bytes.

Keys under ``media/<media id>/...`` belong to a media attachment; when that attachment
is private (a locked account's post, a direct message) the request must carry a valid
signature. Other keys (avatars, headers) are public. The privacy flag is cached
briefly, so serving a public image does not touch the database. A photo's unfiltered
master (``media/<id>/master-...``) is never served to anyone: it is only the source
the variants are re-rendered from.

A requested key is checked before anything is decided from it (``requested_key``): a
store may read another spelling of a private key (``media//<id>/...``) as the same
blob, so a key that is not exactly one the app makes is simply not found.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import quote

from sqlalchemy import select

from lumigram.errors import NotFound
from lumigram.infra.blobstore import BlobInfo, InvalidBlobKey, check_key
from lumigram.infra.tables import media_attachments
from lumigram.media_access import signing
from lumigram.services import Services

PRIVACY_TTL = 60
#: The largest id a BIGINT column holds; a longer run of digits names no media.
_MAX_ID = 2**63 - 1
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
    return int(head) if head.isascii() and head.isdigit() else None


def requested_key(key: str, path_as_sent: bytes | None = None) -> str:
    """The blob key a ``/media/<key>`` request names, checked; NotFound when it names none.

    ``path_as_sent`` is the request's path before percent-decoding, when known. Nothing in
    a valid key needs escaping, so any escape there (``%2F``, ``%5C``, ``%00``, ``%2E``)
    means the URL is not one the app made. Under ``media/`` a key is exactly
    ``media/<id>/<file>`` with the id written as the app writes it (no leading zeros, at
    most 64 bits): any other shape would dodge the privacy check made by id.
    """
    if path_as_sent is not None and b"%" in path_as_sent:
        raise NotFound()
    try:
        check_key(key)
    except InvalidBlobKey:
        raise NotFound() from None
    if key.startswith(MEDIA_PREFIX):
        segments = key.split("/")
        media_id = media_id_of(key)
        if len(segments) != 3 or media_id is None or media_id > _MAX_ID or segments[1] != str(media_id):
            raise NotFound()
    return key


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


async def authorize(
    services: Services, key: str, expires: int | None, signature: str | None, path_as_sent: bytes | None = None
) -> Grant:
    """Check that ``key`` may be served to this request; NotFound otherwise (never say why).

    ``path_as_sent``: the request path before percent-decoding (see ``requested_key``)."""
    key = requested_key(key, path_as_sent)
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
        or not signing.verify(
            services.settings.ensure_secret_key(), key, expires, signature, now=services.now().timestamp()
        )
    ):
        raise NotFound()
    try:
        info = await services.blobs.stat(key)
    except InvalidBlobKey:  # a key only one store refuses (the folder's ``.meta`` sidecars)
        raise NotFound() from None
    if info is None:
        raise NotFound()
    redirect = None
    if private:
        # A store that can presign (S3) serves the bytes itself; the app only vouches for the client.
        redirect = await services.blobs.presigned_url(key, 300)
    return Grant(info=info, private=private, redirect=redirect)


def media_url(services: Services, key: str, private: bool, not_after: int | None = None) -> str:
    """The URL a client gets for a stored blob. ``not_after`` (Unix seconds) bounds a
    signed URL's life: a story's media must not be reachable past the story's end."""
    settings = services.settings
    path = quote(key)
    if private:
        now = services.now().timestamp()
        expires, signature = signing.sign(settings.ensure_secret_key(), key, now=now, not_after=not_after)
        return f"{settings.base_url}/media/{path}?exp={expires}&sig={signature}"
    if settings.media_base_url:
        return f"{settings.media_base_url}/{path}"
    return f"{settings.base_url}/media/{path}"
