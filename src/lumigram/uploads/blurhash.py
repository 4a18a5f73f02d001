"""BlurHash encoder: a short string a client paints as a blurred placeholder while a photo loads.

Written from the published BlurHash description (https://blurha.sh, the algorithm
document in the woltapp/blurhash repository): the image, in linear light, is projected
onto ``nx × ny`` cosine basis functions; the first (DC) factor is the average colour,
stored as 24-bit sRGB; the others (AC) are scaled by a shared, quantised maximum and
stored as 19 levels per channel after a square-root curve. Every number is written in
base 83. The string is ``4 + 2·nx·ny`` characters long.

Mastodon sends it in the MediaAttachment's ``blurhash`` field; clients decode it.
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt
from PIL import Image

ALPHABET = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz#$%*+,-.:;=?@[]^_{|}~"
#: The encoder works on a thumbnail: a few dozen pixels carry all a 4x3 hash can hold.
SAMPLE_WIDTH = 32

FloatArray = npt.NDArray[np.float64]


def encode83(value: int, length: int) -> str:
    """``value`` as ``length`` base-83 digits, most significant first."""
    if value < 0 or value >= 83**length:
        raise ValueError(f"{value} does not fit in {length} base-83 digits")
    digits = []
    for position in range(length - 1, -1, -1):
        digits.append(ALPHABET[(value // 83**position) % 83])
    return "".join(digits)


def srgb_to_linear(values: npt.NDArray[np.uint8]) -> FloatArray:
    v = values.astype(np.float64) / 255.0
    return np.where(v <= 0.04045, v / 12.92, ((v + 0.055) / 1.055) ** 2.4)


def linear_to_srgb(value: float) -> int:
    v = min(max(value, 0.0), 1.0)
    if v <= 0.0031308:
        return int(v * 12.92 * 255 + 0.5)
    return int((1.055 * v ** (1 / 2.4) - 0.055) * 255 + 0.5)


def _sign_pow(value: float, exponent: float) -> float:
    return float(np.sign(value) * abs(value) ** exponent)


def components_for(width: int, height: int) -> tuple[int, int]:
    """More components along the longer side, so the blur keeps the photo's layout."""
    if width >= height * 1.2:
        return 4, 3
    if height >= width * 1.2:
        return 3, 4
    return 4, 4


def factors(pixels: npt.NDArray[np.uint8], nx: int, ny: int) -> FloatArray:
    """The ``ny × nx × 3`` cosine-basis factors of an ``H × W × 3`` sRGB image, in linear light."""
    height, width = pixels.shape[:2]
    linear = srgb_to_linear(pixels)
    cos_x = np.cos(np.pi * np.outer(np.arange(nx), np.arange(width)) / width)  # nx × W
    cos_y = np.cos(np.pi * np.outer(np.arange(ny), np.arange(height)) / height)  # ny × H
    result: FloatArray = np.einsum("jh,iw,hwc->jic", cos_y, cos_x, linear) / (width * height)
    # Every factor but the average is doubled: the cosine's mean square is 1/2.
    result *= 2.0
    result[0, 0] /= 2.0
    return result


def encode_pixels(pixels: npt.NDArray[np.uint8], nx: int = 4, ny: int = 3) -> str:
    """The BlurHash of an ``H × W × 3`` uint8 sRGB array with ``nx × ny`` components (1..9 each)."""
    if not (1 <= nx <= 9 and 1 <= ny <= 9):
        raise ValueError("BlurHash takes 1 to 9 components on each axis")
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.shape[0] == 0 or pixels.shape[1] == 0:
        raise ValueError("expected a non-empty H x W x 3 array")
    found = factors(pixels, nx, ny).reshape(-1, 3)  # row-major: y outer, x inner, as the format orders them
    dc, ac = found[0], found[1:]
    out = [encode83((nx - 1) + (ny - 1) * 9, 1)]
    if len(ac):
        actual_max = float(np.abs(ac).max())
        quantised_max = int(max(0, min(82, int(np.floor(actual_max * 166 - 0.5)))))
        maximum = (quantised_max + 1) / 166
        out.append(encode83(quantised_max, 1))
    else:
        maximum = 1.0
        out.append(encode83(0, 1))
    r, g, b = (linear_to_srgb(float(c)) for c in dc)
    out.append(encode83((r << 16) + (g << 8) + b, 4))
    for component in ac:
        levels = [int(max(0, min(18, int(np.floor(_sign_pow(float(c) / maximum, 0.5) * 9 + 9.5))))) for c in component]
        out.append(encode83(levels[0] * 19 * 19 + levels[1] * 19 + levels[2], 2))
    return "".join(out)


def encode_image(image: Image.Image) -> str:
    """The BlurHash of a Pillow image (any mode; alpha is laid on white, as the JPEG variant is)."""
    width, height = image.size
    nx, ny = components_for(width, height)
    sample_height = max(round(height * SAMPLE_WIDTH / width), 1)
    small = image.resize((SAMPLE_WIDTH, sample_height), Image.Resampling.BILINEAR, reducing_gap=2.0)
    if small.mode != "RGB":
        rgba = small.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        small = canvas
    return encode_pixels(np.asarray(small, dtype=np.uint8), nx, ny)
