"""What the server says matches what it does: errors, advertised limits and the API docs page."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import httpx

from tests.factories import create_post, create_user, upload_photo


async def test_an_unknown_endpoint_is_not_mistaken_for_an_unknown_record(client: httpx.AsyncClient) -> None:
    for path in ("/api/v1/nothing-here", "/api/v9/statuses", "/not/a/route/"):
        response = await client.get(path)
        assert response.status_code == 404
        assert response.json() == {"error": "Endpoint not found"}, path
    # Endpoints that exist, asked for records that do not (some ids are not even numbers).
    for path in ("/api/v1/statuses/123456789", "/api/v1/accounts/abc", "/api/v1/accounts/-5/followers"):
        missing = await client.get(path)
        assert missing.status_code == 404
        assert missing.json() == {"error": "Record not found"}, path
    missing_file = await client.get("/static/no-such-file.css")
    assert missing_file.status_code == 404
    assert missing_file.json() == {"error": "Record not found"}


async def _advertised(client: httpx.AsyncClient) -> list[dict[str, dict[str, int]]]:
    v1 = (await client.get("/api/v1/instance")).json()["configuration"]
    v2 = (await client.get("/api/v2/instance")).json()["configuration"]
    return [v1, v2]


async def test_the_caption_limit_is_the_one_advertised_and_the_error_says_it(client: httpx.AsyncClient) -> None:
    limits = {config["statuses"]["max_characters"] for config in await _advertised(client)}
    assert limits == {2200}  # Instagram's caption limit
    user = await create_user(client)
    media = await upload_photo(client, user["headers"])

    too_long = await client.post(
        "/api/v1/statuses", headers=user["headers"], json={"status": "a" * 10_000, "media_ids": [media["id"]]}
    )
    assert too_long.status_code == 422
    assert "2200 characters" in too_long.json()["error"]
    just_over = await client.post(
        "/api/v1/statuses", headers=user["headers"], json={"status": "a" * 2201, "media_ids": [media["id"]]}
    )
    assert just_over.status_code == 422
    assert "2200 characters" in just_over.json()["error"]
    at_limit = await client.post(
        "/api/v1/statuses", headers=user["headers"], json={"status": "a" * 2200, "media_ids": [media["id"]]}
    )
    assert at_limit.status_code == 200, at_limit.text

    edit = await client.put(
        f"/api/v1/statuses/{at_limit.json()['id']}", headers=user["headers"], json={"status": "b" * 10_000}
    )
    assert edit.status_code == 422
    assert "2200 characters" in edit.json()["error"]


async def test_as_many_posts_can_be_pinned_as_advertised(client: httpx.AsyncClient) -> None:
    advertised = {config["accounts"]["max_pinned_statuses"] for config in await _advertised(client)}
    assert len(advertised) == 1
    most = advertised.pop()
    user = await create_user(client)
    posts = [await create_post(client, user["headers"]) for _ in range(most + 1)]
    for post in posts[:most]:
        pinned = await client.post(f"/api/v1/statuses/{post['id']}/pin", headers=user["headers"])
        assert pinned.status_code == 200, pinned.text
    refused = await client.post(f"/api/v1/statuses/{posts[most]['id']}/pin", headers=user["headers"])
    assert refused.status_code == 422
    assert f"at most {most}" in refused.json()["error"]


class _References(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.found: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.found += [value for name, value in attrs if name in ("src", "href") and value]


async def test_the_api_docs_page_needs_no_other_host(client: httpx.AsyncClient) -> None:
    page = await client.get("/docs")
    assert page.status_code == 200
    html = page.text
    hosts = set(re.findall(r"(?:https?:)?//([A-Za-z0-9.-]+(?::\d+)?)", html))
    assert hosts <= {"testserver"}, f"the page reaches out to {hosts}"

    parser = _References()
    parser.feed(html)
    assets = [ref for ref in parser.found if ref.endswith((".js", ".css"))]
    assert any(ref.endswith(".js") for ref in assets), assets
    assert any(ref.endswith(".css") for ref in assets), assets
    for ref in parser.found:
        asset = await client.get(ref)
        assert asset.status_code == 200, ref
        assert asset.content, ref
    spec = re.search(r"""url: ['"]([^'"]+)['"]""", html)
    assert spec is not None
    assert (await client.get(spec.group(1))).json()["info"]["title"] == "Lumigram"
