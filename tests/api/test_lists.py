"""Lists (Favorites, Close Friends) on both shapes: one journey through their CRUD, members,
the list timeline and its paging, privacy, exclusive lists and the close-friends mark."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.feed import store
from lumigram.lists.service import is_close_friend
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def _ids(client: httpx.AsyncClient, user: User, path: str, **params: Any) -> list[str]:
    response = await client.get(path, headers=user["headers"], params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def _close_friend(services: Services, owner: User, viewer: User) -> bool:
    async with services.db.connect() as conn:
        return await is_close_friend(conn, int(owner["id"]), int(viewer["id"]))


async def test_a_list_holds_followed_accounts_and_reads_like_home(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner, alice, bob, stranger = [await create_user(client) for _ in range(4)]
    for target in (alice, bob):
        assert (await client.post(f"/api/v1/accounts/{target['id']}/follow", headers=owner["headers"])).is_success
    await _ids(client, owner, "/api/v1/timelines/home")
    await eventually(lambda: store.is_ready(services, int(owner["id"])))

    # Lists: made, read, renamed; bad input is a 422 in Mastodon's shape; others' are 404.
    made = await client.post("/api/v1/lists", headers=owner["headers"], json={"title": "Favorites"})
    assert made.status_code == 200, made.text
    favourites = made.json()
    assert favourites | {"id": ""} == {
        "id": "",
        "title": "Favorites",
        "replies_policy": "list",
        "exclusive": False,
        "lumigram": {"close_friends": False},
    }
    bad = await client.post("/api/v1/lists", headers=owner["headers"], json={"replies_policy": "everyone"})
    assert bad.status_code == 422
    assert "error" in bad.json()
    path = f"/api/v1/lists/{favourites['id']}"
    assert (await client.get(path, headers=alice["headers"])).status_code == 404
    renamed = await client.put(path, headers=owner["headers"], json={"title": "Faves", "replies_policy": "none"})
    assert (renamed.json()["title"], renamed.json()["replies_policy"]) == ("Faves", "none")

    # One close-friends list per account: marking a second unmarks the first.
    first = await client.post(
        "/api/v1/lists", headers=owner["headers"], data={"title": "Close", "lumigram[close_friends]": "true"}
    )
    assert first.json()["lumigram"] == {"close_friends": True}
    second = await client.post(
        "/api/v1/lists", headers=owner["headers"], json={"title": "Closer", "lumigram": {"close_friends": True}}
    )
    listed = {
        item["id"]: item["lumigram"]["close_friends"]
        for item in (await client.get("/api/v1/lists", headers=owner["headers"])).json()
    }
    assert listed == {favourites["id"]: False, first.json()["id"]: False, second.json()["id"]: True}

    # Members: only accounts the owner follows.
    members = f"{path}/accounts"
    assert (
        await client.post(members, headers=owner["headers"], json={"account_ids": [alice["id"]]})
    ).status_code == 200
    refused = await client.post(members, headers=owner["headers"], json={"account_ids": [stranger["id"]]})
    assert refused.status_code == 422
    assert await _ids(client, owner, members) == [alice["id"]]
    assert await _ids(client, owner, f"/api/v1/accounts/{alice['id']}/lists") == [favourites["id"]]
    added = await client.post(
        f"/api/v1/lists/{second.json()['id']}/accounts", headers=owner["headers"], data={"account_ids[]": bob["id"]}
    )
    assert added.status_code == 200
    assert await _close_friend(services, owner, bob)
    assert not await _close_friend(services, owner, alice)

    # The list timeline: members' posts only, newest first, paged by max_id to the end.
    posts = [await create_post(client, alice["headers"], text=f"alice {n}") for n in range(2)]
    comment = await client.post(
        "/api/v1/statuses", headers=alice["headers"], json={"status": "nice", "in_reply_to_id": posts[0]["id"]}
    )
    bobs = await create_post(client, bob["headers"], text="bob")
    timeline = f"/api/v1/timelines/list/{favourites['id']}"
    page = await client.get(timeline, headers=owner["headers"], params={"limit": 1})
    assert [s["id"] for s in page.json()] == [posts[1]["id"]]
    assert 'rel="next"' in page.headers["link"]
    older = await _ids(client, owner, timeline, limit=2, max_id=posts[1]["id"])
    assert older == [posts[0]["id"]]  # the comment is left out: replies_policy "none"
    assert comment.json()["id"] not in older
    assert (await client.get(timeline, headers=alice["headers"])).status_code == 404
    # Muting a member hides them here too.
    assert (await client.post(f"/api/v1/accounts/{alice['id']}/mute", headers=owner["headers"])).is_success
    assert await _ids(client, owner, timeline) == []
    assert (await client.post(f"/api/v1/accounts/{alice['id']}/unmute", headers=owner["headers"])).is_success

    # Exclusive: the members' posts leave home (others' stay), and new ones are not fanned in.
    await settle(services)
    assert posts[1]["id"] in await _ids(client, owner, "/api/v1/timelines/home")
    exclusive = await client.put(path, headers=owner["headers"], json={"exclusive": True})
    assert exclusive.json()["exclusive"] is True
    home = await _ids(client, owner, "/api/v1/timelines/home")
    assert bobs["id"] in home
    assert not set(home) & {p["id"] for p in posts}
    later = await create_post(client, alice["headers"], text="alice later")
    await settle(services)
    cached = await services.cache.zrevrange_by_score(store.feed_key(int(owner["id"])), limit=20)
    assert later["id"] not in [member for member, _ in cached]
    assert later["id"] in await _ids(client, owner, timeline)

    # Members out, then the list itself.
    removed = await client.request("DELETE", members, headers=owner["headers"], json={"account_ids": [alice["id"]]})
    assert removed.status_code == 200
    assert await _ids(client, owner, members) == []
    await settle(services)
    assert later["id"] in await _ids(client, owner, "/api/v1/timelines/home")
    assert (await client.delete(path, headers=owner["headers"])).status_code == 200
    assert (await client.get(path, headers=owner["headers"])).status_code == 404
