"""Likes through the Mastodon API: favourite/unfavourite, favourited_by, /favourites, the
visibility rule on likes, the outbox events, and the like counter (cache delta, consumer,
reconciler)."""

from __future__ import annotations

import re
from typing import Any

import httpx
import orjson
from sqlalchemy import select, update

from lumigram.infra.tables import outbox, statuses
from lumigram.interactions.reconcile import reconcile_status_counts
from lumigram.posts import counters
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def like(client: httpx.AsyncClient, user: User, status_id: str, verb: str = "favourite") -> httpx.Response:
    return await client.post(f"/api/v1/statuses/{status_id}/{verb}", headers=user["headers"])


async def liked(client: httpx.AsyncClient, user: User, status_id: str, verb: str = "favourite") -> dict[str, Any]:
    response = await like(client, user, status_id, verb)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def act(client: httpx.AsyncClient, actor: User, verb: str, target: User) -> None:
    response = await client.post(f"/api/v1/accounts/{target['id']}/{verb}", headers=actor["headers"])
    assert response.status_code == 200, response.text


async def column(services: Services, status_id: str) -> tuple[int, int]:
    """(favourites_count, replies_count) as stored in the statuses row."""
    async with services.db.connect() as conn:
        row = (
            await conn.execute(
                select(statuses.c.favourites_count, statuses.c.replies_count).where(statuses.c.id == int(status_id))
            )
        ).one()
    return int(row.favourites_count), int(row.replies_count)


async def events(services: Services, *types: str) -> list[dict[str, Any]]:
    async with services.db.connect() as conn:
        rows = (
            await conn.execute(
                select(outbox.c.type, outbox.c.payload).where(outbox.c.type.in_(types)).order_by(outbox.c.id)
            )
        ).all()
    return [{"type": row.type, **orjson.loads(row.payload)} for row in rows]


async def settled(services: Services, status_id: str, expected: int) -> None:
    """Once the consumer has handled every event: every like folded into the column, its delta cancelled."""
    await settle(services)
    key = int(status_id)
    deltas = counters.parse_pending([key], await services.cache.get_many([counters.favourites_key(key)]))
    likes, _ = await column(services, status_id)
    assert likes == expected
    assert not deltas.get(key)


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", ""))}


async def test_a_second_like_counts_once_and_unliking_twice_is_fine(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    assert post["favourited"] is False
    assert post["favourites_count"] == 0

    first = await liked(client, bob, post["id"])
    again = await liked(client, bob, post["id"])
    assert first["favourited"] is True
    assert first["favourites_count"] == 1
    assert again["favourited"] is True
    assert again["favourites_count"] == 1
    assert [e["type"] for e in await events(services, "favourite.created")] == ["favourite.created"]
    await settled(services, post["id"], 1)

    seen_by_alice = (await client.get(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])).json()
    assert seen_by_alice["favourited"] is False
    assert seen_by_alice["favourites_count"] == 1
    anonymous = (await client.get(f"/api/v1/statuses/{post['id']}")).json()
    assert anonymous["favourites_count"] == 1
    assert "favourited" not in anonymous

    gone = await liked(client, bob, post["id"], "unfavourite")
    gone_again = await liked(client, bob, post["id"], "unfavourite")
    assert gone["favourited"] is False
    assert gone["favourites_count"] == 0
    assert gone_again["favourited"] is False
    assert gone_again["favourites_count"] == 0
    await settled(services, post["id"], 0)

    created, removed = await events(services, "favourite.created", "favourite.removed")
    assert removed["type"] == "favourite.removed"
    for event in (created, removed):
        assert {k: event[k] for k in ("status_id", "account_id", "status_account_id")} == {
            "status_id": post["id"],
            "account_id": bob["id"],
            "status_account_id": alice["id"],
        }


