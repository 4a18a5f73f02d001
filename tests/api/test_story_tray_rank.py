"""The story tray's order on both shapes: unseen first, then the accounts the viewer is
closest to (likes, comments, messages, story views and replies, profile visits), then
the most recent; ``explain=true`` shows each account's affinity and its signals."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from lumigram.services import Services
from tests.api.test_stories import API, Clock, _follow, _story
from tests.factories import create_post, create_user


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_tray_ranks_unseen_then_affinity_then_recency(client: httpx.AsyncClient, services: Services) -> None:
    clock = Clock(services)
    bob, alice, carol, dave, erin, frank, gus, henry = [await create_user(client) for _ in range(8)]
    for owner in (alice, carol, dave, erin, frank, gus, henry):
        await _follow(client, bob, owner)
    liked = await create_post(client, carol["headers"], text="Carol's morning")
    await _ok(await client.post(f"/api/v1/statuses/{liked['id']}/favourite", headers=bob["headers"]))
    henrys = await create_post(client, henry["headers"], text="Henry's noon")
    await _ok(await client.post(f"/api/v1/statuses/{henrys['id']}/favourite", headers=bob["headers"]))
    await _ok(await client.get(f"/api/v1/accounts/{alice['id']}/statuses", headers=bob["headers"]))

    # Posted oldest to newest: recency alone would put Erin first and Alice last.
    made: dict[str, list[dict[str, Any]]] = {}
    for name, owner, count in (("gus", gus, 2), ("frank", frank, 1), ("alice", alice, 1)):
        made[name] = [await _story(client, owner) for _ in range(count)]
        clock.move(timedelta(minutes=1))
    for name, owner in (("carol", carol), ("dave", dave), ("erin", erin)):
        made[name] = [await _story(client, owner)]
        clock.move(timedelta(minutes=1))
    await _ok(
        await client.post(f"{API}/stories/{made['dave'][0]['id']}/reply", headers=bob["headers"], json={"text": "Ha"})
    )
    for story in made["gus"] + made["frank"]:
        await _ok(await client.post(f"{API}/stories/{story['id']}/seen", headers=bob["headers"]))

    tray = await _ok(await client.get(f"{API}/stories/tray", headers=bob["headers"], params={"explain": "true"}))
    names = {who["id"]: name for name, who in (("alice", alice), ("carol", carol), ("dave", dave),
                                                ("erin", erin), ("frank", frank), ("gus", gus))}  # fmt: skip
    # Dave: a story reply (also a message) 0.63; Carol: a like 0.18; Alice: a profile visit
    # 0.10; Erin: nothing. Seen: Gus, two stories watched 0.18; Frank, one 0.10.
    assert [(names[e["account"]["id"]], e["seen"]) for e in tray] == [
        ("dave", False),
        ("carol", False),
        ("alice", False),
        ("erin", False),
        ("gus", True),
        ("frank", True),
    ]
    scores = {names[e["account"]["id"]]: e["score"] for e in tray}
    assert scores["dave"] == {
        "affinity": 0.6321,
        "likes": 0,
        "comments": 0,
        "messages": 1,
        "story_views": 0,
        "story_replies": 1,
        "visits": 0,
    }
    assert (scores["carol"]["likes"], scores["alice"]["visits"], scores["gus"]["story_views"]) == (1, 1, 2)
    assert scores["erin"]["affinity"] == 0.0
    assert "score" not in (await _ok(await client.get(f"{API}/stories/tray", headers=bob["headers"])))[0]

    # An account new to the tray is ranked at once (its signals added to the kept ones).
    await _story(client, henry)
    tray = await _ok(await client.get(f"{API}/stories/tray", headers=bob["headers"]))
    assert [e["account"]["id"] for e in tray][:3] == [dave["id"], henry["id"], carol["id"]]
