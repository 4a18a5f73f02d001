"""Filters and adjustments: each does something, zero does nothing, same input gives same output."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from lumigram.errors import ValidationFailed
from lumigram.uploads import filters


def _sample(width: int = 240, height: int = 180) -> Image.Image:
    """Colour ramps across and down, so every channel and every tone is present."""
    x = np.broadcast_to(np.linspace(0, 1, width)[None, :], (height, width))
    y = np.broadcast_to(np.linspace(0, 1, height)[:, None], (height, width))
    pixels = np.stack([x * 255, y * 255, (1 - x) * 200 + 30 * y], axis=2)
    return Image.fromarray(np.rint(pixels).astype(np.uint8), "RGB")


def _pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image, dtype=np.int16)


def _saturation(image: Image.Image) -> float:
    pixels = _pixels(image.convert("RGB"))
    return float((pixels.max(axis=2) - pixels.min(axis=2)).mean())


def test_there_are_at_least_ten_named_filters() -> None:
    assert len(filters.FILTERS) >= 10
    for name in ("clarendon", "gingham", "juno", "lark", "moon", "reyes", "valencia", "ludwig", "aden", "slumber"):
        assert name in filters.FILTERS
    assert filters.NAMES[0] == "normal"


@pytest.mark.parametrize("name", list(filters.FILTERS))
def test_each_filter_changes_the_image_and_keeps_its_size(name: str) -> None:
    image = _sample()
    out = filters.apply(image, name, {})
    assert out.size == image.size
    assert out.mode == "RGB"
    assert np.abs(_pixels(out) - _pixels(image)).mean() > 3, name


def test_filters_differ_from_each_other() -> None:
    image = _sample()
    renders = {name: _pixels(filters.apply(image, name, {})) for name in filters.FILTERS}
    names = list(renders)
    for i, first in enumerate(names):
        for second in names[i + 1 :]:
            assert np.abs(renders[first] - renders[second]).mean() > 1, (first, second)


def test_monochrome_filters_are_grey_and_colour_ones_are_not() -> None:
    image = _sample()
    for name in ("moon", "inkwell"):
        pixels = _pixels(filters.apply(image, name, {}))
        assert (pixels.max(axis=2) - pixels.min(axis=2)).max() <= 8, name
    assert _saturation(filters.apply(image, "clarendon", {})) > _saturation(image)


@pytest.mark.parametrize("name", [None, "", "normal", "Normal"])
def test_no_filter_and_zero_adjustments_is_the_identity(name: str | None) -> None:
    image = _sample()
    zeros = dict.fromkeys(filters.ADJUSTMENT_RANGES, 0)
    out = filters.apply(image, name, zeros)
    assert out is not image
    assert np.array_equal(_pixels(out), _pixels(image))


def test_zero_adjustments_add_nothing_to_a_filter() -> None:
    image = _sample()
    plain = filters.apply(image, "juno", None)
    zeros = filters.apply(image, "juno", dict.fromkeys(filters.ADJUSTMENT_RANGES, 0))
    assert np.array_equal(_pixels(plain), _pixels(zeros))


def test_each_adjustment_moves_the_image_the_right_way() -> None:
    image = _sample()
    base = _pixels(image)
    assert _pixels(filters.apply(image, None, {"brightness": 50})).mean() > base.mean() + 10
    assert _pixels(filters.apply(image, None, {"brightness": -50})).mean() < base.mean() - 10
    assert _pixels(filters.apply(image, None, {"contrast": 80})).std() > base.std() + 5
    assert _pixels(filters.apply(image, None, {"contrast": -80})).std() < base.std() - 5
    assert _saturation(filters.apply(image, None, {"saturation": 60})) > _saturation(image) + 10
    assert _saturation(filters.apply(image, None, {"saturation": -100})) < 2
    warm = _pixels(filters.apply(image, None, {"warmth": 80}))
    assert warm[..., 0].mean() > base[..., 0].mean() + 5
    assert warm[..., 2].mean() < base[..., 2].mean() - 5
    grey = Image.new("RGB", (200, 200), (180, 180, 180))
    vignetted = _pixels(filters.apply(grey, None, {"vignette": 100}))
    assert vignetted[100, 100].tolist() == [180, 180, 180]  # the middle is untouched
    assert vignetted[0, 0].max() < 100  # the corners are darkened


def test_filters_are_deterministic() -> None:
    image = _sample()
    look = {"brightness": 12, "contrast": -7, "saturation": 33, "warmth": -40, "vignette": 20}
    first = filters.apply(image, "valencia", look).tobytes()
    assert filters.apply(_sample(), "valencia", look).tobytes() == first


def test_alpha_is_kept_and_palette_images_work() -> None:
    rgba = _sample().convert("RGBA")
    rgba.putalpha(Image.linear_gradient("L").resize(rgba.size))
    out = filters.apply(rgba, "lark", {"warmth": 30})
    assert out.mode == "RGBA"
    assert out.getchannel("A").tobytes() == rgba.getchannel("A").tobytes()
    palette = _sample().convert("P")
    assert filters.apply(palette, "moon", {}).mode == "RGB"


@pytest.mark.parametrize(
    ("name", "adjustments", "field"),
    [
        ("sepia-deluxe", {}, "filter"),
        ("juno", {"brightness": 101}, "brightness"),
        ("juno", {"contrast": -101}, "contrast"),
        (None, {"vignette": -1}, "vignette"),
        (None, {"saturation": 1.5}, "saturation"),
        (None, {"warmth": True}, "warmth"),
        (None, {"sharpness": 10}, "sharpness"),
    ],
)
def test_bad_looks_are_refused_with_the_field_named(
    name: str | None, adjustments: dict[str, object], field: str
) -> None:
    with pytest.raises(ValidationFailed) as caught:
        filters.check(name, adjustments)
    assert field in caught.value.details
    assert caught.value.message.startswith("Validation failed:")


def test_check_gives_the_canonical_look() -> None:
    assert filters.check(" Juno ", {"brightness": 0, "warmth": -100, "vignette": 100}) == (
        "juno",
        {"warmth": -100, "vignette": 100},
    )
    assert filters.check("normal", None) == (None, {})
    assert "must be one of: normal, clarendon" in _message(lambda: filters.check("nope", None))


def _message(call: object) -> str:
    assert callable(call)
    try:
        call()
    except ValidationFailed as exc:
        return exc.message
    raise AssertionError("no ValidationFailed")
