"""Direct messages on open ``direct`` streams, and Mastodon.py's conversations, against a
real server on loopback (in the test's event loop), on both shapes."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from mastodon import Mastodon
from websockets.asyncio.client import connect

from lumigram.services import Services
from tests.api.test_streaming import Server, event_source, next_frame, server  # noqa: F401 (the fixture)
from tests.factories import create_user
from tests.settle import settle

THREADS = "/api/v1/lumigram/threads"


async def test_an_unsent_message_leaves_every_open_device_and_a_removed_member_hears_nothing(
    server: Server,  # noqa: F811
) -> None:
    http = server.http
    alice, bob, cid = [await create_user(http) for _ in range(3)]
    for member in (bob, cid):
        assert (await http.post(f"/api/v1/accounts/{alice['id']}/follow", headers=member["headers"])).status_code == 200
    body = {"account_ids": [bob["id"], cid["id"]], "name": "Plans"}
    thread = (await http.post(THREADS, headers=alice["headers"], json=body)).json()["id"]
    removed = await http.delete(f"{THREADS}/{thread}/members/{cid['id']}", headers=alice["headers"])
    assert removed.status_code == 200
    async with (
        connect(f"{server.ws_url}?stream=direct&access_token={bob['token']}") as phone,
        event_source(server, "/api/v1/streaming/direct", headers=bob["headers"]) as laptop,
        event_source(server, "/api/v1/streaming/direct", headers=alice["headers"]) as sender,
        event_source(server, "/api/v1/streaming/direct", headers=cid["headers"]) as outsider,
    ):
        sent = await http.post(f"{THREADS}/{thread}/messages", headers=alice["headers"], json={"text": "secret"})
        message_id = sent.json()["id"]
        on_phone = await next_frame(phone, "lumigram.message")
        assert on_phone["stream"] == ["direct"]
        assert json.loads(on_phone["payload"])["text"] == "secret"
        assert json.loads(await laptop.next("lumigram.message"))["id"] == message_id

        assert (await http.post(f"{THREADS}/{thread}/typing", headers=bob["headers"])).status_code == 200
        assert json.loads(await sender.next("lumigram.typing")) == {"thread_id": thread, "account_id": bob["id"]}

        assert (
            await http.delete(f"{THREADS}/{thread}/messages/{message_id}", headers=alice["headers"])
        ).status_code == 200
        expected = {"thread_id": thread, "message_id": message_id}
        assert json.loads((await next_frame(phone, "lumigram.unsend"))["payload"]) == expected
        assert json.loads(await laptop.next("lumigram.unsend")) == expected
        assert json.loads(await sender.next("lumigram.unsend")) == expected
        # Published together with the members' copies, which have arrived: nothing came.
        assert [name for name, _ in outsider.events if name.startswith("lumigram.")] == []


async def test_mastodon_py_lists_and_reads_conversations(server: Server, services: Services) -> None:  # noqa: F811
    """Mastodon.py (blocking) in a thread against the server in this loop, which runs the consumers."""
    alice, bob = [await create_user(server.http) for _ in range(2)]

    def client(user: dict[str, Any]) -> Mastodon:
        return Mastodon(access_token=user["token"], api_base_url=server.url)

    sent = await asyncio.to_thread(
        lambda: client(alice).status_post(f"@{bob['username']} just us", visibility="direct")
    )
    await settle(services)
    found = await asyncio.to_thread(lambda: client(bob).conversations())
    assert [(c.id, c.last_status.id, c.unread) for c in found] == [(sent.id, sent.id, True)]
    assert [a.username for a in found[0].accounts] == [alice["username"]]
    read = await asyncio.to_thread(lambda: client(bob).conversations_read(found[0].id))
    assert read.unread is False
    assert await asyncio.to_thread(lambda: client(alice).conversations()) != []
    assert not (await asyncio.to_thread(lambda: client(bob).conversations()))[0].unread
