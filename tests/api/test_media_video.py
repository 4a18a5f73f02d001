"""Uploading videos through POST /api/v2/media: 202, 206 while transcoding, then 200 (or 422).

Every test runs on both shapes, so the consumer runs on the in-process bus and on
JetStream, with the blobs in a folder and in SeaweedFS. Clips are made with PyAV.
"""

from __future__ import annotations

import hashlib
import io
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import av
import httpx
import pytest
from PIL import Image

from lumigram.infra.blobstore.folder import FolderBlobStore
from lumigram.infra.blobstore.s3 import S3BlobStore
from lumigram.services import Services
from lumigram.uploads import videos
from lumigram.uploads.handlers import process_video
from tests.conftest import eventually
from tests.factories import create_user
from tests.settle import settle
from tests.video_clips import atom_order, garbled, make_clip

#: Transcoding a 2-second clip takes a fraction of a second, but the first job also starts
#: the process pool (spawned processes import PyAV), and CI machines are slow.
PROCESSING_TIMEOUT = 60.0


async def _upload(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    data: bytes,
    name: str = "clip.mp4",
    mime: str = "video/mp4",
    route: str = "/api/v2/media",
    **fields: str,
) -> httpx.Response:
    return await client.post(route, headers=headers, files={"file": (name, data, mime)}, data=fields)


async def _settled(client: httpx.AsyncClient, headers: dict[str, str], media_id: str) -> httpx.Response:
    """GET the media until it is no longer processing (206); checks 206 is all we see before."""

    async def check() -> httpx.Response | None:
        response = await client.get(f"/api/v1/media/{media_id}", headers=headers)
        if response.status_code == 206:
            assert response.json()["url"] is None
            return None
        return response

    result: httpx.Response = await eventually(check, timeout=PROCESSING_TIMEOUT, interval=0.1)
    return result


async def _stored_keys(services: Services, media_id: str) -> list[str]:
    """Every blob under ``media/<id>/``, from the store itself (the port has no listing)."""
    prefix = f"media/{media_id}/"
    blobs = services.blobs
    if isinstance(blobs, FolderBlobStore):
        return await blobs.keys_under(prefix)
    assert isinstance(blobs, S3BlobStore)
    s3 = await blobs._s3()
    listed = await s3.list_objects_v2(Bucket=blobs.bucket, Prefix=prefix)
    return sorted(str(item["Key"]) for item in listed.get("Contents", []))


def _original_key(media_id: str, data: bytes, extension: str) -> str:
    return f"media/{media_id}/original-{hashlib.sha256(data).hexdigest()[:16]}.{extension}"


def _decode_served(mp4: bytes) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "served.mp4"
        path.write_bytes(mp4)
        with av.open(str(path)) as container:
            video = container.streams.video[0]
            frames = list(container.decode(video=0))
            first = frames[0]
            audio = [stream.codec_context.name for stream in container.streams.audio]
            return {
                "codec": video.codec_context.name,
                "pix_fmt": video.codec_context.pix_fmt,
                "frames": len(frames),
                "width": first.width,
                "height": first.height,
                "audio": audio,
                "first": first.to_image(),
            }


