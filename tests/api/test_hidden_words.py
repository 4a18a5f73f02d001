"""Hidden words (filters v2 and v1) on both shapes: one journey through warn and hide in
home, threads and notifications, whole words, expiry, keywords, and an owner's hidden
comments."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import update

from lumigram.feed import store
from lumigram.infra.tables import filters, utcnow
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def _statuses(client: httpx.AsyncClient, user: User, path: str, **params: Any) -> dict[str, dict[str, Any]]:
    response = await client.get(path, headers=user["headers"], params=params)
    assert response.status_code == 200, response.text
    return {s["id"]: s for s in response.json()}


def _matched(status: dict[str, Any]) -> list[tuple[str, list[str]]]:
    return [(f["filter"]["filter_action"], f["keyword_matches"]) for f in status["filtered"]]


async def _comment(client: httpx.AsyncClient, user: User, post: dict[str, Any], text: str) -> str:
    response = await client.post(
        "/api/v1/statuses", headers=user["headers"], json={"status": text, "in_reply_to_id": post["id"]}
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_hidden_words_warn_hide_and_expire_where_they_apply(
    client: httpx.AsyncClient, services: Services
) -> None:
    viewer, author, commenter = [await create_user(client) for _ in range(3)]
    assert (await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=viewer["headers"])).is_success
    await _statuses(client, viewer, "/api/v1/timelines/home")
    await eventually(lambda: store.is_ready(services, int(viewer["id"])))
    spider = await create_post(client, author["headers"], text="Look at this Spider!")
    pie = await create_post(client, author["headers"], text="apple pie tonight")
    await settle(services)

    # A warn filter for home and threads, by whole word: the post shows, with the match.
    made = await client.post(
        "/api/v2/filters",
        headers=viewer["headers"],
        json={
            "title": "Creepy",
            "context": ["home", "thread"],
            "filter_action": "warn",
            "keywords_attributes": [{"keyword": "spider", "whole_word": True}],
        },
    )
    assert made.status_code == 200, made.text
    creepy = made.json()
    assert (creepy["context"], creepy["filter_action"], creepy["expires_at"]) == (["home", "thread"], "warn", None)
    home = await _statuses(client, viewer, "/api/v1/timelines/home")
    assert _matched(home[spider["id"]]) == [("warn", ["spider"])]
    # In a thread too; "spiders" is not the word "spider" until whole_word is turned off.
    plural = await _comment(client, commenter, spider, "spiders everywhere")
    singular = await _comment(client, commenter, spider, "a spider!")
    thread = f"/api/v1/statuses/{spider['id']}/context"
    below = {s["id"]: s for s in (await client.get(thread, headers=viewer["headers"])).json()["descendants"]}
    assert (below[plural]["filtered"], _matched(below[singular])) == ([], [("warn", ["spider"])])
    keyword = creepy["keywords"][0]
    changed = await client.put(
        f"/api/v2/filter_keywords/{keyword['id']}", headers=viewer["headers"], json={"whole_word": False}
    )
    assert changed.json() == {"id": keyword["id"], "keyword": "spider", "whole_word": False}
    below = {s["id"]: s for s in (await client.get(thread, headers=viewer["headers"])).json()["descendants"]}
    assert _matched(below[plural]) == [("warn", ["spider"])]

    # A hide filter (made the v1 way, read both ways) takes the post out of home; it expires.
    v1 = await client.post(
        "/api/v1/filters",
        headers=viewer["headers"],
        data={"phrase": "apple", "context[]": "home", "irreversible": "true"},
    )
    assert v1.status_code == 200, v1.text
    assert (v1.json()["phrase"], v1.json()["irreversible"], v1.json()["context"]) == ("apple", True, ["home"])
    listed = (await client.get("/api/v2/filters", headers=viewer["headers"])).json()
    assert {f["title"]: f["filter_action"] for f in listed} == {"Creepy": "warn", "apple": "hide"}
    assert {f["phrase"] for f in (await client.get("/api/v1/filters", headers=viewer["headers"])).json()} == {
        "spider",
        "apple",
    }
    assert pie["id"] not in await _statuses(client, viewer, "/api/v1/timelines/home")
    async with services.db.begin() as conn:  # an hour goes by
        await conn.execute(
            update(filters).where(filters.c.title == "apple").values(expires_at=utcnow() - timedelta(hours=1))
        )
    assert pie["id"] in await _statuses(client, viewer, "/api/v1/timelines/home", limit=5)

    # Threads: the viewer's warn filter marks comments; the owner's hide filter takes
    # matching comments on their posts away from everyone but their author.
    hiding = await client.post(
        "/api/v2/filters",
        headers=author["headers"],
        json={
            "title": "Trolls",
            "context": ["thread"],
            "filter_action": "hide",
            "keywords_attributes": [{"keyword": "ugly"}],
        },
    )
    assert hiding.status_code == 200, hiding.text
    rude = await _comment(client, commenter, pie, "what an ugly pie")
    seen = await client.get(f"/api/v1/statuses/{pie['id']}/context", headers=viewer["headers"])
    assert rude not in [s["id"] for s in seen.json()["descendants"]]
    anonymous = await client.get(f"/api/v1/statuses/{pie['id']}/context")
    assert anonymous.json()["descendants"] == []
    own = await client.get(f"/api/v1/statuses/{pie['id']}/context", headers=commenter["headers"])
    assert [s["id"] for s in own.json()["descendants"]] == [rude]

    # Notifications: a hide filter there leaves out what it matches.
    muted = await client.post(
        "/api/v2/filters",
        headers=author["headers"],
        json={
            "title": "Spam",
            "context": ["notifications"],
            "filter_action": "hide",
            "keywords_attributes": [{"keyword": "promo"}],
        },
    )
    assert muted.status_code == 200
    promo = await _comment(client, commenter, spider, "promo code inside")
    await settle(services)
    notified = (await client.get("/api/v1/notifications", headers=author["headers"])).json()
    statuses = {(n.get("status") or {}).get("id") for n in notified}
    assert promo not in statuses
    assert plural in statuses

    # Profiles: a hide filter for them applies to a profile's kept newest page too.
    profile = f"/api/v1/accounts/{author['id']}/statuses"
    assert pie["id"] in await _statuses(client, viewer, profile)
    on_profiles = await client.post(
        "/api/v2/filters",
        headers=viewer["headers"],
        json={
            "title": "Pies",
            "context": ["account"],
            "filter_action": "hide",
            "keywords_attributes": [{"keyword": "pie"}],
        },
    )
    assert on_profiles.status_code == 200
    assert pie["id"] not in await _statuses(client, viewer, profile)
    assert (await client.delete(f"/api/v2/filters/{on_profiles.json()['id']}", headers=viewer["headers"])).is_success

    # Bad input is a 422 in Mastodon's shape; another account's filter is not found.
    bad = await client.post("/api/v2/filters", headers=viewer["headers"], json={"title": "x", "context": ["nowhere"]})
    assert bad.status_code == 422
    assert "error" in bad.json()
    assert (await client.get(f"/api/v2/filters/{creepy['id']}", headers=author["headers"])).status_code == 404
    assert (await client.delete(f"/api/v2/filters/{creepy['id']}", headers=author["headers"])).status_code == 404
    # Deleted: the warning goes.
    assert (await client.delete(f"/api/v2/filters/{creepy['id']}", headers=viewer["headers"])).status_code == 200
    home = await _statuses(client, viewer, "/api/v1/timelines/home")
    assert home[spider["id"]]["filtered"] == []
    assert (await client.delete(f"/api/v1/filters/{v1.json()['id']}", headers=viewer["headers"])).status_code == 200
    assert (await client.get("/api/v2/filters", headers=viewer["headers"])).json() == []