async def test_many_likers_are_counted_and_listed_newest_first_in_pages(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await create_user(client)
    fans = [await create_user(client) for _ in range(3)]
    post = await create_post(client, alice["headers"])
    for fan in fans:
        await liked(client, fan, post["id"])
    own = await liked(client, alice, post["id"])  # liking one's own post is allowed, as in Mastodon
    assert own["favourites_count"] == 4
    await settled(services, post["id"], 4)

    first = await client.get(f"/api/v1/statuses/{post['id']}/favourited_by", params={"limit": 2})
    assert first.status_code == 200, first.text
    assert [a["id"] for a in first.json()] == [alice["id"], fans[2]["id"]]
    following = links(first)
    assert "next" in following
    assert "prev" in following
    second = await client.get(following["next"].removeprefix("http://testserver"))
    assert [a["id"] for a in second.json()] == [fans[1]["id"], fans[0]["id"]]
    third = await client.get(links(second)["next"].removeprefix("http://testserver"))
    assert third.json() == []
    back = await client.get(links(second)["prev"].removeprefix("http://testserver"))
    assert [a["id"] for a in back.json()] == [alice["id"], fans[2]["id"]]

    # A liker the viewer blocks is left out of the list the viewer sees.
    await act(client, fans[0], "block", fans[1])
    seen = await client.get(f"/api/v1/statuses/{post['id']}/favourited_by", headers=fans[0]["headers"])
    assert fans[1]["id"] not in [a["id"] for a in seen.json()]
    assert len(seen.json()) == 3


async def test_favourites_lists_the_viewers_likes_most_recent_like_first(client: httpx.AsyncClient) -> None:
    alice, bob = await create_user(client), await create_user(client)
    older = await create_post(client, alice["headers"], "older")
    newer = await create_post(client, alice["headers"], "newer")
    # Liked in the opposite order to posting: the list follows the likes, not the posts.
    await liked(client, bob, newer["id"])
    await liked(client, bob, older["id"])
    response = await client.get("/api/v1/favourites", headers=bob["headers"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert [s["id"] for s in body] == [older["id"], newer["id"]]
    assert all(s["favourited"] is True for s in body)

    page = await client.get("/api/v1/favourites", params={"limit": 1}, headers=bob["headers"])
    assert [s["id"] for s in page.json()] == [older["id"]]
    rest = await client.get(links(page)["next"].removeprefix("http://testserver"), headers=bob["headers"])
    assert [s["id"] for s in rest.json()] == [newer["id"]]
    end = await client.get(links(rest)["next"].removeprefix("http://testserver"), headers=bob["headers"])
    assert end.json() == []
    assert "next" not in links(end)

    assert (await client.get("/api/v1/favourites", headers=alice["headers"])).json() == []
    assert (await client.get("/api/v1/favourites")).status_code == 401

    # A liked post that was deleted leaves the list (its like goes with it).
    assert (await client.delete(f"/api/v1/statuses/{older['id']}", headers=alice["headers"])).status_code == 200
    assert [s["id"] for s in (await client.get("/api/v1/favourites", headers=bob["headers"])).json()] == [newer["id"]]


async def test_a_post_the_viewer_may_not_see_cannot_be_liked(client: httpx.AsyncClient) -> None:
    alice, stranger, friend = await create_user(client), await create_user(client), await create_user(client)
    locked = await client.patch(
        "/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=alice["headers"]
    )
    assert locked.status_code == 200
    post = await create_post(client, alice["headers"])

    for verb in ("favourite", "unfavourite"):
        response = await like(client, stranger, post["id"], verb)
        assert response.status_code == 404, response.text
        assert response.json() == {"error": "Record not found"}
    assert (await client.get(f"/api/v1/statuses/{post['id']}/favourited_by")).status_code == 404
    assert (await like(client, stranger, "999999999999")).status_code == 404
    assert (await like(client, stranger, "not-an-id")).status_code == 404

    # An approved follower may like it.
    await act(client, friend, "follow", alice)
    authorize = await client.post(f"/api/v1/follow_requests/{friend['id']}/authorize", headers=alice["headers"])
    assert authorize.status_code == 200, authorize.text
    assert (await liked(client, friend, post["id"]))["favourites_count"] == 1
    listed = await client.get(f"/api/v1/statuses/{post['id']}/favourited_by", headers=friend["headers"])
    assert [a["id"] for a in listed.json()] == [friend["id"]]


async def test_blocks_either_way_stop_likes_and_unliking_still_works(client: httpx.AsyncClient) -> None:
    alice, bob, carol = await create_user(client), await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    await liked(client, carol, post["id"])

    await act(client, alice, "block", bob)  # the author blocks the would-be liker
    assert (await like(client, bob, post["id"])).status_code == 404
    await act(client, carol, "block", alice)  # the liker blocks the author
    assert (await like(client, carol, post["id"])).status_code == 404
    # Taking an earlier like back is allowed even now; the post itself stays hidden (404).
    assert (await like(client, carol, post["id"], "unfavourite")).status_code == 404
    await act(client, carol, "unblock", alice)
    again = (await client.get(f"/api/v1/statuses/{post['id']}", headers=carol["headers"])).json()
    assert again["favourited"] is False
    assert again["favourites_count"] == 0


async def test_a_comment_is_liked_like_a_post(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    comment = await client.post(
        "/api/v1/statuses", json={"status": "Lovely light", "in_reply_to_id": post["id"]}, headers=bob["headers"]
    )
    assert comment.status_code == 200, comment.text
    comment_id = comment.json()["id"]
    body = await liked(client, alice, comment_id)
    assert body["favourited"] is True
    assert body["favourites_count"] == 1
    await settled(services, comment_id, 1)
    assert await column(services, post["id"]) == (0, 1)

    context = (await client.get(f"/api/v1/statuses/{post['id']}/context", headers=alice["headers"])).json()
    [shown] = context["descendants"]
    assert shown["favourited"] is True
    assert shown["favourites_count"] == 1


async def test_the_reconciler_repairs_drifted_like_and_comment_counts(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    other = await create_post(client, alice["headers"])
    await liked(client, bob, post["id"])
    reply = await client.post(
        "/api/v1/statuses", json={"status": "Nice", "in_reply_to_id": post["id"]}, headers=bob["headers"]
    )
    assert reply.status_code == 200, reply.text
    await settled(services, post["id"], 1)
    assert await reconcile_status_counts(services) == 0

    async with services.db.begin() as conn:
        await conn.execute(update(statuses).where(statuses.c.id == int(post["id"])).values(favourites_count=40))
        await conn.execute(update(statuses).where(statuses.c.id == int(other["id"])).values(replies_count=3))
    drifted = (await client.get(f"/api/v1/statuses/{post['id']}")).json()
    assert drifted["favourites_count"] == 40  # the damage shows...

    assert await reconcile_status_counts(services, batch=1) == 2
    assert await column(services, post["id"]) == (1, 1)
    assert await column(services, other["id"]) == (0, 0)
    repaired = (await client.get(f"/api/v1/statuses/{post['id']}")).json()
    assert (repaired["favourites_count"], repaired["replies_count"]) == (1, 1)  # ...and is gone
    assert await reconcile_status_counts(services) == 0


async def test_the_counter_consumer_repairs_drift_on_the_next_like(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob, carol = await create_user(client), await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    async with services.db.begin() as conn:
        await conn.execute(update(statuses).where(statuses.c.id == int(post["id"])).values(favourites_count=9))
    await liked(client, bob, post["id"])
    # The consumer recounts from the likes table rather than adding one to a wrong number.
    await settled(services, post["id"], 1)
    await liked(client, carol, post["id"])
    await settled(services, post["id"], 2)
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).json()["favourites_count"] == 2


async def test_a_lost_cache_delta_leaves_the_count_right(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    await liked(client, bob, post["id"])
    await settled(services, post["id"], 1)
    await services.cache.flush()  # a restarted cache: every pending delta is gone
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).json()["favourites_count"] == 1


async def test_home_and_profile_reads_carry_the_viewers_like(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await act(client, bob, "follow", alice)
    post = await create_post(client, alice["headers"])
    await liked(client, bob, post["id"])
    # The count is exact once the like is folded in; until then a read can see both the
    # request's pending +1 and the recounted column for a moment (``posts.counters``).
    await settle(services)
    grid = (await client.get(f"/api/v1/accounts/{alice['id']}/statuses", headers=bob["headers"])).json()
    assert [(s["id"], s["favourited"]) for s in grid] == [(post["id"], True)]
    many = (await client.get("/api/v1/statuses", params={"id[]": [post["id"]]}, headers=bob["headers"])).json()
    assert many[0]["favourited"] is True
    assert many[0]["favourites_count"] == 1

    async def home_shows_like() -> bool:
        home = (await client.get("/api/v1/timelines/home", headers=bob["headers"])).json()
        return bool(home) and home[0]["id"] == post["id"] and home[0]["favourited"] is True

    await eventually(home_shows_like)
