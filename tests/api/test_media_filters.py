"""Filters, adjustments and BlurHash through the media API, and the master that is never served."""

from __future__ import annotations

import io
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
import orjson
import pytest
from PIL import Image
from sqlalchemy import select, update

from lumigram.infra.tables import media_attachments
from lumigram.media_access.service import forget_privacy
from lumigram.services import Services
from lumigram.uploads import service as uploads_service
from tests.factories import create_user


def _photo(width: int = 600, height: int = 450) -> bytes:
    """A colourful gradient with a dark disc: every filter has something to change."""
    x = np.broadcast_to(np.linspace(0, 1, width)[None, :], (height, width))
    y = np.broadcast_to(np.linspace(0, 1, height)[:, None], (height, width))
    pixels = np.stack([x * 230 + 20, y * 200 + 30, (1 - x) * 180 + 40], axis=2)
    pixels[(x - 0.5) ** 2 + (y - 0.5) ** 2 < 0.04] = (30, 20, 25)
    out = io.BytesIO()
    Image.fromarray(np.rint(pixels).astype(np.uint8), "RGB").save(out, "JPEG", quality=92)
    return out.getvalue()


async def _upload(client: httpx.AsyncClient, headers: dict[str, str], **fields: str) -> httpx.Response:
    return await client.post(
        "/api/v2/media", headers=headers, files={"file": ("p.jpg", _photo(), "image/jpeg")}, data=fields
    )


async def _pixels(client: httpx.AsyncClient, url: str) -> np.ndarray:
    response = await client.get(urlsplit(url).path)
    assert response.status_code == 200, url
    return np.asarray(Image.open(io.BytesIO(response.content)).convert("RGB"), dtype=np.int16)


async def _row(services: Services, media_id: str) -> Any:
    async with services.db.connect() as conn:
        return (await conn.execute(select(media_attachments).where(media_attachments.c.id == int(media_id)))).one()


def _keys(row: Any) -> dict[str, str]:
    """``{"1080.jpeg": key, ...}`` from the row's variants document."""
    variants = orjson.loads(row.variants)
    return {f"{name}.{fmt}": entry["key"] for name, formats in variants.items() for fmt, entry in formats.items()}


