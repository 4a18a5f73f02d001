"""Saved posts (Mastodon's bookmarks): bookmark/unbookmark, GET /api/v1/bookmarks, privacy."""

from __future__ import annotations

import re
from typing import Any

import httpx

from tests.factories import create_post, create_user

User = dict[str, Any]


async def save(client: httpx.AsyncClient, user: User, status_id: str, verb: str = "bookmark") -> httpx.Response:
    return await client.post(f"/api/v1/statuses/{status_id}/{verb}", headers=user["headers"])


async def saved(client: httpx.AsyncClient, user: User, params: dict[str, Any] | None = None) -> httpx.Response:
    response = await client.get("/api/v1/bookmarks", params=params, headers=user["headers"])
    assert response.status_code == 200, response.text
    return response


def ids(response: httpx.Response) -> list[str]:
    return [s["id"] for s in response.json()]


def link(response: httpx.Response, rel: str) -> str | None:
    for url, found in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", "")):
        if found == rel:
            return str(url).removeprefix("http://testserver")
    return None


async def test_bookmarks_are_idempotent_listed_newest_first_and_private(client: httpx.AsyncClient) -> None:
    alice, bob = await create_user(client), await create_user(client)
    posts = [await create_post(client, alice["headers"], f"post {i}") for i in range(3)]
    # Saved out of posting order: the list follows when each was saved.
    for index in (1, 0, 2):
        response = await save(client, bob, posts[index]["id"])
        assert response.status_code == 200, response.text
        assert response.json()["bookmarked"] is True
    again = await save(client, bob, posts[0]["id"])
    assert again.status_code == 200
    assert again.json()["bookmarked"] is True

    expected = [posts[2]["id"], posts[0]["id"], posts[1]["id"]]
    everything = await saved(client, bob)
    assert ids(everything) == expected
    assert all(s["bookmarked"] is True for s in everything.json())

    first = await saved(client, bob, {"limit": 2})
    assert ids(first) == expected[:2]
    next_url = link(first, "next")
    assert next_url is not None
    second = await client.get(next_url, headers=bob["headers"])
    assert ids(second) == expected[2:]
    prev_url = link(second, "prev")
    assert prev_url is not None
    assert ids(await client.get(prev_url, headers=bob["headers"])) == expected[:2]

    # Private to their owner: the author sees nothing of it, anonymous callers get a 401.
    assert ids(await saved(client, alice)) == []
    mine = (await client.get(f"/api/v1/statuses/{posts[0]['id']}", headers=alice["headers"])).json()
    assert mine["bookmarked"] is False
    theirs = (await client.get(f"/api/v1/statuses/{posts[0]['id']}", headers=bob["headers"])).json()
    assert theirs["bookmarked"] is True
    assert (await client.get("/api/v1/bookmarks")).status_code == 401

    for _ in range(2):  # unbookmarking twice is fine
        removed = await save(client, bob, posts[0]["id"], "unbookmark")
        assert removed.status_code == 200
        assert removed.json()["bookmarked"] is False
    assert ids(await saved(client, bob)) == [posts[2]["id"], posts[1]["id"]]


async def test_a_post_the_viewer_may_not_see_cannot_be_saved(client: httpx.AsyncClient) -> None:
    alice, stranger, bob = [await create_user(client) for _ in range(3)]
    locked = await client.patch(
        "/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=alice["headers"]
    )
    assert locked.status_code == 200
    private = await create_post(client, alice["headers"])
    response = await save(client, stranger, private["id"])
    assert response.status_code == 404
    assert response.json() == {"error": "Record not found"}
    assert (await save(client, stranger, "99999999999")).status_code == 404
    assert ids(await saved(client, stranger)) == []

    # A saved post that later becomes invisible (a block) drops out of the list.
    carol = await create_user(client)
    visible = await create_post(client, carol["headers"])
    assert (await save(client, bob, visible["id"])).status_code == 200
    assert ids(await saved(client, bob)) == [visible["id"]]
    blocked = await client.post(f"/api/v1/accounts/{bob['id']}/block", headers=carol["headers"])
    assert blocked.status_code == 200
    assert ids(await saved(client, bob)) == []
    assert (await save(client, bob, visible["id"], "unbookmark")).status_code == 404


async def test_a_page_is_filled_past_saved_posts_that_became_invisible(client: httpx.AsyncClient) -> None:
    alice, carol, bob = [await create_user(client) for _ in range(3)]
    kept = [await create_post(client, alice["headers"], f"kept {i}") for i in range(2)]
    hidden = [await create_post(client, carol["headers"], f"hidden {i}") for i in range(3)]
    for post in [kept[0], *hidden, kept[1]]:
        assert (await save(client, bob, post["id"])).status_code == 200
    assert (await client.post(f"/api/v1/accounts/{carol['id']}/block", headers=bob["headers"])).status_code == 200
    # The newest two saved rows are kept[1] and a hidden one: the page reads on to fill itself.
    page = await saved(client, bob, {"limit": 2})
    assert ids(page) == [kept[1]["id"], kept[0]["id"]]
