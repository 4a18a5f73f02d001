"""The home feed (fan-out on write, merged on read), public and hashtag timelines, followed tags."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lumigram.config import Settings
from lumigram.feed import store
from lumigram.pagecache import store as pages
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def _home(client: httpx.AsyncClient, user: User, **params: Any) -> list[str]:
    response = await client.get("/api/v1/timelines/home", headers=user["headers"], params=params)
    assert response.status_code == 200, response.text
    return [status["id"] for status in response.json()]


async def _follow(client: httpx.AsyncClient, follower: User, target: User) -> None:
    response = await client.post(f"/api/v1/accounts/{target['id']}/follow", headers=follower["headers"])
    assert response.status_code == 200, response.text


async def _warm(client: httpx.AsyncClient, services: Services, user: User) -> None:
    """Read the feed once and wait until its cached copy is ready (fan-out then reaches it)."""
    await _home(client, user)
    await eventually(lambda: store.is_ready(services, int(user["id"])))


async def test_followed_posts_arrive_newest_first(client: httpx.AsyncClient, services: Services) -> None:
    reader, alice, bob = [await create_user(client) for _ in range(3)]
    await _follow(client, reader, alice)
    await _warm(client, services, reader)
    first = await create_post(client, alice["headers"], text="first")
    own = await create_post(client, reader["headers"], text="mine")
    stranger = await create_post(client, bob["headers"], text="not followed")
    second = await create_post(client, alice["headers"], text="second")

    await settle(services)
    assert await _home(client, reader) == [second["id"], own["id"], first["id"]]
    assert stranger["id"] not in await _home(client, reader)
    cached = await services.cache.zrevrange_by_score(store.feed_key(int(reader["id"])), limit=10)
    assert [member for member, _ in cached] == [second["id"], own["id"], first["id"]]  # fanned out, not pulled

    # Comments and direct messages are not feed items.
    await client.post(
        "/api/v1/statuses", headers=alice["headers"], json={"status": "reply", "in_reply_to_id": first["id"]}
    )
    await client.post(
        "/api/v1/statuses",
        headers=alice["headers"],
        json={"status": f"@{reader['username']} psst", "visibility": "direct"},
    )
    third = await create_post(client, alice["headers"], text="third")
    await settle(services)
    assert await _home_starts_with(client, reader, third["id"])
    assert len(await _home(client, reader)) == 4


async def _home_starts_with(client: httpx.AsyncClient, user: User, status_id: str) -> bool:
    ids = await _home(client, user)
    return bool(ids) and ids[0] == status_id


async def test_unfollow_mute_block_and_delete_take_posts_out(client: httpx.AsyncClient, services: Services) -> None:
    reader, alice, bob, carol = [await create_user(client) for _ in range(4)]
    for author in (alice, bob, carol):
        await _follow(client, reader, author)
    await _warm(client, services, reader)
    posts = {name: await create_post(client, user["headers"], text=name) for name, user in
             (("alice", alice), ("bob", bob), ("carol", carol))}  # fmt: skip
    await settle(services)
    assert await _has_all(client, reader, [p["id"] for p in posts.values()])

    await client.post(f"/api/v1/accounts/{alice['id']}/unfollow", headers=reader["headers"])
    await client.post(f"/api/v1/accounts/{bob['id']}/mute", headers=reader["headers"])
    await client.post(f"/api/v1/accounts/{reader['id']}/block", headers=carol["headers"])
    assert await _home(client, reader) == []  # hidden at once by the read-time checks

    await settle(services)
    assert await services.cache.zrevrange_by_score(store.feed_key(int(reader["id"])), limit=10) == []

    await client.post(f"/api/v1/accounts/{bob['id']}/unmute", headers=reader["headers"])
    await settle(services)
    assert await _has_all(client, reader, [posts["bob"]["id"]])
    await client.delete(f"/api/v1/statuses/{posts['bob']['id']}", headers=bob["headers"])

    await settle(services)  # the feed consumer takes it out of every follower's feed
    assert await _home(client, reader) == []


async def _has_all(client: httpx.AsyncClient, user: User, ids: list[str]) -> bool:
    return set(ids) <= set(await _home(client, user))


async def test_a_new_follow_merges_recent_posts_in(client: httpx.AsyncClient, services: Services) -> None:
    reader, alice = await create_user(client), await create_user(client)
    await _warm(client, services, reader)
    older = [await create_post(client, alice["headers"], text=f"old {i}") for i in range(3)]
    await _follow(client, reader, alice)
    await settle(services)
    assert await _has_all(client, reader, [p["id"] for p in older])
    assert await store.size(services, int(reader["id"])) == 3


async def test_cold_feed_answers_from_the_database_and_rebuilds(client: httpx.AsyncClient, services: Services) -> None:
    reader, alice = await create_user(client), await create_user(client)
    await _follow(client, reader, alice)
    posts = [await create_post(client, alice["headers"], text=f"p{i}") for i in range(3)]
    await services.cache.flush()  # a cache restart: every feed is gone
    assert await _home(client, reader) == [p["id"] for p in reversed(posts)]
    await eventually(lambda: store.is_ready(services, int(reader["id"])))
    assert await store.size(services, int(reader["id"])) == 3


async def test_paging_continues_past_the_cached_window(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(store, "FEED_CAP", 4)
    reader, alice = await create_user(client), await create_user(client)
    await _follow(client, reader, alice)
    posts = [await create_post(client, alice["headers"], text=f"p{i}") for i in range(9)]
    await _warm(client, services, reader)
    assert await store.size(services, int(reader["id"])) == 4
    seen: list[str] = []
    params: dict[str, Any] = {"limit": 3}
    for _ in range(5):
        response = await client.get("/api/v1/timelines/home", headers=reader["headers"], params=params)
        page = [s["id"] for s in response.json()]
        seen += page
        if "next" not in response.headers.get("link", ""):
            break
        params = {"limit": 3, "max_id": page[-1]}
    assert seen == [p["id"] for p in reversed(posts)]  # all nine, back to the very first

    newer = await _home(client, reader, min_id=posts[6]["id"], limit=2)
    assert newer == [posts[8]["id"], posts[7]["id"]]
    since = await _home(client, reader, since_id=posts[6]["id"], limit=1)
    assert since == [posts[8]["id"]]


class TestCelebrities:
    @pytest.fixture
    def settings(self, make_settings: Callable[..., Settings]) -> Settings:
        return make_settings(fanout_celebrity_threshold=1)

    async def test_big_accounts_are_merged_at_read_time(self, client: httpx.AsyncClient, services: Services) -> None:
        star, fan, other = [await create_user(client) for _ in range(3)]
        await _follow(client, fan, star)
        await _follow(client, other, star)  # two followers: above the threshold of one
        await _warm(client, services, fan)
        post = await create_post(client, star["headers"], text="for everyone")
        assert await _home(client, fan) == [post["id"]]  # visible at once, no fan-out needed
        cached = await services.cache.zrevrange_by_score(store.feed_key(int(fan["id"])), limit=10)
        assert cached == []


async def test_followed_hashtags_enter_the_home_feed(client: httpx.AsyncClient, services: Services) -> None:
    reader, alice = await create_user(client), await create_user(client)
    response = await client.post("/api/v1/tags/Sunsets/follow", headers=reader["headers"])
    assert response.status_code == 200, response.text
    assert response.json()["following"] is True
    await _warm(client, services, reader)
    tagged = await create_post(client, alice["headers"], text="Look #sunsets")
    await create_post(client, alice["headers"], text="untagged")
    await settle(services)
    assert await _home_starts_with(client, reader, tagged["id"])
    assert await _home(client, reader) == [tagged["id"]]
    listed = (await client.get("/api/v1/followed_tags", headers=reader["headers"])).json()
    assert [t["name"] for t in listed] == ["Sunsets"]
    tag = (await client.get("/api/v1/tags/SUNSETS", headers=reader["headers"])).json()
    assert tag["following"] is True
    await client.post("/api/v1/tags/sunsets/unfollow", headers=reader["headers"])
    assert await _home(client, reader) == []
    assert (await client.get("/api/v1/tags/not a tag!")).status_code == 404


async def test_public_and_hashtag_timelines(client: httpx.AsyncClient) -> None:
    alice, locked, viewer = [await create_user(client) for _ in range(3)]
    await client.patch("/api/v1/accounts/update_credentials", headers=locked["headers"], data={"locked": "true"})
    public = await create_post(client, alice["headers"], text="hello #Tree")
    await create_post(client, alice["headers"], text="quiet #tree", visibility="unlisted")
    await create_post(client, alice["headers"], text="friends #tree", visibility="private")
    await create_post(client, locked["headers"], text="hidden #tree")
    both = await create_post(client, alice["headers"], text="#tree #river")

    timeline = (await client.get("/api/v1/timelines/public")).json()
    assert [s["id"] for s in timeline] == [both["id"], public["id"]]
    assert (await client.get("/api/v1/timelines/public?remote=true")).json() == []
    tagged = (await client.get("/api/v1/timelines/tag/TREE")).json()
    assert [s["id"] for s in tagged] == [both["id"], public["id"]]
    narrowed = (await client.get("/api/v1/timelines/tag/tree", params={"all[]": "river"})).json()
    assert [s["id"] for s in narrowed] == [both["id"]]
    excluded = (await client.get("/api/v1/timelines/tag/tree", params={"none[]": "river"})).json()
    assert [s["id"] for s in excluded] == [public["id"]]
    # Names no hashtag can have (a NUL, which PostgreSQL refuses outright) match no tag.
    odd = {"any[]": "ri\x00ver", "none[]": "\x00"}
    assert [s["id"] for s in (await client.get("/api/v1/timelines/tag/tree", params=odd)).json()] == [
        both["id"],
        public["id"],
    ]
    assert (await client.get("/api/v1/timelines/tag/tree", params={"all[]": "\x00"})).json() == []
    await client.post(f"/api/v1/accounts/{alice['id']}/block", headers=viewer["headers"])
    assert (await client.get("/api/v1/timelines/public", headers=viewer["headers"])).json() == []
    assert (await client.get("/api/v1/timelines/home")).status_code == 401


async def test_the_newest_page_is_served_rendered_until_something_changes(
    client: httpx.AsyncClient, services: Services
) -> None:
    from sqlalchemy import update

    from lumigram.infra.tables import statuses

    reader, alice = await create_user(client), await create_user(client)
    await _follow(client, reader, alice)
    post = await create_post(client, alice["headers"], text="original words")
    await _warm(client, services, reader)  # a rebuild finishing renews the page too

    async def settled() -> bool:
        # The follow's and the post's events renew the page too, whenever the bus brings them.
        await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
        await asyncio.sleep(0.3)
        return (await pages.lookup(services, int(reader["id"]), "20")).cached is not None

    await eventually(settled)
    first = (await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])).json()
    assert "original words" in first[0]["content"]
    # Changed behind the service's back: the rendered page does not notice...
    async with services.db.begin() as conn:
        await conn.execute(update(statuses).where(statuses.c.id == int(post["id"])).values(text="sneaky words"))
    again = (await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])).json()
    assert "original words" in again[0]["content"]
    # ...but anything the reader does that touches the feed renders it anew.
    liked = await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=reader["headers"])
    assert liked.status_code == 200
    fresh = (await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])).json()
    assert "sneaky words" in fresh[0]["content"]
    assert fresh[0]["favourited"] is True
    # Other page sizes and cursors are always computed.
    assert (await client.get("/api/v1/timelines/home?limit=7", headers=reader["headers"])).status_code == 200
