"""A story's photo in its 9:16 frame, on both shapes: a landscape photo is shown whole on a
blurred, dimmed backdrop of itself, a 9:16 photo fills the frame uncut (while its post
variants keep a post's 4:5 bounds); a video gets the backdrop alone."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
from PIL import Image, ImageDraw

from lumigram.services import Services
from lumigram.uploads.story_frames import story_frame
from tests.api.test_stories import API
from tests.factories import create_user

GREEN = (30, 180, 60)
MAGENTA = (200, 30, 170)


def _jpeg(size: tuple[int, int], top_band: tuple[int, int, int] | None = None) -> bytes:
    """Green, with a magenta band along the top edge when asked (to see whether it was cut)."""
    image = Image.new("RGB", size, GREEN)
    if top_band is not None:
        ImageDraw.Draw(image).rectangle((0, 0, size[0], size[1] // 20), fill=top_band)
    out = io.BytesIO()
    image.save(out, "JPEG", quality=95)
    return out.getvalue()


async def _framed_story(client: httpx.AsyncClient, user: dict[str, Any], data: bytes) -> dict[str, Any]:
    files = {"file": ("photo.jpg", data, "image/jpeg")}
    media = await client.post("/api/v2/media", headers=user["headers"], files=files)
    assert media.status_code == 200, media.text
    made = await client.post(f"{API}/stories", headers=user["headers"], json={"media_id": media.json()["id"]})
    assert made.status_code == 200, made.text
    story: dict[str, Any] = made.json()
    return story


async def _picture(services: Services, url: str) -> Image.Image:
    data = await services.blobs.get(unquote(urlsplit(url).path.removeprefix("/media/")))
    return Image.open(io.BytesIO(data)).convert("RGB")


def _close(pixel: Any, colour: tuple[int, int, int], within: int = 12) -> bool:
    return all(abs(a - b) <= within for a, b in zip(pixel, colour, strict=True))


async def test_story_photos_are_fitted_on_a_backdrop_of_themselves(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await create_user(client)

    landscape = await _framed_story(client, alice, _jpeg((800, 450)))
    media = landscape["media_attachment"]
    assert media["meta"]["story"] | {"background": None} == {
        "width": 1080,
        "height": 1920,
        "size": "1080x1920",
        "aspect": 0.5625,
        "fills": False,
        "background": None,
    }
    assert _close(bytes.fromhex(media["meta"]["story"]["background"][1:]), GREEN)
    frame = await _picture(services, media["url"])
    assert frame.size == (1080, 1920)
    # The whole photo, 1080 wide, in the middle; above and below, the dimmed backdrop.
    assert _close(frame.getpixel((540, 960)), GREEN)
    assert _close(frame.getpixel((5, 960 - 300 + 8)), GREEN)
    backdrop = frame.getpixel((540, 100))
    assert not _close(backdrop, GREEN)
    assert _close(backdrop, tuple(round(c * 0.7) for c in GREEN), 20)
    # The photo as posted is still there.
    assert (await _picture(services, media["lumigram"]["original_url"])).size == (800, 450)

    tall = await _framed_story(client, alice, _jpeg((720, 1280), top_band=MAGENTA))
    media = tall["media_attachment"]
    assert media["meta"]["story"]["fills"] is True
    frame = await _picture(services, media["url"])
    assert frame.size == (1080, 1920)
    # Uncut: the band along the top edge is at the top of the frame.
    assert _close(frame.getpixel((540, 10)), MAGENTA, 20)
    assert _close(frame.getpixel((540, 1900)), GREEN)
    # A post's variants of the same upload stay within 4:5.
    assert media["meta"]["original"]["size"] == "720x1280"
    posted = await _picture(services, media["lumigram"]["original_url"])
    assert posted.size == (720, 900)


def test_a_video_story_gets_its_backdrop_alone() -> None:
    """The player lays the video over it; the backdrop shows nothing sharp of the poster."""
    poster = _jpeg((640, 360))
    frame = story_frame(poster, backdrop_only=True)
    assert frame.fills is False
    image = Image.open(io.BytesIO(frame.variants[0].data)).convert("RGB")
    assert image.size == (1080, 1920)
    centre = image.getpixel((540, 960))
    assert not _close(centre, GREEN)
    assert _close(centre, tuple(round(c * 0.7) for c in GREEN), 20)
