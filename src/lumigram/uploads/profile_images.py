"""Avatars and headers: the post photo's checks, then one fixed-shape, metadata-free image.

Runs in a worker process (CPU-bound), like ``images.process_image``, and passes through
the same gate (``images.open_upright``): type by content, byte and pixel limits,
decompression bombs, damaged files, EXIF orientation. The picture is then centre-cropped
to its shape (a square avatar, which clients show round; a 3:1 header) and scaled down
to at most its size, never up. Only that re-encoded image is stored, so no EXIF, GPS,
XMP or comment of the upload survives. An animated upload keeps its first frame.
"""

from __future__ import annotations

import io
from dataclasses import dataclass

from PIL import Image

from lumigram.uploads.images import crop_to_aspect, open_upright

#: Mastodon's sizes: a 400 px square avatar, a 1500×500 header.
AVATAR_SIZE = (400, 400)
HEADER_SIZE = (1500, 500)
JPEG_QUALITY = 88


@dataclass(frozen=True, slots=True)
class ProfileImage:
    data: bytes
    content_type: str
    extension: str
    width: int
    height: int


def _has_transparency(image: Image.Image) -> bool:
    if image.mode != "RGBA":
        return False
    return image.getchannel("A").getextrema() != (255, 255)


def _encode(image: Image.Image) -> ProfileImage:
    """PNG where something is see-through (logos), JPEG otherwise: every client shows both."""
    out = io.BytesIO()
    if _has_transparency(image):
        image.save(out, "PNG", optimize=True)
        content_type, extension = "image/png", "png"
    else:
        image.convert("RGB").save(out, "JPEG", quality=JPEG_QUALITY, optimize=True, progressive=True)
        content_type, extension = "image/jpeg", "jpg"
    return ProfileImage(out.getvalue(), content_type, extension, image.width, image.height)


def process_profile_image(data: bytes, size: tuple[int, int], max_bytes: int) -> ProfileImage:
    """The stored form of an avatar or header upload; ImageRejected with the reason otherwise."""
    target_width, target_height = size
    image = open_upright(data, size, max_bytes).image
    cropped = crop_to_aspect(image, target_width / target_height)
    if cropped.width > target_width:
        cropped = cropped.resize((target_width, target_height), Image.Resampling.LANCZOS, reducing_gap=3.0)
    return _encode(cropped)


#: What Pillow reports of a file that may name a place, a device or a person.
_METADATA = ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile", "comment", "photoshop", "adobe")


def is_stored_form(data: bytes, size: tuple[int, int]) -> bool:
    """Whether ``data`` already looks like ``process_profile_image``'s output for ``size``:
    a still JPEG or PNG, no larger than ``size``, of its shape, and with no metadata.

    Reads only the headers. Lets a re-encoding of older profile images skip the ones made
    by this pipeline, which another pass would only blur.
    """
    target_width, target_height = size
    try:
        with Image.open(io.BytesIO(data)) as image:
            width, height = image.size
            # The crop rounds to whole pixels: a header may be a pixel off 3:1.
            shaped = abs(width * target_height - height * target_width) <= 2 * target_height
            if not shaped or width > target_width or height > target_height:
                return False
            if image.format not in ("JPEG", "PNG") or getattr(image, "n_frames", 1) != 1:
                return False
            if any(name in image.info for name in _METADATA):
                return False
            if image.format == "JPEG":
                applist: list[tuple[str, bytes]] = getattr(image, "applist", [])
                return all(marker == "APP0" and body.startswith(b"JFIF") for marker, body in applist)
            # A PNG's text chunks may follow its pixels: reading them decodes a small image.
            return not getattr(image, "text", None)
    except (OSError, SyntaxError, ValueError, EOFError, Image.DecompressionBombError):
        return False
