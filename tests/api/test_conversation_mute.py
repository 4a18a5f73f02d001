"""Muting a conversation (``statuses/:id/mute``): no more notifications about its thread,
``muted`` on the post, undone by ``unmute``; the local timeline is the public one here."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.notifications.models import COMMENT
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle


async def _notified(client: httpx.AsyncClient, services: Services, user: dict[str, Any]) -> list[tuple[str, str]]:
    await settle(services)
    found = (await client.get("/api/v1/notifications", headers=user["headers"])).json()
    return [(n["type"], n["account"]["username"]) for n in found]


async def _comment(client: httpx.AsyncClient, user: dict[str, Any], status_id: str, text: str) -> str:
    response = await client.post(
        "/api/v1/statuses", json={"status": text, "in_reply_to_id": status_id}, headers=user["headers"]
    )
    assert response.status_code == 200, response.text
    return str(response.json()["id"])


async def test_a_muted_conversation_stops_notifying_until_unmuted(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    post = await create_post(client, alice["headers"], "sunset")
    first = await _comment(client, bob, post["id"], "lovely")
    assert await _notified(client, services, alice) == [(COMMENT, bob["username"])]

    # Muted through a comment, the mute covers the whole thread, its post included.
    muted = await client.post(f"/api/v1/statuses/{first}/mute", headers=alice["headers"])
    assert muted.status_code == 200, muted.text
    assert muted.json()["muted"] is True
    again = await client.post(f"/api/v1/statuses/{post['id']}/mute", headers=alice["headers"])
    assert again.json()["muted"] is True
    shown = (await client.get(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])).json()
    assert shown["muted"] is True
    assert (await client.get(f"/api/v1/statuses/{post['id']}", headers=bob["headers"])).json()["muted"] is False

    reply = await _comment(client, carol, first, "agreed")
    assert (await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=carol["headers"])).status_code == 200
    await _comment(client, carol, post["id"], "wow")
    # Nothing about the thread reached alice: only bob's comment from before the mute.
    assert await _notified(client, services, alice) == [(COMMENT, bob["username"])]
    # Bob did not mute: carol's answer to his comment reaches him.
    assert await _notified(client, services, bob) == [(COMMENT, carol["username"])]

    unmuted = await client.post(f"/api/v1/statuses/{reply}/unmute", headers=alice["headers"])
    assert unmuted.json()["muted"] is False
    await _comment(client, carol, post["id"], "one more")
    after = await _notified(client, services, alice)
    assert after == [(COMMENT, carol["username"]), (COMMENT, bob["username"])]

    hidden = await create_post(client, alice["headers"], "just us", visibility="direct")
    missing = await client.post(f"/api/v1/statuses/{hidden['id']}/mute", headers=carol["headers"])
    assert missing.status_code == 404
    assert missing.json() == {"error": "Record not found"}

    local = await client.get("/api/v1/timelines/public", params={"local": "true"})
    assert post["id"] in [s["id"] for s in local.json()]
    assert hidden["id"] not in [s["id"] for s in local.json()]
