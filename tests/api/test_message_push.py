"""Web Pushes for direct messages to members with no stream open, on both shapes.

The push service is the test's own on 127.0.0.1 (``tests.api.test_push``); the device
decrypts what arrives.
"""

from __future__ import annotations

import asyncio

import httpx

from lumigram.push.messages import TASK_PREFIX
from lumigram.services import Services
from tests.api.test_push import Device, PushService, push_service, settings, subscribe  # noqa: F401 (fixtures)
from tests.factories import create_user
from tests.settle import settle

THREADS = "/api/v1/lumigram/threads"


async def _pushes_done(services: Services) -> None:
    """The bus has handled every event, and the in-process bus's push tasks have finished."""
    await settle(services)
    pushing = [task for task in services._background if task.get_name().startswith(TASK_PREFIX)]
    await asyncio.wait_for(asyncio.gather(*pushing), timeout=30)


async def test_an_offline_member_is_pushed_once_per_message_and_a_request_once(
    client: httpx.AsyncClient,
    services: Services,
    push_service: PushService,  # noqa: F811
) -> None:
    alice, bob, stranger = [await create_user(client) for _ in range(3)]
    await client.patch("/api/v1/accounts/update_credentials", data={"display_name": "Alice"}, headers=alice["headers"])
    assert (await client.post(f"/api/v1/accounts/{alice['id']}/follow", headers=bob["headers"])).status_code == 200
    device = Device.new()
    await subscribe(client, bob["headers"], push_service.url("bob"), device)

    thread = (await client.post(THREADS, headers=alice["headers"], json={"account_ids": [bob["id"]]})).json()["id"]
    sent = await client.post(f"{THREADS}/{thread}/messages", headers=alice["headers"], json={"text": "dinner at 8"})
    await _pushes_done(services)
    (received,) = push_service.at("bob")
    payload = device.decrypt(received)
    assert payload["notification_id"] == sent.json()["id"]
    assert (payload["notification_type"], payload["title"], payload["body"]) == (
        "mention",
        "Alice sent you a message",
        "dinner at 8",
    )

    # Muted: no push.
    await client.patch(f"{THREADS}/{thread}", headers=bob["headers"], json={"muted": True})
    await client.post(f"{THREADS}/{thread}/messages", headers=alice["headers"], json={"text": "or 9?"})
    # A stranger's request is pushed the first time only.
    request = (await client.post(THREADS, headers=stranger["headers"], json={"account_ids": [bob["id"]]})).json()
    for text in ("hello?", "anyone?"):
        await client.post(f"{THREADS}/{request['id']}/messages", headers=stranger["headers"], json={"text": text})
    await _pushes_done(services)
    assert [device.decrypt(r)["body"] for r in push_service.at("bob")] == ["dinner at 8", "hello?"]
