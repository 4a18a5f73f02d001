"""Direct messages through the extension API and Mastodon's conversations, on both shapes.

Each test is one journey: the request flow with read state, the access matrix over every
message path (a removed member, a stranger, a blocked account and the server's admin,
through the API), a group's membership changes, and direct posts as conversations.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import httpx
import pytest

from lumigram.accounts.service import create_user_as_admin
from lumigram.config import Settings
from lumigram.services import Services
from tests.factories import (
    ALL_SCOPES,
    DEFAULT_PASSWORD,
    bearer,
    create_app,
    create_post,
    create_user,
    password_login,
    unique_username,
    upload_photo,
)
from tests.settle import settle

THREADS = "/api/v1/lumigram/threads"
#: Posts, comments and messages one account may make in the window: above what any
#: account here sends, but for the one that runs into it.
POST_RATE_LIMIT = 6


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    return make_settings(post_rate_limit=POST_RATE_LIMIT)


async def _follow(client: httpx.AsyncClient, who: dict[str, Any], whom: dict[str, Any]) -> None:
    response = await client.post(f"/api/v1/accounts/{whom['id']}/follow", headers=who["headers"])
    assert response.status_code == 200, response.text


async def _thread(client: httpx.AsyncClient, who: dict[str, Any], *others: dict[str, Any], **extra: Any) -> str:
    response = await client.post(
        THREADS, headers=who["headers"], json={"account_ids": [o["id"] for o in others], **extra}
    )
    assert response.status_code == 200, response.text
    thread_id: str = response.json()["id"]
    return thread_id


async def _send(client: httpx.AsyncClient, who: dict[str, Any], thread_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{THREADS}/{thread_id}/messages", headers=who["headers"], json=body)
    assert response.status_code == 200, response.text
    message: dict[str, Any] = response.json()
    return message


async def _ids(client: httpx.AsyncClient, who: dict[str, Any], path: str, **params: Any) -> list[str]:
    response = await client.get(path, headers=who["headers"], params=params)
    assert response.status_code == 200, response.text
    return [item["id"] for item in response.json()]


async def test_a_strangers_message_is_a_request_and_read_state_counts_unread(client: httpx.AsyncClient) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    await _follow(client, bob, carol)  # bob follows carol: carol's messages reach his inbox

    # Alice is a stranger to bob: her first message lands in his requests.
    thread = await _thread(client, alice, bob)
    assert await _thread(client, alice, bob) == thread  # one 1:1 thread per pair
    first = await _send(client, alice, thread, text="hi bob")
    second = await _send(client, alice, thread, text="are you there?")
    assert await _ids(client, bob, THREADS) == []
    assert await _ids(client, bob, THREADS, folder="requests") == [thread]
    unread = (await client.get("/api/v1/lumigram/unread", headers=bob["headers"])).json()
    assert unread == {"total": 0, "threads": 0, "requests": 1}

    # Carol, followed, lands in the inbox.
    from_carol = await _thread(client, carol, bob)
    await _send(client, carol, from_carol, text="lunch?")
    assert await _ids(client, bob, THREADS) == [from_carol]

    # Accepting moves alice's thread to the inbox, newest first; counts follow.
    accepted = await client.post(f"{THREADS}/{thread}/accept", headers=bob["headers"])
    assert accepted.json()["folder"] == "inbox"
    assert accepted.json()["unread_count"] == 2
    assert await _ids(client, bob, THREADS) == [from_carol, thread]
    unread = (await client.get("/api/v1/lumigram/unread", headers=bob["headers"])).json()
    assert unread == {"total": 3, "threads": 2, "requests": 0}

    # Reading up to the first message leaves one unread; reading all, none.
    read = await client.post(f"{THREADS}/{thread}/read", headers=bob["headers"], json={"last_read_id": first["id"]})
    assert (read.json()["unread_count"], read.json()["last_read_id"]) == (1, first["id"])
    read = await client.post(f"{THREADS}/{thread}/read", headers=bob["headers"])
    assert (read.json()["unread_count"], read.json()["last_read_id"]) == (0, second["id"])
    # The sender's own messages never count as unread for them.
    assert (await client.get(f"{THREADS}/{thread}", headers=alice["headers"])).json()["unread_count"] == 0

    # Paging both ways over time-sortable ids.
    third = await _send(client, bob, thread, text="yes!")
    path = f"{THREADS}/{thread}/messages"
    assert await _ids(client, alice, path) == [third["id"], second["id"], first["id"]]
    assert await _ids(client, alice, path, max_id=third["id"], limit=1) == [second["id"]]
    assert await _ids(client, alice, path, min_id=first["id"], limit=1) == [second["id"]]
    assert await _ids(client, alice, path, since_id=first["id"]) == [third["id"], second["id"]]

    # Edit (history kept), react, delete for me, unsend.
    edited = await client.put(f"{path}/{third['id']}", headers=bob["headers"], json={"text": "yes!!"})
    assert edited.json()["text"] == "yes!!"
    assert edited.json()["edited_at"]
    history = (await client.get(f"{path}/{third['id']}/history", headers=alice["headers"])).json()
    assert [h["text"] for h in history] == ["yes!", "yes!!"]
    not_hers = await client.put(f"{path}/{third['id']}", headers=alice["headers"], json={"text": "no"})
    assert not_hers.status_code == 403
    assert "error" in not_hers.json()
    reacted = await client.put(f"{path}/{third['id']}/reaction", headers=alice["headers"], json={"emoji": "❤️"})
    assert reacted.json()["reactions"] == [{"account_id": alice["id"], "emoji": "❤️"}]
    assert (await client.post(f"{path}/{third['id']}/hide", headers=bob["headers"])).status_code == 200
    assert third["id"] not in await _ids(client, bob, path)
    assert third["id"] in await _ids(client, alice, path)
    shown = (await client.get(f"{THREADS}/{thread}", headers=bob["headers"])).json()["last_message"]
    assert shown["id"] == second["id"]  # the newest message he has not deleted for himself
    assert (await client.post(f"{path}/{first['id']}/hide", headers=bob["headers"])).status_code == 200
    assert first["id"] not in await _ids(client, bob, path)
    assert first["id"] in await _ids(client, alice, path)
    assert (await client.delete(f"{path}/{second['id']}", headers=alice["headers"])).status_code == 200
    listed = (await client.get(path, headers=bob["headers"])).json()
    gone = next(m for m in listed if m["id"] == second["id"])
    assert (gone["unsent"], gone["text"]) == (True, "")

    # Declining hides a request; the sender is not told. Blocking from a request stops them.
    dave = await create_user(client)
    from_dave = await _thread(client, dave, alice)
    await _send(client, dave, from_dave, text="buy my course")
    assert (await client.post(f"{THREADS}/{from_dave}/decline", headers=alice["headers"])).status_code == 200
    assert from_dave not in await _ids(client, alice, THREADS, folder="requests")
    assert (await client.get(f"{THREADS}/{from_dave}", headers=dave["headers"])).json()["accounts"][0]["id"] == alice[
        "id"
    ]
    assert (await client.post(f"{THREADS}/{from_dave}/block", headers=alice["headers"])).status_code == 200
    blocked = await client.post(f"{THREADS}/{from_dave}/messages", headers=dave["headers"], json={"text": "hey"})
    assert blocked.status_code == 403
    assert "error" in blocked.json()
    assert (await client.post(THREADS, headers=dave["headers"], json={"account_ids": [alice["id"]]})).status_code == 403

    # Who may start a thread: followed only, then nobody new.
    erin = await create_user(client)
    assert (
        await client.put("/api/v1/lumigram/message_settings", headers=erin["headers"], json={"accept": "followed"})
    ).json() == {"accept": "followed"}
    refused = await client.post(THREADS, headers=alice["headers"], json={"account_ids": [erin["id"]]})
    assert refused.status_code == 403
    await _follow(client, erin, alice)
    assert (await client.post(THREADS, headers=alice["headers"], json={"account_ids": [erin["id"]]})).status_code == 200
    await client.put("/api/v1/lumigram/message_settings", headers=erin["headers"], json={"accept": "nobody"})
    assert (await client.post(THREADS, headers=carol["headers"], json={"account_ids": [erin["id"]]})).status_code == 403
    wrong = await client.put("/api/v1/lumigram/message_settings", headers=erin["headers"], json={"accept": "all"})
    assert wrong.status_code == 422
    assert "error" in wrong.json()


async def _server_admin(client: httpx.AsyncClient, services: Services) -> dict[str, Any]:
    """An administrator of the server (``lumigram admin create-user --admin``), signed in."""
    username = unique_username("admin")
    await create_user_as_admin(services, username, f"{username}@example.org", DEFAULT_PASSWORD, admin=True)
    app = await create_app(client)
    token = await password_login(client, app, f"{username}@example.org", scope=ALL_SCOPES)
    assert token.status_code == 200, token.text
    return {"username": username, "headers": bearer(token.json()["access_token"])}


async def test_only_current_members_reach_a_thread_on_any_path(client: httpx.AsyncClient, services: Services) -> None:
    owner, member, removed, stranger, blocked = [await create_user(client) for _ in range(5)]
    admin = await _server_admin(client, services)
    for other in (member, removed):
        await _follow(client, other, owner)
    thread = await _thread(client, owner, member, removed, name="Trip")
    photo = await upload_photo(client, owner["headers"])
    message = await _send(client, owner, thread, text="the plan", media_ids=[photo["id"]])
    # A message's photo is private: only its signed, expiring URL serves it.
    url = message["media_attachments"][0]["url"]
    assert "sig=" in url
    assert (await client.get(url)).status_code in (200, 302)
    assert (await client.get(url.split("?")[0])).status_code == 404
    removal = await client.delete(f"{THREADS}/{thread}/members/{removed['id']}", headers=owner["headers"])
    assert removal.status_code == 200
    # "blocked": an account the owner blocked, knowing the thread's id.
    assert (await client.post(f"/api/v1/accounts/{blocked['id']}/block", headers=owner["headers"])).status_code == 200

    base, msg = f"{THREADS}/{thread}", f"{THREADS}/{thread}/messages/{message['id']}"
    paths: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", base, None),
        ("PATCH", base, {"muted": True}),
        ("GET", f"{base}/messages", None),
        ("POST", f"{base}/messages", {"text": "let me in"}),
        ("POST", f"{base}/read", {}),
        ("POST", f"{base}/typing", None),
        ("POST", f"{base}/accept", None),
        ("POST", f"{base}/members", {"account_ids": [stranger["id"]]}),
        ("POST", f"{base}/leave", None),
        ("GET", f"{msg}/history", None),
        ("PUT", f"{msg}/reaction", {"emoji": "👍"}),
        ("DELETE", f"{msg}/reaction", None),
        ("POST", f"{msg}/hide", None),
        ("PUT", msg, {"text": "edited"}),
        ("DELETE", msg, None),
        ("POST", f"{base}/decline", None),
    ]
    for outsider in (removed, stranger, blocked, admin):
        for method, path, body in paths:
            response = await client.request(method, path, headers=outsider["headers"], json=body)
            assert response.status_code == 404, (outsider["username"], method, path, response.text)
            assert "error" in response.json()
        assert thread not in await _ids(client, outsider, THREADS)
        assert thread not in await _ids(client, outsider, THREADS, folder="requests")
    # The member reads it all, and nothing of it shows anywhere else.
    assert await _ids(client, member, f"{base}/messages") == [message["id"]]
    for path in (
        "/api/v1/timelines/home",
        "/api/v1/timelines/public",
        "/api/v1/notifications",
        "/api/v1/conversations",
    ):
        response = await client.get(path, headers=member["headers"])
        assert response.status_code == 200, path
        assert response.json() == [], path


async def test_group_members_are_added_removed_and_leave(client: httpx.AsyncClient, services: Services) -> None:
    admin, ann, ben, cid = [await create_user(client) for _ in range(4)]
    for other in (ann, ben, cid):
        await _follow(client, other, admin)
    thread = await _thread(client, admin, ann, name="Family")
    body = (await client.get(f"{THREADS}/{thread}", headers=ann["headers"])).json()
    assert (body["kind"], body["name"], body["admin_ids"]) == ("group", "Family", [admin["id"]])

    # Only admins add, remove and rename.
    denied = await client.post(f"{THREADS}/{thread}/members", headers=ann["headers"], json={"account_ids": [ben["id"]]})
    assert denied.status_code == 403
    assert "error" in denied.json()
    added = await client.post(
        f"{THREADS}/{thread}/members", headers=admin["headers"], json={"account_ids": [ben["id"], cid["id"]]}
    )
    assert sorted(a["id"] for a in added.json()["accounts"]) == sorted([ann["id"], ben["id"], cid["id"]])
    renamed = await client.patch(f"{THREADS}/{thread}", headers=admin["headers"], json={"name": "Clan"})
    assert renamed.json()["name"] == "Clan"
    muted = await client.patch(f"{THREADS}/{thread}", headers=ben["headers"], json={"muted": True})
    assert muted.json()["muted"] is True

    before = await _send(client, admin, thread, text="before")
    await client.delete(f"{THREADS}/{thread}/members/{cid['id']}", headers=admin["headers"])
    after = await _send(client, ann, thread, text="after")
    assert await _ids(client, ben, f"{THREADS}/{thread}/messages") == [after["id"], before["id"]]
    assert (await client.get(f"{THREADS}/{thread}/messages", headers=cid["headers"])).status_code == 404

    # The last admin leaving hands the group to its longest-standing member.
    assert (await client.post(f"{THREADS}/{thread}/leave", headers=admin["headers"])).status_code == 200
    body = (await client.get(f"{THREADS}/{thread}", headers=ann["headers"])).json()
    assert body["admin_ids"] == [ann["id"]]
    assert sorted(a["id"] for a in body["accounts"]) == [ben["id"]]
    one_to_one = await _thread(client, ann, ben)
    refused = await client.post(f"{THREADS}/{one_to_one}/leave", headers=ann["headers"])
    assert refused.status_code == 422
    assert "error" in refused.json()

    # A group has at most 32 members.
    crowd = await client.post(
        THREADS, headers=ann["headers"], json={"account_ids": [str(10**6 + i) for i in range(32)]}
    )
    assert crowd.status_code == 422
    assert "error" in crowd.json()
    await settle(services)


async def test_direct_posts_are_listed_as_conversations(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    first = await create_post(
        client, alice["headers"], text=f"@{bob['username']} secret", photos=0, visibility="direct"
    )
    reply = await create_post(
        client,
        bob["headers"],
        text=f"@{alice['username']} ok",
        photos=0,
        visibility="direct",
        in_reply_to_id=first["id"],
    )
    other = await create_post(client, carol["headers"], text=f"@{alice['username']} hi", photos=0, visibility="direct")
    await settle(services)

    listed = (await client.get("/api/v1/conversations", headers=alice["headers"])).json()
    assert [(c["id"], c["last_status"]["id"], c["unread"]) for c in listed] == [
        (other["id"], other["id"], True),
        (first["id"], reply["id"], True),
    ]
    assert [a["id"] for a in listed[1]["accounts"]] == [bob["id"]]
    page = await client.get("/api/v1/conversations", headers=alice["headers"], params={"limit": 1})
    assert [c["id"] for c in page.json()] == [other["id"]]
    assert 'rel="next"' in page.headers["link"]

    read = await client.post(f"/api/v1/conversations/{first['id']}/read", headers=alice["headers"])
    assert read.status_code == 200
    assert read.json()["unread"] is False
    bobs = (await client.get("/api/v1/conversations", headers=bob["headers"])).json()
    assert [(c["id"], c["unread"]) for c in bobs] == [(first["id"], False)]  # his own reply was last
    # Carol's conversation is not bob's, nor carol's alone to read for someone else.
    assert (await client.post(f"/api/v1/conversations/{other['id']}/read", headers=bob["headers"])).status_code == 404
    assert (await client.get("/api/v1/conversations", headers=carol["headers"])).json()[0]["accounts"][0]["id"] == (
        alice["id"]
    )

    assert (await client.delete(f"/api/v1/conversations/{other['id']}", headers=alice["headers"])).status_code == 200
    assert [c["id"] for c in (await client.get("/api/v1/conversations", headers=alice["headers"])).json()] == [
        first["id"]
    ]
    # Direct posts still reach only those they name.
    assert (await client.get(f"/api/v1/statuses/{first['id']}", headers=carol["headers"])).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{first['id']}", headers=bob["headers"])).status_code == 200


async def test_messages_share_the_post_rate_limit(client: httpx.AsyncClient) -> None:
    alice, bob = [await create_user(client) for _ in range(2)]
    thread = await _thread(client, alice, bob)
    await create_post(client, alice["headers"])  # a post counts against the same allowance
    for n in range(POST_RATE_LIMIT - 1):
        await _send(client, alice, thread, text=f"message {n}")
    refused = await client.post(f"{THREADS}/{thread}/messages", headers=alice["headers"], json={"text": "one more"})
    assert refused.status_code == 429
    assert "error" in refused.json()
    assert "retry-after" in refused.headers
    assert len(await _ids(client, bob, f"{THREADS}/{thread}/messages")) == POST_RATE_LIMIT - 1
