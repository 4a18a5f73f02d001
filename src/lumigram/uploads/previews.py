"""Small renders of an unposted photo under each filter, for a composer's filter picker.

They start from the photo's stored master (already cropped and upright) and go through
the very ``filters.apply`` the stored variants go through, so a preview shows what the
server will keep. The one difference is the order: a preview is scaled down first and
filtered after, which changes nothing but the resampling, since every step of a look
works pixel by pixel except the vignette, which is drawn relative to the picture's size.
"""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from PIL import Image

from lumigram.uploads import filters

#: The narrowest and widest preview asked for, in pixels.
MIN_WIDTH = 48
MAX_WIDTH = 640
#: The widest preview when every filter is rendered at once (about 15 renders).
MAX_WIDTH_ALL = 320
QUALITY = 80


def render_previews(
    master: bytes, width: int, names: Sequence[str | None], adjustments: Mapping[str, int]
) -> list[bytes]:
    """One JPEG ``width`` px wide (never wider than the master) per name in ``names``.

    ``names`` and ``adjustments`` must already be checked (``filters.check``).
    """
    with Image.open(io.BytesIO(master)) as opened:
        opened.draft("RGB", (width, max(round(opened.height * width / opened.width), 1)))
        base = opened.convert("RGB")
    out_width = min(width, base.width)
    out_height = max(round(base.height * out_width / base.width), 1)
    small = base.resize((out_width, out_height), Image.Resampling.BICUBIC, reducing_gap=2.0)
    rendered: list[bytes] = []
    for name in names:
        shown = filters.apply(small, name, adjustments) if name or adjustments else small
        buffer = io.BytesIO()
        shown.save(buffer, "JPEG", quality=QUALITY)
        rendered.append(buffer.getvalue())
    return rendered
