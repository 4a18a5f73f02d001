"""The one cropper that posts, stories, grid tiles, avatars and headers share (no server)."""

from __future__ import annotations

import pytest
from PIL import Image

from lumigram.uploads.images import crop_to_aspect


def _charted(width: int, height: int) -> Image.Image:
    """An image whose every pixel says where it stands: red is x, green is y (below 256)."""
    return Image.frombytes(
        "RGB", (width, height), bytes(v for y in range(height) for x in range(width) for v in (x, y, 0))
    )


@pytest.mark.parametrize(
    ("size", "aspect", "focus", "box"),
    [
        # Centred without a focus point (avatars and headers).
        ((100, 250), 1.0, (0.0, 0.0), (0, 75, 100, 100)),
        ((251, 100), 1.0, (0.0, 0.0), (75, 0, 100, 100)),
        ((200, 100), 1.91, (0.0, 0.0), (4, 0, 191, 100)),
        # The focus point pulls the cut towards it, +1 being the top, up to the edges.
        ((100, 250), 1.0, (0.0, 1.0), (0, 0, 100, 100)),
        ((100, 250), 1.0, (0.0, -1.0), (0, 150, 100, 100)),
        ((100, 250), 1.0, (0.0, 0.2), (0, 50, 100, 100)),
        ((250, 100), 1.0, (1.0, 0.0), (150, 0, 100, 100)),
        ((250, 100), 4 / 5, (-0.6, 0.0), (10, 0, 80, 100)),
        # Already of the aspect: all of it.
        ((90, 160), 9 / 16, (0.5, 0.5), (0, 0, 90, 160)),
    ],
)
def test_the_cut_is_the_largest_of_the_aspect_around_the_focus(
    size: tuple[int, int], aspect: float, focus: tuple[float, float], box: tuple[int, int, int, int]
) -> None:
    cut = crop_to_aspect(_charted(*size), aspect, *focus)
    left, top, width, height = box
    assert cut.size == (width, height)
    assert cut.getpixel((0, 0)) == (left, top, 0)
    assert cut.getpixel((width - 1, height - 1)) == (left + width - 1, top + height - 1, 0)