async def test_an_upload_with_a_filter_is_rendered_and_reported(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    plain = await _upload(client, user["headers"])
    assert plain.status_code == 200, plain.text
    assert plain.json()["lumigram"] == {
        "filter": "normal",
        "adjustments": {"brightness": 0, "contrast": 0, "saturation": 0, "warmth": 0, "vignette": 0},
    }
    filtered = await _upload(client, user["headers"], filter="Juno", warmth="40", vignette="30", contrast="0")
    assert filtered.status_code == 200, filtered.text
    media = filtered.json()
    assert media["lumigram"]["filter"] == "juno"
    assert media["lumigram"]["adjustments"] == {
        "brightness": 0,
        "contrast": 0,
        "saturation": 0,
        "warmth": 40,
        "vignette": 30,
    }
    # 600x450 is wider than 1.2:1, so 4x3 components: 4 + 2*12 characters.
    assert isinstance(media["blurhash"], str)
    assert len(media["blurhash"]) == 28
    assert media["blurhash"] != plain.json()["blurhash"]

    row = await _row(services, media["id"])
    assert row.filter == "juno"
    assert row.blurhash == media["blurhash"]
    assert row.original_key.startswith(f"media/{media['id']}/master-")

    before, after = await _pixels(client, plain.json()["url"]), await _pixels(client, media["url"])
    assert before.shape == after.shape
    assert np.abs(before - after).mean() > 8
    assert after[..., 0].mean() > before[..., 0].mean()  # juno and warmth both add red
    assert after[:20, :20].mean() < before[:20, :20].mean()  # the vignette darkened the corner
    # The grid tile and the smaller sizes carry the look too.
    plain_keys, filtered_keys = _keys(await _row(services, plain.json()["id"])), _keys(row)
    assert set(plain_keys) == set(filtered_keys)
    for name in ("grid.jpeg", "150.webp"):
        plain_tile = await _pixels(client, f"/media/{plain_keys[name]}")
        filtered_tile = await _pixels(client, f"/media/{filtered_keys[name]}")
        assert np.abs(plain_tile - filtered_tile).mean() > 8, name
    fetched = await client.get(f"/api/v1/media/{media['id']}", headers=user["headers"])
    assert fetched.json()["lumigram"]["filter"] == "juno"


async def test_the_master_is_kept_but_never_served(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    media = (await _upload(client, user["headers"], filter="moon")).json()
    master_key = (await _row(services, media["id"])).original_key
    stored = await services.blobs.get(master_key)
    master = Image.open(io.BytesIO(stored))
    assert master.format == "JPEG"
    assert master.width == 600
    assert not master.getexif()
    pixels = np.asarray(master.convert("RGB"), dtype=np.int16)
    assert (pixels.max(axis=2) - pixels.min(axis=2)).mean() > 40  # unfiltered: still in colour
    assert (await client.get(f"/media/{master_key}")).status_code == 404
    assert (await client.head(f"/media/{master_key}")).status_code == 404


async def test_changing_the_filter_before_posting_rerenders(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    media = (await _upload(client, user["headers"])).json()
    old_url = media["url"]
    old_keys = list(_keys(await _row(services, media["id"])).values())
    path = f"/api/v1/media/{media['id']}"

    changed = await client.put(path, headers=user["headers"], data={"filter": "moon", "brightness": "20"})
    assert changed.status_code == 200, changed.text
    entity = changed.json()
    assert entity["lumigram"]["filter"] == "moon"
    assert entity["lumigram"]["adjustments"]["brightness"] == 20
    assert entity["url"] != old_url
    assert entity["blurhash"] != media["blurhash"]
    assert (await client.get(urlsplit(old_url).path)).status_code == 404
    for key in old_keys:
        assert await services.blobs.stat(key) is None, key
    grey = await _pixels(client, entity["url"])
    assert (grey.max(axis=2) - grey.min(axis=2)).mean() < 6  # moon is black and white

    # Adjustments given later are merged with the stored ones; JSON bodies work too.
    warmer = await client.put(path, headers=user["headers"], json={"warmth": 50})
    assert warmer.status_code == 200, warmer.text
    assert warmer.json()["lumigram"]["adjustments"]["brightness"] == 20
    assert warmer.json()["lumigram"]["adjustments"]["warmth"] == 50
    assert warmer.json()["lumigram"]["filter"] == "moon"

    # Back to normal with no adjustments: the photo as uploaded, give or take JPEG rounding.
    back = await client.put(path, headers=user["headers"], data={"filter": "normal", "brightness": "0", "warmth": "0"})
    assert back.status_code == 200, back.text
    assert back.json()["lumigram"]["filter"] == "normal"
    restored = await _pixels(client, back.json()["url"])
    first = np.asarray(Image.open(io.BytesIO(_photo())).convert("RGB"), dtype=np.int16)
    assert np.abs(restored - first).mean() < 3
    row = await _row(services, media["id"])
    assert row.filter is None
    assert row.adjustments is None

    # The same look again stores nothing new: keys are content hashes.
    again = await client.put(path, headers=user["headers"], data={"filter": "normal"})
    assert again.json()["url"] == back.json()["url"]
    assert (await client.get(urlsplit(again.json()["url"]).path)).status_code == 200


async def test_posted_media_keeps_its_filter(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    media = (await _upload(client, user["headers"], filter="lark")).json()
    async with services.db.begin() as conn:
        await conn.execute(
            update(media_attachments).where(media_attachments.c.id == int(media["id"])).values(status_id=12345)
        )
    await forget_privacy(services, int(media["id"]))
    path = f"/api/v1/media/{media['id']}"
    refused = await client.put(path, headers=user["headers"], data={"filter": "moon"})
    assert refused.status_code == 422
    assert refused.json()["error"] == "Cannot change the filter of posted media"
    adjusted = await client.put(path, headers=user["headers"], data={"vignette": "10"})
    assert adjusted.status_code == 422
    # Alt text may still change, and the photo is as it was.
    described = await client.put(path, headers=user["headers"], data={"description": "A bay"})
    assert described.status_code == 200
    assert described.json()["url"] == media["url"]
    assert described.json()["lumigram"]["filter"] == "lark"


async def test_bad_looks_are_refused_clearly(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    unknown = await _upload(client, user["headers"], filter="sepia-deluxe")
    assert unknown.status_code == 422
    assert "Filter must be one of: normal, clarendon" in unknown.json()["error"]
    assert unknown.json()["details"]["filter"][0]["error"] == "ERR_INVALID"
    for field, value in (("brightness", "101"), ("vignette", "-5"), ("contrast", "lots")):
        response = await _upload(client, user["headers"], **{field: value})
        assert response.status_code == 422, (field, response.text)
        assert field.capitalize() in response.json()["error"]

    media = (await _upload(client, user["headers"], filter="aden")).json()
    path = f"/api/v1/media/{media['id']}"
    bad = await client.put(path, headers=user["headers"], data={"filter": "nope"})
    assert bad.status_code == 422
    assert "error" in bad.json()
    kept = await client.get(path, headers=user["headers"])
    assert kept.json()["url"] == media["url"]
    assert (await client.get(urlsplit(media["url"]).path)).status_code == 200
    other = await create_user(client)
    assert (await client.put(path, headers=other["headers"], data={"filter": "moon"})).status_code == 404


async def test_a_post_made_during_a_rerender_wins(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The row is only updated if still unposted; the blobs the lost render made are removed."""
    user = await create_user(client)
    media = (await _upload(client, user["headers"])).json()
    before = _keys(await _row(services, media["id"]))
    made: list[str] = []
    store = uploads_service._store_variants

    async def store_then_post(services_: Services, media_id: int, processed: Any) -> Any:
        variants = await store(services_, media_id, processed)
        made.extend(entry["key"] for formats in variants.values() for entry in formats.values())
        async with services_.db.begin() as conn:  # a post claims the photo meanwhile
            await conn.execute(
                update(media_attachments).where(media_attachments.c.id == media_id).values(status_id=777)
            )
        return variants

    monkeypatch.setattr(uploads_service, "_store_variants", store_then_post)
    response = await client.put(f"/api/v1/media/{media['id']}", headers=user["headers"], data={"filter": "moon"})
    assert response.status_code == 422
    assert response.json()["error"] == "Cannot change the filter of posted media"
    assert made
    for key in made:
        assert await services.blobs.stat(key) is None, key
    assert _keys(await _row(services, media["id"])) == before
    for key in before.values():
        assert await services.blobs.stat(key) is not None, key
