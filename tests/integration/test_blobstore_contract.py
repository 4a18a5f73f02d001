"""One contract, two adapters: the media folder and S3 (SeaweedFS) behave the same."""

from __future__ import annotations

import asyncio
import hashlib
import os
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import httpx
import orjson
import pytest

from lumigram.infra.blobstore import BlobNotFound, BlobStore, InvalidBlobKey, check_key, open_blob_store
from lumigram.infra.blobstore.folder import META_ATTRIBUTE, FolderBlobStore
from tests.servers import free_ports, unique_name


@pytest.fixture(params=["folder", "s3"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[BlobStore]:
    if request.param == "folder":
        url = f"file://{tmp_path / 'media'}"
    else:
        make_s3_url: Callable[[str], str] = request.getfixturevalue("make_s3_url")
        url = make_s3_url(unique_name("contract-"))
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
    assert (info.key, info.size, info.content_type) == ("a/b/photo.jpg", 7, "image/jpeg")
    assert await store.get("a/b/photo.jpg") == b"\xff\xd8hello"
    stat = await store.stat("a/b/photo.jpg")
    assert stat is not None
    assert (stat.size, stat.content_type, stat.etag) == (7, "image/jpeg", info.etag)
    assert stat.etag


async def test_many_blobs_are_put_in_one_call_as_each_alone(store: BlobStore) -> None:
    blobs = [
        ("media/1/1080-aa.jpg", b"\xff\xd8one", "image/jpeg"),
        ("media/1/1080-bb.webp", b"RIFFtwo", "image/webp"),
        ("media/1/original-cc.jpg", b"\xff\xd8three", "image/jpeg"),
    ]
    infos = await store.put_many(blobs)
    assert [(i.key, i.size, i.content_type) for i in infos] == [(k, len(d), t) for k, d, t in blobs]
    for (key, data, content_type), info in zip(blobs, infos, strict=True):
        assert await store.get(key) == data
        stat = await store.stat(key)
        assert stat is not None
        assert (stat.size, stat.content_type, stat.etag) == (len(data), content_type, info.etag)
    # A bad key among them is refused before anything is stored.
    with pytest.raises(InvalidBlobKey):
        await store.put_many([("media/2/ok.jpg", b"x", "image/jpeg"), ("media//2/bad.jpg", b"y", "image/jpeg")])
    assert await store.stat("media/2/ok.jpg") is None


async def test_a_put_replaces_the_blob(store: BlobStore) -> None:
    first = await store.put("k", b"old", "text/plain")
    second = await store.put("k", b"newer", "application/json")
    assert await store.get("k") == b"newer"
    stat = await store.stat("k")
    assert stat is not None
    assert (stat.size, stat.content_type, stat.etag) == (5, "application/json", second.etag)
    assert second.etag != first.etag


async def test_a_streamed_upload_is_stored_whole_and_read_in_ranges(store: BlobStore) -> None:
    total = 12 * 1024 * 1024 + 123  # more than one multipart part on S3
    info = await store.put("video/big.mp4", _chunks(total), "video/mp4")
    assert info.size == total
    expected = b"".join([c async for c in _chunks(total)])
    stored = await _collect(store.stream("video/big.mp4"))
    assert hashlib.sha256(stored).digest() == hashlib.sha256(expected).digest()
    stat = await store.stat("video/big.mp4")
    assert stat is not None
    assert (stat.size, stat.content_type, stat.etag) == (total, "video/mp4", info.etag)
    assert await _collect(store.stream("video/big.mp4", 10, 19)) == expected[10:20]
    assert await _collect(store.stream("video/big.mp4", total - 5)) == expected[-5:]
    assert await _collect(store.stream("video/big.mp4", total - 2, total + 100)) == expected[-2:]
    assert await _collect(store.stream("video/big.mp4", total + 10)) == b""


async def test_a_small_streamed_upload(store: BlobStore) -> None:
    info = await store.put("s", _chunks(3000, size=1000), "application/octet-stream")
    assert info.size == 3000
    assert await store.get("s") == b"".join([c async for c in _chunks(3000, size=1000)])


async def test_a_failed_streamed_upload_leaves_nothing(store: BlobStore) -> None:
    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (6 * 1024 * 1024)
        yield b"y" * (6 * 1024 * 1024)  # past one S3 part, so a multipart upload is under way
        raise ConnectionResetError("the client went away")

    with pytest.raises(ConnectionResetError):
        await store.put("half.mp4", broken(), "video/mp4")
    assert await store.stat("half.mp4") is None
    with pytest.raises(BlobNotFound):
        await store.get("half.mp4")


async def test_missing_blobs(store: BlobStore) -> None:
    with pytest.raises(BlobNotFound):
        await store.get("nope")
    with pytest.raises(BlobNotFound):
        await _collect(store.stream("nope"))
    assert await store.stat("nope") is None
    await store.delete("nope")  # deleting what is not there is fine


async def test_a_key_prefix_or_a_key_below_a_blob_is_not_a_blob(store: BlobStore) -> None:
    await store.put("a/b/c.jpg", b"1", "image/jpeg")
    for key in ("a", "a/b", "a/b/c.jpg/d"):
        assert await store.stat(key) is None
        with pytest.raises(BlobNotFound):
            await store.get(key)
        with pytest.raises(BlobNotFound):
            await _collect(store.stream(key))


async def test_delete_removes_the_blob(store: BlobStore) -> None:
    await store.put("x", b"1", "application/octet-stream")
    await store.delete("x")
    assert await store.stat("x") is None
    with pytest.raises(BlobNotFound):
        await store.get("x")
    await store.delete("x")


async def test_the_store_answers_ping(store: BlobStore) -> None:
    await store.ping()


async def test_the_folder_store_refuses_keys_that_escape_it(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'media'}")
    for key in ("../evil", "/etc/passwd", "a/../../b", "a\\b", "", "a//b", "./a", "a/"):
        with pytest.raises(ValueError, match="invalid blob key"):
            await store.put(key, b"x", "text/plain")
        with pytest.raises(ValueError, match="invalid blob key"):
            await store.get(key)
    assert not (tmp_path / "evil").exists()
    assert await store.presigned_url("anything", 60) is None


async def test_the_folder_store_writes_atomically_and_cleans_up(tmp_path: Path) -> None:
    store = open_blob_store(f"file://{tmp_path / 'media'}")

    async def broken() -> AsyncIterator[bytes]:
        yield b"partial"
        raise ConnectionResetError

    with pytest.raises(ConnectionResetError):
        await store.put("d/half.jpg", broken(), "image/jpeg")
    await store.put("d/whole.jpg", b"whole", "image/jpeg")
    # Only the finished blob (its type and etag in its attribute, or in a ``.meta`` file
    # beside it where there are no attributes): no temporary file is left behind or visible.
    names = sorted(p.name for p in (tmp_path / "media" / "d").iterdir())
    assert names in (["whole.jpg"], ["whole.jpg", "whole.jpg.meta"])


async def test_the_folder_store_keeps_type_and_etag_with_the_file_and_reads_older_layouts(tmp_path: Path) -> None:
    root = tmp_path / "media"
    store = open_blob_store(f"file://{root}")
    info = await store.put("e/clip.bin", b"clip", "video/mp4")
    streamed = await store.put("e/long.bin", _chunks(3000, size=1000), "video/mp4")
    if hasattr(os, "getxattr"):  # Linux: in the file's attribute, no second file
        assert sorted(p.name for p in (root / "e").iterdir()) == ["clip.bin", "long.bin"]
        assert orjson.loads(os.getxattr(root / "e" / "clip.bin", META_ATTRIBUTE))["etag"] == info.etag
    for key, put in (("e/clip.bin", info), ("e/long.bin", streamed)):
        found = await store.stat(key)
        assert found is not None
        assert (found.content_type, found.etag) == ("video/mp4", put.etag)
    # A blob written by an earlier version, with its ``.meta`` file beside it.
    (root / "e" / "old.bin").write_bytes(b"old")
    (root / "e" / "old.bin.meta").write_bytes(orjson.dumps({"content_type": "image/gif", "etag": "e1", "size": 3}))
    old = await store.stat("e/old.bin")
    assert old is not None
    assert (old.content_type, old.etag) == ("image/gif", "e1")
    # One with neither (copied in by hand): its type guessed from its name.
    (root / "e" / "plain.png").write_bytes(b"png")
    plain = await store.stat("e/plain.png")
    assert plain is not None
    assert (plain.size, plain.content_type) == (3, "image/png")
    await store.delete("e/old.bin")
    assert not (root / "e" / "old.bin.meta").exists()


async def test_the_folder_store_keeps_blobs_put_together_in_one_file(tmp_path: Path) -> None:
    """A photo's variants, put in one call, are one file: each still read, streamed in
    ranges, described and deleted as itself."""
    root = tmp_path / "media"
    store = open_blob_store(f"file://{root}")
    assert isinstance(store, FolderBlobStore)
    blobs = [(f"media/7/v{n}.jpg", bytes([n]) * (100 + n), "image/jpeg") for n in range(4)]
    blobs.append(("media/7/master.webp", b"RIFF" + b"m" * 50, "image/webp"))
    blobs.append(("media/8/alone.jpg", b"alone", "image/jpeg"))  # alone in its folder: a file
    infos = await store.put_many(blobs)
    assert [p.name.startswith(".pack-") for p in (root / "media" / "7").iterdir()] == [True]
    assert (root / "media" / "8" / "alone.jpg").read_bytes() == b"alone"
    for (key, data, content_type), info in zip(blobs, infos, strict=True):
        assert await store.get(key) == data
        assert await _collect(store.stream(key)) == data
        assert await _collect(store.stream(key, 2, 5)) == data[2:6]
        assert await _collect(store.stream(key, len(data) - 1, len(data) + 50)) == data[-1:]
        assert await _collect(store.stream(key, len(data) + 3)) == b""
        assert await store.stat(key) == info
        assert (info.size, info.content_type) == (len(data), content_type)
    assert await store.keys_under("media/") == sorted(key for key, _, _ in blobs)
    for missing in ("media/7/v9.jpg", "media/7", "media/7/v1.jpg/x"):
        assert await store.stat(missing) is None
        with pytest.raises(BlobNotFound):
            await store.get(missing)

    # A blob put alone over a packed one replaces it; deleting it removes both.
    await store.put("media/7/v1.jpg", b"newer", "image/png")
    assert await store.get("media/7/v1.jpg") == b"newer"
    await store.delete("media/7/v1.jpg")
    assert await store.stat("media/7/v1.jpg") is None
    assert await store.get("media/7/v2.jpg") == blobs[2][1]
    # Put together again into a folder that holds them: the newest put wins.
    await store.put("media/7/v3.jpg", b"a file", "image/jpeg")
    await store.put_many([("media/7/v3.jpg", b"packed again", "image/jpeg"), ("media/7/x.jpg", b"x", "image/jpeg")])
    assert await store.get("media/7/v3.jpg") == b"packed again"
    # A key given twice in one call: the last of it, as ``put`` one after the other.
    await store.put_many([("media/9/a.jpg", b"first", "image/jpeg"), ("media/9/a.jpg", b"last", "image/png")])
    assert await store.get("media/9/a.jpg") == b"last"
    assert (await store.stat("media/9/a.jpg") or pytest.fail("missing")).content_type == "image/png"
    # Deleting every blob of a pack leaves no file behind.
    for key in await store.keys_under("media/7/"):
        await store.delete(key)
    assert await store.keys_under("media/") == ["media/8/alone.jpg", "media/9/a.jpg"]
    assert list((root / "media" / "7").iterdir()) == []


async def test_the_folder_store_removes_blobs_of_one_pack_side_by_side(tmp_path: Path) -> None:
    """Removing a blob writes its pack again without it; removals of the same pack's
    blobs at once (threads, as two processes would) lose none and bring none back, and
    the others are read throughout."""
    store = open_blob_store(f"file://{tmp_path / 'media'}")
    blobs = [(f"p/{n}.bin", str(n).encode() * 10, "application/octet-stream") for n in range(12)]
    await store.put_many(blobs)
    survivors = blobs[8:]

    async def read_survivors() -> None:
        # Read while their pack is written again and again: never missing meanwhile.
        for _ in range(10):
            for key, data, _ in survivors:
                assert await store.get(key) == data
                assert await _collect(store.stream(key)) == data

    await asyncio.gather(*(store.delete(key) for key, _, _ in blobs[:8]), read_survivors(), read_survivors())
    assert isinstance(store, FolderBlobStore)
    assert await store.keys_under("p/") == sorted(key for key, _, _ in survivors)
    for key, data, _ in survivors:
        assert await store.get(key) == data


async def test_the_folder_url_may_be_relative(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    store = open_blob_store("file://data/media")
    await store.put("k", b"v", "text/plain")
    assert (tmp_path / "data" / "media" / "k").read_bytes() == b"v"


async def test_s3_presigned_urls_expire_and_resist_tampering(make_s3_url: Callable[[str], str]) -> None:
    store = open_blob_store(make_s3_url(unique_name("presign-")))
    try:
        await store.put("p.jpg", b"private", "image/jpeg")
        await store.put("q.jpg", b"other", "image/jpeg")
        url = await store.presigned_url("p.jpg", 60)
        short = await store.presigned_url("p.jpg", 1)
        assert url is not None
        assert short is not None
        async with httpx.AsyncClient() as http:
            answer = await http.get(url)
            assert (answer.status_code, answer.content) == (200, b"private")
            assert (await http.get(url.replace("p.jpg", "q.jpg"))).status_code == 403
            assert (await http.get(url.replace("X-Amz-Expires=60", "X-Amz-Expires=6000"))).status_code == 403
            assert (await http.get(url.split("?", 1)[0])).status_code == 403  # anonymous
            await asyncio.sleep(2.1)
            assert (await http.get(short)).status_code == 403
    finally:
        await store.close()


async def test_s3_ping_fails_fast_when_the_store_is_down() -> None:
    (closed_port,) = free_ports(1)
    store = open_blob_store(f"s3://b?endpoint=http://127.0.0.1:{closed_port}&access_key=k&secret_key=s")
    try:
        with pytest.raises(Exception):  # noqa: B017, PT011 - botocore's connection error, whatever its class
            await asyncio.wait_for(store.ping(), 20)
    finally:
        await store.close()


async def test_s3_aborts_the_multipart_upload_of_a_failed_stream(s3_endpoint: str) -> None:
    import aioboto3
    from botocore.config import Config

    from tests.servers import S3_ACCESS_KEY, S3_SECRET_KEY

    bucket = unique_name("abort-")
    store = open_blob_store(
        f"s3://{bucket}?endpoint={s3_endpoint}&access_key={S3_ACCESS_KEY}&secret_key={S3_SECRET_KEY}"
    )

    async def broken() -> AsyncIterator[bytes]:
        yield b"x" * (20 * 1024 * 1024)  # two whole parts uploaded before the failure
        raise ConnectionResetError

    session = aioboto3.Session(aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=S3_SECRET_KEY)
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"})
    try:
        with pytest.raises(ConnectionResetError):
            await store.put("v.mp4", broken(), "video/mp4")
        client = session.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", config=config)
        async with client as s3:
            uploads = await s3.list_multipart_uploads(Bucket=bucket)
        assert uploads.get("Uploads", []) == []
    finally:
        await store.close()


#: Keys the app never makes. SeaweedFS reads the first three as "a/b.jpg" and answers 400
#: to the dot segments and NUL; a folder would refuse most or escape with some.
MALFORMED_KEYS = (
    "a//b.jpg", "a\\b.jpg", "/a/b.jpg", "a/b.jpg/", "a/./b.jpg", "./a/b.jpg", "a/../b.jpg", "..", ".",
    "", "a/b.jpg\x00.png", "\x00", "a%2Fb.jpg", "a/.hidden", "a b.jpg", "a/b\n.jpg", "caf\u00e9.jpg",
    "a/" + "x" * 256, "a/" * 600 + "b",
)  # fmt: skip


async def _refused(call: Awaitable[object]) -> bool:
    """Whether ``call`` raises InvalidBlobKey (any other outcome, an answer or an error, is not a refusal)."""
    try:
        await call
    except InvalidBlobKey as error:
        return str(error).startswith("invalid blob key")
    except Exception:  # the store was asked, or broke: not the refusal this is about
        return False
    return False


async def test_malformed_keys_are_refused_without_asking_the_store(store: BlobStore) -> None:
    await store.put("a/b.jpg", b"kept", "image/jpeg")
    accepted = []
    for key in MALFORMED_KEYS:
        calls = {
            "stat": store.stat(key),
            "get": store.get(key),
            "stream": _collect(store.stream(key)),
            "put": store.put(key, b"x", "image/jpeg"),
            "delete": store.delete(key),
            "presigned_url": store.presigned_url(key, 60),
        }
        accepted += [(key, name) for name, call in calls.items() if not await _refused(call)]
    assert accepted == []
    assert await store.get("a/b.jpg") == b"kept"


async def test_well_formed_keys_of_every_kind_the_app_makes(store: BlobStore) -> None:
    keys = ("media/123/1080-0123456789abcdef.jpg", "avatars/" + "a" * 64 + ".png", "a..b", "x_y-z.mp4")
    for key in keys:
        assert check_key(key) == key
        await store.put(key, key.encode(), "application/octet-stream")
        assert await store.get(key) == key.encode()


async def test_s3_reads_a_4xx_about_the_key_as_not_found(s3_endpoint: str) -> None:
    """The adapter never sends such keys; a store that still refuses a request with a 4xx
    about it (400 here, for a dot segment) means no blob is there, while a refusal of
    the credentials stays an error, so a misconfigured store does not pass for empty."""
    import aioboto3
    from botocore.config import Config
    from botocore.exceptions import ClientError

    from lumigram.infra.blobstore.s3 import means_not_found
    from tests.servers import S3_ACCESS_KEY, S3_READER_KEY, S3_READER_SECRET, S3_SECRET_KEY

    bucket = unique_name("refuse-")
    config = Config(signature_version="s3v4", s3={"addressing_style": "path"}, retries={"max_attempts": 1})
    answers: dict[str, ClientError] = {}
    for name, secret in (("ours", S3_SECRET_KEY), ("wrong secret", "not-the-secret")):
        session = aioboto3.Session(aws_access_key_id=S3_ACCESS_KEY, aws_secret_access_key=secret)
        async with session.client("s3", endpoint_url=s3_endpoint, region_name="us-east-1", config=config) as s3:
            if name == "ours":
                await s3.create_bucket(Bucket=bucket)
                await s3.put_object(Bucket=bucket, Key="a/b.jpg", Body=b"kept")
                for operation in ("head_object", "get_object"):
                    with pytest.raises(ClientError) as bad_key:
                        await getattr(s3, operation)(Bucket=bucket, Key="a/./b.jpg")
                    answers[f"{operation} of a dot segment"] = bad_key.value
                    with pytest.raises(ClientError) as nul:
                        await getattr(s3, operation)(Bucket=bucket, Key="a/b.jpg\x00.png")
                    answers[f"{operation} with NUL"] = nul.value
            else:
                for operation in ("head_object", "get_object"):
                    with pytest.raises(ClientError) as refused:
                        await getattr(s3, operation)(Bucket=bucket, Key="a/b.jpg")
                    answers[f"{operation} with a wrong secret"] = refused.value
    statuses = {name: error.response["ResponseMetadata"]["HTTPStatusCode"] for name, error in answers.items()}
    assert all(400 <= status < 500 for status in statuses.values()), statuses
    assert {name: means_not_found(error) for name, error in answers.items()} == {
        name: "wrong secret" not in name for name in answers
    }, statuses
    # ... and an adapter holding the wrong secret fails loudly rather than finding nothing.
    wrong = open_blob_store(
        f"s3://{bucket}?endpoint={s3_endpoint}&access_key={S3_ACCESS_KEY}&secret_key=not-the-secret"
    )
    try:
        with pytest.raises(ClientError):
            await wrong.stat("a/b.jpg")
    finally:
        await wrong.close()
    # A put is signed by the adapter itself, and the store checks that signature too: an
    # identity that may only read gets past the bucket's check and is refused the put,
    # which comes back as botocore's kind of error, naming the refusal.
    reader = open_blob_store(
        f"s3://{bucket}?endpoint={s3_endpoint}&access_key={S3_READER_KEY}&secret_key={S3_READER_SECRET}"
    )
    try:
        assert await reader.get("a/b.jpg") == b"kept"
        with pytest.raises(ClientError) as refused_put:
            await reader.put("a/c.jpg", b"never stored", "image/jpeg")
        assert refused_put.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
        assert refused_put.value.response["Error"]["Code"] == "AccessDenied"
        assert not means_not_found(refused_put.value)
        assert await reader.stat("a/c.jpg") is None
    finally:
        await reader.close()
