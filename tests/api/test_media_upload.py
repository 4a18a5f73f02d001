"""Uploading photos through POST /api/v2/media, and the hostile files that must be refused."""

from __future__ import annotations

import io
import struct
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image
from sqlalchemy import func, select

from lumigram.infra.tables import media_attachments
from lumigram.services import Services
from tests.factories import create_user
from tests.image_files import add_gps_position, png_bomb


def _jpeg_with_gps_rotated(width: int = 400, height: int = 300) -> bytes:
    image = Image.new("RGB", (width, height), (30, 120, 200))
    image.paste((250, 10, 10), (0, 0, 40, 40))  # a red corner, to see where the top-left went
    exif = image.getexif()
    exif[0x0112] = 6  # the camera was turned: show rotated 90° clockwise
    add_gps_position(exif)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _gif_with_frames(frames: int) -> bytes:
    """A 1×1 animated GIF of ``frames`` frames, written by hand (Pillow would merge them)."""
    screen = b"GIF89a" + struct.pack("<HHBBB", 1, 1, 0x80, 0, 0) + b"\x00\x00\x00\xff\xff\xff"
    frame = (
        b"\x21\xf9\x04\x00\x0a\x00\x00\x00"  # graphic control: 0.1 s
        + b"\x2c" + struct.pack("<HHHHB", 0, 0, 1, 1, 0)  # image descriptor
        + b"\x02\x02\x44\x01\x00"  # LZW: clear, pixel 0, end
    )  # fmt: skip
    return screen + frame * frames + b"\x3b"


async def _upload(
    client: httpx.AsyncClient, headers: dict[str, str], data: bytes, name: str, mime: str, **fields: str
) -> httpx.Response:
    return await client.post("/api/v2/media", headers=headers, files={"file": (name, data, mime)}, data=fields)


async def test_a_photo_is_ready_at_once_rotated_and_without_metadata(
    client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user(client)
    original = _jpeg_with_gps_rotated()
    assert b"Exif" in original
    response = await _upload(client, user["headers"], original, "holiday.jpg", "image/jpeg", description="A lake")
    assert response.status_code == 200, response.text
    media = response.json()
    assert media["type"] == "image"
    assert media["description"] == "A lake"
    assert media["meta"]["original"]["width"] == 300  # turned upright: portrait
    assert media["meta"]["original"]["height"] == 400
    served = await client.get(urlsplit(media["url"]).path)
    assert served.status_code == 200
    assert b"Exif" not in served.content
    assert b"GPS" not in served.content
    shown = Image.open(io.BytesIO(served.content))
    assert shown.height > shown.width  # rotated, then cropped to at most 4:5
    assert shown.width / shown.height >= 0.8 - 0.01
    assert not shown.getexif()
    red, _green, blue = shown.convert("RGB").getpixel((shown.width - 5, 5))  # the red corner is top-right now
    assert red > 150
    assert blue < 100
    preview = await client.get(urlsplit(media["preview_url"]).path)
    assert preview.status_code == 200

    fetched = await client.get(f"/api/v1/media/{media['id']}", headers=user["headers"])
    assert fetched.status_code == 200
    assert fetched.json()["id"] == media["id"]


async def test_png_with_alpha_webp_and_gif_are_accepted(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    for fmt in ("PNG", "WEBP", "GIF"):
        image = Image.new("RGBA" if fmt != "GIF" else "P", (200, 200))
        out = io.BytesIO()
        image.save(out, fmt)
        # The declared type is ignored: the content decides.
        response = await _upload(client, user["headers"], out.getvalue(), "x.bin", "application/octet-stream")
        assert response.status_code == 200, (fmt, response.text)


@pytest.mark.parametrize(
    ("name", "payload", "phrase"),
    [
        ("empty.jpg", b"", "is empty"),
        ("notes.jpg", b"just some text, not a picture at all", "not a supported photo"),
        ("page.jpg", b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>", "could not be read"),
        ("truncated.jpg", _jpeg_with_gps_rotated()[:600], "could not be read"),
        ("bomb.png", png_bomb(), "50 megapixels"),
        ("party.gif", _gif_with_frames(10_000), "at most 1000 frames"),
    ],
)
async def test_hostile_files_are_refused_clearly(
    client: httpx.AsyncClient, services: Services, name: str, payload: bytes, phrase: str
) -> None:
    user = await create_user(client)
    response = await _upload(client, user["headers"], payload, name, "image/jpeg")
    assert response.status_code == 422, response.text
    assert phrase in response.json()["error"]
    assert (await client.get("/healthz")).status_code == 200
    async with services.db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(media_attachments))).scalar_one() == 0
    media_folder = services.settings.data_dir / "media"
    if services.settings.media_url.startswith("file://") and media_folder.exists():
        assert [p for p in media_folder.rglob("*") if p.is_file()] == []  # no blob left behind


async def test_a_short_animated_gif_is_accepted(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    response = await _upload(client, user["headers"], _gif_with_frames(12), "loop.gif", "image/gif")
    assert response.status_code == 200, response.text


async def test_alt_text_and_focus_can_be_changed_by_the_owner_only(client: httpx.AsyncClient) -> None:
    owner = await create_user(client)
    other = await create_user(client)
    out = io.BytesIO()
    Image.new("RGB", (300, 300)).save(out, "JPEG")
    media = (await _upload(client, owner["headers"], out.getvalue(), "a.jpg", "image/jpeg")).json()
    path = f"/api/v1/media/{media['id']}"
    changed = await client.put(path, headers=owner["headers"], data={"description": "Sunset", "focus": "0.5,-0.25"})
    assert changed.status_code == 200
    assert changed.json()["description"] == "Sunset"
    assert changed.json()["meta"]["focus"] == {"x": 0.5, "y": -0.25}
    assert (await client.put(path, headers=other["headers"], data={"description": "mine"})).status_code == 404
    assert (await client.get(path, headers=other["headers"])).status_code == 404
    bad_focus = await client.put(path, headers=owner["headers"], data={"focus": "3,0"})
    assert bad_focus.status_code == 422
    too_long = await client.put(path, headers=owner["headers"], data={"description": "x" * 1501})
    assert too_long.status_code == 422
    assert (await client.get("/api/v1/media/notanumber", headers=owner["headers"])).status_code == 404


async def test_uploads_need_a_signed_in_user(client: httpx.AsyncClient) -> None:
    response = await client.post("/api/v2/media", files={"file": ("a.jpg", b"\xff\xd8\xff", "image/jpeg")})
    assert response.status_code == 401
    user = await create_user(client)
    missing = await client.post("/api/v2/media", headers=user["headers"], data={"description": "no file"})
    assert missing.status_code == 422
