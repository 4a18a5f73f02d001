"""Stories on both shapes: expiry on every path with the clock moved, the tray's order and
seen state, viewers, replies, close friends, the privacy matrix, highlights, blob removal
after expiry, and Pixelfed's story endpoints driven the way its apps call them."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta
from typing import Any
from urllib.parse import unquote, urlsplit

import httpx
import orjson
from sqlalchemy import insert, update

from lumigram.infra.cache import Subscription
from lumigram.infra.tables import media_attachments
from lumigram.infra.tables import stories as stories_table
from lumigram.janitor import sweep_once
from lumigram.services import Services
from lumigram.stories.models import MAX_LIVE
from lumigram.streaming import channels
from lumigram.streaming.channels import online_markers
from tests.factories import create_user, photo_bytes, upload_photo
from tests.settle import settle

API = "/api/v1/lumigram"
DAY = timedelta(hours=24)


class Clock:
    """The services' clock, moved by the test instead of waiting."""

    def __init__(self, services: Services) -> None:
        self.now = services.now()
        services.clock = lambda: self.now

    def move(self, by: timedelta) -> None:
        self.now += by


async def _story(client: httpx.AsyncClient, user: dict[str, Any], **fields: Any) -> dict[str, Any]:
    media = await upload_photo(client, user["headers"])
    response = await client.post(f"{API}/stories", headers=user["headers"], json={"media_id": media["id"], **fields})
    assert response.status_code == 200, response.text
    story: dict[str, Any] = response.json()
    return story


async def _follow(client: httpx.AsyncClient, who: dict[str, Any], whom: dict[str, Any], locked: bool = False) -> None:
    response = await client.post(f"/api/v1/accounts/{whom['id']}/follow", headers=who["headers"])
    assert response.status_code == 200, response.text
    if locked:
        authorized = await client.post(f"/api/v1/follow_requests/{who['id']}/authorize", headers=whom["headers"])
        assert authorized.status_code == 200, authorized.text


async def _tray(client: httpx.AsyncClient, user: dict[str, Any]) -> list[tuple[str, bool]]:
    response = await client.get(f"{API}/stories/tray", headers=user["headers"])
    assert response.status_code == 200, response.text
    return [(entry["account"]["id"], entry["seen"]) for entry in response.json()]


async def _stories_heard(stream: Subscription, count: int) -> list[str]:
    """The ids of the first ``count`` new stories a user stream carried."""
    heard: list[str] = []
    async for _channel, message in stream:
        body = orjson.loads(message)
        if body["event"] == "lumigram.story":
            heard.append(orjson.loads(body["payload"])["id"])
            if len(heard) == count:
                break
    return heard


def _key(url: str) -> str:
    return unquote(urlsplit(url).path.removeprefix("/media/"))


async def _served(client: httpx.AsyncClient, url: str) -> bool:
    response = await client.get(url)
    assert response.status_code in (200, 302, 404), response.text
    return response.status_code != 404  # 302: the S3 store serves it, the app vouched for it


