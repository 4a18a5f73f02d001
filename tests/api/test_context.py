"""Comment threads: GET /api/v1/statuses/:id/context (order, visibility, blocks and mutes),
who may comment, and the post owner deleting comments on their post."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.interactions import service as interactions
from lumigram.services import Services
from tests.factories import create_post, create_user

User = dict[str, Any]


async def comment(client: httpx.AsyncClient, user: User, parent_id: str, text: str) -> httpx.Response:
    return await client.post(
        "/api/v1/statuses", json={"status": text, "in_reply_to_id": parent_id}, headers=user["headers"]
    )


async def commented(client: httpx.AsyncClient, user: User, parent_id: str, text: str) -> str:
    response = await comment(client, user, parent_id, text)
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def act(client: httpx.AsyncClient, actor: User, verb: str, target: User) -> None:
    response = await client.post(f"/api/v1/accounts/{target['id']}/{verb}", headers=actor["headers"])
    assert response.status_code == 200, response.text


async def thread(client: httpx.AsyncClient, status_id: str, viewer: User | None = None) -> tuple[list[str], list[str]]:
    headers = viewer["headers"] if viewer else {}
    response = await client.get(f"/api/v1/statuses/{status_id}/context", headers=headers)
    assert response.status_code == 200, response.text
    body = response.json()
    return [s["id"] for s in body["ancestors"]], [s["id"] for s in body["descendants"]]


async def test_a_thread_lists_ancestors_oldest_first_and_descendants_in_thread_order(
    client: httpx.AsyncClient,
) -> None:
    alice, bob, carol, dave = [await create_user(client) for _ in range(4)]
    post = await create_post(client, alice["headers"], "At the lake")
    c1 = await commented(client, bob, post["id"], "Beautiful")
    c2 = await commented(client, carol, post["id"], "Where is this?")
    r1 = await commented(client, alice, c1, "@" + bob["username"] + " thanks!")
    r2 = await commented(client, dave, c2, "Looks like Bled")
    r1a = await commented(client, bob, r1, "Any time")

    assert await thread(client, post["id"]) == ([], [c1, r1, r1a, c2, r2])
    assert await thread(client, r1, viewer=carol) == ([post["id"], c1], [r1a])
    assert await thread(client, r1a) == ([post["id"], c1, r1], [])

    body = (await client.get(f"/api/v1/statuses/{post['id']}/context", headers=bob["headers"])).json()
    first = body["descendants"][0]
    assert first["in_reply_to_id"] == post["id"]
    assert first["in_reply_to_account_id"] == alice["id"]
    assert first["account"]["id"] == bob["id"]
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).json()["replies_count"] == 2

    assert (await client.get("/api/v1/statuses/123456789/context")).status_code == 404
    assert (await client.get("/api/v1/statuses/nope/context")).status_code == 404


async def test_blocked_and_muted_commenters_are_hidden_from_the_thread(client: httpx.AsyncClient) -> None:
    alice, bob, carol, dave, eve = [await create_user(client) for _ in range(5)]
    post = await create_post(client, alice["headers"])
    c_bob = await commented(client, bob, post["id"], "first")
    c_carol = await commented(client, carol, post["id"], "second")
    r_dave = await commented(client, dave, c_carol, "reply to carol")
    everyone = [c_bob, c_carol, r_dave]
    assert (await thread(client, post["id"], viewer=eve))[1] == everyone

    await act(client, eve, "mute", bob)
    await act(client, eve, "block", carol)
    # Bob is muted; Carol is blocked, and Dave's reply to her goes with her comment.
    assert (await thread(client, post["id"], viewer=eve))[1] == []
    # A muted account's comment is still shown when opened directly, with its thread.
    assert (await client.get(f"/api/v1/statuses/{c_bob}", headers=eve["headers"])).status_code == 200
    # A block hides it both ways, there too.
    assert (await client.get(f"/api/v1/statuses/{c_carol}", headers=eve["headers"])).status_code == 404
    # Above a visible reply, the blocked account's comment is left out of the chain.
    assert await thread(client, r_dave, viewer=eve) == ([post["id"]], [])
    # Carol blocking someone hides her comment from them the same way.
    await act(client, carol, "block", dave)
    assert c_carol not in (await thread(client, post["id"], viewer=dave))[1]
    # Others still see the whole thread.
    assert (await thread(client, post["id"], viewer=alice))[1] == everyone
    assert (await thread(client, post["id"]))[1] == everyone


async def test_a_private_accounts_thread_is_for_its_followers(client: httpx.AsyncClient) -> None:
    alice, friend, stranger = [await create_user(client) for _ in range(3)]
    await act(client, friend, "follow", alice)
    locked = await client.patch(
        "/api/v1/accounts/update_credentials", data={"locked": "true"}, headers=alice["headers"]
    )
    assert locked.status_code == 200
    post = await create_post(client, alice["headers"])
    reply = await commented(client, friend, post["id"], "nice")
    assert (await thread(client, post["id"], viewer=friend))[1] == [reply]
    assert (await client.get(f"/api/v1/statuses/{post['id']}/context", headers=stranger["headers"])).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{post['id']}/context")).status_code == 404
    # Nor can a stranger comment on it.
    refused = await comment(client, stranger, post["id"], "hi")
    assert refused.status_code == 404


async def test_blocked_users_cannot_comment(client: httpx.AsyncClient) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    post = await create_post(client, alice["headers"])
    await act(client, alice, "block", bob)  # the post's author blocked the commenter
    refused = await comment(client, bob, post["id"], "let me in")
    assert refused.status_code == 404
    assert refused.json() == {"error": "The post you are replying to was not found"}
    await act(client, carol, "block", alice)  # the commenter blocked the author
    assert (await comment(client, carol, post["id"], "hm")).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).json()["replies_count"] == 0


async def test_comments_can_be_turned_off(client: httpx.AsyncClient) -> None:
    alice, bob = await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"], comments_disabled=True)
    assert post["lumigram"]["comments_disabled"] is True
    refused = await comment(client, bob, post["id"], "hello")
    assert refused.status_code == 422
    assert "turned off" in refused.json()["error"]
    assert (await comment(client, alice, post["id"], "the author still may")).status_code == 200


async def test_the_post_owner_deletes_any_comment_on_their_post(client: httpx.AsyncClient) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    post = await create_post(client, alice["headers"])
    rude = await commented(client, bob, post["id"], "rude")
    kept = await commented(client, carol, post["id"], "kind")
    # Someone else cannot, not even another commenter.
    assert (await client.delete(f"/api/v1/statuses/{rude}", headers=carol["headers"])).status_code == 404

    deleted = await client.delete(f"/api/v1/statuses/{rude}", headers=alice["headers"])
    assert deleted.status_code == 200, deleted.text
    assert deleted.json()["id"] == rude
    assert (await client.get(f"/api/v1/statuses/{rude}")).status_code == 404
    assert (await thread(client, post["id"]))[1] == [kept]
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).json()["replies_count"] == 1
    # A comment's author may delete their own too.
    assert (await client.delete(f"/api/v1/statuses/{kept}", headers=carol["headers"])).status_code == 200
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).json()["replies_count"] == 0


async def test_a_huge_thread_is_bounded(client: httpx.AsyncClient, services: Services, monkeypatch: Any) -> None:
    alice, bob = await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    parent = post["id"]
    chain = []
    for i in range(5):
        parent = await commented(client, bob if i % 2 else alice, parent, f"reply {i}")
        chain.append(parent)
    # Lower the bounds so the test needs few rows; the code path is the production one.
    monkeypatch.setattr(interactions, "MAX_DESCENDANTS", 3)
    monkeypatch.setattr(interactions, "MAX_ANCESTORS", 2)
    assert (await thread(client, post["id"]))[1] == chain[:3]
    ancestors, _ = await thread(client, chain[-1])
    assert ancestors == chain[-3:-1]
