"""Every spelling of a media URL other than the one the app hands out answers 404.

A private photo's URL is ``/media/media/<id>/<file>?exp=&sig=``. Stores read some other
spellings of its key as the same blob (SeaweedFS collapses ``//`` and takes ``\\`` for
``/``), so each shape below, sent without a signature, must be refused before any
privacy decision is made from it, on both shapes, never served as a public image.

Requests go to the app exactly as written: httpx would tidy ``./`` and ``../`` away
before the app saw them, as a browser does but an attacker's client need not.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterator
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import pytest

from lumigram.app import create_app
from lumigram.config import Settings
from lumigram.services import Services
from tests.api.test_media_files import _fetch, _private_media
from tests.factories import create_post, create_user
from tests.live import LiveServer, live_server

#: Ways to write a media key so that a store may still find the blob; ``{m}`` is the
#: first segment ("media"), ``{id}`` the media id, ``{f}`` the file name.
BYPASS_SHAPES = {
    "double slash after the first segment": "{m}//{id}/{f}",
    "double slash before the file": "{m}/{id}//{f}",
    "leading slash": "/{m}/{id}/{f}",
    "dot segment": "{m}/./{id}/{f}",
    "dot segment before the file": "{m}/{id}/./{f}",
    "dot-dot segment": "{m}/x/../{id}/{f}",
    "encoded dot segments": "{m}/%2E/{id}/{f}",
    "backslashes": "{m}%5C{id}%5C{f}",
    "encoded slashes": "{m}%2F{id}%2F{f}",
    "double-encoded slashes": "{m}%252F{id}%252F{f}",
    "trailing slash": "{m}/{id}/{f}/",
    "trailing dot segment": "{m}/{id}/{f}/.",
    "NUL and a second extension": "{m}/{id}/{f}%00.jpg",
}

#: Keys no store holds: those of the issue report (500 on S3, from the store's 400), and
#: ids too long for the database (500 on both shapes).
MALFORMED_TARGETS = (
    "/media/media/./1/x.jpg",
    "/media/%00",
    "/media/..%5c..%5cetc%5cpasswd",
    "/media/avatars/x.jpg%00.jpg",
    "/media/a%5Cb",
    "/media/.",
    "/media/..",
    "/media/media/" + "9" * 30 + "/x.jpg",  # past a 64-bit id
    "/media/media/" + "9" * 2000 + "/x.jpg",
)

NOT_FOUND = (404, None, b'{"error":"Record not found"}')


async def _as_sent(app: Any, target: str) -> tuple[int, dict[str, str], bytes]:
    """GET ``target`` byte for byte: the scope an HTTP server builds from the request line
    (percent-decoded ``path``, the line's own ``raw_path``), with nothing normalised.
    (status, headers, body)."""
    raw_path, _, query = target.partition("?")
    scope: dict[str, Any] = {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query.encode(),
        "root_path": "",
        "headers": [(b"host", b"testserver")],
        "client": ("127.0.0.1", 50000),
        "server": ("testserver", 80),
    }
    sent: list[dict[str, Any]] = []
    answered = asyncio.Event()
    requested = False

    async def receive() -> dict[str, Any]:
        nonlocal requested
        if not requested:
            requested = True
            return {"type": "http.request", "body": b"", "more_body": False}
        await answered.wait()  # a streamed answer listens for the client leaving meanwhile
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)
        if message["type"] == "http.response.body" and not message.get("more_body", False):
            answered.set()

    await asyncio.wait_for(app(scope, receive, send), 60)
    headers = {name.decode(): value.decode() for name, value in sent[0]["headers"]}
    return sent[0]["status"], headers, b"".join(message.get("body", b"") for message in sent[1:])


def _shape(key: str, pattern: str) -> str:
    first, media_id, name = key.split("/")
    return "/media/" + pattern.format(m=first, id=media_id, f=name)


async def _private_photo(client: httpx.AsyncClient, kind: str) -> str:
    """The signed URL (path and query) of the 1080 px photo of a post only some may see."""
    author = await create_user(client)
    lock = {"locked": "true"}
    if kind == "followers-only":
        await client.patch("/api/v1/accounts/update_credentials", headers=author["headers"], data=lock)
        post = await create_post(client, author["headers"], visibility="private")
    elif kind == "direct":
        friend = await create_user(client)
        post = await create_post(client, author["headers"], text=f"@{friend['username']} hi", visibility="direct")
    else:  # posted in the open, then the account went private
        post = await create_post(client, author["headers"])
        response = await client.patch("/api/v1/accounts/update_credentials", headers=author["headers"], data=lock)
        assert response.status_code == 200, response.text
        post = (await client.get(f"/api/v1/statuses/{post['id']}", headers=author["headers"])).json()
    url = urlsplit(post["media_attachments"][0]["url"])
    assert url.query, "the photo of a private post has a signed URL"
    return f"{url.path}?{url.query}"


async def _answers(services: Services, targets: dict[str, str]) -> dict[str, tuple[int, str | None, bytes]]:
    """Each target's (status, Cache-Control, body); a 500 that escapes the app counts as 500."""
    app = create_app(services=services)
    answers = {}
    for name, target in targets.items():
        try:
            status, headers, body = await _as_sent(app, target)
        except Exception as error:  # a crash is an answer too, reported with the rest
            status, headers, body = 500, {}, repr(error).encode()
        answers[name] = (status, headers.get("cache-control"), body[:80])
    return answers


async def test_no_other_spelling_of_a_private_photo_is_served(client: httpx.AsyncClient, services: Services) -> None:
    """The photo of a followers-only post of a locked account, of a direct message, and of
    a post made before its account went private: none is served but by its signed URL."""
    for kind in ("followers-only", "direct", "locked-later"):
        signed = await _private_photo(client, kind)
        path = signed.split("?", 1)[0]
        key = path.removeprefix("/media/")
        assert key.startswith("media/")
        assert "1080-" in key
        # The URL the app gave out works; the same path without its signature does not.
        assert (await _fetch(client, signed)).status_code == 200, kind
        assert (await client.get(path)).status_code == 404, kind
        answers = await _answers(services, {name: _shape(key, p) for name, p in BYPASS_SHAPES.items()})
        assert answers == dict.fromkeys(BYPASS_SHAPES, NOT_FOUND), kind


async def test_masters_and_originals_are_not_served_under_another_spelling(
    client: httpx.AsyncClient, services: Services
) -> None:
    for name in ("master", "original"):
        key = await _private_media(services, client, private=False, name=name)
        assert (await client.get(f"/media/{key}")).status_code == 404
        answers = await _answers(services, {shape: _shape(key, p) for shape, p in BYPASS_SHAPES.items()})
        assert answers == dict.fromkeys(BYPASS_SHAPES, NOT_FOUND), name


async def test_malformed_media_keys_are_404_not_500(services: Services) -> None:
    answers = await _answers(services, {target: target for target in MALFORMED_TARGETS})
    assert answers == dict.fromkeys(MALFORMED_TARGETS, NOT_FOUND)


async def test_a_signature_does_not_carry_over_to_another_spelling(
    client: httpx.AsyncClient, services: Services
) -> None:
    signed = await _private_photo(client, "followers-only")
    path, query = signed.split("?", 1)
    key = path.removeprefix("/media/")
    patterns = ("{m}//{id}/{f}", "{m}%2F{id}%2F{f}", "{m}/./{id}/{f}", "{m}%5C{id}%5C{f}")
    answers = await _answers(services, {p: f"{_shape(key, p)}?{query}" for p in patterns})
    assert answers == dict.fromkeys(patterns, NOT_FOUND)


@pytest.fixture
def server(make_settings: Callable[..., Settings]) -> Iterator[LiveServer]:
    with live_server(make_settings(inline_worker=True)) as running:
        yield running


async def _request_line(base_url: str, target: str) -> tuple[int, str]:
    """Send ``GET target`` on a socket of its own, so no client library rewrites it:
    (status, the response's head)."""
    address = urlsplit(base_url)
    assert address.hostname == "127.0.0.1"
    reader, writer = await asyncio.open_connection(address.hostname, address.port)
    try:
        writer.write(f"GET {target} HTTP/1.1\r\nHost: {address.netloc}\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        head = (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 30)).decode("latin-1")
    finally:
        writer.close()
        await writer.wait_closed()
    return int(head.split(" ", 2)[1]), head


@pytest.mark.live
async def test_a_real_server_refuses_other_spellings_as_sent_on_the_wire(server: LiveServer) -> None:
    async with httpx.AsyncClient(base_url=server.base_url, timeout=30) as client:
        signed = await _private_photo(client, "followers-only")
        assert (await _fetch(client, signed)).status_code == 200
    key = signed.split("?", 1)[0].removeprefix("/media/")
    answers = {}
    for pattern in ("{m}//{id}/{f}", "{m}/./{id}/{f}", "{m}%5C{id}%5C{f}", "{m}/{id}/{f}%00.jpg"):
        answers[pattern] = await _request_line(server.base_url, _shape(key, pattern))
    assert {pattern: status for pattern, (status, _) in answers.items()} == dict.fromkeys(answers, 404), answers
