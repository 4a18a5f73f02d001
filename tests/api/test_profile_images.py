"""Avatars and headers: re-encoded like post photos, cropped to their fixed shapes, no metadata kept."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from PIL import Image

from tests.factories import create_user
from tests.image_files import add_gps_position, png_bomb

RED = (230, 20, 20)
BLUE = (20, 40, 230)


def _camera_jpeg() -> bytes:
    """A 3000×2000 JPEG as a phone writes it: GPS position, and an orientation tag to turn it.

    The stored pixels are red on the left half and blue on the right; orientation 6 means
    "turn 90° clockwise to show", so the photo as seen is portrait, red on top, blue below.
    """
    image = Image.new("RGB", (3000, 2000), BLUE)
    image.paste(RED, (0, 0, 1500, 2000))
    exif = image.getexif()
    exif[0x0112] = 6
    exif[0x010F] = "PhoneMaker"
    add_gps_position(exif)
    out = io.BytesIO()
    image.save(out, "JPEG", exif=exif, quality=90)
    return out.getvalue()


def _animated(fmt: str) -> bytes:
    """Two frames, red then green."""
    frames = [Image.new("RGB", (120, 120), RED), Image.new("RGB", (120, 120), (20, 200, 20))]
    out = io.BytesIO()
    frames[0].save(out, fmt, save_all=True, append_images=frames[1:], duration=100, loop=0)
    return out.getvalue()


def _small_png(colour: tuple[int, int, int], size: tuple[int, int] = (64, 64)) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "PNG")
    return out.getvalue()


async def _fetch(client: httpx.AsyncClient, url: str) -> tuple[bytes, Image.Image]:
    served = await client.get(urlsplit(url).path)
    assert served.status_code == 200, served.text
    image = Image.open(io.BytesIO(served.content))
    assert served.headers["content-type"] == Image.MIME[image.format or ""]
    return served.content, image


async def _set_pictures(
    client: httpx.AsyncClient, user: dict[str, Any], files: dict[str, tuple[str, bytes, str]], **fields: str
) -> httpx.Response:
    """Send ``files`` (avatar, header) and form ``fields`` to ``update_credentials`` as ``user``."""
    return await client.patch(
        "/api/v1/accounts/update_credentials", files=files, data=fields or None, headers=user["headers"]
    )


def _near(pixel: object, colour: tuple[int, int, int]) -> bool:
    assert isinstance(pixel, tuple)
    return all(abs(a - b) < 40 for a, b in zip(pixel[:3], colour, strict=True))


async def test_camera_photo_becomes_upright_square_avatar_and_banner_header_without_metadata(
    client: httpx.AsyncClient,
) -> None:
    user = await create_user(client)
    photo = _camera_jpeg()
    assert b"GPS" in photo or b"\x88\x25" in photo
    files = {"avatar": ("me.jpg", photo, "image/jpeg"), "header": ("top.jpg", photo, "image/jpeg")}
    response = await _set_pictures(client, user, files)
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["avatar_static"] == me["avatar"]
    assert me["header_static"] == me["header"]

    for url, size in ((me["avatar"], (400, 400)), (me["header"], (1500, 500))):
        raw, image = await _fetch(client, url)
        assert image.size == size
        assert b"Exif" not in raw
        assert b"PhoneMaker" not in raw
        assert not image.getexif()
        assert "exif" not in image.info
        assert "xmp" not in image.info
        rgb = image.convert("RGB")
        width, height = rgb.size
        # Upright: red above, blue below (unturned, it would be red on the left instead).
        assert _near(rgb.getpixel((width // 2, height // 10)), RED)
        assert _near(rgb.getpixel((width // 2, height - height // 10)), BLUE)
        assert _near(rgb.getpixel((width - 5, height // 10)), RED)


async def test_same_picture_keeps_its_address(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    png = _small_png((10, 120, 90))
    urls = []
    for _ in range(2):
        response = await _set_pictures(client, user, {"avatar": ("a.png", png, "image/png")})
        assert response.status_code == 200, response.text
        urls.append(response.json()["avatar"])
    assert urls[0] == urls[1]
    _raw, image = await _fetch(client, urls[0])
    assert image.size == (64, 64)  # smaller than 400 px: cropped, never enlarged


async def test_transparent_avatar_keeps_its_transparency(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    logo = Image.new("RGBA", (300, 200), (0, 0, 0, 0))
    logo.paste((200, 10, 10, 255), (100, 50, 200, 150))
    out = io.BytesIO()
    logo.save(out, "PNG")
    response = await _set_pictures(client, user, {"avatar": ("logo.png", out.getvalue(), "image/png")})
    assert response.status_code == 200, response.text
    _raw, image = await _fetch(client, response.json()["avatar"])
    assert image.size == (200, 200)
    rgba = image.convert("RGBA")
    corner = rgba.getpixel((2, 2))
    assert isinstance(corner, tuple)
    assert corner[3] == 0
    assert rgba.getpixel((100, 100)) == (200, 10, 10, 255)


@pytest.mark.parametrize("fmt", ["GIF", "WEBP"])
async def test_animated_avatar_and_header_become_their_first_frame(client: httpx.AsyncClient, fmt: str) -> None:
    user = await create_user(client)
    animation = _animated(fmt)
    with Image.open(io.BytesIO(animation)) as opened:
        assert opened.n_frames == 2
    files = {"avatar": ("a.bin", animation, "application/octet-stream"), "header": ("h.bin", animation, "image/gif")}
    response = await _set_pictures(client, user, files)
    assert response.status_code == 200, response.text
    me = response.json()
    for url in (me["avatar"], me["avatar_static"], me["header"], me["header_static"]):
        _raw, image = await _fetch(client, url)
        assert getattr(image, "n_frames", 1) == 1
        assert not getattr(image, "is_animated", False)
        rgb = image.convert("RGB")
        assert _near(rgb.getpixel((rgb.width // 2, rgb.height // 2)), RED)


_TEXT = b"just some text, not a picture at all"
_DISGUISED = b"\xff\xd8\xff\xe0<html><script>alert(1)</script></html>"
_TRUNCATED = _camera_jpeg()[:3000]
#: Cut inside the second frame: Pillow's frame count used to fail there with IndexError.
_CUT_GIF = _animated("GIF")[:280]


@pytest.mark.parametrize(
    ("field", "payload", "phrase"),
    [
        ("avatar", _TEXT, "not a supported image"),
        ("avatar", _DISGUISED, "could not be read"),
        ("avatar", _TRUNCATED, "could not be read"),
        ("avatar", png_bomb(), "50 megapixels"),
        ("avatar", _CUT_GIF, "could not be read"),
        ("header", _TRUNCATED, "could not be read"),
        ("header", png_bomb(), "50 megapixels"),
    ],
    ids=[
        "avatar-text",
        "avatar-disguised",
        "avatar-truncated",
        "avatar-bomb",
        "avatar-cut-gif",
        "header-truncated",
        "header-bomb",
    ],
)
async def test_bad_file_is_refused_and_the_old_picture_stays(
    client: httpx.AsyncClient, field: str, payload: bytes, phrase: str
) -> None:
    user = await create_user(client)
    first = await _set_pictures(client, user, {field: ("ok.png", _small_png((10, 120, 90)), "image/png")})
    assert first.status_code == 200, first.text
    before = first.json()

    new = {field: ("new.jpg", payload, "image/jpeg")}
    refused = await _set_pictures(client, user, new, display_name="Should not stick")
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert phrase in body["error"]
    assert field in body["details"]

    after = (await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])).json()
    assert after[field] == before[field]
    assert after["display_name"] == before["display_name"]
    _raw, image = await _fetch(client, after[field])
    assert _near(image.convert("RGB").getpixel((5, 5)), (10, 120, 90))


async def test_a_cut_animated_gif_is_refused_as_a_post_photo_too(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    response = await client.post(
        "/api/v2/media", headers=user["headers"], files={"file": ("cut.gif", _CUT_GIF, "image/gif")}
    )
    assert response.status_code == 422, response.text
    assert "could not be read" in response.json()["error"]