async def test_expiry_tray_seen_viewers_replies_and_blob_removal(client: httpx.AsyncClient, services: Services) -> None:
    clock = Clock(services)
    alice, erin, bob, carol, dave = [await create_user(client) for _ in range(5)]
    for follower in (bob, carol):
        await _follow(client, follower, alice)
    await _follow(client, bob, erin)

    # A video longer than a story plays is refused (its length as the transcoder found it).
    long = await upload_photo(client, alice["headers"])
    async with services.db.begin() as conn:
        await conn.execute(
            update(media_attachments).where(media_attachments.c.id == int(long["id"])).values(meta='{"duration": 61.0}')
        )
    refused = await client.post(f"{API}/stories", headers=alice["headers"], json={"media_id": long["id"]})
    assert refused.status_code == 422
    assert "60 seconds" in refused.json()["error"]

    first = await _story(client, alice, caption=f"Hi @{bob['username']}", link="https://example.org/a")
    assert first["expires_at"] > first["created_at"]
    assert first["link"] == "https://example.org/a"
    assert [m["id"] for m in first["mentions"]] == [bob["id"]]
    assert first["views_count"] == 0
    clock.move(timedelta(minutes=1))
    second = await _story(client, alice)
    clock.move(timedelta(minutes=1))
    erins = await _story(client, erin)
    assert erins["audience"] == "followers"

    # Unseen first, then the most recent; seen is per viewer and counted once.
    assert await _tray(client, bob) == [(erin["id"], False), (alice["id"], False)]
    for story in (first, second, first):
        seen = await client.post(f"{API}/stories/{story['id']}/seen", headers=bob["headers"])
        assert seen.status_code == 200
        assert seen.json()["seen"] is True
    assert await _tray(client, bob) == [(erin["id"], False), (alice["id"], True)]
    assert await _tray(client, carol) == [(alice["id"], False)]
    await client.post(f"{API}/stories/{first['id']}/seen", headers=carol["headers"])
    # One account's live stories play oldest first.
    played = await client.get(f"{API}/accounts/{alice['id']}/stories", headers=carol["headers"])
    assert [(s["id"], s["seen"]) for s in played.json()] == [(first["id"], True), (second["id"], False)]
    # A stranger to an open account may watch it, but it is not in their tray.
    assert (await client.get(f"{API}/stories/{first['id']}", headers=dave["headers"])).status_code == 200
    assert await _tray(client, dave) == []

    # Viewers: the owner's alone, newest first, paged; the count on the owner's story.
    viewers = await client.get(f"{API}/stories/{first['id']}/viewers", headers=alice["headers"], params={"limit": 1})
    assert [v["account"]["id"] for v in viewers.json()] == [carol["id"]]
    following = viewers.headers["Link"].split(";")[0].strip("<>")
    older = await client.get(following, headers=alice["headers"])
    assert [v["account"]["id"] for v in older.json()] == [bob["id"]]
    assert (await client.get(f"{API}/stories/{first['id']}/viewers", headers=bob["headers"])).status_code == 404
    owned = await client.get(f"{API}/stories/{first['id']}", headers=alice["headers"])
    assert owned.json()["views_count"] == 2

    # Replies and reactions reach the owner; the owner can turn replies off.
    replied = await client.post(f"{API}/stories/{first['id']}/reply", headers=bob["headers"], json={"text": "Nice"})
    assert replied.status_code == 200, replied.text
    reacted = await client.post(f"{API}/stories/{first['id']}/react", headers=carol["headers"], json={"emoji": "🔥"})
    assert reacted.status_code == 200, reacted.text
    off = await client.patch(f"{API}/stories/{first['id']}", headers=alice["headers"], json={"replies_enabled": False})
    assert off.json()["replies_enabled"] is False
    refused = await client.post(f"{API}/stories/{first['id']}/reply", headers=bob["headers"], json={"text": "Again"})
    assert refused.status_code == 422
    assert "error" in refused.json()
    listed = await client.get(f"{API}/stories/{first['id']}/replies", headers=alice["headers"])
    assert [(r["account"]["id"], r["type"], r["content"]) for r in listed.json()] == [
        (carol["id"], "reaction", "🔥"),
        (bob["id"], "reply", "Nice"),
    ]
    await settle(services)
    told = await client.get("/api/v1/notifications", headers=alice["headers"])
    assert {n["type"] for n in told.json()} - {"follow"} == {"lumigram.story_reply", "lumigram.story_reaction"}
    mentioned = await client.get("/api/v1/notifications", headers=bob["headers"])
    assert [(n["type"], n["account"]["id"]) for n in mentioned.json()] == [("lumigram.story_mention", alice["id"])]

    # The media URL handed out is signed to end with the story.
    url = first["media_attachment"]["url"]
    assert int(url.split("exp=")[1].split("&")[0]) <= datetime.fromisoformat(first["expires_at"]).timestamp()
    assert await _served(client, url)

    # Exactly 24 hours after it went live, the first story is gone from every path.
    clock.move(DAY - timedelta(minutes=2))
    assert (await client.get(f"{API}/stories/{first['id']}", headers=bob["headers"])).status_code == 404
    assert (await client.get(f"{API}/stories/{first['id']}", headers=alice["headers"])).status_code == 404
    played = await client.get(f"{API}/accounts/{alice['id']}/stories", headers=alice["headers"])
    assert [s["id"] for s in played.json()] == [second["id"]]
    assert not await _served(client, url)
    assert (await client.post(f"{API}/stories/{first['id']}/seen", headers=dave["headers"])).status_code == 404
    clock.move(timedelta(minutes=2))
    assert await _tray(client, bob) == []

    # Expired: kept in the owner's archive (on by default), so its blobs stay; Erin keeps no
    # archive, so hers are removed by the sweeper.
    archive = await client.get(f"{API}/stories/archive", headers=alice["headers"])
    assert [s["id"] for s in archive.json()] == [second["id"], first["id"]]
    assert all(s["expired"] for s in archive.json())
    off = await client.put(f"{API}/stories/settings", headers=erin["headers"], json={"archive": False})
    assert off.json() == {"archive": False}
    await sweep_once(services)
    assert await services.blobs.stat(_key(first["media_attachment"]["url"])) is not None
    assert await services.blobs.stat(_key(erins["media_attachment"]["url"])) is None
    erins_archive = await client.get(f"{API}/stories/archive", headers=erin["headers"])
    assert erins_archive.json() == []


