"""A hashtag's page on both shapes: its history, top posts and related tags."""

from __future__ import annotations

import httpx

from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle


async def test_tag_history_top_posts_and_related(client: httpx.AsyncClient, services: Services) -> None:
    author, other, fan, blocked = [await create_user(client) for _ in range(4)]
    liked = await create_post(client, author["headers"], text="gold #sunset #beach")
    plain = await create_post(client, other["headers"], text="red #Sunset #beach")
    newest = await create_post(client, other["headers"], text="grey #sunset #city")
    await create_post(client, author["headers"], text="mine #sunset #secret", visibility="private")
    for who in (fan, other):
        await client.post(f"/api/v1/statuses/{liked['id']}/favourite", headers=who["headers"])
    await client.post(f"/api/v1/accounts/{blocked['id']}/block", headers=other["headers"])
    await settle(services)

    tag = await client.get("/api/v1/tags/SUNSET", headers=fan["headers"])
    assert tag.status_code == 200, tag.text
    body = tag.json()
    assert (body["name"], body["following"]) == ("sunset", False)
    assert len(body["history"]) == 7
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
    assert [t["name"] for t in related.json()] == ["beach", "city"]
    assert related.json()[0]["history"][0]["uses"] == "2"

    # Unknown tags have empty pages; what cannot be a hashtag is a 404.
    assert (await client.get("/api/v1/tags/neverused/top")).json() == []
    assert (await client.get("/api/v1/tags/neverused/related")).json() == []
    missing = await client.get("/api/v1/tags/not-a-tag!/related")
    assert missing.status_code == 404
    assert "error" in missing.json()
