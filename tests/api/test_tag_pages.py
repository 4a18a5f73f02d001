"""Hashtags on both shapes: found by prefix in search, and a tag's page (history, top
posts, related tags)."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle


async def _search(client: httpx.AsyncClient, user: dict[str, Any], q: str, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v2/search", params={"q": q, **params}, headers=user["headers"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_hashtag_search_and_pages(client: httpx.AsyncClient, services: Services) -> None:
    author, other, fan, blocked = [await create_user(client) for _ in range(4)]
    liked = await create_post(client, author["headers"], text="gold #sunset #beach #sunflower")
    plain = await create_post(client, other["headers"], text="red #Sunset #beach")
    newest = await create_post(client, other["headers"], text="grey #sunset #city")
    await create_post(client, author["headers"], text="mine #sunset #sunrise", visibility="private")
    for who in (fan, other):
        await client.post(f"/api/v1/statuses/{liked['id']}/favourite", headers=who["headers"])
    await client.post(f"/api/v1/accounts/{blocked['id']}/block", headers=other["headers"])
    await settle(services)

    # Search: by prefix, most used first; a tag only private posts carry is not listed.
    found = (await _search(client, fan, "#sun", type="hashtags"))["hashtags"]
    assert [t["name"] for t in found] == ["sunset", "sunflower"]
    assert found[0]["following"] is False
    assert (found[0]["history"][0]["uses"], found[0]["history"][0]["accounts"]) == ("3", "2")
    # Control characters (NUL, which PostgreSQL refuses) are spaces in a query.
    assert [t["name"] for t in (await _search(client, fan, "\x00#sun\x01", type="hashtags"))["hashtags"]] == [
        "sunset",
        "sunflower",
    ]
    assert (await _search(client, fan, "go\x00ld"))["statuses"] == []
    assert set(await _search(client, fan, "sun")) == {"accounts", "statuses", "hashtags"}
    assert await _search(client, fan, "") == {"accounts": [], "statuses": [], "hashtags": []}
    bad = await client.get("/api/v2/search", params={"q": "x", "type": "people"})
    assert bad.status_code == 422
    assert "error" in bad.json()

    # The tag's own entity carries its history.
    tag = await client.get("/api/v1/tags/SUNSET", headers=fan["headers"])
    assert tag.status_code == 200, tag.text
    body = tag.json()
    assert (body["name"], body["following"], len(body["history"])) == ("sunset", False, 7)
    assert (body["history"][0]["uses"], body["history"][0]["accounts"]) == ("3", "2")

    top = await client.get("/api/v1/tags/sunset/top", headers=fan["headers"])
    assert top.status_code == 200, top.text
    assert [s["id"] for s in top.json()] == [liked["id"], newest["id"], plain["id"]]
    # Blocks count here too; paging by offset.
    top_for_blocked = await client.get("/api/v1/tags/sunset/top", headers=blocked["headers"])
    assert [s["id"] for s in top_for_blocked.json()] == [liked["id"]]
    paged = await client.get("/api/v1/tags/sunset/top", params={"limit": 1, "offset": 1})
    assert [s["id"] for s in paged.json()] == [newest["id"]]

    related = await client.get("/api/v1/tags/sunset/related")
    assert related.status_code == 200, related.text
    assert [t["name"] for t in related.json()] == ["beach", "city", "sunflower"]
    assert related.json()[0]["history"][0]["uses"] == "2"

    # Unknown tags have empty pages; what cannot be a hashtag is a 404.
    assert (await client.get("/api/v1/tags/neverused/top")).json() == []
    assert (await client.get("/api/v1/tags/neverused/related")).json() == []
    missing = await client.get("/api/v1/tags/not-a-tag!/related")
    assert missing.status_code == 404
    assert "error" in missing.json()
