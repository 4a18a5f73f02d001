"""Story replies as direct messages, on both shapes: a reply is a message in the 1:1 thread
of replier and owner (a stranger's in the owner's requests, a follow's in the inbox),
showing the story while it is live and visible, and that it is gone once it expires; the
owner is still notified, and an owner who takes no messages from the replier refuses it."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from lumigram.services import Services
from tests.factories import create_user, upload_photo
from tests.settle import settle

API = "/api/v1/lumigram"


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def _threads(client: httpx.AsyncClient, who: dict[str, Any], folder: str) -> list[dict[str, Any]]:
    found: list[dict[str, Any]] = await _ok(await client.get(f"{API}/threads?folder={folder}", headers=who["headers"]))
    return found


async def test_a_story_reply_is_a_message_in_the_pair_thread(client: httpx.AsyncClient, services: Services) -> None:
    owner, stranger, friend, late = [await create_user(client) for _ in range(4)]
    # The owner follows ``friend`` (its messages reach the inbox), not ``stranger``.
    await _ok(await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=owner["headers"]))
    media = await upload_photo(client, owner["headers"])
    story = await _ok(await client.post(f"{API}/stories", headers=owner["headers"], json={"media_id": media["id"]}))

    reply = await _ok(
        await client.post(f"{API}/stories/{story['id']}/reply", headers=stranger["headers"], json={"text": "Lovely"})
    )
    assert reply["content"] == "Lovely"
    await _ok(await client.post(f"{API}/stories/{story['id']}/reply", headers=friend["headers"], json={"text": "Hi"}))

    # A stranger's reply waits in the owner's requests, a followed account's in the inbox.
    [request] = await _threads(client, owner, "requests")
    assert [a["id"] for a in request["accounts"]] == [stranger["id"]]
    message = request["last_message"]
    assert (message["text"], message["account_id"]) == ("Lovely", stranger["id"])
    assert message["story"]["id"] == story["id"]
    assert message["story"]["available"] is True
    assert message["story"]["media_attachment"]["url"]
    [inbox] = await _threads(client, owner, "inbox")
    assert [a["id"] for a in inbox["accounts"]] == [friend["id"]]
    assert inbox["last_message"]["story"]["available"] is True
    # The replier's own copy is in its inbox, and the thread is the one a message would use.
    same = await _ok(
        await client.post(f"{API}/threads", headers=stranger["headers"], json={"account_ids": [owner["id"]]})
    )
    assert same["id"] == request["id"]

    # The owner is told, as before, and the reply is in the story's replies.
    await settle(services)
    notes = await _ok(await client.get("/api/v1/notifications", headers=owner["headers"]))
    assert sorted(n["account"]["id"] for n in notes if n["type"] == "lumigram.story_reply") == sorted(
        [stranger["id"], friend["id"]]
    )
    listed = await _ok(await client.get(f"{API}/stories/{story['id']}/replies", headers=owner["headers"]))
    assert sorted(r["content"] for r in listed) == ["Hi", "Lovely"]

    # Once the owner takes messages from no one, a reply from someone without a thread is
    # refused as a first message would be, and is not kept either.
    await _ok(await client.put(f"{API}/message_settings", headers=owner["headers"], json={"accept": "nobody"}))
    refused = await client.post(f"{API}/stories/{story['id']}/reply", headers=late["headers"], json={"text": "x"})
    assert refused.status_code == 403, refused.text
    assert "error" in refused.json()
    listed = await _ok(await client.get(f"{API}/stories/{story['id']}/replies", headers=owner["headers"]))
    assert len(listed) == 2

    # The story shows only to whom it is visible: once the owner's account is private, the
    # stranger (no follower) sees that it is not available, the owner still sees it.
    await _ok(
        await client.patch("/api/v1/accounts/update_credentials", headers=owner["headers"], json={"locked": True})
    )
    path = f"{API}/threads/{request['id']}/messages"
    [hidden] = await _ok(await client.get(path, headers=stranger["headers"]))
    assert (hidden["story"]["available"], hidden["story"]["media_attachment"]) == (False, None)
    [shown] = await _ok(await client.get(path, headers=owner["headers"]))
    assert shown["story"]["available"] is True

    # Once the story has expired, the message says so and no longer carries its media.
    now = services.now()
    services.clock = lambda: now + timedelta(hours=24, seconds=1)
    [expired] = await _ok(await client.get(path, headers=owner["headers"]))
    assert expired["text"] == "Lovely"
    assert expired["story"] == {
        "id": story["id"],
        "available": False,
        "media_attachment": None,
        "expires_at": None,
    }
