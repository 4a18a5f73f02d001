"""The blob store port: where media bytes live.

Two adapters, chosen by ``LUMIGRAM_MEDIA_URL``: ``file://folder`` (embedded) and
``s3://bucket?endpoint=...&region=...`` (any S3-compatible store). Keys are
``/``-separated strings made by the caller (content-addressed for media), of the narrow
form ``keys.check_key`` accepts: every adapter checks each key it is given first and
raises ``InvalidBlobKey`` (a ValueError) for any other, without asking the store.
"""

from __future__ import annotations

from collections.abc import AsyncIterable, AsyncIterator, Sequence
from dataclasses import dataclass
from typing import Protocol

from lumigram.infra.blobstore.keys import InvalidBlobKey, check_key

__all__ = ["BlobInfo", "BlobNotFound", "BlobStore", "InvalidBlobKey", "check_key", "open_blob_store"]


class BlobNotFound(LookupError):
    """No blob is stored under the key."""


@dataclass(frozen=True, slots=True)
class BlobInfo:
    key: str
    size: int
    content_type: str
    etag: str


class BlobStore(Protocol):
    """Stores and serves immutable blobs by key."""

    async def put(self, key: str, data: bytes | AsyncIterable[bytes], content_type: str) -> BlobInfo:
        """Store ``data`` under ``key``, streaming it when given an iterable; replaces any blob there."""
        ...

    async def put_many(self, blobs: Sequence[tuple[str, bytes, str]]) -> list[BlobInfo]:
        """``put`` each (key, bytes, content type), in the order given: a photo's variants
        at once. Each is stored whole or not at all; should one fail, some of the others
        may be stored (blobs are immutable, so that is at worst an unused blob)."""
        ...

    async def get(self, key: str) -> bytes:
        """The whole blob; raises BlobNotFound."""
        ...

    def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        """The bytes ``start``..``end`` (inclusive, like HTTP ranges) in chunks; raises BlobNotFound."""
        ...

    async def stat(self, key: str) -> BlobInfo | None:
        """Size, type and etag of a blob, or None when missing."""
        ...

    async def delete(self, key: str) -> None:
        """Remove a blob; deleting a missing key is not an error."""
        ...

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        """A time-limited direct URL, or None when the store cannot make one (a folder)."""
        ...

    async def ping(self) -> None:
        """Raise if the store cannot be reached."""
        ...

    async def close(self) -> None: ...


def open_blob_store(url: str) -> BlobStore:
    """The adapter for ``url``'s scheme."""
    if url.startswith("file://"):
        from lumigram.infra.blobstore.folder import FolderBlobStore

        return FolderBlobStore.from_url(url)
    if url.startswith("s3://"):
        from lumigram.infra.blobstore.s3 import S3BlobStore

        return S3BlobStore.from_url(url)
    raise ValueError(f"unsupported media URL {url!r}")
