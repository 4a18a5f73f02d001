"""``lumigram admin reencode-profile-images``: avatars and headers stored as uploaded by earlier
versions (camera metadata and GPS included) are re-encoded, and the originals deleted."""

from __future__ import annotations

import hashlib
import io
from urllib.parse import urlsplit

import httpx
from PIL import Image
from sqlalchemy import update

from lumigram.accounts.reencode import reencode_profile_images
from lumigram.infra.blobstore import BlobNotFound
from lumigram.infra.tables import accounts
from lumigram.services import Services
from tests.api.test_profile_images import RED, _animated, _camera_jpeg, _near, _small_png
from tests.factories import create_user


async def _as_stored_before(services: Services, account_ids: list[str], kind: str, data: bytes, ext: str) -> str:
    """Store ``data`` byte for byte under a content key, as earlier versions did, and point the profiles at it."""
    key = f"{kind}s/{hashlib.sha256(data).hexdigest()}.{ext}"
    await services.blobs.put(key, data, f"image/{'jpeg' if ext == 'jpg' else ext}")
    async with services.db.begin() as conn:
        await conn.execute(
            update(accounts).where(accounts.c.id.in_([int(i) for i in account_ids])).values({f"{kind}_key": key})
        )
    return key


async def _me(client: httpx.AsyncClient, user: dict[str, object]) -> dict[str, str]:
    response = await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])  # type: ignore[arg-type]
    assert response.status_code == 200, response.text
    body: dict[str, str] = response.json()
    return body


async def _served(client: httpx.AsyncClient, url: str) -> tuple[bytes, Image.Image]:
    response = await client.get(urlsplit(url).path)
    assert response.status_code == 200, response.text
    return response.content, Image.open(io.BytesIO(response.content))


async def test_old_uploads_are_reencoded_once_and_their_originals_deleted(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    # Alice and Bob uploaded the same camera photo (one shared key); Alice also an animated header.
    photo_key = await _as_stored_before(services, [alice["id"], bob["id"]], "avatar", _camera_jpeg(), "jpg")
    gif_key = await _as_stored_before(services, [alice["id"]], "header", _animated("GIF"), "gif")
    broken_key = await _as_stored_before(services, [bob["id"]], "header", b"\xff\xd8\xff\xe0 not a jpeg", "jpg")
    # Carol's avatar went through today's pipeline: it must stay exactly as it is.
    uploaded = await client.patch(
        "/api/v1/accounts/update_credentials",
        files={"avatar": ("c.png", _small_png((10, 120, 90)), "image/png")},
        headers=carol["headers"],
    )
    assert uploaded.status_code == 200, uploaded.text
    carol_avatar = uploaded.json()["avatar"]

    report = await reencode_profile_images(services)
    assert (report.reencoded, report.kept, report.unreadable) == (2, 1, 1)

    alice_now, bob_now = await _me(client, alice), await _me(client, bob)
    assert alice_now["avatar"] == bob_now["avatar"]
    assert not alice_now["avatar"].endswith(photo_key)
    raw, image = await _served(client, alice_now["avatar"])
    assert image.size == (400, 400)
    assert b"Exif" not in raw
    assert not image.getexif()
    assert _near(image.convert("RGB").getpixel((200, 20)), RED)  # upright
    _raw, header = await _served(client, alice_now["header"])
    assert getattr(header, "n_frames", 1) == 1
    assert bob_now["header"].endswith(broken_key)  # unreadable: left for the operator
    assert (await _me(client, carol))["avatar"] == carol_avatar

    for old in (photo_key, gif_key):
        try:
            await services.blobs.get(old)
        except BlobNotFound:
            continue
        raise AssertionError(f"{old} should have been deleted")

    again = await reencode_profile_images(services)
    assert (again.reencoded, again.kept, again.unreadable) == (0, 3, 1)
    assert (await _me(client, alice))["avatar"] == alice_now["avatar"]
