"""Photo processing: validate by content, orient, strip metadata, crop, filter, make variants.

Runs in a worker process (CPU-bound); takes and returns plain bytes and dataclasses so
it pickles across the process boundary. Every stored variant is re-encoded from pixels,
so no EXIF, GPS, XMP or comment block of the upload survives.

The photo is scaled to at most 1080 px wide once; that unfiltered "master" is kept as a
JPEG (never served) so the filter can be changed later without the upload, and the
filter is applied to it before the variants and the BlurHash are made from it. The
master keeps as much of a tall photo as a story shows (down to 9:16); the variants are
cut from it to a post's bounds (4:5 to 1.91:1), so a story can be made from the whole
picture (``lumigram.uploads.story_frames``).
"""

from __future__ import annotations

import io
import struct
import warnings
from collections.abc import Mapping
from dataclasses import dataclass, field
from math import ceil

from PIL import Image, ImageOps, UnidentifiedImageError

from lumigram.uploads import filters
from lumigram.uploads.blurhash import encode_image

MAX_BYTES = 30 * 1024 * 1024
MAX_PIXELS = 50_000_000
#: Instagram keeps photos between 4:5 portrait and 1.91:1 landscape.
MIN_ASPECT = 4 / 5
MAX_ASPECT = 1.91
#: A story's frame is 9:16: the master keeps a tall photo down to that.
STORY_ASPECT = 9 / 16
WIDTHS = (1080, 640, 320, 150)
GRID_SIZE = 320
MAX_GIF_FRAMES = 1000
#: The master is re-encoded again for every re-render, so it is kept close to lossless.
MASTER_QUALITY = 92

_SIGNATURES: tuple[tuple[bytes, int, str], ...] = (
    (b"\xff\xd8\xff", 0, "image/jpeg"),
    (b"\x89PNG\r\n\x1a\n", 0, "image/png"),
    (b"GIF87a", 0, "image/gif"),
    (b"GIF89a", 0, "image/gif"),
)


class ImageRejected(ValueError):
    """The upload is not an image we accept; the message is for the person who sent it."""


def sniff(head: bytes) -> str | None:
    """The image type named by the file's first bytes (never by its name or declared type)."""
    for signature, offset, mime in _SIGNATURES:
        if head[offset : offset + len(signature)] == signature:
            return mime
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp"
    if head[4:8] == b"ftyp" and head[8:12] in (b"heic", b"heix", b"hevc", b"heim", b"heis", b"mif1", b"msf1"):
        return "image/heic"
    return None


@dataclass(frozen=True, slots=True)
class Variant:
    name: str
    content_type: str
    data: bytes
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class UprightImage:
    """Decoded pixels (RGB or RGBA), turned as shown, and the upload's own size as shown."""

    image: Image.Image
    width: int
    height: int


@dataclass(frozen=True, slots=True)
class ProcessedImage:
    width: int
    height: int
    variants: list[Variant] = field(default_factory=list)
    blurhash: str | None = None
    #: The unfiltered, metadata-free JPEG (at most 1080 px wide) a re-render starts from;
    #: None from ``rerender``, which leaves the master as it was.
    master: bytes | None = None


def crop_to_aspect(image: Image.Image, aspect: float, focus_x: float = 0.0, focus_y: float = 0.0) -> Image.Image:
    """The largest part of ``image`` whose width/height is ``aspect`` (to the pixel), placed
    to keep the focus point (Mastodon's -1..1, +1 at the top; 0,0 is the centre) as near
    its middle as the edges allow. Posts, stories, grid tiles and profile images all
    cut this way."""
    width, height = image.size
    if width / height > aspect:  # too wide: cut from the sides
        new_width = max(round(height * aspect), 1)
        centre = (focus_x + 1) / 2 * width
        left = int(min(max(centre - new_width / 2, 0), width - new_width))
        return image.crop((left, 0, left + new_width, height))
    new_height = max(round(width / aspect), 1)
    centre = (1 - (focus_y + 1) / 2) * height  # focus y is +1 at the top
    top = int(min(max(centre - new_height / 2, 0), height - new_height))
    return image.crop((0, top, width, top + new_height))


def _crop_to_allowed_aspect(
    image: Image.Image, focus_x: float, focus_y: float, min_aspect: float = MIN_ASPECT
) -> Image.Image:
    """Crop the excess beyond ``min_aspect`` (4:5 for posts) or 1.91:1, keeping the focus
    point (Mastodon's -1..1) in view."""
    aspect = image.width / image.height
    if min_aspect <= aspect <= MAX_ASPECT:
        return image
    return crop_to_aspect(image, min_aspect if aspect < min_aspect else MAX_ASPECT, focus_x, focus_y)