async def test_who_sees_which_story_highlights_and_the_limit(client: httpx.AsyncClient, services: Services) -> None:
    """Owner, follower, close friends (one added by the stories' endpoint, one by the lists
    API), stranger, blocked and muted, on an open and a private account; then the private
    account's highlights, and its live story limit."""
    open_owner, private_owner = await create_user(client), await create_user(client)
    follower, close, friend, stranger, blocked, muted = [await create_user(client) for _ in range(6)]
    await client.patch("/api/v1/accounts/update_credentials", headers=private_owner["headers"], data={"locked": "true"})
    for viewer in (follower, close, blocked, muted):
        await _follow(client, viewer, open_owner)
    await _follow(client, follower, private_owner, locked=True)
    await _follow(client, open_owner, friend)
    # Close friends are the owner's list marked so. The stories' endpoint takes followers and
    # makes the list on the first one; the lists API adds accounts the owner follows to it.
    refused = await client.post(
        f"{API}/close_friends", headers=open_owner["headers"], json={"account_id": stranger["id"]}
    )
    assert refused.status_code == 422, refused.text
    assert "follow you" in refused.json()["error"]
    added = await client.post(f"{API}/close_friends", headers=open_owner["headers"], json={"account_id": close["id"]})
    assert added.status_code == 200, added.text
    (made,) = (await client.get("/api/v1/lists", headers=open_owner["headers"])).json()
    assert (made["title"], made["lumigram"]) == ("Close friends", {"close_friends": True})
    joined = await client.post(
        f"/api/v1/lists/{made['id']}/accounts", headers=open_owner["headers"], json={"account_ids": [friend["id"]]}
    )
    assert joined.status_code == 200, joined.text
    listed = await client.get(f"{API}/close_friends", headers=open_owner["headers"])
    assert [a["id"] for a in listed.json()] == [friend["id"], close["id"]]
    await client.post(f"/api/v1/accounts/{blocked['id']}/block", headers=open_owner["headers"])
    await client.post(f"/api/v1/accounts/{open_owner['id']}/mute", headers=muted["headers"])

    # The followers' open user streams hear of new stories, a close-friends one only the friends.
    await services.cache.set_many(online_markers([int(follower["id"]), int(close["id"])]), ttl=60)
    streams = {
        name: await services.cache.subscribe(channels.home(int(who["id"])))
        for name, who in (("follower", follower), ("close", close))
    }
    friends_only = await _story(client, open_owner, audience="close_friends")
    everyone = await _story(client, open_owner)
    locked = await _story(client, private_owner)
    await settle(services)
    heard = {name: await asyncio.wait_for(_stories_heard(stream, 2 if name == "close" else 1), 10)
             for name, stream in streams.items()}  # fmt: skip
    assert heard == {"follower": [everyone["id"]], "close": [friends_only["id"], everyone["id"]]}
    for stream in streams.values():
        await stream.close()
    viewers = {
        "owner": (open_owner, private_owner),
        "follower": (follower,),
        "close": (close,),
        "friend": (friend,),
        "stranger": (stranger,),
        "blocked": (blocked,),
        "muted": (muted,),
    }
    expected = {
        "owner": {"everyone", "friends_only", "locked"},
        "follower": {"everyone", "locked"},
        "close": {"everyone", "friends_only"},
        "friend": {"everyone", "friends_only"},
        "stranger": {"everyone"},
        "blocked": set(),
        "muted": {"everyone"},
    }
    stories = {"everyone": everyone, "friends_only": friends_only, "locked": locked}
    owners = {"everyone": open_owner, "friends_only": open_owner, "locked": private_owner}
    for kind, people in viewers.items():
        seen, listed = set(), set()
        for name, story in stories.items():
            headers = (people[1] if name == "locked" and kind == "owner" else people[0])["headers"]
            by_id = await client.get(f"{API}/stories/{story['id']}", headers=headers)
            assert by_id.status_code in (200, 404), by_id.text
            if by_id.status_code == 200:
                seen.add(name)
            if name != "friends_only":  # one list read shows both of the open account's stories
                played = await client.get(f"{API}/accounts/{owners[name]['id']}/stories", headers=headers)
                assert played.status_code in (200, 404), played.text
                ids = [s["id"] for s in played.json()] if played.status_code == 200 else []
                listed |= {other for other, shown in stories.items() if shown["id"] in ids}
        assert seen == expected[kind], kind
        assert listed == seen, kind
    # The tray: followed accounts only, muted ones left out, close-friends stories for them alone.
    trays = {}
    for kind in ("follower", "close", "friend", "stranger", "blocked", "muted"):
        response = await client.get(f"{API}/stories/tray", headers=viewers[kind][0]["headers"])
        trays[kind] = {s["id"] for entry in response.json() for s in entry["stories"]}
    assert trays == {
        "follower": {everyone["id"], locked["id"]},
        "close": {everyone["id"], friends_only["id"]},
        "friend": set(),
        "stranger": set(),
        "blocked": set(),
        "muted": set(),
    }
    # A story hidden from someone cannot be answered or marked seen by them either.
    hidden = await client.post(f"{API}/stories/{friends_only['id']}/seen", headers=follower["headers"])
    assert hidden.status_code == 404
    assert hidden.json() == {"error": "Record not found"}
    # Off the list, the close-friends story is gone for them (and only for them).
    await client.delete(f"{API}/close_friends/{close['id']}", headers=open_owner["headers"])
    assert (await client.get(f"{API}/stories/{friends_only['id']}", headers=close["headers"])).status_code == 404
    assert (await client.get(f"{API}/stories/{friends_only['id']}", headers=friend["headers"])).status_code == 200

    # Highlights of the private account: for those who may see its posts.
    clock = Clock(services)
    owner = private_owner
    one, two, three = locked, *[await _story(client, owner) for _ in range(2)]
    made = await client.post(
        f"{API}/highlights",
        headers=owner["headers"],
        json={"title": "Trip", "story_ids": [one["id"], two["id"]], "cover_story_id": two["id"]},
    )
    assert made.status_code == 200, made.text
    highlight = made.json()["id"]
    assert made.json()["cover"]["id"] == two["media_attachment"]["id"]
    await client.post(f"{API}/highlights/{highlight}/stories", headers=owner["headers"], json={"story_id": three["id"]})
    changed = await client.patch(
        f"{API}/highlights/{highlight}",
        headers=owner["headers"],
        json={"title": "Summer", "story_ids": [three["id"], one["id"], two["id"]]},
    )
    assert changed.json()["title"] == "Summer"
    removed = await client.delete(f"{API}/highlights/{highlight}/stories/{two['id']}", headers=owner["headers"])
    # The cover left with its story: the first one stands in.
    assert [s["id"] for s in removed.json()["stories"]] == [three["id"], one["id"]]
    assert removed.json()["cover"]["id"] == three["media_attachment"]["id"]

    # Past the stories' day, the highlight still shows them, to those who may see the posts.
    clock.move(DAY)
    shown = await client.get(f"{API}/highlights/{highlight}", headers=follower["headers"])
    assert [s["id"] for s in shown.json()["stories"]] == [three["id"], one["id"]]
    assert await _served(client, shown.json()["stories"][0]["media_attachment"]["url"])
    listed = await client.get(f"{API}/accounts/{owner['id']}/highlights", headers=follower["headers"])
    assert [(h["title"], h["stories_count"]) for h in listed.json()] == [("Summer", 2)]
    for path in (f"{API}/highlights/{highlight}", f"{API}/accounts/{owner['id']}/highlights"):
        assert (await client.get(path, headers=stranger["headers"])).status_code == 404
    # With the archive off, only the highlighted stories keep their blobs.
    await client.put(f"{API}/stories/settings", headers=owner["headers"], json={"archive": False})
    await sweep_once(services)
    assert await services.blobs.stat(_key(one["media_attachment"]["url"])) is not None
    assert await services.blobs.stat(_key(two["media_attachment"]["url"])) is None
    assert (await client.delete(f"{API}/highlights/{highlight}", headers=owner["headers"])).status_code == 200
    assert (await client.get(f"{API}/highlights/{highlight}", headers=owner["headers"])).status_code == 404

    # At most MAX_LIVE live stories: the next one is refused and its upload stays the caller's.
    now = services.now()
    async with services.db.begin() as conn:
        await conn.execute(
            insert(stories_table),
            [
                {"id": services.ids.next_id(), "account_id": int(owner["id"]), "media_id": 1, "state": "live",
                 "created_at": now, "expires_at": now + DAY}
                for _ in range(MAX_LIVE)
            ],
        )  # fmt: skip
    media = await upload_photo(client, owner["headers"])
    refused = await client.post(f"{API}/stories", headers=owner["headers"], json={"media_id": media["id"]})
    assert refused.status_code == 422
    assert "100" in refused.json()["error"]
    assert (await client.get(f"/api/v1/media/{media['id']}", headers=owner["headers"])).status_code == 200


