"""Blob store in a local folder, for the embedded shape.

Writes go to a temporary file beside the target and are renamed into place, so a
reader never sees half a blob. File I/O runs in threads so that a large video does
not stall the event loop. Each blob's content type and etag are kept in an extended
attribute of its file (``META_ATTRIBUTE``), set before the rename and synced with the
bytes, so they arrive with the blob; where the filesystem has no user attributes (or
the platform no ``os.setxattr``) they go to a small ``.meta`` file beside it instead,
as every blob's did before. A blob with neither (copied in by hand, or by a copy that
dropped the attributes) still has a type guessed from its name and an etag made from
its size and modification time.

Blobs put together into one folder (``put_many``: a photo's variants and master) are
kept in one file instead, a pack (``lumigram.infra.blobstore.packs``): five files a
photo cost the file system three times the CPU of one. A blob's own file, when there
is one, comes before any pack.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import stat as stat_module
import tempfile
from collections.abc import AsyncIterable, AsyncIterator, Sequence
from pathlib import Path
from typing import BinaryIO
from urllib.parse import urlsplit

import orjson

from lumigram.infra.blobstore import BlobInfo, BlobNotFound, InvalidBlobKey, check_key, packs

CHUNK = 64 * 1024
META_SUFFIX = ".meta"
#: The extended attribute holding a blob's type, etag and size. A ``.meta`` file beside
#: each blob cost a second file created and renamed per blob: 1.5 of a photo's 3.5 ms
#: of filesystem CPU for its five blobs (``bench/blob_puts.py``).
META_ATTRIBUTE = "user.lumigram.blob"
# Paths that exist but are not blobs (a "directory" key, or a key under a blob) count as missing.
_MISSING_ERRORS = (FileNotFoundError, IsADirectoryError, NotADirectoryError)


class FolderBlobStore:
    def __init__(self, root: Path) -> None:
        self.root = root

    @classmethod
    def from_url(cls, url: str) -> FolderBlobStore:
        """``file://data/media`` is relative to the working directory; ``file:///srv/media`` is absolute."""
        parts = urlsplit(url)
        return cls(Path(parts.netloc + parts.path))

    def _path(self, key: str) -> Path:
        check_key(key)
        if key.endswith(META_SUFFIX):
            raise InvalidBlobKey(f"blob keys may not end in {META_SUFFIX}")
        return self.root / key

    async def put(self, key: str, data: bytes | AsyncIterable[bytes], content_type: str) -> BlobInfo:
        path = self._path(key)
        if isinstance(data, bytes | bytearray | memoryview):
            # A blob at hand (a photo's variants, a playlist) is written in one hop to a
            # thread: each hop is a turn of the serving loop, and a photo's five blobs
            # made twenty-five of them.
            return await asyncio.to_thread(_put_bytes, key, path, bytes(data), content_type)
        await asyncio.to_thread(path.parent.mkdir, parents=True, exist_ok=True)
        fd, tmp_name = await asyncio.to_thread(tempfile.mkstemp, dir=path.parent, prefix=".upload-")
        digest = hashlib.md5(usedforsecurity=False)
        size = 0
        try:
            with os.fdopen(fd, "wb") as handle:
                async for chunk in data:
                    digest.update(chunk)
                    size += len(chunk)
                    await asyncio.to_thread(handle.write, chunk)
                etag = digest.hexdigest()
                await asyncio.to_thread(_finish, handle, path, content_type, etag, size)
            await asyncio.to_thread(os.replace, tmp_name, path)
        except BaseException:
            await asyncio.to_thread(_unlink, Path(tmp_name))
            raise
        return BlobInfo(key=key, size=size, content_type=content_type, etag=etag)

    async def put_many(self, blobs: Sequence[tuple[str, bytes, str]]) -> list[BlobInfo]:
        # All in one hop to a thread, as ``put`` of one blob at hand: a photo's five blobs
        # in five hops cost half as much CPU again as the writes and syncs themselves.
        at = [(key, self._path(key), bytes(data), content_type) for key, data, content_type in blobs]
        return await asyncio.to_thread(_put_all, at)

    async def get(self, key: str) -> bytes:
        path = self._path(key)
        try:
            return await asyncio.to_thread(_read_whole, path)
        except _MISSING_ERRORS:
            raise BlobNotFound(key) from None

    async def stream(self, key: str, start: int = 0, end: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(key)
        try:
            handle, offset, size = await asyncio.to_thread(_open_blob, path)
        except _MISSING_ERRORS:
            raise BlobNotFound(key) from None
        try:
            await asyncio.to_thread(handle.seek, offset + start)
            remaining = None if end is None else end - start + 1
            if size is not None:
                left = max(0, size - start)
                remaining = left if remaining is None else min(remaining, left)
            while remaining is None or remaining > 0:
                size = CHUNK if remaining is None else min(CHUNK, remaining)
                chunk = await asyncio.to_thread(handle.read, size)
                if not chunk:
                    break
                if remaining is not None:
                    remaining -= len(chunk)
                yield chunk
        finally:
            await asyncio.to_thread(handle.close)

    async def stat(self, key: str) -> BlobInfo | None:
        path = self._path(key)
        try:
            found = await asyncio.to_thread(path.stat)
        except _MISSING_ERRORS:
            found = None
        if found is None or not stat_module.S_ISREG(found.st_mode):
            member = await asyncio.to_thread(packs.find, path.parent, path.name)
            if member is None:
                return None
            return BlobInfo(key=key, size=member.size, content_type=member.content_type, etag=member.etag)
        try:
            meta = orjson.loads(await asyncio.to_thread(_read_meta, path))
        except (FileNotFoundError, orjson.JSONDecodeError):
            guessed = mimetypes.guess_type(key)[0] or "application/octet-stream"
            etag = f"{found.st_size:x}-{found.st_mtime_ns:x}"
            return BlobInfo(key=key, size=found.st_size, content_type=guessed, etag=etag)
        return BlobInfo(key=key, size=found.st_size, content_type=str(meta["content_type"]), etag=str(meta["etag"]))

    async def delete(self, key: str) -> None:
        path = self._path(key)
        await asyncio.to_thread(_delete, path)

    async def keys_under(self, prefix: str) -> list[str]:
        """Every key stored under ``prefix`` (a folder's key, ending in ``/``), sorted:
        for tools and tests, which the port does not serve."""
        return await asyncio.to_thread(_keys_under, self.root, prefix)

    async def presigned_url(self, key: str, expires_in: int) -> str | None:
        check_key(key)
        return None  # the app serves folder blobs itself, with its own signed URLs

    async def ping(self) -> None:
        await asyncio.to_thread(self.root.mkdir, parents=True, exist_ok=True)
        if not os.access(self.root, os.W_OK):
            raise PermissionError(f"media folder {self.root} is not writable")

    async def close(self) -> None:
        return None


def _put_bytes(key: str, path: Path, data: bytes, content_type: str) -> BlobInfo:
    """``put`` of a blob at hand, all in the calling thread."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".upload-")
    try:
        etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            _finish(handle, path, content_type, etag, len(data))
        os.replace(tmp_name, path)
    except BaseException:
        _unlink(Path(tmp_name))
        raise
    return BlobInfo(key=key, size=len(data), content_type=content_type, etag=etag)


def _put_all(blobs: Sequence[tuple[str, Path, bytes, str]]) -> list[BlobInfo]:
    """``put_many`` in the calling thread: the blobs of each folder in one pack, a blob
    alone in its folder in its own file."""
    by_folder: dict[Path, list[tuple[str, Path, bytes, str]]] = {}
    for blob in blobs:
        by_folder.setdefault(blob[1].parent, []).append(blob)
    infos: dict[str, BlobInfo] = {}
    for folder, together in by_folder.items():
        if len(together) == 1:
            key, path, data, content_type = together[0]
            infos[key] = _put_bytes(key, path, data, content_type)
            continue
        packed: dict[str, tuple[str, bytes, str, str]] = {}  # a name given twice: the last
        for key, path, data, content_type in together:
            etag = hashlib.md5(data, usedforsecurity=False).hexdigest()
            infos[key] = BlobInfo(key=key, size=len(data), content_type=content_type, etag=etag)
            packed[path.name] = (path.name, data, content_type, etag)
        new_folder = _made_folder(folder)
        packs.write(folder, list(packed.values()))
        if not new_folder:
            # Files of these names would come before the pack: the newest put must win.
            # Removed once the pack is in place, so a crash between loses nothing.
            for _, path, _, _ in together:
                _delete_file(path)
    return [infos[key] for key, _, _, _ in blobs]


def _made_folder(folder: Path) -> bool:
    """Make ``folder`` (and its parents); whether it is new (so it holds no blob yet)."""
    folder.parent.mkdir(parents=True, exist_ok=True)
    try:
        folder.mkdir()
    except FileExistsError:
        return False
    return True


def _read_whole(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except _MISSING_ERRORS:
        handle, offset, size = _open_packed(path)
    with handle:
        handle.seek(offset)
        return handle.read(size)


def _open_blob(path: Path) -> tuple[BinaryIO, int, int | None]:
    """An open file holding the blob, where its bytes start in it and how many there are
    (None: to the end of the file)."""
    try:
        return path.open("rb"), 0, None
    except _MISSING_ERRORS:
        return _open_packed(path)


#: Lookups of a packed blob whose pack was replaced between finding and opening it
#: (another of its blobs deleted meanwhile) before it counts as missing.
_PACK_TRIES = 3


def _open_packed(path: Path) -> tuple[BinaryIO, int, int]:
    """The pack holding the blob, open, with where its bytes are; FileNotFoundError when
    no pack holds it."""
    for _ in range(_PACK_TRIES):
        member = packs.find(path.parent, path.name)
        if member is None:
            break
        try:
            return member.pack.open("rb"), member.offset, member.size
        except FileNotFoundError:
            continue  # replaced since it was found: its successor holds the blob
    raise FileNotFoundError(str(path))


def _delete(path: Path) -> None:
    _delete_file(path)
    packs.remove(path.parent, path.name)


def _delete_file(path: Path) -> None:
    _unlink(path)
    _unlink(Path(str(path) + META_SUFFIX))


def _keys_under(root: Path, prefix: str) -> list[str]:
    folder = root / prefix
    if not folder.is_dir():
        return []
    found: set[str] = set()
    packed: set[Path] = set()  # folders holding packs, each read once for all of them
    for path in folder.rglob("*"):
        if path.name.startswith(packs.PREFIX):
            packed.add(path.parent)
        elif not path.name.startswith(".") and path.is_file() and not path.name.endswith(META_SUFFIX):
            found.add(str(path.relative_to(root)))
    for where in packed:
        found.update(str(where.relative_to(root) / name) for name in packs.names(where))
    return sorted(found)


def _finish(handle: BinaryIO, path: Path, content_type: str, etag: str, size: int) -> None:
    """Record the blob's type and etag on its written temporary file (``handle``; ``path``
    is where it will be renamed to), then sync the file."""
    meta = orjson.dumps({"content_type": content_type, "etag": etag, "size": size})
    handle.flush()
    if not _set_meta_attribute(handle.fileno(), meta):
        _write_atomically(Path(str(path) + META_SUFFIX), meta)
    _sync(handle)


def _set_meta_attribute(fd: int, meta: bytes) -> bool:
    """Whether ``meta`` could be kept in the file's extended attribute."""
    setxattr = getattr(os, "setxattr", None)  # Linux only
    if setxattr is None:
        return False
    try:
        setxattr(fd, META_ATTRIBUTE, meta)
    except OSError:  # a filesystem without user attributes, or one that refuses them
        return False
    return True


def _read_meta(path: Path) -> bytes:
    """The blob's recorded type and etag: its attribute, else its ``.meta`` file;
    FileNotFoundError when it has neither."""
    getxattr = getattr(os, "getxattr", None)
    if getxattr is not None:
        try:
            return bytes(getxattr(path, META_ATTRIBUTE))
        except OSError:
            pass  # none (ENODATA), or no attributes here: the file beside it
    return Path(str(path) + META_SUFFIX).read_bytes()


def _sync(handle: BinaryIO) -> None:
    # Without this a crash soon after the rename can leave an empty file under the final name.
    handle.flush()
    os.fsync(handle.fileno())


def _write_atomically(path: Path, data: bytes) -> None:
    # A reader must never see half a sidecar, so it is renamed into place like the blob.
    fd, tmp_name = tempfile.mkstemp(dir=path.parent, prefix=".meta-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(tmp_name, path)
    except BaseException:
        _unlink(Path(tmp_name))
        raise


def _unlink(path: Path) -> None:
    path.unlink(missing_ok=True)