def _square(image: Image.Image, focus_x: float, focus_y: float) -> Image.Image:
    """The grid tile, cut from the filtered 1080 px image so it shows the same look; never
    upscaled (as the other variants): a small photo's tile blown up to ``GRID_SIZE`` held
    nothing more, and its resizing and encoding were most of a small photo's processing."""
    square = crop_to_aspect(image, 1.0, focus_x, focus_y)
    if square.width <= GRID_SIZE:
        return square
    return square.resize((GRID_SIZE, GRID_SIZE), Image.Resampling.LANCZOS)


def encode_variants(image: Image.Image, name: str, webp: bool = True) -> list[Variant]:
    """``image`` as a JPEG variant named ``name``, and a WebP one unless told not to."""
    rgb = image if image.mode == "RGB" else _flatten(image)
    jpeg = io.BytesIO()
    rgb.save(jpeg, "JPEG", quality=85, optimize=True, progressive=True)
    w, h = image.size
    made = [Variant(name, "image/jpeg", jpeg.getvalue(), w, h)]
    if webp:
        out = io.BytesIO()
        # method=2 encodes about twice as fast as the default 4 for a barely larger file
        # (bench/photo_pipeline.py): the difference between meeting the 250 ms budget or not.
        (image if image.mode in ("RGB", "RGBA") else rgb).save(out, "WEBP", quality=80, method=2)
        made.append(Variant(name, "image/webp", out.getvalue(), w, h))
    return made


def _flatten(image: Image.Image) -> Image.Image:
    """RGB on white: JPEG has no alpha, and a black background would hide dark logos."""
    if image.mode in ("RGBA", "LA") or (image.mode == "P" and "transparency" in image.info):
        rgba = image.convert("RGBA")
        canvas = Image.new("RGB", rgba.size, (255, 255, 255))
        canvas.paste(rgba, mask=rgba.getchannel("A"))
        return canvas
    return image.convert("RGB")


def _master_jpeg(base: Image.Image) -> bytes:
    out = io.BytesIO()
    (base if base.mode == "RGB" else _flatten(base)).save(out, "JPEG", quality=MASTER_QUALITY)
    return out.getvalue()


def _render(
    base: Image.Image,
    focus_x: float,
    focus_y: float,
    filter_name: str | None,
    adjustments: Mapping[str, int] | None,
) -> tuple[list[Variant], str]:
    """Variants and BlurHash of ``base`` (the master: at most 1080 px wide) under a look,
    cut to a post's bounds."""
    base = _crop_to_allowed_aspect(base, focus_x, focus_y)
    shown = filters.apply(base, filter_name, adjustments) if filter_name or adjustments else base
    variants: list[Variant] = []
    source = shown
    for target in WIDTHS:
        if target >= source.width and variants:
            continue  # never upscale; the largest variant is the original width
        out_width = min(target, shown.width)
        out_height = max(round(shown.height * out_width / shown.width), 1)
        source = source.resize((out_width, out_height), Image.Resampling.BICUBIC, reducing_gap=2.0)
        variants.extend(encode_variants(source, str(target)))
    variants.extend(encode_variants(_square(shown, focus_x, focus_y), "grid"))
    # The smallest variant already holds far more than the hash's 32 px sample needs.
    return variants, encode_image(source)


def rerender(
    master: bytes,
    focus_x: float = 0.0,
    focus_y: float = 0.0,
    filter_name: str | None = None,
    adjustments: Mapping[str, int] | None = None,
) -> ProcessedImage:
    """New variants from a stored master under another look (the master is our own JPEG).

    JPEG has no alpha, so a transparent PNG comes back laid on white, as its JPEG variants
    always were; only its WebP variants lose the transparency they had at upload.
    """
    with Image.open(io.BytesIO(master)) as opened:
        base = opened.convert("RGB")
    variants, blurhash = _render(base, focus_x, focus_y, filter_name, adjustments)
    return ProcessedImage(width=base.width, height=base.height, variants=variants, blurhash=blurhash)


