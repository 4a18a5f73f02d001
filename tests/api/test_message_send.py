"""What one message send costs, and that its answer and its open streams' copies are what
a later read gives, on both shapes.

A send checks its sender and reads its members in one query, writes the message, the
thread and its members in three statements and its event in one, answers from what it
wrote, and publishes that same rendering to the members' open direct streams itself; the
bus consumer then publishes nothing more (a message with a shared post, shown to each
member as they may see it, still goes by the consumer).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import event
from sqlalchemy.engine import Engine
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.cache import Subscription
from lumigram.infra.sql import Prebuilt
from lumigram.services import Services
from lumigram.streaming import channels
from tests.factories import create_post, create_user, upload_photo
from tests.settle import settle

THREADS = "/api/v1/lumigram/threads"
#: The last frame of a stream in these tests: what came before it is all that came.
SENTINEL = channels.encode("test.end", "")


@contextmanager
def statements_of_this_task(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """Every SQL statement but BEGIN this task sends while the block runs, on any engine: through
    SQLAlchemy, or (PostgreSQL, ``Prebuilt``) through the driver itself. The in-process
    consumers' statements, sent from tasks of their own, are not counted."""
    task = asyncio.current_task()
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        # SQLite's writer begins its transactions with a statement; PostgreSQL's driver
        # does with a call of its own. Neither is counted.
        if asyncio.current_task() is task and not statement.startswith("BEGIN"):
            seen.append(" ".join(statement.split()))

    def counted(name: str) -> Any:
        original = getattr(Prebuilt, name)

        async def run(self: Prebuilt, conn: AsyncConnection, params: Any) -> Any:
            # On SQLite a prebuilt statement goes through SQLAlchemy: the listener sees it.
            if conn.dialect.name == "postgresql" and asyncio.current_task() is task:
                seen.append(f"(driver) {self(conn)}")
            return await original(self, conn, params)

        return run

    for name in ("execute", "rows"):
        monkeypatch.setattr(Prebuilt, name, counted(name))
    event.listen(Engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(Engine, "before_cursor_execute", record)
        monkeypatch.undo()


@asynccontextmanager
async def open_direct_streams(services: Services, *people: dict[str, Any]) -> AsyncIterator[Subscription]:
    """What the hub does for ``people`` with a direct stream open: their online markers,
    and a subscription to their direct channels."""
    ids = [int(p["id"]) for p in people]
    await services.cache.set_many(channels.online_markers(ids), ttl=channels.ONLINE_TTL)
    subscription = await services.cache.subscribe(*(channels.direct(a) for a in ids))
    try:
        await asyncio.sleep(0.1)  # Redis confirms a subscription asynchronously
        yield subscription
    finally:
        await subscription.close()


async def heard(services: Services, subscription: Subscription, *people: dict[str, Any]) -> dict[str, list[Any]]:
    """Every (event, payload) each person's stream carried, in order, up to a sentinel
    published now: sent after everything else on the same connection, it arrives last."""
    for person in people:
        await services.cache.publish(channels.direct(int(person["id"])), SENTINEL)
    names = {channels.direct(int(p["id"])): p["username"] for p in people}
    got: dict[str, list[Any]] = {p["username"]: [] for p in people}
    ended = 0
    frames = aiter(subscription)
    while ended < len(people):
        channel, raw = await asyncio.wait_for(anext(frames), timeout=10)
        if raw == SENTINEL:
            ended += 1
            continue
        frame = orjson.loads(raw)
        got[names[channel]].append((frame["event"], orjson.loads(frame["payload"])))
    return got


async def _send(client: httpx.AsyncClient, who: dict[str, Any], thread_id: str, **body: Any) -> dict[str, Any]:
    response = await client.post(f"{THREADS}/{thread_id}/messages", headers=who["headers"], json=body)
    assert response.status_code == 200, response.text
    message: dict[str, Any] = response.json()
    return message


async def test_a_send_is_five_statements_and_its_answer_is_what_every_stream_and_read_gets(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    # Bob does not follow alice: her first message is a request for him.
    started = await client.post(THREADS, headers=alice["headers"], json={"account_ids": [bob["id"]]})
    thread = started.json()["id"]
    photo = await upload_photo(client, alice["headers"])
    post = await create_post(client, alice["headers"], text="look", visibility="private")
    await settle(services)
    async with open_direct_streams(services, alice, bob) as streams:
        with statements_of_this_task(monkeypatch) as plain:
            hello = await _send(client, alice, thread, text="hello")
        # One read (membership, members, requests and blocks), the message, the thread,
        # its members, the event.
        assert len(plain) == 5, plain
        with statements_of_this_task(monkeypatch) as rich:
            shared = await _send(client, alice, thread, text="this", media_ids=[photo["id"]], account_id=bob["id"])
        # The same, the shared account read and the media claimed (and read) in one.
        assert len(rich) == 7, rich
        # A private post, shared: bob does not follow alice, so he may not see it.
        hidden = await _send(client, alice, thread, status_id=post["id"])
        await settle(services)
        got = await heard(services, streams, alice, bob)

    listed = await client.get(f"{THREADS}/{thread}/messages", headers=alice["headers"])
    assert listed.json()[::-1] == [hello, shared, hidden]
    assert shared["media_attachments"][0]["id"] == photo["id"]
    assert shared["account"]["id"] == bob["id"]
    assert hidden["status"]["id"] == post["id"]
    seen_by_bob = (await client.get(f"{THREADS}/{thread}/messages", headers=bob["headers"])).json()[::-1]
    assert seen_by_bob[2]["status"] is None
    request = {"thread_id": thread, "account_id": alice["id"]}
    # Each message once on each member's stream, as a read gives it to that member (the
    # shared post's by the consumer, rendered for each apart); the request once, to bob.
    assert got == {
        alice["username"]: [("lumigram.message", m) for m in (hello, shared, hidden)],
        bob["username"]: [
            ("lumigram.message", hello),
            ("lumigram.request", request),
            *(("lumigram.message", m) for m in seen_by_bob[1:]),
        ],
    }
