"""Serving stored media: caching headers, byte ranges, and signed URLs for private media."""

from __future__ import annotations

import time
from urllib.parse import urlsplit

import httpx
import pytest
from sqlalchemy import insert

from lumigram.infra.tables import media_attachments, utcnow
from lumigram.media_access import signing
from lumigram.media_access.service import forget_privacy, media_url
from lumigram.services import Services
from tests.factories import create_user

BODY = bytes(range(256)) * 40  # 10,240 bytes


async def _private_media(
    services: Services, client: httpx.AsyncClient, private: bool = True, name: str = "1080"
) -> str:
    user = await create_user(client)
    media_id = services.ids.next_id()
    key = f"media/{media_id}/{name}-0123456789abcdef.jpg"
    await services.blobs.put(key, BODY, "image/jpeg")
    async with services.db.begin() as conn:
        await conn.execute(
            insert(media_attachments).values(
                id=media_id,
                account_id=int(user["id"]),
                kind="image",
                state="ready",
                content_type="image/jpeg",
                size=len(BODY),
                private=private,
                created_at=utcnow(),
            )
        )
    await forget_privacy(services, media_id)
    return key


async def _fetch(client: httpx.AsyncClient, url: str) -> httpx.Response:
    """Follow the app's redirect to a presigned store URL the way a browser would."""
    response = await client.get(url)
    if response.status_code == 302:
        async with httpx.AsyncClient() as outside:
            return await outside.get(response.headers["location"])
    return response


async def test_public_blobs_are_immutable_with_etag_and_304(client: httpx.AsyncClient, services: Services) -> None:
    await services.blobs.put("avatars/abc.png", BODY, "image/png")
    response = await client.get("/media/avatars/abc.png")
    assert response.status_code == 200
    assert response.content == BODY
    assert response.headers["content-type"] == "image/png"
    assert response.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert response.headers["accept-ranges"] == "bytes"
    etag = response.headers["etag"]
    again = await client.get("/media/avatars/abc.png", headers={"If-None-Match": etag})
    assert again.status_code == 304
    assert again.content == b""


@pytest.mark.parametrize(
    ("header", "start", "end"), [("bytes=2-5", 2, 5), ("bytes=10000-", 10000, 10239), ("bytes=-3", 10237, 10239)]
)
async def test_byte_ranges(client: httpx.AsyncClient, services: Services, header: str, start: int, end: int) -> None:
    await services.blobs.put("avatars/r.bin", BODY, "application/octet-stream")
    response = await client.get("/media/avatars/r.bin", headers={"Range": header})
    assert response.status_code == 206
    assert response.content == BODY[start : end + 1]
    assert response.headers["content-range"] == f"bytes {start}-{end}/{len(BODY)}"


async def test_a_range_past_the_end_is_416(client: httpx.AsyncClient, services: Services) -> None:
    await services.blobs.put("avatars/s.bin", BODY, "application/octet-stream")
    response = await client.get("/media/avatars/s.bin", headers={"Range": "bytes=999999-"})
    assert response.status_code == 416
    assert response.json()["error"]


async def test_head_sends_headers_only(client: httpx.AsyncClient, services: Services) -> None:
    await services.blobs.put("avatars/h.png", BODY, "image/png")
    response = await client.head("/media/avatars/h.png")
    assert response.status_code == 200
    assert response.headers["content-length"] == str(len(BODY))
    assert response.content == b""


async def test_missing_and_escaping_keys_are_404(client: httpx.AsyncClient) -> None:
    for path in ("/media/avatars/none.png", "/media/media/12345/x.jpg", "/media/a/%2E%2E/b"):
        response = await client.get(path)
        assert response.status_code == 404, path
        assert response.json() == {"error": "Record not found"}


async def test_private_media_needs_a_valid_unexpired_signature(client: httpx.AsyncClient, services: Services) -> None:
    key = await _private_media(services, client)
    assert (await client.get(f"/media/{key}")).status_code == 404

    signed = media_url(services, key, private=True)
    path = urlsplit(signed)
    fetched = await _fetch(client, f"{path.path}?{path.query}")
    assert fetched.status_code == 200
    assert fetched.content == BODY

    tampered = path.query.replace("sig=", "sig=A")
    assert (await client.get(f"{path.path}?{tampered}")).status_code == 404

    secret = services.settings.ensure_secret_key()
    past = time.time() - 3 * signing.SIGNED_URL_LIFETIME
    expires, signature = signing.sign(secret, key, now=past)
    assert (await client.get(f"/media/{key}?exp={expires}&sig={signature}")).status_code == 404

    other_key = key.replace("1080-", "320-")
    expires, signature = signing.sign(secret, key)
    assert (await client.get(f"/media/{other_key}?exp={expires}&sig={signature}")).status_code == 404


async def test_public_media_of_an_attachment_needs_no_signature(client: httpx.AsyncClient, services: Services) -> None:
    key = await _private_media(services, client, private=False)
    response = await client.get(f"/media/{key}")
    assert response.status_code == 200
    assert response.content == BODY


def test_signatures_are_bound_to_key_and_time() -> None:
    expires, signature = signing.sign("s" * 40, "media/1/a.jpg", now=1_000_000)
    assert expires > 1_000_000
    assert signing.verify("s" * 40, "media/1/a.jpg", expires, signature, now=1_000_000)
    assert not signing.verify("s" * 40, "media/1/b.jpg", expires, signature, now=1_000_000)
    assert not signing.verify("t" * 40, "media/1/a.jpg", expires, signature, now=1_000_000)
    assert not signing.verify("s" * 40, "media/1/a.jpg", expires, signature, now=expires + 1)


@pytest.mark.parametrize("name", ["original", "master"])
async def test_originals_and_masters_are_never_served(client: httpx.AsyncClient, services: Services, name: str) -> None:
    """The upload as sent (with its metadata) and the unfiltered master stay server-side."""
    key = await _private_media(services, client, private=False, name=name)
    assert await services.blobs.stat(key) is not None
    assert (await client.get(f"/{key}")).status_code == 404
    assert (await _fetch(client, media_url(services, key, private=True))).status_code == 404
