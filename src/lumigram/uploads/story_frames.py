"""A story's 9:16 frame: the picture fitted, never stretched or cut, on a backdrop of itself.

Stories fill a phone's screen, 9:16. A photo of another shape is shown whole, as large as
the frame allows, over a backdrop made of the same picture scaled to cover the frame,
blurred and dimmed (as Instagram does); a 9:16 photo (within 1 %) fills the frame. The
server renders this once, when the story is made, as the media's ``story`` variant: a
1080x1920 JPEG (one encoding, as the frame is made while the story is posted), so every
client shows the same frame without work of its own.

A video is not re-encoded for it (that would cost a transcode per story): its ``story``
variant is the backdrop alone, made from the poster, and the player lays the video over
it, fitted. Both also give the picture's mean colour, for the moment before the backdrop
has loaded.

Runs in a worker process (CPU-bound); takes and returns bytes and dataclasses.
"""

from __future__ import annotations

import io
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image, ImageEnhance, ImageFilter, ImageOps

from lumigram.uploads import filters
from lumigram.uploads.images import STORY_ASPECT, Variant, encode_variants

SIZE = (1080, 1920)
#: How far from 9:16 a picture may be and still fill the frame (cut by at most 1 %).
TOLERANCE = 0.01
#: The backdrop is blurred at this size (a tenth of the frame), then scaled up: cheap,
#: and smooth enough that no detail of the picture competes with it.
BACKDROP_SAMPLE = (54, 96)
BACKDROP_BLUR = 3
BACKDROP_BRIGHTNESS = 0.7
NAME = "story"


@dataclass(frozen=True, slots=True)
class StoryFrame:
    variants: list[Variant]
    size: tuple[int, int]
    #: The picture's mean colour, ``#rrggbb``.
    colour: str
    #: Whether the picture fills the frame (9:16) rather than lying on a backdrop.
    fills: bool


def _backdrop(image: Image.Image) -> Image.Image:
    sample = ImageOps.fit(image, BACKDROP_SAMPLE, Image.Resampling.BOX)
    blurred = sample.filter(ImageFilter.GaussianBlur(BACKDROP_BLUR)).resize(SIZE, Image.Resampling.BICUBIC)
    return ImageEnhance.Brightness(blurred).enhance(BACKDROP_BRIGHTNESS)


def story_frame(
    data: bytes,
    filter_name: str | None = None,
    adjustments: Mapping[str, int] | None = None,
    backdrop_only: bool = False,
) -> StoryFrame:
    """The 9:16 frame of a picture (our own JPEG: a photo's master or a video's poster)
    under its look; ``backdrop_only`` for a video, whose player lays it over the backdrop."""
    with Image.open(io.BytesIO(data)) as opened:
        image = opened.convert("RGB")
    if filter_name or adjustments:
        image = filters.apply(image, filter_name, adjustments)
    red, green, blue = image.resize((1, 1), Image.Resampling.BOX).getpixel((0, 0))  # type: ignore[misc]
    fills = abs(image.width / image.height - STORY_ASPECT) <= TOLERANCE * STORY_ASPECT
    if fills and not backdrop_only:
        frame = ImageOps.fit(image, SIZE, Image.Resampling.BICUBIC)
    else:
        frame = _backdrop(image)
        if not backdrop_only:
            picture = ImageOps.contain(image, SIZE, Image.Resampling.BICUBIC)
            frame.paste(picture, ((SIZE[0] - picture.width) // 2, (SIZE[1] - picture.height) // 2))
    return StoryFrame(encode_variants(frame, NAME, webp=False), SIZE, f"#{red:02x}{green:02x}{blue:02x}", fills)
