"""The BlurHash encoder, checked against the format's rules and a decoder written here from the spec."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image

from lumigram.uploads import blurhash


def _decode83(text: str) -> int:
    value = 0
    for char in text:
        value = value * 83 + blurhash.ALPHABET.index(char)
    return value


def _to_linear(value: int) -> float:
    v = value / 255
    return v / 12.92 if v <= 0.04045 else ((v + 0.055) / 1.055) ** 2.4


def _decode(hash_: str, width: int, height: int) -> np.ndarray:
    """Pixels from a hash, following the published decoding steps (independent of the encoder)."""
    size_flag = _decode83(hash_[0])
    nx, ny = size_flag % 9 + 1, size_flag // 9 + 1
    assert len(hash_) == 4 + 2 * nx * ny
    maximum = (_decode83(hash_[1]) + 1) / 166
    dc = _decode83(hash_[2:6])
    colours: list[tuple[float, ...]] = [(_to_linear(dc >> 16), _to_linear((dc >> 8) & 255), _to_linear(dc & 255))]
    for index in range(1, nx * ny):
        value = _decode83(hash_[4 + 2 * index : 6 + 2 * index])
        quantised = (value // (19 * 19), (value // 19) % 19, value % 19)
        colours.append(tuple(math.copysign(((q - 9) / 9) ** 2, q - 9) * maximum for q in quantised))
    out = np.zeros((height, width, 3))
    for y in range(height):
        for x in range(width):
            pixel = np.zeros(3)
            for j in range(ny):
                for i in range(nx):
                    basis = math.cos(math.pi * x * i / width) * math.cos(math.pi * y * j / height)
                    pixel += np.array(colours[j * nx + i]) * basis
            out[y, x] = pixel
    linear = np.clip(out, 0, 1)
    return np.where(linear <= 0.0031308, linear * 12.92, 1.055 * linear ** (1 / 2.4) - 0.055) * 255


def _photo(width: int = 48, height: int = 32) -> np.ndarray:
    """Red on the left, blue on the right, a brighter band at the top."""
    pixels = np.zeros((height, width, 3), np.uint8)
    pixels[:, : width // 2] = (220, 40, 30)
    pixels[:, width // 2 :] = (20, 60, 210)
    pixels[: height // 4] += 30
    return pixels


@pytest.mark.parametrize(("nx", "ny"), [(1, 1), (4, 3), (3, 4), (4, 4), (9, 9)])
def test_length_and_size_flag(nx: int, ny: int) -> None:
    hash_ = blurhash.encode_pixels(_photo(), nx, ny)
    assert len(hash_) == 4 + 2 * nx * ny
    assert blurhash.ALPHABET.index(hash_[0]) == (nx - 1) + (ny - 1) * 9
    assert set(hash_) <= set(blurhash.ALPHABET)


def test_a_uniform_image_gives_its_colour_in_the_dc_component() -> None:
    pixels = np.full((24, 32, 3), (200, 120, 40), np.uint8)
    hash_ = blurhash.encode_pixels(pixels, 4, 3)
    dc = _decode83(hash_[2:6])
    assert (dc >> 16, (dc >> 8) & 255, dc & 255) == (200, 120, 40)
    # The format samples cos(pi*i*x/W) at x = 0..W-1, whose sum is not zero for odd i, so
    # even a flat image has small AC terms; decoding still gives back the flat colour.
    decoded = _decode(hash_, 32, 24)
    assert np.abs(decoded.mean(axis=(0, 1)) - (200, 120, 40)).max() < 3


def test_a_grey_image_has_grey_components() -> None:
    hash_ = blurhash.encode_pixels(np.full((24, 32, 3), 120, np.uint8), 4, 3)
    for index in range(6, len(hash_), 2):
        value = _decode83(hash_[index : index + 2])
        assert value // 361 == (value // 19) % 19 == value % 19


def test_a_single_component_hash_has_no_maximum() -> None:
    hash_ = blurhash.encode_pixels(_photo(), 1, 1)
    assert hash_[:2] == "00"
    assert len(hash_) == 6


def test_base83() -> None:
    assert blurhash.encode83(0, 2) == "00"
    assert blurhash.encode83(82, 1) == "~"
    assert blurhash.encode83(83, 2) == "10"
    with pytest.raises(ValueError, match="does not fit"):
        blurhash.encode83(83, 1)


def test_the_average_colour_is_taken_in_linear_light() -> None:
    pixels = np.zeros((10, 10, 3), np.uint8)
    pixels[:, :5] = 255
    dc = _decode83(blurhash.encode_pixels(pixels, 1, 1)[2:6])
    # Half white, half black averages to 0.5 in linear light: sRGB 188, not 128.
    assert dc >> 16 == 188


def test_round_trip_keeps_the_layout_of_colours() -> None:
    pixels = _photo()
    hash_ = blurhash.encode_pixels(pixels, 4, 3)
    decoded = _decode(hash_, 48, 32)
    left, right = decoded[8:, 4:16].mean(axis=(0, 1)), decoded[8:, 32:44].mean(axis=(0, 1))
    assert left[0] > left[2] + 80  # red stays on the left
    assert right[2] > right[0] + 80  # blue on the right
    top, bottom = decoded[:6].mean(), decoded[-6:].mean()
    assert top > bottom  # the brighter band stays at the top
    # The overall average survives within a few levels.
    assert np.abs(decoded.mean(axis=(0, 1)) - pixels.mean(axis=(0, 1))).max() < 25


def test_encode_image_picks_components_by_aspect() -> None:
    landscape = Image.fromarray(_photo(96, 48))
    portrait = Image.fromarray(_photo(48, 96))
    square = Image.new("RGBA", (64, 64), (0, 0, 0, 0))
    assert len(blurhash.encode_image(landscape)) == 4 + 2 * 12
    assert blurhash.encode_image(portrait)[0] == blurhash.encode83(2 + 3 * 9, 1)
    # Transparent pixels lie on white, as in the JPEG variant.
    dc = _decode83(blurhash.encode_image(square)[2:6])
    assert dc == 0xFFFFFF


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="1 to 9 components"):
        blurhash.encode_pixels(_photo(), 10, 3)
    with pytest.raises(ValueError, match="non-empty"):
        blurhash.encode_pixels(np.zeros((0, 4, 3), np.uint8))
