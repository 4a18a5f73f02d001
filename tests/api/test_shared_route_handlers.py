"""Routes that share one handler each behave as their own route, on both shapes: a
message's reaction set and taken back, and a filter keyword at both spellings of its
path (read, changed and removed through either)."""

from __future__ import annotations

import httpx

from lumigram.services import Services
from tests.factories import create_user

THREADS = "/api/v1/lumigram/threads"


async def test_a_reaction_set_then_taken_back(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await client.post(f"/api/v1/accounts/{alice['id']}/follow", headers=bob["headers"])
    await client.post(f"/api/v1/accounts/{bob['id']}/follow", headers=alice["headers"])
    thread = (await client.post(THREADS, headers=alice["headers"], json={"account_ids": [bob["id"]]})).json()["id"]
    sent = await client.post(f"{THREADS}/{thread}/messages", headers=alice["headers"], json={"text": "hi"})
    reaction = f"{THREADS}/{thread}/messages/{sent.json()['id']}/reaction"

    reacted = await client.put(reaction, headers=bob["headers"], json={"emoji": "👍"})
    assert reacted.json()["reactions"] == [{"account_id": bob["id"], "emoji": "👍"}]
    taken_back = await client.delete(reaction, headers=bob["headers"])
    assert taken_back.status_code == 200
    assert taken_back.json()["reactions"] == []
    assert taken_back.json()["id"] == sent.json()["id"]


async def test_a_keyword_answers_at_both_spellings(client: httpx.AsyncClient, services: Services) -> None:
    owner = await create_user(client)
    made = await client.post(
        "/api/v2/filters",
        headers=owner["headers"],
        json={"title": "Spoilers", "context": ["home"], "keywords_attributes": [{"keyword": "ending"}]},
    )
    keyword = made.json()["keywords"][0]
    new, old = f"/api/v2/filters/keywords/{keyword['id']}", f"/api/v2/filter_keywords/{keyword['id']}"

    assert (await client.get(new, headers=owner["headers"])).json() == keyword
    assert (await client.get(old, headers=owner["headers"])).json() == keyword
    changed = await client.put(new, headers=owner["headers"], json={"keyword": "finale"})
    assert changed.json() == {**keyword, "keyword": "finale"}
    assert (await client.get(old, headers=owner["headers"])).json()["keyword"] == "finale"
    assert (await client.delete(old, headers=owner["headers"])).status_code == 200
    gone = await client.get(new, headers=owner["headers"])
    assert gone.status_code == 404
    assert "error" in gone.json()
