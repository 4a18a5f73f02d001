"""Request bodies are capped by route kind and refused with 413 before they are buffered.

JSON and form routes take a small body; the upload routes take the media limit. A body
that declares too large a length is refused before a byte of it is read (and before the
token is checked); a chunked body is counted while it streams and refused as soon as it
passes the limit.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx

from tests.factories import create_user

#: What the README promises JSON and form bodies (1 MiB).
SMALL_BODY_BYTES = 1024 * 1024
CHUNK = b"x" * 65_536


class Source:
    """A request body made on demand, counting what the server pulled from it."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.pulled = 0

    async def __aiter__(self) -> AsyncIterator[bytes]:
        while self.pulled < self.total:
            piece = CHUNK[: self.total - self.pulled]
            self.pulled += len(piece)
            yield piece


def _assert_too_large(response: httpx.Response) -> None:
    assert response.status_code == 413, response.text
    body = response.json()
    assert list(body) == ["error"]
    assert "too large" in body["error"]


async def test_a_declared_length_over_the_limit_is_refused_unread(client: httpx.AsyncClient) -> None:
    source = Source(1024)
    response = await client.post(
        "/api/v1/apps",
        content=source,
        headers={"Content-Type": "application/json", "Content-Length": str(300 * 1024 * 1024)},
    )
    _assert_too_large(response)
    assert source.pulled == 0
    assert "1 MiB" in response.json()["error"]


async def test_a_chunked_body_is_refused_once_it_passes_the_limit(client: httpx.AsyncClient) -> None:
    source = Source(50 * 1024 * 1024)
    response = await client.post("/api/v1/apps", content=source, headers={"Content-Type": "application/json"})
    _assert_too_large(response)
    # Counted while streaming: the server stopped pulling just past the limit.
    assert source.pulled <= SMALL_BODY_BYTES + 2 * len(CHUNK)


async def test_a_chunked_form_is_refused_even_where_the_route_reports_its_own_error(
    client: httpx.AsyncClient,
) -> None:
    # The form reader turns any failure into a 422 of its own; the client still learns why.
    source = Source(3 * SMALL_BODY_BYTES)
    response = await client.post(
        "/api/v1/apps", content=source, headers={"Content-Type": "application/x-www-form-urlencoded"}
    )
    _assert_too_large(response)
    assert source.pulled <= SMALL_BODY_BYTES + 2 * len(CHUNK)


async def test_a_chunked_upload_is_counted_against_the_media_limit(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    multipart = (
        b"--cut\r\n"
        b'Content-Disposition: form-data; name="file"; filename="big.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n" + b"\x00" * (2 * SMALL_BODY_BYTES) + b"\r\n--cut--\r\n"
    )

    async def chunks() -> AsyncIterator[bytes]:
        for start in range(0, len(multipart), len(CHUNK)):
            yield multipart[start : start + len(CHUNK)]

    response = await client.post(
        "/api/v2/media",
        headers={**user["headers"], "Content-Type": "multipart/form-data; boundary=cut"},
        content=chunks(),
    )
    assert response.status_code == 422, response.text
    assert "not a supported photo" in response.json()["error"]


async def test_a_form_over_the_limit_is_refused_too(client: httpx.AsyncClient) -> None:
    form = {"client_name": "big", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "website": "x" * SMALL_BODY_BYTES}
    _assert_too_large(await client.post("/api/v1/apps", data=form))


async def test_the_size_is_checked_before_the_token(client: httpx.AsyncClient) -> None:
    source = Source(1024)
    response = await client.post(
        "/api/v1/statuses",
        content=source,
        headers={"Content-Type": "application/json", "Content-Length": str(2 * SMALL_BODY_BYTES)},
    )
    _assert_too_large(response)
    assert source.pulled == 0


async def test_bodies_under_the_limit_are_served_as_before(client: httpx.AsyncClient) -> None:
    form = {"client_name": "fits", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "website": "https://example.org"}
    response = await client.post("/api/v1/apps", data=form)
    assert response.status_code == 200, response.text


async def test_uploads_take_the_media_limit_not_the_small_one(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    not_an_image = b"\x00" * (2 * SMALL_BODY_BYTES)
    for path in ("/api/v1/media", "/api/v2/media"):
        response = await client.post(
            path, headers=user["headers"], files={"file": ("big.jpg", not_an_image, "image/jpeg")}
        )
        # Past the size check, on to the route's own validation of the file.
        assert response.status_code == 422, response.text
        assert "not a supported photo" in response.json()["error"]
    profile = await client.patch(
        "/api/v1/accounts/update_credentials",
        headers=user["headers"],
        files={"avatar": ("big.png", not_an_image, "image/png")},
    )
    assert profile.status_code == 422, profile.text


async def test_uploads_over_the_media_limit_are_refused_unread(client: httpx.AsyncClient) -> None:
    routes = [
        ("POST", "/api/v1/media"),
        ("POST", "/api/v2/media"),
        ("PATCH", "/api/v1/accounts/update_credentials"),
    ]
    for method, path in routes:
        source = Source(1024)
        response = await client.request(
            method,
            path + "/",  # the trailing-slash form every route also answers
            content=source,
            headers={"Content-Type": "multipart/form-data; boundary=b", "Content-Length": str(1024**3)},
        )
        _assert_too_large(response)
        assert source.pulled == 0
        assert "MiB" in response.json()["error"]
