"""A post photo's variants: cut to a post's bounds, never enlarged, the grid tile included."""

from __future__ import annotations

import io

import pytest
from PIL import Image

from lumigram.uploads.images import GRID_SIZE, WIDTHS, process_image


def _jpeg(size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, (200, 100, 50)).save(out, "JPEG")
    return out.getvalue()


@pytest.mark.parametrize(
    ("source", "grid"),
    [
        ((64, 64), (64, 64)),  # a small photo's tile is the photo: blowing it up held nothing more
        ((300, 200), (200, 200)),
        ((GRID_SIZE, GRID_SIZE), (GRID_SIZE, GRID_SIZE)),
        ((2000, 1500), (GRID_SIZE, GRID_SIZE)),
    ],
)
def test_the_grid_tile_is_square_and_never_enlarged(source: tuple[int, int], grid: tuple[int, int]) -> None:
    made = process_image(_jpeg(source))
    tiles = [variant for variant in made.variants if variant.name == "grid"]
    assert {variant.content_type for variant in tiles} == {"image/jpeg", "image/webp"}
    for variant in tiles:
        assert (variant.width, variant.height) == grid
        with Image.open(io.BytesIO(variant.data)) as decoded:
            assert decoded.size == grid
    widest = max(variant.width for variant in made.variants if variant.name != "grid")
    assert widest == min(source[0], WIDTHS[0])
