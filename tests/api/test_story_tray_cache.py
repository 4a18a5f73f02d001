"""The rendered story tray kept in the cache (``lumigram.stories.tray_cache``) on both
shapes: a kept tray is answered without a database statement (the extension API's tray
by the fast path, ahead of the framework), and every change that alters a viewer's tray
shows in their very next read: their seen marks, a story posted or deleted by an account
they follow, close friends, follows, blocks and mutes (a timed mute's end included), an
owner's profile, and a story's 24 hours ending with the clock moved."""

from __future__ import annotations

import gzip
from datetime import timedelta
from typing import Any

import httpx

from lumigram.api.story_tray_fast_path import TRAY_PATH, KeptStoryTray
from lumigram.services import Services
from tests.api.test_stories import API, DAY, Clock, _follow, _story
from tests.asgi_driver import Recorded, drive
from tests.factories import create_user
from tests.statements import statements_sent

User = dict[str, Any]


async def _through_fast_path(
    client: httpx.AsyncClient, viewer: User, accept: bytes | None = None, gzipped: bool = False
) -> tuple[int, bytes, int]:
    """One tray read through the middleware alone: (status, body, requests handed on);
    ``accept``: the request's Accept-Encoding; ``gzipped``: whether the answer must come
    gzipped (it is returned unpacked)."""
    inner = Recorded()
    headers = [(b"authorization", viewer["headers"]["Authorization"].encode())]
    if accept is not None:
        headers.append((b"accept-encoding", accept))
    scope = {
        "type": "http",
        "method": "GET",
        "path": TRAY_PATH,
        "query_string": b"",
        "headers": headers,
        "app": client._transport.app,  # type: ignore[attr-defined]
    }
    status, answered, body = await drive(KeptStoryTray(inner), scope)
    assert (answered.get("content-encoding") == "gzip") == gzipped
    if gzipped:
        body = gzip.decompress(body)
        assert len(body) > int(answered["content-length"])
    return status, body, inner.calls


async def _tray(client: httpx.AsyncClient, viewer: User) -> list[tuple[str, bool]]:
    response = await client.get(f"{API}/stories/tray", headers=viewer["headers"])
    assert response.status_code == 200, response.text
    return [(entry["account"]["id"], entry["seen"]) for entry in response.json()]


async def _ok(response: httpx.Response) -> Any:
    assert response.status_code == 200, response.text
    return response.json()