async def test_pixelfed_story_endpoints(client: httpx.AsyncClient, services: Services) -> None:
    clock = Clock(services)
    owner, follower = await create_user(client), await create_user(client)
    await _follow(client, follower, owner)
    added = await client.post(
        "/api/v1.1/stories/add",
        headers=owner["headers"],
        files={"file": ("story.jpg", photo_bytes(), "image/jpeg")},
        data={"duration": "5"},
    )
    assert added.status_code == 200, added.text
    body = added.json()
    assert (body["code"], body["msg"], body["media_type"]) == (200, "Successfully added", "photo")
    # A draft until published: no one sees it yet.
    carousel = await client.get("/api/v1.1/stories/carousel", headers=follower["headers"])
    assert carousel.json() == {"self": [], "nodes": []}
    # As Pixelfed's Android app sends it: the fields in the query string, flags as 0/1.
    published = await client.post(
        "/api/v1.1/stories/publish",
        headers=owner["headers"],
        params={"media_id": body["media_id"], "duration": 5, "can_reply": "1", "can_react": "1"},
    )
    assert published.json() == {"code": 200, "msg": "Successfully published"}

    carousel = (await client.get("/api/v1.1/stories/carousel", headers=follower["headers"])).json()
    (node,) = carousel["nodes"]
    assert node["id"] == f"pfs:{owner['id']}"
    assert node["seen"] is False
    assert node["user"]["id"] == owner["id"]
    assert node["user"]["is_author"] is False
    assert [(n["id"], n["pid"], n["type"], n["duration"]) for n in node["nodes"]] == [
        (body["media_id"], owner["id"], "photo", 5)
    ]
    own = (await client.get("/api/v1.1/stories/carousel", headers=owner["headers"])).json()["self"]
    assert own["user"]["is_author"] is True
    assert [n["id"] for n in own["nodes"]] == [body["media_id"]]

    seen = await client.post("/api/v1.1/stories/seen", headers=follower["headers"], json={"id": body["media_id"]})
    assert seen.json() == {"code": 200}
    carousel = (await client.get("/api/v1.1/stories/carousel", headers=follower["headers"])).json()
    assert carousel["nodes"][0]["seen"] is True
    commented = await client.post(
        "/api/v1.1/stories/comment", headers=follower["headers"], json={"sid": body["media_id"], "caption": "Wow"}
    )
    assert commented.json() == {"code": 200, "msg": "Sent!"}
    viewers = await client.get("/api/v1.2/stories/viewers", headers=owner["headers"], params={"sid": body["media_id"]})
    assert [a["id"] for a in viewers.json()["data"]] == [follower["id"]]
    await settle(services)
    told = await client.get("/api/v1/notifications", headers=owner["headers"])
    replies = [(n["type"], n["account"]["id"]) for n in told.json() if n["type"] != "follow"]
    assert replies == [("lumigram.story_reply", follower["id"])]

    expired = await client.post(f"/api/v1.1/stories/self-expire/{body['media_id']}", headers=owner["headers"])
    assert expired.json() == {"code": 200, "msg": "Successfully deleted"}
    carousel = await client.get("/api/v1.1/stories/carousel", headers=follower["headers"])
    assert carousel.json() == {"self": [], "nodes": []}
    # Taken down: its blobs go with the next sweep, archive or not; so do a draft's
    # never published, once its day is over.
    abandoned = await client.post(
        "/api/v1.1/stories/add", headers=owner["headers"], files={"file": ("s.jpg", photo_bytes(), "image/jpeg")}
    )
    await sweep_once(services)
    assert await services.blobs.stat(_key(body["media_url"])) is None
    assert await services.blobs.stat(_key(abandoned.json()["media_url"])) is not None
    clock.move(DAY)
    await sweep_once(services)
    assert await services.blobs.stat(_key(abandoned.json()["media_url"])) is None