@pytest.mark.parametrize(
    ("container", "codec", "name", "extension"),
    [
        ("mp4", "libx264", "clip.mp4", "mp4"),
        ("mov", "mpeg4", "clip.mov", "mov"),
        ("webm", "libvpx-vp9", "clip.webm", "webm"),
    ],
)
async def test_a_video_is_accepted_then_transcoded_to_web_ready_h264(
    client: httpx.AsyncClient, services: Services, container: str, codec: str, name: str, extension: str
) -> None:
    user = await create_user(client)
    clip = make_clip(container, codec, width=320, height=240, seconds=2, fps=15)
    # A declared type that is wrong on purpose: the first bytes decide.
    response = await _upload(client, user["headers"], clip, name, "image/jpeg", description="Waves", focus="0,0.5")
    assert response.status_code == 202, response.text
    accepted = response.json()
    assert accepted["type"] == "video"
    assert accepted["url"] is None
    assert accepted["description"] == "Waves"

    settled = await _settled(client, user["headers"], accepted["id"])
    assert settled.status_code == 200, settled.text
    media = settled.json()
    assert media["type"] == "video"
    assert media["meta"]["original"]["width"] == 320
    assert media["meta"]["original"]["height"] == 240
    assert media["meta"]["original"]["duration"] == pytest.approx(2.0, abs=0.2)
    assert media["meta"]["original"]["frame_rate"] == "15/1"
    assert media["meta"]["focus"] == {"x": 0.0, "y": 0.5}

    served = await client.get(urlsplit(media["url"]).path)
    assert served.status_code == 200
    assert served.headers["content-type"] == "video/mp4"
    order = atom_order(served.content)
    assert order.index(b"moov") < order.index(b"mdat"), order  # faststart: playable while downloading
    decoded = _decode_served(served.content)
    assert decoded["codec"] == "h264"
    assert decoded["pix_fmt"] == "yuv420p"
    assert (decoded["width"], decoded["height"]) == (320, 240)
    assert decoded["frames"] == pytest.approx(30, abs=2)
    assert decoded["audio"] == ["aac"]

    poster = await client.get(urlsplit(media["preview_url"]).path)
    assert poster.status_code == 200
    shown = Image.open(io.BytesIO(poster.content))
    assert shown.format == "JPEG"
    assert shown.size == (320, 240)
    assert not shown.getexif()

    # Only the re-encoded files remain: the upload as sent is gone.
    assert await services.blobs.stat(_original_key(media["id"], clip, extension)) is None
    keys = await _stored_keys(services, media["id"])
    assert len(keys) == 2, keys
    served_keys = {urlsplit(media[field]).path.removeprefix("/media/") for field in ("url", "preview_url")}
    assert served_keys == set(keys)


