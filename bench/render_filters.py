"""Before/after samples of every filter for the README: docs/filters/<name>.jpg and original.jpg.

The sample photo is drawn here (sky, sun, mountains, lake, meadow, a red cabin), so the
repository holds no photograph of anyone's and the renders are reproducible byte for
byte on the same Pillow. Each filter is applied at 1080 px, as uploads are, then the
result is scaled to 320 px and saved as a JPEG of a few kilobytes.

Usage: .venv/bin/python bench/render_filters.py [--out docs/filters]
"""

from __future__ import annotations

import argparse
import io
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from lumigram.uploads import filters

WIDTH, HEIGHT = 1080, 810
THUMB_WIDTH = 320
MAX_BYTES = 40 * 1024


def _lerp(top: tuple[int, int, int], bottom: tuple[int, int, int], t: np.ndarray) -> np.ndarray:
    weight = t[..., None]
    mixed: np.ndarray = np.array(top)[None, None, :] * (1 - weight) + np.array(bottom)[None, None, :] * weight
    return mixed


def sample_photo() -> Image.Image:
    """A landscape with every tone from deep shadow to sun, warm and cool colours, skin-like reds."""
    rng = np.random.default_rng(7)
    horizon = int(HEIGHT * 0.58)
    y = np.broadcast_to(np.arange(HEIGHT)[:, None] / HEIGHT, (HEIGHT, WIDTH))
    sky = _lerp((46, 98, 168), (244, 196, 150), np.clip(y / 0.58, 0, 1) ** 1.4)
    image = Image.fromarray(np.rint(sky).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    draw.ellipse((690, 250, 790, 350), fill=(255, 236, 190))  # the sun, low over the ridge
    far = [(0, 380), (140, 300), (260, 350), (420, 240), (560, 330), (700, 280), (860, 360), (1080, 300)]
    draw.polygon([*far, (WIDTH, horizon), (0, horizon)], fill=(96, 104, 140))
    near = [(0, 430), (180, 360), (330, 420), (520, 340), (640, 410), (820, 370), (1080, 440)]
    draw.polygon([*near, (WIDTH, horizon), (0, horizon)], fill=(52, 66, 78))
    # The lake mirrors the sky, darker; the meadow runs to the bottom.
    lake = np.asarray(image)[horizon - 1 :: -1][: HEIGHT - horizon].astype(np.float64) * 0.72
    canvas = np.asarray(image).copy()
    canvas[horizon:] = np.rint(lake[: HEIGHT - horizon]).astype(np.uint8)
    image = Image.fromarray(canvas, "RGB")
    draw = ImageDraw.Draw(image)
    meadow_top = int(HEIGHT * 0.74)
    draw.polygon(
        [(0, meadow_top - 20), (400, meadow_top + 10), (1080, meadow_top - 30), (1080, HEIGHT), (0, HEIGHT)],
        fill=(78, 128, 58),
    )
    draw.rectangle((180, 560, 300, 650), fill=(168, 42, 36))  # the cabin
    draw.polygon([(165, 565), (240, 505), (315, 565)], fill=(70, 40, 34))
    draw.rectangle((225, 600, 255, 650), fill=(40, 28, 24))
    for x in range(60, 1080, 90):  # a row of dark pines along the shore
        base = meadow_top - 12 + (x * 7) % 23
        draw.polygon([(x, base - 90), (x - 24, base), (x + 24, base)], fill=(24, 56, 38))
    for _ in range(120):  # flowers
        fx, fy = int(rng.integers(0, WIDTH)), int(rng.integers(meadow_top + 20, HEIGHT))
        colour = ((236, 216, 80), (230, 120, 170), (245, 245, 240))[int(rng.integers(0, 3))]
        draw.ellipse((fx - 4, fy - 4, fx + 4, fy + 4), fill=colour)
    image = image.filter(ImageFilter.GaussianBlur(1.2))
    grain = rng.normal(0, 4, (HEIGHT, WIDTH, 1))
    return Image.fromarray(np.clip(np.asarray(image) + grain, 0, 255).astype(np.uint8), "RGB")


def _thumbnail(image: Image.Image) -> bytes:
    height = round(image.height * THUMB_WIDTH / image.width)
    small = image.resize((THUMB_WIDTH, height), Image.Resampling.LANCZOS)
    out = io.BytesIO()
    small.save(out, "JPEG", quality=82, optimize=True, progressive=True)
    data = out.getvalue()
    if len(data) > MAX_BYTES:
        raise SystemExit(f"a sample came out at {len(data)} bytes, over the {MAX_BYTES} budget")
    return data


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(__file__).resolve().parent.parent / "docs" / "filters")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    photo = sample_photo()
    (args.out / "original.jpg").write_bytes(_thumbnail(photo))
    for name in filters.FILTERS:
        (args.out / f"{name}.jpg").write_bytes(_thumbnail(filters.apply(photo, name, {})))
    print(f"wrote original.jpg and {len(filters.FILTERS)} filters to {args.out.name}/")


if __name__ == "__main__":
    main()
