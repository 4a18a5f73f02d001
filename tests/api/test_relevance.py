"""``GET /api/v1/timelines/home?order=relevance``: affinity, engagement and diversity."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import create_post, create_user


async def _ranked(client: httpx.AsyncClient, user: dict[str, Any], **params: Any) -> list[dict[str, Any]]:
    response = await client.get(
        "/api/v1/timelines/home", headers=user["headers"], params={"order": "relevance", "explain": "true", **params}
    )
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def test_affinity_lifts_the_people_you_interact_with(client: httpx.AsyncClient) -> None:
    reader, friend, acquaintance = [await create_user(client) for _ in range(3)]
    for author in (friend, acquaintance):
        await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])
    friends_post = await create_post(client, friend["headers"], text="from a friend")
    newer = await create_post(client, acquaintance["headers"], text="newer, from an acquaintance")
    # The reader talks to the friend: comments on an older post and visits the profile.
    older = await create_post(client, friend["headers"], text="an older one")
    for text in ("nice", "love it"):
        await client.post(
            "/api/v1/statuses", headers=reader["headers"], json={"status": text, "in_reply_to_id": older["id"]}
        )
    await client.get(f"/api/v1/accounts/{friend['id']}/statuses", headers=reader["headers"])

    chronological = (await client.get("/api/v1/timelines/home", headers=reader["headers"])).json()
    assert [s["id"] for s in chronological][:2] == [older["id"], newer["id"]]

    ranked = await _ranked(client, reader)
    scores = {s["id"]: s["lumigram"]["score"] for s in ranked}
    assert set(scores) == {friends_post["id"], newer["id"], older["id"]}
    assert scores[friends_post["id"]]["affinity"] > scores[newer["id"]]["affinity"]
    for parts in scores.values():
        assert set(parts) == {"total", "recency", "engagement", "affinity", "diversity"}
        assert 0 <= parts["recency"] <= 1
        assert 0 <= parts["engagement"] < 1
    # The commented-on post has engagement; the friend's posts outrank the acquaintance's.
    assert scores[older["id"]]["engagement"] > 0
    assert ranked[0]["account"]["id"] == friend["id"]
    assert "score" not in (await _ranked(client, reader, explain="false"))[0]["lumigram"]


async def test_diversity_breaks_up_runs_of_one_author(client: httpx.AsyncClient) -> None:
    reader, prolific, quiet = [await create_user(client) for _ in range(3)]
    for author in (prolific, quiet):
        await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])
    await create_post(client, quiet["headers"], text="once")
    for i in range(3):
        await create_post(client, prolific["headers"], text=f"again {i}")
    ranked = await _ranked(client, reader)
    authors = [s["account"]["id"] for s in ranked]
    assert len(authors) == 4
    # Without the diversity pass the three newest (all by the prolific account) would lead.
    assert authors[:3] != [prolific["id"]] * 3
    assert any(s["lumigram"]["score"]["diversity"] < 1 for s in ranked)


async def test_relevance_pages_with_offset(client: httpx.AsyncClient) -> None:
    reader, author = await create_user(client), await create_user(client)
    await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])
    posts = {(await create_post(client, author["headers"], text=f"p{i}"))["id"] for i in range(5)}
    first = await client.get(
        "/api/v1/timelines/home", headers=reader["headers"], params={"order": "relevance", "limit": 3}
    )
    assert 'rel="next"' in first.headers["link"]
    next_url = first.headers["link"].split(">;")[0].lstrip("<").replace(str(client.base_url), "")
    second = await client.get(next_url, headers=reader["headers"])
    seen = [s["id"] for s in first.json()] + [s["id"] for s in second.json()]
    assert sorted(seen) == sorted(posts)
    bad = await client.get("/api/v1/timelines/home", headers=reader["headers"], params={"order": "random"})
    assert bad.status_code == 422
    assert "error" in bad.json()
