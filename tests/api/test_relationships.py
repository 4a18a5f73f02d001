"""The follow graph through the Mastodon API: follows, requests, blocks, mutes and their lists,
plus the graph service's read helpers and the counter reconciler."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import select, update

from lumigram.graph import service as graph
from lumigram.graph.reconcile import reconcile_counts
from lumigram.infra.tables import accounts, outbox, utcnow
from lumigram.services import Services
from tests.factories import bearer, create_user

User = dict[str, Any]


async def account(client: httpx.AsyncClient, user: User) -> dict[str, Any]:
    response = await client.get(f"/api/v1/accounts/{user['id']}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def counts(client: httpx.AsyncClient, user: User) -> tuple[int, int]:
    body = await account(client, user)
    return body["followers_count"], body["following_count"]


async def post(client: httpx.AsyncClient, actor: User, path: str, **data: Any) -> httpx.Response:
    return await client.post(path, data=data or None, headers=actor["headers"])


async def act(client: httpx.AsyncClient, actor: User, verb: str, target: User, **data: Any) -> dict[str, Any]:
    response = await post(client, actor, f"/api/v1/accounts/{target['id']}/{verb}", **data)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def relationship(client: httpx.AsyncClient, viewer: User, other: User) -> dict[str, Any]:
    response = await client.get(
        "/api/v1/accounts/relationships", params={"id[]": [other["id"]]}, headers=viewer["headers"]
    )
    assert response.status_code == 200, response.text
    [body] = response.json()
    return dict(body)


async def lock(client: httpx.AsyncClient, user: User) -> None:
    response = await client.patch(
        "/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=user["headers"]
    )
    assert response.status_code == 200, response.text


async def event_types(services: Services) -> list[str]:
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(outbox.c.type, outbox.c.payload).order_by(outbox.c.id))).all()
    return [row.type for row in rows if row.type.split(".")[0] in ("follow", "follow_request", "block", "mute")]


async def test_follow_and_unfollow_move_counts_once(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    body = await act(client, alice, "follow", bob)
    assert body["id"] == bob["id"]
    assert body["following"] is True
    assert body["showing_reblogs"] is True
    assert body["requested"] is False
    await act(client, alice, "follow", bob)  # idempotent: no double count
    assert await counts(client, bob) == (1, 0)
    assert await counts(client, alice) == (0, 1)
    assert await graph.is_following(services, int(alice["id"]), int(bob["id"]))

    body = await act(client, alice, "unfollow", bob)
    assert body["following"] is False
    await act(client, alice, "unfollow", bob)
    assert await counts(client, bob) == (0, 0)
    assert await counts(client, alice) == (0, 0)
    assert await event_types(services) == ["follow.created", "follow.removed"]


async def test_follow_options_update_without_counting(client: httpx.AsyncClient) -> None:
    alice, bob = await create_user(client), await create_user(client)
    body = await act(client, alice, "follow", bob, reblogs="false", notify="true")
    assert (body["showing_reblogs"], body["notifying"]) == (False, True)
    body = await act(client, alice, "follow", bob, reblogs="true")
    assert (body["showing_reblogs"], body["notifying"]) == (True, True)
    assert await counts(client, bob) == (1, 0)
    bad = await post(client, alice, f"/api/v1/accounts/{bob['id']}/follow", reblogs="maybe")
    assert bad.status_code == 422


async def test_locked_account_gets_requests_to_authorize(client: httpx.AsyncClient, services: Services) -> None:
    owner, fan, other = await create_user(client), await create_user(client), await create_user(client)
    await lock(client, owner)
    body = await act(client, fan, "follow", owner)
    assert (body["following"], body["requested"]) == (False, True)
    await act(client, other, "follow", owner)
    assert await counts(client, owner) == (0, 0)
    assert (await relationship(client, owner, fan))["requested_by"] is True

    listed = await client.get("/api/v1/follow_requests", headers=owner["headers"])
    assert [a["id"] for a in listed.json()] == [other["id"], fan["id"]]

    accepted = await post(client, owner, f"/api/v1/follow_requests/{fan['id']}/authorize")
    assert accepted.status_code == 200
    assert accepted.json()["followed_by"] is True
    assert accepted.json()["requested_by"] is False
    rejected = await post(client, owner, f"/api/v1/follow_requests/{other['id']}/reject")
    assert rejected.status_code == 200
    assert rejected.json()["requested_by"] is False
    again = await post(client, owner, f"/api/v1/follow_requests/{other['id']}/reject")
    assert again.status_code == 404
    assert (await post(client, owner, "/api/v1/follow_requests/12345/authorize")).status_code == 404

    assert await counts(client, owner) == (1, 0)
    assert (await relationship(client, fan, owner))["following"] is True
    assert (await client.get("/api/v1/follow_requests", headers=owner["headers"])).json() == []
    types = await event_types(services)
    assert types.count("follow.requested") == 2
    assert "follow_request.authorized" in types
    assert "follow_request.rejected" in types
    assert types.count("follow.created") == 1


async def test_unfollow_withdraws_a_pending_request(client: httpx.AsyncClient) -> None:
    owner, fan = await create_user(client), await create_user(client)
    await lock(client, owner)
    await act(client, fan, "follow", owner)
    body = await act(client, fan, "unfollow", owner)
    assert body["requested"] is False
    assert (await client.get("/api/v1/follow_requests", headers=owner["headers"])).json() == []


async def test_relationship_entity_both_directions(client: httpx.AsyncClient) -> None:
    alice, bob, carol = await create_user(client), await create_user(client), await create_user(client)
    await act(client, alice, "follow", bob)
    await act(client, bob, "mute", alice, notifications="false")
    response = await client.get(
        "/api/v1/accounts/relationships",
        params={"id[]": [bob["id"], carol["id"], "999", "junk"]},
        headers=alice["headers"],
    )
    assert response.status_code == 200
    assert [r["id"] for r in response.json()] == [bob["id"], carol["id"]]
    ab = response.json()[0]
    assert ab == {
        "id": bob["id"],
        "following": True,
        "showing_reblogs": True,
        "notifying": False,
        "followed_by": False,
        "blocking": False,
        "blocked_by": False,
        "muting": False,  # bob mutes alice, which alice must not learn
        "muting_notifications": False,
        "requested": False,
        "requested_by": False,
        "domain_blocking": False,
        "endorsed": False,
        "note": "",
    }
    ba = await relationship(client, bob, alice)
    assert (ba["following"], ba["followed_by"], ba["muting"], ba["muting_notifications"]) == (False, True, True, False)


async def test_block_removes_follows_and_stops_following(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await act(client, alice, "follow", bob)
    await act(client, bob, "follow", alice)
    body = await act(client, alice, "block", bob)
    assert (body["blocking"], body["following"], body["followed_by"]) == (True, False, False)
    await act(client, alice, "block", bob)
    assert await counts(client, alice) == (0, 0)
    assert await counts(client, bob) == (0, 0)
    assert (await relationship(client, bob, alice))["blocked_by"] is True

    for actor, target in ((bob, alice), (alice, bob)):
        refused = await post(client, actor, f"/api/v1/accounts/{target['id']}/follow")
        assert refused.status_code == 403
        assert refused.json() == {"error": "This action is not allowed"}
    assert await graph.hidden_account_ids(services, int(alice["id"])) == {int(bob["id"])}
    assert await graph.hidden_account_ids(services, int(bob["id"])) == {int(alice["id"])}
    listed = await client.get("/api/v1/blocks", headers=alice["headers"])
    assert [a["id"] for a in listed.json()] == [bob["id"]]

    assert (await act(client, alice, "unblock", bob))["blocking"] is False
    await act(client, bob, "follow", alice)
    assert await counts(client, alice) == (1, 0)
    types = await event_types(services)
    assert types.count("block.created") == 1
    assert types.count("block.removed") == 1
    assert types.count("follow.removed") == 2


async def test_block_clears_pending_requests_both_ways(client: httpx.AsyncClient) -> None:
    owner, fan = await create_user(client), await create_user(client)
    await lock(client, owner)
    await act(client, fan, "follow", owner)
    await act(client, owner, "block", fan)
    assert (await client.get("/api/v1/follow_requests", headers=owner["headers"])).json() == []


async def test_mute_with_duration_expires(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    body = await act(client, alice, "mute", bob, duration="60")
    assert (body["muting"], body["muting_notifications"]) == (True, True)
    listed = (await client.get("/api/v1/mutes", headers=alice["headers"])).json()
    assert [a["id"] for a in listed] == [bob["id"]]
    assert listed[0]["mute_expires_at"].endswith("Z")
    alice_id, bob_id = int(alice["id"]), int(bob["id"])
    assert await graph.hidden_account_ids(services, alice_id) == {bob_id}

    later = utcnow() + timedelta(seconds=61)
    assert (await graph.relationship_flags(services, alice_id, [bob_id], now=later))[bob_id].muting is False
    assert await graph.hidden_account_ids(services, alice_id, now=later) == set()
    # The routes read the same clock: move it past the expiry.
    monkeypatch.setattr(graph, "utcnow", lambda: later)
    assert (await relationship(client, alice, bob))["muting"] is False
    assert (await client.get("/api/v1/mutes", headers=alice["headers"])).json() == []
    monkeypatch.undo()

    forever = await act(client, alice, "mute", bob, notifications="false", duration="0")
    assert (forever["muting"], forever["muting_notifications"]) == (True, False)
    assert (await graph.relationship_flags(services, alice_id, [bob_id], now=later))[bob_id].muting is True
    assert (await act(client, alice, "unmute", bob))["muting"] is False
    for bad in ("-1", "abc", str(10**12)):
        response = await post(client, alice, f"/api/v1/accounts/{bob['id']}/mute", duration=bad)
        assert response.status_code == 422, bad
    assert (await event_types(services)).count("mute.created") == 2


def links(response: httpx.Response) -> dict[str, str]:
    return {rel: url for url, rel in re.findall(r'<([^>]+)>; rel="(\w+)"', response.headers.get("link", ""))}


async def test_followers_and_following_pages_walk_with_links(client: httpx.AsyncClient) -> None:
    star = await create_user(client)
    fans = [await create_user(client) for _ in range(5)]
    for fan in fans:
        await act(client, fan, "follow", star)
        await act(client, star, "follow", fan)
    expected = [fan["id"] for fan in reversed(fans)]  # newest first

    for which in ("followers", "following"):
        seen: list[str] = []
        url: str | None = f"/api/v1/accounts/{star['id']}/{which}?limit=2"
        pages = 0
        while url:
            response = await client.get(url)
            assert response.status_code == 200, response.text
            seen += [a["id"] for a in response.json()]
            url = links(response).get("next")
            pages += 1
            assert pages < 10
        assert seen == expected, which
        first = await client.get(f"/api/v1/accounts/{star['id']}/{which}?limit=2")
        second = await client.get(links(first)["next"])
        back = await client.get(links(second)["prev"])
        assert [a["id"] for a in back.json()] == expected[:2]
        assert links(second)["next"].startswith("http://testserver/api/v1/accounts/")

    bad = await client.get(f"/api/v1/accounts/{star['id']}/followers", params={"max_id": "x1"})
    assert bad.status_code == 422
    huge = await client.get(f"/api/v1/accounts/{star['id']}/followers", params={"limit": "100000"})
    assert len(huge.json()) == 5


async def test_locked_account_hides_its_network(client: httpx.AsyncClient) -> None:
    owner, friend, stranger = await create_user(client), await create_user(client), await create_user(client)
    await act(client, friend, "follow", owner)
    await lock(client, owner)
    path = f"/api/v1/accounts/{owner['id']}/followers"
    assert (await client.get(path)).json() == []
    assert (await client.get(path, headers=stranger["headers"])).json() == []
    assert [a["id"] for a in (await client.get(path, headers=friend["headers"])).json()] == [friend["id"]]
    assert [a["id"] for a in (await client.get(path, headers=owner["headers"])).json()] == [friend["id"]]


async def test_remove_from_followers(client: httpx.AsyncClient) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await act(client, bob, "follow", alice)
    body = await act(client, alice, "remove_from_followers", bob)
    assert body["followed_by"] is False
    assert await counts(client, alice) == (0, 0)
    assert await counts(client, bob) == (0, 0)


async def test_bad_targets(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    for verb in ("follow", "block", "mute"):
        response = await post(client, alice, f"/api/v1/accounts/{alice['id']}/{verb}")
        assert response.status_code == 422, verb
        assert "error" in response.json()
    for path in ("/api/v1/accounts/4242/follow", f"/api/v1/accounts/{2**64}/block", "/api/v1/accounts/0/mute"):
        assert (await post(client, alice, path)).status_code == 404, path
    for path in ("/api/v1/accounts/abc/follow", "/api/v1/accounts/-1/unfollow", "/api/v1/accounts/1.5/block"):
        assert (await post(client, alice, path)).status_code in (404, 422), path
    assert (await client.get("/api/v1/accounts/4242/followers")).status_code == 404
    assert (await client.get(f"/api/v1/accounts/{2**64}/following")).status_code == 404


async def with_scope(client: httpx.AsyncClient, user: User, scope: str) -> User:
    """The same user signed in again (password grant) with a narrower token."""
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "client_id": user["app"]["client_id"],
            "client_secret": user["app"]["client_secret"],
            "username": user["email"],
            "password": user["password"],
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    return {**user, "headers": bearer(response.json()["access_token"])}


async def test_scopes(client: httpx.AsyncClient) -> None:
    reader = await with_scope(client, await create_user(client), "read")
    follower = await with_scope(client, await create_user(client), "follow")
    target = await create_user(client)
    refused = await post(client, reader, f"/api/v1/accounts/{target['id']}/follow")
    assert refused.status_code == 403
    assert (await post(client, reader, f"/api/v1/accounts/{target['id']}/block")).status_code == 403
    assert (await relationship(client, reader, target))["following"] is False  # read covers read:follows
    await act(client, follower, "follow", target)
    await act(client, follower, "mute", target)
    assert (await client.get("/api/v1/mutes", headers=follower["headers"])).status_code == 200
    assert (await post(client, target, f"/api/v1/accounts/{follower['id']}/follow")).status_code == 200
    anonymous = await client.post(f"/api/v1/accounts/{target['id']}/follow")
    assert anonymous.status_code == 401
    assert (await client.get("/api/v1/accounts/relationships")).status_code == 401


async def test_reconcile_counts_fixes_corruption(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await act(client, alice, "follow", bob)
    assert await reconcile_counts(services) == 0
    async with services.db.begin() as conn:
        await conn.execute(update(accounts).where(accounts.c.id == int(bob["id"])).values(followers_count=7))
        await conn.execute(update(accounts).where(accounts.c.id == int(alice["id"])).values(following_count=0))
    assert await reconcile_counts(services, batch=1) == 2
    assert await counts(client, bob) == (1, 0)
    assert await counts(client, alice) == (0, 1)


async def test_read_helpers(client: httpx.AsyncClient, services: Services) -> None:
    star = await create_user(client)
    fans = [await create_user(client) for _ in range(3)]
    for fan in fans:
        await act(client, fan, "follow", star)
    star_id = int(star["id"])
    fan_ids = sorted(int(fan["id"]) for fan in fans)
    first = await graph.follower_ids(services, star_id, limit=2)
    rest = await graph.follower_ids(services, star_id, after=first[-1], limit=2)
    assert first + rest == fan_ids
    assert await graph.following_ids(services, fan_ids[0]) == [star_id]
    assert await graph.following_ids(services, star_id) == []
    flags = await graph.relationship_flags(services, star_id, [*fan_ids, 0, 2**70])
    assert set(flags) == set(fan_ids)
    assert all(flags[i].followed_by and not flags[i].following for i in fan_ids)
    assert await graph.is_following(services, 0, star_id) is False
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(outbox.c.type == "follow.created"))).all()
    payloads = [orjson.loads(row.payload) for row in rows]
    assert {p["target_account_id"] for p in payloads} == {star["id"]}


async def test_follows_are_rate_limited_per_account(make_settings: Any) -> None:
    from lumigram.app import create_app
    from lumigram.bootstrap import build_services

    services = build_services(make_settings(follow_rate_limit=2))
    await services.db.migrate()
    await services.cache.flush()
    try:
        transport = httpx.ASGITransport(app=create_app(services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            fan = await create_user(http)
            stars = [await create_user(http) for _ in range(3)]
            assert (await post(http, fan, f"/api/v1/accounts/{stars[0]['id']}/follow")).status_code == 200
            assert (await post(http, fan, f"/api/v1/accounts/{stars[1]['id']}/follow")).status_code == 200
            refused = await post(http, fan, f"/api/v1/accounts/{stars[2]['id']}/follow")
            assert refused.status_code == 429
            assert refused.json() == {"error": "Too many requests"}
            assert refused.headers["X-RateLimit-Limit"] == "2"
            assert refused.headers["X-RateLimit-Remaining"] == "0"
            # Another account has its own allowance.
            other = await create_user(http)
            assert (await post(http, other, f"/api/v1/accounts/{stars[2]['id']}/follow")).status_code == 200
    finally:
        await services.close()