async def test_a_kept_tray_is_answered_without_sql_and_every_change_shows(
    client: httpx.AsyncClient, services: Services
) -> None:
    clock = Clock(services)
    viewer, alice, bob, carol = [await create_user(client) for _ in range(4)]
    for owner in (alice, bob, carol):
        await _follow(client, viewer, owner)
    first = await _story(client, alice)
    posted = clock.now
    clock.move(timedelta(hours=1))

    # Computed once, then kept: the same bytes, with no statement, before the framework.
    computed = await client.get(f"{API}/stories/tray", headers=viewer["headers"])
    assert [e["account"]["id"] for e in computed.json()] == [alice["id"]]
    with statements_sent(services) as sent:
        again = await client.get(f"{API}/stories/tray", headers=viewer["headers"])
        status, body, handed_on = await _through_fast_path(client, viewer)
    assert again.content == computed.content
    assert (status, body, handed_on) == (200, computed.content, 0)
    # Kept gzipped: sent so to a client that takes gzip, unpacked to one that refuses it.
    assert await _through_fast_path(client, viewer, b"br, gzip;q=0.8", gzipped=True) == (200, computed.content, 0)
    assert await _through_fast_path(client, viewer, b"gzip;q=0, identity") == (200, computed.content, 0)
    # Pixelfed's carousel is kept the same way (through the framework: its token check is cached).
    carousel = await _ok(await client.get("/api/v1.1/stories/carousel", headers=viewer["headers"]))
    with statements_sent(services) as carousel_sent:
        assert await _ok(await client.get("/api/v1.1/stories/carousel", headers=viewer["headers"])) == carousel
    assert sent == []
    assert carousel_sent == []
    assert [n["user"]["id"] for n in carousel["nodes"]] == [alice["id"]]
    # ``explain`` is computed, and still explains.
    explained = await _ok(await client.get(f"{API}/stories/tray?explain=true", headers=viewer["headers"]))
    assert "affinity" in explained[0]["score"]

    # A new story of an account followed; the viewer's seen marks (on both forms).
    second = await _story(client, bob)
    assert await _tray(client, viewer) == [(bob["id"], False), (alice["id"], False)]
    await _ok(await client.post(f"{API}/stories/{first['id']}/seen", headers=viewer["headers"]))
    assert await _tray(client, viewer) == [(bob["id"], False), (alice["id"], True)]
    carousel = await _ok(await client.get("/api/v1.1/stories/carousel", headers=viewer["headers"]))
    assert [(n["user"]["id"], n["seen"]) for n in carousel["nodes"]] == [(bob["id"], False), (alice["id"], True)]

    # The owner's profile (the same event as a change of lock).
    renamed = await client.patch(
        "/api/v1/accounts/update_credentials", headers=alice["headers"], data={"display_name": "Alice Renamed"}
    )
    assert renamed.status_code == 200, renamed.text
    tray = await _ok(await client.get(f"{API}/stories/tray", headers=viewer["headers"]))
    assert tray[1]["account"]["display_name"] == "Alice Renamed"

    # Close friends: a story for them appears when the viewer is put on the list, and goes.
    await _follow(client, carol, viewer)  # only followers can be made close friends
    await _story(client, carol, audience="close_friends")
    assert carol["id"] not in dict(await _tray(client, viewer))
    await _ok(await client.post(f"{API}/close_friends", headers=carol["headers"], json={"account_id": viewer["id"]}))
    assert carol["id"] in dict(await _tray(client, viewer))
    await _ok(await client.delete(f"{API}/close_friends/{viewer['id']}", headers=carol["headers"]))
    assert carol["id"] not in dict(await _tray(client, viewer))

    # Mutes: taken back, and one that ends on its own (the clock moved past it; a mute's
    # end is set from the wall clock, an hour behind the moved one here).
    await _ok(await client.post(f"/api/v1/accounts/{bob['id']}/mute", headers=viewer["headers"]))
    assert await _tray(client, viewer) == [(alice["id"], True)]
    await _ok(await client.post(f"/api/v1/accounts/{bob['id']}/unmute", headers=viewer["headers"]))
    assert await _tray(client, viewer) == [(bob["id"], False), (alice["id"], True)]
    muted = await client.post(f"/api/v1/accounts/{bob['id']}/mute", headers=viewer["headers"], json={"duration": 7200})
    assert muted.status_code == 200, muted.text
    assert await _tray(client, viewer) == [(alice["id"], True)]
    clock.move(timedelta(minutes=61))
    assert await _tray(client, viewer) == [(bob["id"], False), (alice["id"], True)]

    # Blocks, from the owner's side, then following again; unfollowing.
    await _ok(await client.post(f"/api/v1/accounts/{viewer['id']}/block", headers=bob["headers"]))
    assert await _tray(client, viewer) == [(alice["id"], True)]
    await _ok(await client.post(f"/api/v1/accounts/{viewer['id']}/unblock", headers=bob["headers"]))
    await _follow(client, viewer, bob)
    assert await _tray(client, viewer) == [(bob["id"], False), (alice["id"], True)]
    await _ok(await client.post(f"/api/v1/accounts/{bob['id']}/unfollow", headers=viewer["headers"]))
    assert await _tray(client, viewer) == [(alice["id"], True)]
    await _follow(client, viewer, bob)

    # A story deleted by its owner.
    await _ok(await client.delete(f"{API}/stories/{second['id']}", headers=bob["headers"]))
    assert await _tray(client, viewer) == [(alice["id"], True)]

    # No story outlives its 24 hours in a kept tray: nothing but the clock changes here.
    assert (await _through_fast_path(client, viewer))[2] == 0
    clock.move(posted + DAY - clock.now)
    assert (await _through_fast_path(client, viewer))[2] == 1  # alice's story has ended: not kept
    assert await _tray(client, viewer) == []