async def test_a_sideways_phone_clip_is_turned_upright(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    # Stored landscape with a display matrix saying "turn a quarter clockwise", as phones do.
    clip = make_clip(width=320, height=240, rotation=-90, audio=False)
    response = await _upload(client, user["headers"], clip)
    assert response.status_code == 202, response.text
    media = (await _settled(client, user["headers"], response.json()["id"])).json()
    assert (media["meta"]["width"], media["meta"]["height"]) == (240, 320)
    decoded = _decode_served((await client.get(urlsplit(media["url"]).path)).content)
    assert (decoded["width"], decoded["height"]) == (240, 320)
    image = decoded["first"].convert("RGB")
    red, green, _blue = image.getpixel((image.width - 8, 8))  # the stored top-left is now top-right
    assert red > 150
    assert green < 100
    assert image.getpixel((8, 8))[0] < 100


async def test_a_large_video_is_scaled_to_1080p_with_even_sides(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    clip = make_clip(width=2400, height=1350, seconds=0.5, fps=10, audio=False)
    response = await _upload(client, user["headers"], clip, route="/api/v1/media")
    assert response.status_code == 202, response.text
    media = (await _settled(client, user["headers"], response.json()["id"])).json()
    assert (media["meta"]["width"], media["meta"]["height"]) == (1920, 1080)
    decoded = _decode_served((await client.get(urlsplit(media["url"]).path)).content)
    assert (decoded["width"], decoded["height"]) == (1920, 1080)


def _audio_only() -> bytes:
    return make_clip(video=False, seconds=2)


def _ten_minutes() -> bytes:
    # Cheap to make (16x16 at 1 fps) but 600 seconds long by its container.
    return make_clip(width=16, height=16, seconds=600, fps=1, audio=False)


def _undecodable() -> bytes:
    return garbled(make_clip(seconds=4, audio=False))


def _header_then_garbage() -> bytes:
    return make_clip()[:32] + b"\x00\x13garbage, not a movie" * 200


@pytest.mark.parametrize(
    ("make", "phrase"),
    [
        (_audio_only, "The file has no video track"),
        (_ten_minutes, "Videos may be at most 90 seconds (this one is 600)"),
        (_undecodable, "could not be decoded"),
        (_header_then_garbage, "could not be read as a video"),
    ],
)
async def test_hostile_videos_fail_with_the_reason_and_leave_nothing_behind(
    client: httpx.AsyncClient, services: Services, make: Callable[[], bytes], phrase: str
) -> None:
    user = await create_user(client)
    data = make()
    response = await _upload(client, user["headers"], data, "movie.mp4", "video/mp4")
    assert response.status_code == 202, response.text
    media_id = response.json()["id"]
    settled = await _settled(client, user["headers"], media_id)
    assert settled.status_code == 422, settled.text
    assert phrase in settled.json()["error"]
    # The row says failed before the upload as sent is deleted: the consumer's last step.
    await settle(services)
    assert await _stored_keys(services, media_id) == []
    assert await services.blobs.stat(_original_key(media_id, data, "mp4")) is None
    assert (await client.get("/healthz")).status_code == 200
    # Redelivery of the same event finds the work done and changes nothing.
    await process_video(services, int(media_id))
    again = await client.get(f"/api/v1/media/{media_id}", headers=user["headers"])
    assert again.status_code == 422
    assert again.json() == settled.json()


@pytest.mark.parametrize(
    ("payload", "phrase"),
    [
        (b"", "is empty"),
        (b"\x00\x00\x00\x18ftypheic\x00\x00\x00\x00mif1heic" + b"\x00" * 64, "could not be read"),
        (b"RIFF\x00\x00\x00\x00AVI LIST" + b"\x00" * 64, "or video (MP4, MOV or WebM)"),
    ],
)
async def test_files_that_are_no_video_are_refused_at_once(
    client: httpx.AsyncClient, payload: bytes, phrase: str
) -> None:
    user = await create_user(client)
    response = await _upload(client, user["headers"], payload, "movie.mp4", "video/mp4")
    assert response.status_code == 422, response.text
    assert phrase in response.json()["error"]
    assert (await client.get("/healthz")).status_code == 200


async def test_a_photo_declared_as_video_is_still_a_photo(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    out = io.BytesIO()
    Image.new("RGB", (300, 300), (200, 30, 30)).save(out, "JPEG")
    response = await _upload(client, user["headers"], out.getvalue(), "movie.mp4", "video/mp4")
    assert response.status_code == 200, response.text
    assert response.json()["type"] == "image"


async def test_a_video_over_the_size_limit_is_refused_before_storing(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    user = await create_user(client)
    clip = make_clip(seconds=1)
    monkeypatch.setattr(videos, "MAX_BYTES", len(clip) - 1)
    response = await _upload(client, user["headers"], clip)
    assert response.status_code == 422, response.text
    assert "must be at most" in response.json()["error"]
    assert response.json()["details"]["file"][0]["error"] == "ERR_TOO_LARGE"


async def test_only_the_owner_sees_a_video_and_redelivery_changes_nothing(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner = await create_user(client)
    other = await create_user(client)
    response = await _upload(client, owner["headers"], make_clip(seconds=1))
    media_id = response.json()["id"]
    assert (await client.get(f"/api/v1/media/{media_id}", headers=other["headers"])).status_code == 404
    ready = await _settled(client, owner["headers"], media_id)
    assert ready.status_code == 200
    keys = await _stored_keys(services, media_id)
    await process_video(services, int(media_id))
    assert await _stored_keys(services, media_id) == keys
    assert (await client.get(f"/api/v1/media/{media_id}", headers=owner["headers"])).json() == ready.json()
    changed = await client.put(f"/api/v1/media/{media_id}", headers=owner["headers"], data={"description": "Surf"})
    assert changed.status_code == 200
    assert changed.json()["description"] == "Surf"
    assert changed.json()["url"] == ready.json()["url"]


async def test_an_upload_larger_than_one_s3_part_is_streamed_through(
    client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user(client)
    # A real clip plus a 9 MB top-level `free` box (padding every MP4 reader skips): more than
    # one 8 MiB multipart part on S3, and many chunks for the folder and the download.
    padding = 9 * 1024 * 1024
    data = make_clip(seconds=1) + (padding + 8).to_bytes(4, "big") + b"free" + bytes(padding)
    response = await _upload(client, user["headers"], data)
    assert response.status_code == 202, response.text
    settled = await _settled(client, user["headers"], response.json()["id"])
    assert settled.status_code == 200, settled.text
    assert settled.json()["meta"]["original"]["duration"] == pytest.approx(1.0, abs=0.2)
    assert await services.blobs.stat(_original_key(settled.json()["id"], data, "mp4")) is None


async def test_a_filter_on_a_video_is_refused_rather_than_ignored(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    for fields in ({"filter": "juno"}, {"warmth": "20"}):
        response = await _upload(client, user["headers"], make_clip(seconds=0.5, audio=False), **fields)
        assert response.status_code == 422, response.text
        assert "can only be set on photos" in response.json()["error"]
    plain = await _upload(client, user["headers"], make_clip(seconds=0.5, audio=False), filter="normal")
    assert plain.status_code == 202, plain.text
    assert (await _settled(client, user["headers"], plain.json()["id"])).status_code == 200
