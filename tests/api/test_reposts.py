"""Reposts (Mastodon's reblogs) on both shapes: one journey from a repost to its undoing,
through followers' home feeds, the count, the notification and every privacy rule."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.feed import store
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def _home(client: httpx.AsyncClient, user: User, **params: Any) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/timelines/home", headers=user["headers"], params=params)
    assert response.status_code == 200, response.text
    body: list[dict[str, Any]] = response.json()
    return body


async def _post(client: httpx.AsyncClient, user: User, path: str, **data: Any) -> httpx.Response:
    return await client.post(path, headers=user["headers"], json=data)


async def _notification_types(client: httpx.AsyncClient, user: User, status_id: str) -> list[tuple[str, str]]:
    response = await client.get("/api/v1/notifications", headers=user["headers"])
    assert response.status_code == 200, response.text
    return [(n["type"], n["account"]["id"]) for n in response.json() if (n.get("status") or {}).get("id") == status_id]


async def test_a_repost_reaches_followers_once_and_never_widens_the_audience(
    client: httpx.AsyncClient, services: Services
) -> None:
    author, reposter, reader, fan, shunned, quiet = [await create_user(client) for _ in range(6)]
    for follower in (reader, fan, shunned, quiet):
        assert (await _post(client, follower, f"/api/v1/accounts/{reposter['id']}/follow")).status_code == 200
    # ``fan`` follows the author too: the original reaches them, the repost must not twice.
    assert (await _post(client, fan, f"/api/v1/accounts/{author['id']}/follow")).status_code == 200
    # ``quiet`` turns this account's reposts off: the relationship says so.
    relationship = await _post(client, quiet, f"/api/v1/accounts/{reposter['id']}/follow", reblogs=False)
    assert relationship.json()["showing_reblogs"] is False
    assert (await _post(client, author, f"/api/v1/accounts/{shunned['id']}/block")).status_code == 200
    for user in (reader, fan, shunned, quiet):
        await _home(client, user)
        await eventually(lambda user=user: store.is_ready(services, int(user["id"])))

    post = await create_post(client, author["headers"], text="sunset at the pier")
    reposted = await _post(client, reposter, f"/api/v1/statuses/{post['id']}/reblog")
    assert reposted.status_code == 200, reposted.text
    repost = reposted.json()
    assert repost["id"] != post["id"]
    assert repost["account"]["id"] == reposter["id"]
    assert repost["reblog"]["id"] == post["id"]
    assert repost["reblogged"] is True
    assert repost["reblog"]["reblogs_count"] == 1
    again = await _post(client, reposter, f"/api/v1/statuses/{post['id']}/reblog")
    assert again.json()["id"] == repost["id"]
    assert again.json()["reblog"]["reblogs_count"] == 1
    await settle(services)

    # Fanned out into the reader's cached feed, and shown as the reposter's, nesting the post.
    cached = await services.cache.zrevrange_by_score(store.feed_key(int(reader["id"])), limit=10)
    assert repost["id"] in [member for member, _ in cached]
    first = (await _home(client, reader))[0]
    assert (first["id"], first["account"]["id"], first["reblog"]["id"]) == (repost["id"], reposter["id"], post["id"])
    # Deduplicated against the original; not for someone the author blocks; not when turned off.
    assert [s["id"] for s in await _home(client, fan)].count(post["id"]) == 1
    assert repost["id"] not in [s["id"] for s in await _home(client, fan)]
    for user in (shunned, quiet):
        assert all(post["id"] not in (s["id"], (s.get("reblog") or {}).get("id")) for s in await _home(client, user))
    # The author hears of it; the post counts it; the list of who reposted shows it.
    assert await _notification_types(client, author, post["id"]) == [("reblog", reposter["id"])]
    shown = await client.get(f"/api/v1/statuses/{post['id']}", headers=reposter["headers"])
    assert (shown.json()["reblogs_count"], shown.json()["reblogged"]) == (1, True)
    by = await client.get(f"/api/v1/statuses/{post['id']}/reblogged_by", headers=reader["headers"])
    assert [a["id"] for a in by.json()] == [reposter["id"]]
    assert (
        await client.get(f"/api/v1/statuses/{post['id']}/reblogged_by", headers=shunned["headers"])
    ).status_code == 404

    # Followers-only and direct posts cannot be reposted; a post one cannot see is not found.
    assert (await _post(client, reposter, f"/api/v1/accounts/{author['id']}/follow")).status_code == 200
    private = await create_post(client, author["headers"], text="friends only", visibility="private")
    refused = await _post(client, reposter, f"/api/v1/statuses/{private['id']}/reblog")
    assert refused.status_code == 403
    assert "error" in refused.json()
    direct = await _post(client, author, "/api/v1/statuses", status=f"@{reader['username']} hi", visibility="direct")
    assert (await _post(client, reposter, f"/api/v1/statuses/{direct.json()['id']}/reblog")).status_code == 404
    assert (await _post(client, reposter, "/api/v1/statuses/123/reblog")).status_code == 404

    # The author locks the account: a rendering no longer shows the post to non-followers
    # through the repost (a kept page catches up when it is next checked, as for any lock;
    # a page size that is never kept shows the rendering itself).
    locked = await client.patch(
        "/api/v1/accounts/update_credentials", headers=author["headers"], data={"locked": "true"}
    )
    assert locked.status_code == 200, locked.text
    assert repost["id"] not in [s["id"] for s in await _home(client, reader, limit=5)]
    unlocked = await client.patch(
        "/api/v1/accounts/update_credentials", headers=author["headers"], data={"locked": "false"}
    )
    assert unlocked.status_code == 200

    # Taken back: out of the feed, the count and the notifications.
    undone = await _post(client, reposter, f"/api/v1/statuses/{post['id']}/unreblog")
    assert undone.status_code == 200
    assert (undone.json()["id"], undone.json()["reblogged"], undone.json()["reblogs_count"]) == (post["id"], False, 0)
    await settle(services)
    assert repost["id"] not in [s["id"] for s in await _home(client, reader)]
    assert await _notification_types(client, author, post["id"]) == []
