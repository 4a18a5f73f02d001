"""A reader's own writes mended into their kept home pages (``lumigram.pagecache.store.mend``):
their like, bookmark or follow is shown by their very next read, answered from the kept
page rather than by rendering it whole, and the page is byte for byte what a whole
rendering gives."""

from __future__ import annotations

from typing import Any

import httpx
import orjson

from lumigram.pagecache import store as pages
from lumigram.services import Services
from tests.api.test_home_fast_path import _rendered, _through_fast_path
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def _whole(client: httpx.AsyncClient, services: Services, reader: User) -> httpx.Response:
    """The reader's newest page rendered whole, now (the kept one forgotten first)."""
    await settle(services)
    await pages.forget(services, [int(reader["id"])])
    response = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    assert response.status_code == 200
    return response


async def _answered_from_kept_page(client: httpx.AsyncClient, reader: User) -> tuple[bytes, str | None]:
    """The next read, which the kept page answers (no rendering): its body and Link."""
    status, headers, body, calls = await _through_fast_path(client, reader["headers"])
    assert (status, calls) == (200, 0)
    return body, headers.get("link")


async def test_a_readers_own_like_and_bookmark_are_mended_into_their_kept_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    reader, author = await create_user(client), await create_user(client)
    assert (await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])).status_code == 200
    for index in range(3):
        await create_post(client, author["headers"], text=f"post {index}")
    first = await _rendered(client, services, reader)
    newest, middle, oldest = (status["id"] for status in first.json())

    liked = await client.post(f"/api/v1/statuses/{middle}/favourite", headers=reader["headers"])
    assert liked.status_code == 200

    # Answered from the kept page, the like shown; the other Statuses as they were.
    body, link = await _answered_from_kept_page(client, reader)
    shown = orjson.loads(body)
    assert [s["id"] for s in shown] == [newest, middle, oldest]
    assert (shown[1]["favourited"], shown[1]["favourites_count"]) == (True, 1)
    assert shown[0] == first.json()[0]
    assert shown[2] == first.json()[2]
    # Exactly what rendering the page whole gives.
    whole = await _whole(client, services, reader)
    assert body == whole.content
    assert link == whole.headers.get("link")

    # Taken back, and a bookmark: mended the same way.
    await _rendered(client, services, reader)
    assert (await client.post(f"/api/v1/statuses/{middle}/unfavourite", headers=reader["headers"])).status_code == 200
    assert (await client.post(f"/api/v1/statuses/{oldest}/bookmark", headers=reader["headers"])).status_code == 200
    body, _link = await _answered_from_kept_page(client, reader)
    shown = orjson.loads(body)
    assert (shown[1]["favourited"], shown[1]["favourites_count"]) == (False, 0)
    assert shown[2]["bookmarked"] is True
    assert body == (await _whole(client, services, reader)).content


async def test_a_follow_puts_the_followed_accounts_posts_into_the_kept_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    reader, friend, newcomer = [await create_user(client) for _ in range(3)]
    assert (await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=reader["headers"])).status_code == 200
    for index in range(20):  # a full page of the friend's posts
        await create_post(client, friend["headers"], text=f"friend {index}")
    # The reader's own, which shows how many they follow; then, newer than most of them,
    # one for everyone, one for followers only (the reader may see it once following),
    # and a later post of the friend's above both.
    mine = await create_post(client, reader["headers"], text="mine")
    public = await create_post(client, newcomer["headers"], text="hello all")
    private = await create_post(client, newcomer["headers"], text="friends only", visibility="private")
    await create_post(client, friend["headers"], text="friend, newest")
    await settle(services)  # no fan-out left to move the page meanwhile
    first = await _rendered(client, services, reader)
    assert len(first.json()) == 20
    assert public["id"] not in first.text

    followed = await client.post(f"/api/v1/accounts/{newcomer['id']}/follow", headers=reader["headers"])
    assert followed.status_code == 200

    # The very next read: from the kept page, the reader's own post showing the follow.
    body, _link = await _answered_from_kept_page(client, reader)
    (own,) = [s for s in orjson.loads(body) if s["id"] == mine["id"]]
    assert own["account"]["following_count"] == 2
    # Once the feed has taken the posts: still answered from the kept page, the
    # newcomer's two posts in their places, and exactly what rendering the page whole
    # gives, Link included.
    await settle(services)
    body, link = await _answered_from_kept_page(client, reader)
    shown = orjson.loads(body)
    ids = [s["id"] for s in shown]
    assert len(ids) == 20
    assert ids[1:4] == [private["id"], public["id"], mine["id"]]
    assert shown[3]["account"]["following_count"] == 2
    whole = await _whole(client, services, reader)
    assert body == whole.content
    assert link == whole.headers.get("link")


async def test_a_followed_account_the_reader_mutes_adds_nothing_to_the_kept_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    reader, friend, muted = [await create_user(client) for _ in range(3)]
    assert (await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=reader["headers"])).status_code == 200
    for index in range(20):
        await create_post(client, friend["headers"], text=f"friend {index}")
    hidden = await create_post(client, muted["headers"], text="not for you")
    assert (await client.post(f"/api/v1/accounts/{muted['id']}/mute", headers=reader["headers"])).status_code == 200
    await settle(services)
    first = await _rendered(client, services, reader)

    followed = await client.post(f"/api/v1/accounts/{muted['id']}/follow", headers=reader["headers"])
    assert followed.status_code == 200

    body, _link = await _answered_from_kept_page(client, reader)
    assert hidden["id"] not in body.decode()
    assert body == first.content
    await settle(services)
    assert body == (await _whole(client, services, reader)).content