def open_upright(data: bytes, decode_size: tuple[int, int], max_bytes: int = MAX_BYTES) -> UprightImage:
    """Check an upload by its content and limits, decode it and turn it upright.

    The one gate every uploaded picture passes (post photos, avatars, headers): the type
    comes from the first bytes, sizes are checked from the header before any pixel is
    decoded, and a damaged, truncated or bomb-like file is refused with ImageRejected.
    ``decode_size`` (as shown, after turning) is the least the caller needs: a JPEG is
    decoded at the smallest DCT scale that still covers it. An animated image gives its
    first frame.
    """
    if not data:
        raise ImageRejected("The file is empty")
    if len(data) > max_bytes:
        raise ImageRejected(f"Images may be at most {max_bytes // (1024 * 1024)} MB")
    mime = sniff(data[:32])
    if mime is None:
        raise ImageRejected("The file is not a supported image (JPEG, PNG, WebP, GIF or HEIC)")
    if mime == "image/heic":
        import pillow_heif

        pillow_heif.register_heif_opener()
    with warnings.catch_warnings():
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        try:
            image: Image.Image = Image.open(io.BytesIO(data))
            width, height = image.size  # from the header: nothing decoded yet
            if width * height > MAX_PIXELS:
                megapixels = width * height / 1_000_000
                raise ImageRejected(f"Images may be at most 50 megapixels (this one is {megapixels:.0f})")
            if getattr(image, "n_frames", 1) > MAX_GIF_FRAMES:
                raise ImageRejected(f"Animated images may have at most {MAX_GIF_FRAMES} frames")
            orientation = image.getexif().get(0x0112, 1)
            turned = orientation in (5, 6, 7, 8)
            if image.format == "JPEG":
                need_w, need_h = decode_size[::-1] if turned else decode_size
                image.draft("RGB", (min(width, need_w), min(height, need_h)))
            image.load()
            image = ImageOps.exif_transpose(image)
        except ImageRejected:
            raise
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            # Pillow refuses absurd sizes as it reads the header; say so in our words.
            raise ImageRejected("Images may be at most 50 megapixels") from exc
        except (UnidentifiedImageError, OSError, SyntaxError, ValueError, EOFError, IndexError, struct.error) as exc:
            # Pillow's GIF reader walks the frames to count them, and on a cut-off frame
            # fails with IndexError or struct.error rather than an OSError.
            raise ImageRejected("The image could not be read; it may be damaged or truncated") from exc
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    # Report the upload's own size (the decode may have been scaled down), turned as shown.
    if turned:
        width, height = height, width
    return UprightImage(image=image, width=width, height=height)


#: A crop rectangle as fractions of the upright photo: left, top, width, height.
Crop = tuple[float, float, float, float]


def _crop_box(size: tuple[int, int], crop: Crop) -> tuple[int, int, int, int]:
    """The pixel box of ``crop`` (already checked to lie inside 0..1), at least one pixel."""
    width, height = size
    left, top = min(round(crop[0] * width), width - 1), min(round(crop[1] * height), height - 1)
    right = min(max(round((crop[0] + crop[2]) * width), left + 1), width)
    bottom = min(max(round((crop[1] + crop[3]) * height), top + 1), height)
    return left, top, right, bottom


def process_image(
    data: bytes,
    focus_x: float = 0.0,
    focus_y: float = 0.0,
    filter_name: str | None = None,
    adjustments: Mapping[str, int] | None = None,
    crop: Crop | None = None,
) -> ProcessedImage:
    """All stored variants of an uploaded photo; ImageRejected with a clear reason otherwise.

    ``filter_name`` and ``adjustments`` must already be checked (``filters.check``). A
    ``crop`` (checked by ``uploads.service.parse_crop``) is cut from the upright photo
    first; the focus point is then read within the cropped part, and the allowed aspect
    range still applies to what is left. The sizes reported are the crop's.
    """
    # A JPEG is decoded at a reduced scale only as far as the cropped part keeps 1080 px.
    need = (WIDTHS[0], WIDTHS[0]) if crop is None else (ceil(WIDTHS[0] / crop[2]), ceil(WIDTHS[0] / crop[3]))
    upright = open_upright(data, need)
    image = upright.image
    width, height = upright.width, upright.height
    if crop is not None:
        image = image.crop(_crop_box(image.size, crop))
        box = _crop_box((width, height), crop)
        width, height = box[2] - box[0], box[3] - box[1]
    # Kept down to 9:16, so a story can show it whole; a post's variants are cut to 4:5.
    cropped = _crop_to_allowed_aspect(image, focus_x, focus_y, STORY_ASPECT)
    base_width = min(WIDTHS[0], cropped.width)
    base_height = max(round(cropped.height * base_width / cropped.width), 1)
    base = cropped.resize((base_width, base_height), Image.Resampling.BICUBIC, reducing_gap=2.0)
    variants, blurhash = _render(base, focus_x, focus_y, filter_name, adjustments)
    return ProcessedImage(width=width, height=height, variants=variants, blurhash=blurhash, master=_master_jpeg(base))
