"""One contract, two adapters: the media folder and S3 (SeaweedFS) behave the same."""

from __future__ import annotations

import hashlib
import itertools
import os
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest

from lumigram.infra.blobstore import BlobNotFound, BlobStore, open_blob_store

_buckets = itertools.count()


@pytest.fixture(params=["folder", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "folder":
        url = f"file://{tmp_path / 'media'}"
    else:
        url = request.getfixturevalue("make_s3_url")(f"contract-{os.getpid()}-{next(_buckets)}")
    opened = open_blob_store(url)
    try:
        yield opened
    finally:
        await opened.close()


async def _chunks(total: int, size: int = 1024 * 1024) -> AsyncIterator[bytes]:
    produced = 0
    n = 0
    while produced < total:
        part = bytes([n % 251]) * min(size, total - produced)
        produced += len(part)
        n += 1
        yield part


async def _collect(stream: AsyncIterator[bytes]) -> bytes:
    return b"".join([chunk async for chunk in stream])


async def test_bytes_round_trip_with_type_and_size(store: BlobStore) -> None:
    info = await store.put("a/b/photo.jpg", b"\xff\xd8hello", "image/jpeg")
    assert info.size == 7
    assert await store.get("a/b/photo.jpg") == b"\xff\xd8hello"
    stat = await store.stat("a/b/photo.jpg")
    assert stat is not None
    assert (stat.size, stat.content_type) == (7, "image/jpeg")
    assert stat.etag


async def test_a_streamed_upload_is_stored_whole_and_read_in_ranges(store: BlobStore) -> None:
    total = 12 * 1024 * 1024 + 123  # more than one multipart part on S3
    info = await store.put("video/big.mp4", _chunks(total), "video/mp4")
    assert info.size == total
    expected = b"".join([c async for c in _chunks(total)])
    stored = await _collect(store.stream("video/big.mp4"))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(expected).digest()
    assert await _collect(store.stream("video/big.mp4", 10, 19)) == expected[10:20]
    assert await _collect(store.stream("video/big.mp4", total - 5)) == expected[-5:]


async def test_missing_blobs(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await store.get("nope")
    with pytest.raises(BlobNotFound):
        await _collect(store.stream("nope"))
    assert await store.stat("nope") is None
    await store.delete("nope")  # deleting what is not there is fine


async def test_delete_removes_the_blob(store: BlobStore) -> None:
    await store.put("x", b"1", "application/octet-stream")
    await store.delete("x")
    assert await store.stat("x") is None
    await store.delete("x")


async def test_the_store_answers_ping(store: BlobStore) -> None:
    await store.ping()


async def test_the_folder_store_refuses_keys_that_escape_it(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path}")
    for key in ("../evil", "/etc/passwd", "a/../../b", "a\\b", ""):
        with pytest.raises(ValueError, match="invalid blob key"):
            await store.put(key, b"x", "text/plain")
    assert await store.presigned_url("anything", 60) is None


async def test_s3_presigned_urls_expire_and_resist_tampering(make_s3_url: object) -> None:
    store = open_blob_store(make_s3_url(f"presign-{os.getpid()}"))  # type: ignore[operator]
    try:
        await store.put("p.jpg", b"private", "image/jpeg")
        url = await store.presigned_url("p.jpg", 60)
        assert url is not None
        async with httpx.AsyncClient() as http:
            assert (await http.get(url)).content == b"private"
            tampered = url.replace("p.jpg", "q.jpg")
            assert (await http.get(tampered)).status_code == 403
            bare = url.split("?", 1)[0]
            assert (await http.get(bare)).status_code == 403
    finally:
        await store.close()
