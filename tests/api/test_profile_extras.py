"""Featured hashtags, endorsements, private notes and the profile directory."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def test_featured_tags_endorsements_notes_and_directory(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob, carol, private, hidden = [await create_user(client) for _ in range(5)]
    for text in ("#film dawn #travel", "#film dusk"):
        await create_post(client, alice["headers"], text)
    await create_post(client, alice["headers"], "#film only mine", visibility="private")

    suggested = (await client.get("/api/v1/featured_tags/suggestions", headers=alice["headers"])).json()
    assert [t["name"] for t in suggested] == ["film", "travel"]
    featured = await client.post("/api/v1/featured_tags", data={"name": "#film"}, headers=alice["headers"])
    assert featured.status_code == 200, featured.text
    tag = featured.json()
    # Counted from the posts anyone may see on the profile: not the followers-only one.
    assert (tag["name"], tag["statuses_count"]) == ("film", "2")
    assert tag["last_status_at"] is not None
    again = await client.post("/api/v1/featured_tags", data={"name": "FILM"}, headers=alice["headers"])
    assert again.status_code == 422
    bad = await client.post("/api/v1/featured_tags", data={"name": "not a tag"}, headers=alice["headers"])
    assert bad.status_code == 422
    assert "name" in bad.json()["details"]
    await client.post("/api/v1/featured_tags", data={"name": "street"}, headers=alice["headers"])
    shown = (await client.get(f"/api/v1/accounts/{alice['id']}/featured_tags")).json()
    assert [(t["name"], t["statuses_count"]) for t in shown] == [("film", "2"), ("street", "0")]
    assert [t["name"] for t in (await client.get("/api/v1/featured_tags", headers=alice["headers"])).json()] == [
        "film",
        "street",
    ]
    assert [
        t["name"] for t in (await client.get("/api/v1/featured_tags/suggestions", headers=alice["headers"])).json()
    ] == ["travel"]
    gone = await client.delete(f"/api/v1/featured_tags/{shown[1]['id']}", headers=alice["headers"])
    assert gone.json() == {}
    assert (await client.delete(f"/api/v1/featured_tags/{shown[1]['id']}", headers=alice["headers"])).status_code == 404

    # Endorsing needs a follow; the relationship shows it, and the writer's note.
    refused = await client.post(f"/api/v1/accounts/{carol['id']}/pin", headers=bob["headers"])
    assert refused.status_code == 422
    for target in (alice, carol):
        assert (await client.post(f"/api/v1/accounts/{target['id']}/follow", headers=bob["headers"])).status_code == 200
        pinned = await client.post(f"/api/v1/accounts/{target['id']}/pin", headers=bob["headers"])
        assert pinned.json()["endorsed"] is True
    listed = await client.get("/api/v1/endorsements", headers=bob["headers"])
    assert [a["id"] for a in listed.json()] == [carol["id"], alice["id"]]
    assert (await client.post(f"/api/v1/accounts/{carol['id']}/unpin", headers=bob["headers"])).json()[
        "endorsed"
    ] is False
    assert [a["id"] for a in (await client.get("/api/v1/endorsements", headers=bob["headers"])).json()] == [alice["id"]]

    noted = await client.post(
        f"/api/v1/accounts/{alice['id']}/note", data={"comment": "met at the film club"}, headers=bob["headers"]
    )
    assert noted.json()["note"] == "met at the film club"
    seen = await client.get("/api/v1/accounts/relationships", params={"id[]": alice["id"]}, headers=bob["headers"])
    assert (seen.json()[0]["note"], seen.json()[0]["endorsed"]) == ("met at the film club", True)
    # A note is its writer's alone.
    other = await client.get("/api/v1/accounts/relationships", params={"id[]": alice["id"]}, headers=carol["headers"])
    assert other.json()[0]["note"] == ""
    cleared = await client.post(f"/api/v1/accounts/{alice['id']}/note", data={"comment": ""}, headers=bob["headers"])
    assert cleared.json()["note"] == ""
    assert (await client.post("/api/v1/accounts/123456789/note", headers=bob["headers"])).status_code == 404

    # The directory: open, discoverable accounts; blocks hide both ways.
    await client.patch("/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=private["headers"])
    await client.patch("/api/v1/accounts/update_credentials", data={"discoverable": "false"}, headers=hidden["headers"])
    await settle(services)
    names = [a["username"] for a in (await client.get("/api/v1/directory")).json()]
    assert names[0] == alice["username"]  # the one who posted most recently
    assert {bob["username"], carol["username"]} <= set(names)
    assert {private["username"], hidden["username"]}.isdisjoint(names)
    newest = [
        a["username"] for a in (await client.get("/api/v1/directory", params={"order": "new", "limit": 2})).json()
    ]
    assert newest == [carol["username"], bob["username"]]
    assert (await client.post(f"/api/v1/accounts/{bob['id']}/block", headers=alice["headers"])).status_code == 200
    for viewer, hidden_one in ((bob, alice), (alice, bob)):
        seen_names = [a["username"] for a in (await client.get("/api/v1/directory", headers=viewer["headers"])).json()]
        assert hidden_one["username"] not in seen_names
    assert (await client.get(f"/api/v1/accounts/{alice['id']}/featured_tags", headers=bob["headers"])).json() == []
    assert (await client.get("/api/v1/directory", params={"order": "best"})).status_code == 422
