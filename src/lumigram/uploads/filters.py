"""Photo filters and adjustments, Instagram-style, in Pillow and numpy.

A look is a named filter plus five adjustments. Every filter is a recipe of the same
few steps, and the adjustments use those steps too, so a whole look costs three passes
over the pixels whatever is chosen:

1. one colour matrix (the filter's channel mix and saturation, then the saturation
   adjustment), done by Pillow's ``convert(matrix=...)`` in C;
2. one 256-entry lookup table per channel (the filter's tone curve, gains, contrast,
   fade and shadow/highlight tints, then the brightness, contrast and warmth
   adjustments), done by ``Image.point``;
3. a vignette, when asked for: a radial mask computed at a few dozen pixels, scaled up
   and multiplied in.

Nothing depends on randomness or the clock, so the same look on the same pixels gives
the same bytes (variant keys are content hashes; a repeated re-render stores nothing new).
The recipes are written here in the spirit of Instagram's filters of the same name, not
copied from anywhere: they only aim for the same mood.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageChops

from lumigram.errors import ValidationFailed

FloatArray = npt.NDArray[np.float64]
RGB = tuple[float, float, float]

#: The adjustment names and their inclusive ranges; 0 always means "leave as it is".
ADJUSTMENT_RANGES: dict[str, tuple[int, int]] = {
    "brightness": (-100, 100),
    "contrast": (-100, 100),
    "saturation": (-100, 100),
    "warmth": (-100, 100),
    "vignette": (0, 100),
}
#: The name a client sends for "no filter" (Instagram's first tile).
NORMAL = "normal"
# Rec. 601 luma weights: saturation changes keep this brightness.
_LUMA = np.array([0.299, 0.587, 0.114])


@dataclass(frozen=True, slots=True)
class Recipe:
    """One filter. Tints are in 0..255 levels, added most in shadows or in highlights."""

    description: str
    saturation: float = 1.0
    #: Rows give each output channel as a mix of the input r, g, b (applied before saturation).
    mix: tuple[RGB, RGB, RGB] = ((1, 0, 0), (0, 1, 0), (0, 0, 1))
    gains: RGB = (1.0, 1.0, 1.0)
    #: Positive brightens through a gamma curve, so whites and blacks stay put.
    brightness: float = 0.0
    #: Positive blends towards an S-curve (at most smoothstep); negative flattens towards grey.
    contrast: float = 0.0
    shadows: RGB = (0.0, 0.0, 0.0)
    highlights: RGB = (0.0, 0.0, 0.0)
    #: Lifts the blacks to this fraction of white (the washed-out, matte look).
    fade: float = 0.0
    #: Pulls the whites down by this fraction.
    mute: float = 0.0
    #: Darkening at the corners, 0..1.
    vignette: float = 0.0


FILTERS: dict[str, Recipe] = {
    "clarendon": Recipe(
        "Brighter, punchier: more contrast and colour, cool shadows, warm highlights",
        saturation=1.3,
        contrast=0.35,
        brightness=0.05,
        shadows=(-6, 4, 20),
        highlights=(10, 6, -6),
    ),
    "gingham": Recipe(
        "Washed out and soft, with a faint warm cast",
        saturation=0.8,
        contrast=-0.2,
        brightness=0.12,
        fade=0.12,
        mute=0.04,
        gains=(1.02, 1.0, 0.97),
        highlights=(8, 6, -2),
    ),
    "juno": Recipe(
        "Warm and vivid: reds and yellows pushed, blues kept cool",
        saturation=1.25,
        contrast=0.2,
        gains=(1.07, 1.02, 0.92),
        highlights=(12, 8, -10),
        shadows=(0, 0, 8),
    ),
    "lark": Recipe(
        "Light and airy: reds calmed, greens and blues brightened",
        mix=((0.88, 0.08, 0.04), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        brightness=0.18,
        contrast=0.05,
        gains=(0.98, 1.04, 1.06),
        fade=0.03,
    ),
    "moon": Recipe(
        "Black and white with lifted shadows and crisp contrast",
        saturation=0.0,
        contrast=0.35,
        brightness=0.1,
        fade=0.1,
        highlights=(0, 0, 4),
    ),
    "reyes": Recipe(
        "Dusty vintage: faded, pale and soft",
        saturation=0.72,
        contrast=-0.28,
        brightness=0.16,
        fade=0.18,
        mute=0.04,
        gains=(1.03, 1.0, 0.95),
        highlights=(10, 6, 0),
    ),
    "valencia": Recipe(
        "Warm, slightly faded, sunlit",
        saturation=1.05,
        contrast=0.08,
        fade=0.08,
        gains=(1.08, 1.02, 0.9),
        highlights=(10, 6, -4),
        shadows=(10, 4, 0),
    ),
    "ludwig": Recipe(
        "Reds kept, other colours muted, a little light and a soft vignette",
        saturation=0.85,
        mix=((1.1, -0.06, -0.04), (0.0, 1.0, 0.0), (0.0, 0.0, 1.0)),
        contrast=0.1,
        brightness=0.05,
        vignette=0.2,
    ),
    "aden": Recipe(
        "Pastel: low contrast, pale colours, pink-blue shadows",
        saturation=0.8,
        contrast=-0.18,
        brightness=0.15,
        fade=0.1,
        gains=(1.02, 0.98, 1.02),
        shadows=(10, 0, 14),
    ),
    "slumber": Recipe(
        "Hazy and yellowed, colours drained, a touch darker",
        saturation=0.62,
        contrast=-0.1,
        brightness=-0.06,
        fade=0.12,
        gains=(1.03, 1.0, 0.88),
        highlights=(6, 4, -12),
    ),
    "inkwell": Recipe("Plain black and white", saturation=0.0, contrast=0.25, brightness=0.05),
    "nashville": Recipe(
        "Faded pink-violet shadows and warm highlights",
        contrast=-0.1,
        brightness=0.1,
        fade=0.1,
        gains=(1.05, 1.0, 0.92),
        shadows=(24, 4, 26),
        highlights=(6, 4, -8),
    ),
    "willow": Recipe(
        "Cream-toned monochrome with a vignette",
        saturation=0.0,
        contrast=-0.05,
        fade=0.1,
        shadows=(10, 6, 0),
        highlights=(6, 4, -6),
        vignette=0.25,
    ),
    "lofi": Recipe("Rich colour and deep shadows", saturation=1.45, contrast=0.55, vignette=0.3),
}

#: Accepted filter names, "normal" first, as a picker would list them.
NAMES: tuple[str, ...] = (NORMAL, *FILTERS)


def check(filter_name: str | None, adjustments: Mapping[str, object] | None) -> tuple[str | None, dict[str, int]]:
    """The look in canonical form: ``(None, ...)`` for no filter, only non-zero adjustments kept.

    ValidationFailed (Mastodon's 422) names the offending field otherwise.
    """
    name = (filter_name or "").strip().lower() or None
    if name == NORMAL:
        name = None
    if name is not None and name not in FILTERS:
        raise ValidationFailed.field("filter", "ERR_INVALID", f"must be one of: {', '.join(NAMES)}")
    kept: dict[str, int] = {}
    for key, value in (adjustments or {}).items():
        if key not in ADJUSTMENT_RANGES:
            raise ValidationFailed.field(key, "ERR_INVALID", f"is not an adjustment ({', '.join(ADJUSTMENT_RANGES)})")
        low, high = ADJUSTMENT_RANGES[key]
        if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
            raise ValidationFailed.field(key, "ERR_INVALID", f"must be a whole number from {low} to {high}")
        if value:
            kept[key] = value
    return name, kept


def _saturation_matrix(amount: float) -> FloatArray:
    """Scale the distance from grey by ``amount`` (0 = grey, 1 = unchanged)."""
    grey: FloatArray = np.outer(np.ones(3), _LUMA)
    return amount * np.eye(3) + (1 - amount) * grey


def _contrast(x: FloatArray, amount: float) -> FloatArray:
    if amount >= 0:
        return (1 - amount) * x + amount * (x * x * (3 - 2 * x))
    return 0.5 + (x - 0.5) * (1 + amount)


def _brightness(x: FloatArray, amount: float) -> FloatArray:
    curved: FloatArray = np.power(np.clip(x, 0, 1), 2.0 ** (-amount))
    return curved


def _recipe_curve(x: FloatArray, recipe: Recipe, channel: int) -> FloatArray:
    y = np.clip(x * recipe.gains[channel], 0, 1)
    y = _brightness(y, recipe.brightness)
    y = np.clip(_contrast(y, recipe.contrast), 0, 1)
    y = y + recipe.shadows[channel] / 255 * (1 - y) ** 2 + recipe.highlights[channel] / 255 * y**2
    return recipe.fade + np.clip(y, 0, 1) * (1 - recipe.fade - recipe.mute)


def _adjustment_curve(x: FloatArray, adjustments: Mapping[str, int], channel: int) -> FloatArray:
    warmth = adjustments.get("warmth", 0) / 100
    # Warmer = more red, a little more green, less blue; cooler the reverse.
    gain = (1 + 0.12 * warmth, 1 + 0.03 * warmth, 1 - 0.12 * warmth)[channel]
    y = np.clip(x * gain, 0, 1)
    y = _brightness(y, adjustments.get("brightness", 0) / 100)
    contrast = adjustments.get("contrast", 0) / 100
    # Full negative contrast halves the spread rather than making everything grey.
    return _contrast(y, contrast if contrast >= 0 else contrast * 0.5)


def _lookup_table(recipe: Recipe | None, adjustments: Mapping[str, int]) -> list[int] | None:
    if recipe is None and not any(adjustments.get(k) for k in ("brightness", "contrast", "warmth")):
        return None
    x: FloatArray = np.arange(256) / 255
    table: list[int] = []
    for channel in range(3):
        y = _recipe_curve(x, recipe, channel) if recipe is not None else x
        y = _adjustment_curve(y, adjustments, channel)
        table.extend(np.clip(np.rint(y * 255), 0, 255).astype(int).tolist())
    return table


def _colour_matrix(recipe: Recipe | None, adjustments: Mapping[str, int]) -> FloatArray | None:
    matrix: FloatArray = np.eye(3)
    if recipe is not None:
        matrix = _saturation_matrix(recipe.saturation) @ np.array(recipe.mix, dtype=np.float64)
    matrix = _saturation_matrix(1 + adjustments.get("saturation", 0) / 100) @ matrix
    return None if np.allclose(matrix, np.eye(3)) else matrix


def vignette_mask(size: tuple[int, int], strength: float) -> Image.Image:
    """An "L" mask: 255 in the middle, falling to ``255·(1 - strength)`` in the corners."""
    width, height = size
    # The mask is smooth, so a small one scaled up is as good and far cheaper than full size.
    small_w, small_h = min(width, 64), min(height, 64)
    xs = (np.arange(small_w) + 0.5) / small_w * 2 - 1
    ys = (np.arange(small_h) + 0.5) / small_h * 2 - 1
    distance = np.sqrt(xs[None, :] ** 2 + ys[:, None] ** 2) / np.sqrt(2)
    ramp = np.clip((distance - 0.3) / 0.7, 0, 1)
    mask = 1 - strength * ramp * ramp * (3 - 2 * ramp)
    small = Image.fromarray(np.rint(mask * 255).astype(np.uint8), "L")
    return small.resize(size, Image.Resampling.BILINEAR)


def apply(image: Image.Image, filter_name: str | None, adjustments: Mapping[str, int] | None = None) -> Image.Image:
    """``image`` with the filter and adjustments applied; a new image, alpha kept as it was."""
    name, adjust = check(filter_name, adjustments)
    recipe = FILTERS[name] if name is not None else None
    if image.mode not in ("RGB", "RGBA"):
        image = image.convert("RGBA" if "A" in image.getbands() or "transparency" in image.info else "RGB")
    alpha = image.getchannel("A") if image.mode == "RGBA" else None
    rgb = image.convert("RGB") if alpha is not None else image.copy()
    matrix = _colour_matrix(recipe, adjust)
    if matrix is not None:
        # Pillow takes the 3x4 affine matrix row by row; the offsets are zero.
        rgb = rgb.convert("RGB", tuple(float(v) for row in matrix for v in (*row, 0.0)))
    table = _lookup_table(recipe, adjust)
    if table is not None:
        rgb = rgb.point(table)
    strength = 1 - (1 - (recipe.vignette if recipe else 0.0)) * (1 - adjust.get("vignette", 0) / 100 * 0.6)
    if strength > 0:
        mask = vignette_mask(rgb.size, strength)
        rgb = Image.merge("RGB", [ImageChops.multiply(band, mask) for band in rgb.split()])
    if alpha is not None:
        rgb.putalpha(alpha)
    return rgb
