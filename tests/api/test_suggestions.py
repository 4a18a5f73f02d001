"""Suggestions (friends of friends ranked by mutual follows; the most followed for a newcomer)
and familiar followers, with blocks, mutes, private and undiscoverable accounts kept out."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.services import Services
from tests.factories import create_user
from tests.settle import settle

User = dict[str, Any]


async def _follow(client: httpx.AsyncClient, who: User, whom: User) -> None:
    response = await client.post(f"/api/v1/accounts/{whom['id']}/follow", headers=who["headers"])
    assert response.status_code == 200, response.text


async def _suggested(client: httpx.AsyncClient, user: User) -> list[tuple[str, list[str]]]:
    response = await client.get("/api/v2/suggestions", headers=user["headers"])
    assert response.status_code == 200, response.text
    return [(s["account"]["username"], s["sources"]) for s in response.json()]


async def test_suggestions_rank_friends_of_friends_and_respect_privacy(
    client: httpx.AsyncClient, services: Services
) -> None:
    me, f1, f2, x, y, private, hidden, blocker, muted = [await create_user(client) for _ in range(9)]
    for friend in (f1, f2):
        await _follow(client, me, friend)
    for who, whom in (
        (f1, x),
        (f2, x),
        (f1, y),
        (f1, private),
        (f1, hidden),
        (f1, blocker),
        (f2, muted),
        (f1, me),
        (f2, private),
        (f2, f1),
    ):
        await _follow(client, who, whom)
    settings = {private["id"]: {"locked": "true"}, hidden["id"]: {"discoverable": "false"}}
    for user in (private, hidden):
        changed = await client.patch(
            "/api/v1/accounts/update_credentials", data=settings[user["id"]], headers=user["headers"]
        )
        assert changed.status_code == 200, changed.text
    assert (await client.post(f"/api/v1/accounts/{me['id']}/block", headers=blocker["headers"])).status_code == 200
    assert (await client.post(f"/api/v1/accounts/{muted['id']}/mute", headers=me["headers"])).status_code == 200
    await settle(services)

    assert await _suggested(client, me) == [
        (x["username"], ["friends_of_friends"]),
        (y["username"], ["friends_of_friends"]),
    ]
    assert (await client.delete(f"/api/v1/suggestions/{y['id']}", headers=me["headers"])).json() == {}
    assert (await client.delete("/api/v1/suggestions/123456789", headers=me["headers"])).status_code == 404
    await _follow(client, me, x)
    assert await _suggested(client, me) == []

    # A newcomer following nobody is offered the most followed open, discoverable accounts.
    newcomer = await create_user(client)
    offered = await _suggested(client, newcomer)
    assert offered[0] == (x["username"], ["most_followed"])
    names = {name for name, _ in offered}
    assert {private["username"], hidden["username"]}.isdisjoint(names)
    assert blocker["username"] in names  # blocks are between me and blocker, not the newcomer
    full = (await client.get("/api/v2/suggestions", headers=newcomer["headers"])).json()[0]
    assert full["account"]["id"] == x["id"]
    assert full["source"] == "global"

    familiar = await client.get(
        "/api/v1/accounts/familiar_followers",
        params=[("id[]", x["id"]), ("id[]", private["id"]), ("id[]", "999"), ("id[]", "nope")],
        headers=me["headers"],
    )
    assert familiar.status_code == 200, familiar.text
    by_id = {entry["id"]: sorted(a["username"] for a in entry["accounts"]) for entry in familiar.json()}
    assert by_id == {
        x["id"]: sorted([f1["username"], f2["username"]]),
        private["id"]: [],  # a private account's followers are its own business
        "999": [],
    }
    # Its approved followers may see them, as they may see its follower list.
    approved = await client.get(
        "/api/v1/accounts/familiar_followers", params={"id": private["id"]}, headers=f2["headers"]
    )
    assert [[a["username"] for a in entry["accounts"]] for entry in approved.json()] == [[f1["username"]]]
    assert (await client.get("/api/v2/suggestions")).status_code == 401
