"""A vertical video uploaded through the API gets an HLS ladder from the worker (its use is
not known then: it may become a reel); made a story later, it loses the ladder it will
never play (stories play the MP4), on both shapes.

The upload is the row and the stored files the worker leaves for a vertical clip (the
transcode and the packaging themselves are tested with reels), with its 9:16 backdrop
made already (``test_story_video`` makes one), so the test pays for neither."""

from __future__ import annotations

from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import insert, select

from lumigram.infra.blobstore import BlobNotFound
from lumigram.infra.tables import media_attachments, utcnow
from lumigram.services import Services
from lumigram.uploads.handlers import blob_keys_of
from lumigram.uploads.story_frames import NAME as STORY_FRAME
from tests.api.test_stories import API, _key
from tests.factories import create_user, photo_bytes

PLAYLIST = "application/vnd.apple.mpegurl"


async def _packaged_upload(services: Services, account_id: int) -> tuple[int, dict[str, Any]]:
    """A ready vertical video upload with its MP4, poster, backdrop and a one-rung HLS
    ladder stored."""
    media_id = services.ids.next_id()
    folder = f"media/{media_id}"
    files = {
        f"{folder}/video-0123456789abcdef.mp4": (b"\x00\x00\x00\x18ftypmp42", "video/mp4"),
        f"{folder}/poster-0123456789abcdef.jpg": (photo_bytes(size=(90, 160)), "image/jpeg"),
        f"{folder}/story-0123456789abcdef.jpg": (photo_bytes(size=(90, 160)), "image/jpeg"),
        f"{folder}/hls-0123-360p.m3u8": (b"#EXTM3U\n#EXTINF:1.0,\nhls-0123-360p-000.ts\n", PLAYLIST),
        f"{folder}/hls-0123-360p-000.ts": (b"\x47" * 188, "video/mp2t"),
        f"{folder}/hls-0123.m3u8": (b"#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nhls-0123-360p.m3u8\n", PLAYLIST),
    }  # fmt: skip
    for key, (content, content_type) in files.items():
        await services.blobs.put(key, content, content_type)
    keys = list(files)
    variants = {
        "video": {"mp4": {"key": keys[0], "width": 180, "height": 320, "size": len(files[keys[0]][0])}},
        "poster": {"jpeg": {"key": keys[1], "width": 90, "height": 160}},
        STORY_FRAME: {"jpeg": {"key": keys[2], "width": 90, "height": 160}},
        "hls": {
            "master": {"key": keys[5]},
            "rungs": [
                {
                    "name": "360p",
                    "width": 180,
                    "height": 320,
                    "bandwidth": 1,
                    "playlist": {"key": keys[3]},
                    "segments": [{"key": keys[4]}],
                }
            ],
        },
    }
    meta = {"width": 180, "height": 320, "duration": 1.0}
    async with services.db.begin() as conn:
        await conn.execute(
            insert(media_attachments).values(
                id=media_id,
                account_id=account_id,
                kind="video",
                state="ready",
                content_type="video/mp4",
                size=1,
                sha256="0" * 64,
                variants=orjson.dumps(variants).decode(),
                meta=orjson.dumps(meta).decode(),
                focus_x=0.0,
                focus_y=0.0,
                private=False,
                created_at=utcnow(),
            )
        )
    return media_id, variants


async def _variants(services: Services, media_id: int) -> dict[str, Any]:
    async with services.db.connect() as conn:
        query = select(media_attachments.c.variants).where(media_attachments.c.id == media_id)
        found: dict[str, Any] = orjson.loads((await conn.execute(query)).scalar_one())
    return found


async def test_a_video_made_a_story_drops_its_hls_ladder(client: httpx.AsyncClient, services: Services) -> None:
    owner = await create_user(client)
    media_id, variants = await _packaged_upload(services, int(owner["id"]))
    ladder_keys = blob_keys_of(variants["hls"])
    listed = await client.get(f"/api/v1/media/{media_id}", headers=owner["headers"])
    assert listed.json()["lumigram"]["hls_url"] is not None  # a reel could still use it

    made = await client.post(f"{API}/stories", headers=owner["headers"], json={"media_id": str(media_id)})
    assert made.status_code == 200, made.text
    media = made.json()["media_attachment"]
    assert media["lumigram"]["hls_url"] is None
    kept = await _variants(services, media_id)
    assert "hls" not in kept
    assert kept["video"] == variants["video"]
    for key in ladder_keys:
        with pytest.raises(BlobNotFound):
            await services.blobs.get(key)
    assert await services.blobs.get(_key(media["url"]))  # the MP4 it plays stays
