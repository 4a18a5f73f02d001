"""The composer's server side: a crop given at upload, and filter previews of an unposted photo."""

from __future__ import annotations

import base64
import io

import httpx
import numpy as np
from PIL import Image

from tests.factories import create_user


def _halves() -> bytes:
    """1200×600: the left half red, the right half blue."""
    image = Image.new("RGB", (1200, 600), (220, 40, 30))
    image.paste((30, 60, 210), (600, 0, 1200, 600))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=92)
    return out.getvalue()


def _decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"), dtype=np.int16)


def _data_uri(url: str) -> np.ndarray:
    prefix = "data:image/jpeg;base64,"
    assert url.startswith(prefix)
    return _decode(base64.b64decode(url.removeprefix(prefix)))


async def test_a_crop_reaches_the_photo_and_previews_match_the_render(client: httpx.AsyncClient) -> None:
    user, other = await create_user(client), await create_user(client)
    headers = user["headers"]

    async def upload(**fields: str) -> httpx.Response:
        files = {"file": ("halves.jpg", _halves(), "image/jpeg")}
        return await client.post("/api/v2/media", headers=headers, files=files, data=fields)

    for bad in ("0.6,0,0.5,1", "0,0,0,1", "left,top", "0.1,0.1,0.2"):
        refused = await upload(crop=bad)
        assert refused.status_code == 422, (bad, refused.text)
        assert "Crop" in refused.json()["error"]

    # The right half, as a square: only blue is left, and the sizes are the crop's.
    media = await upload(crop="0.5,0,0.5,1")
    assert media.status_code == 200, media.text
    body = media.json()
    assert (body["meta"]["original"]["width"], body["meta"]["original"]["height"]) == (600, 600)
    stored = await client.get(httpx.URL(body["url"]).path)
    pixels = _decode(stored.content)
    assert pixels.shape[:2] == (600, 600)
    assert pixels[..., 2].min() > 150
    assert pixels[..., 0].max() < 90

    later = await client.put(f"/api/v1/media/{body['id']}", headers=headers, data={"crop": "0,0,1,1"})
    assert later.status_code == 422
    assert later.json()["error"] == "Validation failed: Crop can only be set when uploading"

    # Every filter, "normal" first, from the cropped master; moon is black and white.
    every = await client.get(f"/api/v1/media/{body['id']}/previews", headers=headers)
    assert every.status_code == 200, every.text
    names = [preview["filter"] for preview in every.json()]
    assert names[0] == "normal"
    assert {"clarendon", "juno", "moon", "lofi"} <= set(names)
    assert len(names) == len(set(names)) == 15
    moon = _data_uri(next(p["url"] for p in every.json() if p["filter"] == "moon"))
    assert moon.shape[:2] == (160, 160)
    assert np.abs(moon[..., 0] - moon[..., 2]).max() < 12

    # One filter with an adjustment, at the width of a stored variant: it looks like it.
    look = {"filter": "juno", "warmth": "40"}
    one = await client.get(f"/api/v1/media/{body['id']}/previews", headers=headers, params={**look, "width": 320})
    assert [p["filter"] for p in one.json()] == ["juno"]
    applied = await client.put(f"/api/v1/media/{body['id']}", headers=headers, data=look)
    assert applied.status_code == 200, applied.text
    small = await client.get(httpx.URL(applied.json()["preview_url"]).path)
    variant = _decode(small.content)
    preview = _data_uri(one.json()[0]["url"])
    assert preview.shape == variant.shape
    assert np.abs(preview - variant).mean() < 4

    wide = await client.get(f"/api/v1/media/{body['id']}/previews", headers=headers, params={"width": 400})
    assert wide.status_code == 422
    unknown = await client.get(f"/api/v1/media/{body['id']}/previews", headers=headers, params={"filter": "sepia"})
    assert unknown.status_code == 422
    assert "Filter must be one of" in unknown.json()["error"]
    theirs = await client.get(f"/api/v1/media/{body['id']}/previews", headers=other["headers"])
    assert theirs.status_code == 404
