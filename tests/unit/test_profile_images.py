"""The avatar and header pipeline alone (no server): shapes, colour modes, the stored-form check."""

from __future__ import annotations

import contextlib
import io

import pytest
from PIL import Image, PngImagePlugin

from lumigram.uploads.images import ImageRejected, process_image
from lumigram.uploads.profile_images import AVATAR_SIZE, HEADER_SIZE, is_stored_form, process_profile_image

LIMIT = 8 * 1024 * 1024


def _encoded(image: Image.Image, fmt: str, **options: object) -> bytes:
    out = io.BytesIO()
    image.save(out, fmt, **options)
    return out.getvalue()


@pytest.mark.parametrize(
    ("source", "size", "expected"),
    [
        ((6000, 100), AVATAR_SIZE, (100, 100)),
        ((6000, 100), HEADER_SIZE, (300, 100)),
        ((100, 6000), AVATAR_SIZE, (100, 100)),
        ((100, 6000), HEADER_SIZE, (100, 33)),
        ((1, 1), HEADER_SIZE, (1, 1)),
        ((5000, 5000), HEADER_SIZE, (1500, 500)),
        ((999, 401), AVATAR_SIZE, (400, 400)),
    ],
)
def test_extreme_shapes_are_centre_cropped_and_never_enlarged(
    source: tuple[int, int], size: tuple[int, int], expected: tuple[int, int]
) -> None:
    data = _encoded(Image.new("RGB", source, (90, 90, 90)), "PNG")
    result = process_profile_image(data, size, LIMIT)
    assert (result.width, result.height) == expected
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.size == expected
    assert is_stored_form(result.data, size)


def test_crop_keeps_the_centre() -> None:
    image = Image.new("RGB", (900, 300), (0, 0, 255))
    image.paste((255, 0, 0), (300, 0, 600, 300))  # the middle third is red
    result = process_profile_image(_encoded(image, "PNG"), AVATAR_SIZE, LIMIT)
    with Image.open(io.BytesIO(result.data)) as stored:
        rgb = stored.convert("RGB")
        assert rgb.size == (300, 300)
        for point in ((5, 5), (295, 295), (150, 150)):
            pixel = rgb.getpixel(point)
            assert isinstance(pixel, tuple)
            assert pixel[0] > 200
            assert pixel[2] < 60


@pytest.mark.parametrize("mode", ["CMYK", "L", "P", "LA", "1"])
def test_any_colour_mode_comes_out_as_a_plain_jpeg_or_png(mode: str) -> None:
    image = Image.new("RGB", (500, 500), (200, 100, 50)).convert(mode)
    fmt = "JPEG" if mode in ("CMYK", "L", "1") else "PNG"
    result = process_profile_image(_encoded(image, fmt), AVATAR_SIZE, LIMIT)
    assert result.content_type in ("image/jpeg", "image/png")
    with Image.open(io.BytesIO(result.data)) as stored:
        assert stored.mode in ("RGB", "RGBA")


def test_byte_limit_is_the_callers() -> None:
    data = _encoded(Image.new("RGB", (50, 50)), "PNG")
    with pytest.raises(ImageRejected, match="at most 0 MB"):
        process_profile_image(data, AVATAR_SIZE, len(data) - 1)


def test_stored_form_refuses_metadata_motion_and_wrong_shapes() -> None:
    square = Image.new("RGB", (300, 300), (1, 2, 3))
    exif = square.getexif()
    exif[0x010F] = "PhoneMaker"
    assert is_stored_form(_encoded(square, "JPEG"), AVATAR_SIZE)
    assert not is_stored_form(_encoded(square, "JPEG", exif=exif), AVATAR_SIZE)
    assert not is_stored_form(_encoded(square, "JPEG", comment=b"taken at home"), AVATAR_SIZE)
    assert not is_stored_form(_encoded(square, "JPEG", icc_profile=b"\0" * 128), AVATAR_SIZE)
    text = PngImagePlugin.PngInfo()
    text.add_text("Comment", "taken at home")
    assert not is_stored_form(_encoded(square, "PNG", pnginfo=text), AVATAR_SIZE)
    assert not is_stored_form(_encoded(square, "GIF"), AVATAR_SIZE)
    assert not is_stored_form(_encoded(square, "WEBP"), AVATAR_SIZE)
    assert not is_stored_form(_encoded(Image.new("RGB", (800, 800)), "JPEG"), AVATAR_SIZE)
    assert not is_stored_form(_encoded(Image.new("RGB", (300, 200)), "JPEG"), AVATAR_SIZE)
    assert not is_stored_form(b"not an image", AVATAR_SIZE)


def test_every_truncation_of_an_animated_gif_is_refused_or_read() -> None:
    """Pillow counts a GIF's frames by walking them, and a cut one used to raise
    IndexError or struct.error from there: a 500 instead of a 422, photos included."""
    frames = [Image.new("RGB", (60, 60), (230, 20, 20)), Image.new("RGB", (60, 60), (20, 200, 20))]
    gif = _encoded(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=100, loop=0)
    for length in range(1, len(gif)):
        for process in (lambda data: process_profile_image(data, AVATAR_SIZE, LIMIT), process_image):
            with contextlib.suppress(ImageRejected):
                process(gif[:length])
