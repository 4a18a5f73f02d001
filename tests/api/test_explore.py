"""The explore grid (an extension) on both shapes: who is left out, the score's parts, at
most two posts per author on a page, and cursor pages that walk one ranking."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlparse

import httpx

from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle


async def _grid(client: httpx.AsyncClient, user: dict[str, Any], **params: Any) -> httpx.Response:
    response = await client.get("/api/v1/explore", headers=user["headers"], params={"explain": "true", **params})
    assert response.status_code == 200, response.text
    return response


async def test_explore_grid(client: httpx.AsyncClient, services: Services) -> None:
    # Muted, blocked and locked authors are left out too: the privacy matrix checks it.
    viewer, friend, similar, cat_author, popular, prolific = [await create_user(client) for _ in range(6)]
    await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=viewer["headers"])
    await client.post(f"/api/v1/accounts/{similar['id']}/follow", headers=friend["headers"])
    friends_post = await create_post(client, friend["headers"], text="my #cats")
    await client.post(f"/api/v1/statuses/{friends_post['id']}/favourite", headers=viewer["headers"])
    similar_post = await create_post(client, similar["headers"], text="a view")
    cat_post = await create_post(client, cat_author["headers"], text="more #cats")
    popular_post = await create_post(client, popular["headers"], text="everyone likes this")
    for fan in (friend, similar, prolific):
        await client.post(f"/api/v1/statuses/{popular_post['id']}/favourite", headers=fan["headers"])
    prolific_posts = [await create_post(client, prolific["headers"], text=f"again {i}") for i in range(3)]
    await settle(services)

    first = await _grid(client, viewer, limit=40)
    body = first.json()
    ids = [s["id"] for s in body]
    scores = {s["id"]: s["lumigram"]["score"] for s in body}
    # Only accounts the viewer does not follow, and not the posts it liked.
    assert set(ids) == {similar_post["id"], cat_post["id"], popular_post["id"], *[p["id"] for p in prolific_posts[1:]]}
    assert scores[similar_post["id"]]["accounts"] > 0 == scores[cat_post["id"]]["accounts"]
    assert scores[cat_post["id"]]["hashtags"] > 0 == scores[similar_post["id"]]["hashtags"]
    assert scores[popular_post["id"]]["engagement"] > scores[cat_post["id"]]["engagement"]
    assert set(scores[ids[0]]) == {"total", "engagement", "hashtags", "accounts", "recency"}
    assert [scores[i]["total"] for i in ids] == sorted((scores[i]["total"] for i in ids), reverse=True)
    # The prolific author's third post waits for the next page.
    next_url = first.links["next"]["url"]
    rest = await _grid(client, viewer, **{k: v[0] for k, v in parse_qs(urlparse(next_url).query).items()})
    assert [s["id"] for s in rest.json()] == [prolific_posts[0]["id"]]
    assert "next" not in rest.links

    # Small pages walk the same ranking: every post once, never three of one author.
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(10):
        response = await _grid(client, viewer, **params)
        authors = [s["account"]["id"] for s in response.json()]
        assert all(authors.count(a) <= 2 for a in authors)
        seen += [s["id"] for s in response.json()]
        if "next" not in response.links:
            break
        params = {k: v[0] for k, v in parse_qs(urlparse(response.links["next"]["url"]).query).items()}
    assert sorted(seen) == sorted([*ids, prolific_posts[0]["id"]])

    for cursor in ("yesterday", "999999999999-1"):
        bad = await client.get("/api/v1/explore", params={"cursor": cursor})
        assert bad.status_code == 422
        assert "error" in bad.json()
