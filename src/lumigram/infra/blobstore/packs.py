"""Several blobs of one folder in one file: how the folder store keeps a photo's variants.

A photo upload stores five blobs side by side (four variants and the master). As five
files, each created under a temporary name, given its type and etag, synced and renamed,
they cost the file system about 4 ms of CPU a photo on this project's test machine
(``bench/blob_puts.py``), more than all of the request's own work; one file holding all
five costs about a third of that. Facebook's Haystack made the same observation at its
scale: per-file metadata, not the bytes, is what a photo store pays for.

A pack is a file named ``.pack-<stamp>-<token>`` in the folder of the keys it holds
(no key segment may start with a dot, so no key can name one): ``MAGIC``, the length of
its index, the index (JSON: each blob's name, offset, size, type and etag), then the
blobs' bytes. It is written under a temporary name, synced and renamed into place, so
its blobs appear together or not at all. Packs are never changed: removing one of their
blobs writes a new pack of the others, with the same stamp, and unlinks the old one
under an exclusive ``flock`` of it (so two processes removing blobs of one pack do not
bring one back); one left with nothing is unlinked.

Lookups go to a blob's own file first; only when there is none are the folder's packs
read, newest stamp first. A blob put alone after a pack holding its name therefore
replaces it, and a pack written into a folder that already existed first removes the
files of the names it holds, so the newest write of a name is always the one found.
Everything here blocks: the folder store calls it from a thread.
"""

from __future__ import annotations

import fcntl
import os
import tempfile
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import orjson

from lumigram.ids import token

MAGIC = b"LUMIPACK1\n"
PREFIX = ".pack-"
_LENGTH = 4
_HEAD = len(MAGIC) + _LENGTH


@dataclass(frozen=True, slots=True)
class Member:
    """One blob of a pack: where its bytes are in the pack's file."""

    pack: Path
    name: str
    offset: int
    size: int
    content_type: str
    etag: str


def write(folder: Path, blobs: Sequence[tuple[str, bytes, str, str]], stamp: str | None = None) -> Path:
    """A new pack in ``folder`` of the (name, bytes, type, etag) given, synced and in
    place; its path. ``stamp`` orders it among the folder's packs (now, by default)."""
    index: list[list[object]] = []
    offset = 0
    for name, data, content_type, etag in blobs:
        index.append([name, offset, len(data), content_type, etag])
        offset += len(data)
    head = orjson.dumps(index)
    stamp = stamp or f"{time.time_ns():020d}"
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=".upload-")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(MAGIC + len(head).to_bytes(_LENGTH, "big") + head)
            for _, data, _, _ in blobs:
                handle.write(data)
            handle.flush()
            # Without this a crash soon after the rename can leave an empty pack in place.
            os.fsync(handle.fileno())
        path = folder / f"{PREFIX}{stamp}-{token(4)}"
        os.replace(tmp_name, path)
    except BaseException:
        Path(tmp_name).unlink(missing_ok=True)
        raise
    return path


def _stamp(path: Path) -> str:
    return path.name[len(PREFIX) :].split("-", 1)[0]


def _packs(folder: Path) -> list[Path]:
    """The folder's packs, newest first; none when it is missing or not a folder."""
    try:
        with os.scandir(folder) as entries:
            found = [Path(entry.path) for entry in entries if entry.name.startswith(PREFIX)]
    except (FileNotFoundError, NotADirectoryError):
        return []
    return sorted(found, key=lambda path: path.name, reverse=True)


def _members(pack: Path, handle: int) -> Iterator[Member]:
    head = os.pread(handle, _HEAD, 0)
    if len(head) < _HEAD or not head.startswith(MAGIC):
        return  # not a pack this version wrote: nothing in it is found
    length = int.from_bytes(head[len(MAGIC) :], "big")
    start = _HEAD + length
    for name, offset, size, content_type, etag in orjson.loads(os.pread(handle, length, _HEAD)):
        yield Member(pack, str(name), start + int(offset), int(size), str(content_type), str(etag))


#: Looks through a folder's packs while others replace them, before giving up.
_SCANS = 10


def find(folder: Path, name: str) -> Member | None:
    """Where the newest pack of ``folder`` holding ``name`` keeps it; None when none does.
    (A photo's folder holds one pack: reading every index costs no more than the first.)"""
    for _, members in _indexes(folder):
        for member in members:
            if member.name == name:
                return member
    return None


def remove(folder: Path, name: str) -> None:
    """Take ``name`` out of every pack of ``folder`` that holds it."""
    while True:
        holding = [pack for pack, members in _indexes(folder) if any(m.name == name for m in members)]
        if not holding:
            return
        for pack in holding:
            _remove_from(pack, name)


def _indexes(folder: Path) -> list[tuple[Path, list[Member]]]:
    """Each pack of ``folder`` with its members, newest first, as one consistent look: a
    pack replaced while the folder was read makes it read again (its successor was
    written before it went, perhaps after the folder was listed)."""
    for _ in range(_SCANS):
        found: list[tuple[Path, list[Member]]] = []
        replaced = False
        for pack in _packs(folder):
            try:
                handle = os.open(pack, os.O_RDONLY)
            except FileNotFoundError:
                replaced = True
                continue
            try:
                found.append((pack, list(_members(pack, handle))))
            finally:
                os.close(handle)
        if not replaced:
            return found
    raise OSError(f"the packs of {folder} kept changing while they were read")


def _remove_from(pack: Path, name: str) -> None:
    try:
        handle = os.open(pack, os.O_RDONLY)
    except FileNotFoundError:
        return  # another remover replaced it: the caller looks again
    try:
        fcntl.flock(handle, fcntl.LOCK_EX)
        if os.fstat(handle).st_nlink == 0:
            return  # replaced while this waited for the lock
        members = list(_members(pack, handle))
        kept = [m for m in members if m.name != name]
        if len(kept) == len(members):
            return
        if kept:
            blobs = [(m.name, os.pread(handle, m.size, m.offset), m.content_type, m.etag) for m in kept]
            write(pack.parent, blobs, stamp=_stamp(pack))
        pack.unlink()
    finally:
        os.close(handle)  # and the lock with it


def names(folder: Path) -> set[str]:
    """Every name the folder's packs hold."""
    return {member.name for _, members in _indexes(folder) for member in members}
