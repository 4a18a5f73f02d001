"""Posts through Mastodon's status routes: albums, captions, edits, deletion, pins, the grid."""

from __future__ import annotations

from datetime import timedelta

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from lumigram.infra.tables import blob_deletions, media_attachments, outbox, utcnow
from lumigram.posts.cleanup import sweep_blob_deletions, sweep_orphan_media
from lumigram.services import Services
from tests.factories import create_post, create_user, upload_photo


async def _follow(client: httpx.AsyncClient, follower: dict[str, object], target: dict[str, object]) -> None:
    response = await client.post(f"/api/v1/accounts/{target['id']}/follow", headers=follower["headers"])  # type: ignore[arg-type]
    assert response.status_code == 200, response.text


async def _events(services: Services, type_: str) -> list[dict[str, object]]:
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(outbox.c.payload).where(outbox.c.type == type_))).scalars()
        return [orjson.loads(row) for row in rows]


async def test_an_album_with_caption_tags_and_mentions(client: httpx.AsyncClient, services: Services) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    photos = [await upload_photo(client, alice["headers"], description=f"photo {i}") for i in range(3)]
    text = f"Sunset at the lake #Sunset #nofilter #SUNSET with @{bob['username']} and @nobody_here_x"
    response = await client.post(
        "/api/v1/statuses",
        headers=alice["headers"],
        data={"status": text, "media_ids[]": [p["id"] for p in photos], "visibility": "public", "language": "en"},
    )
    assert response.status_code == 200, response.text
    status = response.json()
    assert [m["id"] for m in status["media_attachments"]] == [p["id"] for p in photos]
    assert status["media_attachments"][1]["description"] == "photo 1"
    assert sorted(t["name"].lower() for t in status["tags"]) == ["nofilter", "sunset"]
    assert [m["id"] for m in status["mentions"]] == [bob["id"]]
    assert 'rel="tag"' in status["content"]
    assert f"/@{bob['username']}" in status["content"]
    assert "@nobody_here_x" in status["content"]  # unknown mention stays text
    assert status["account"]["id"] == alice["id"]
    assert status["visibility"] == "public"
    assert status["language"] == "en"
    assert status["favourites_count"] == 0
    assert status["replies_count"] == 0
    assert status["pinned"] is False
    assert status["edited_at"] is None

    fetched = await client.get(f"/api/v1/statuses/{status['id']}")
    assert fetched.status_code == 200
    assert fetched.json()["id"] == status["id"]
    assert "favourited" not in fetched.json()  # anonymous viewers have no own state

    account = (await client.get(f"/api/v1/accounts/{alice['id']}")).json()
    assert account["statuses_count"] == 1
    assert account["last_status_at"] is not None

    events = await _events(services, "post.created")
    assert events
    assert events[-1]["status_id"] == status["id"]
    assert events[-1]["mentions"] == [bob["id"]]
    assert sorted(events[-1]["tags"]) == ["nofilter", "sunset"]  # type: ignore[type-var]


async def test_refusals_are_clear_422s_and_keep_the_media(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    headers = alice["headers"]
    photo = await upload_photo(client, headers)

    async def post(**fields: object) -> httpx.Response:
        return await client.post("/api/v1/statuses", headers=headers, json=fields)

    cases = [
        ({"status": "only words"}, "at least one photo"),
        ({"status": "x" * 2201, "media_ids": [photo["id"]]}, "too long"),
        ({"status": " ".join(f"#t{i}" for i in range(31)), "media_ids": [photo["id"]]}, "hashtags"),
        ({"status": "hi", "media_ids": [photo["id"]], "visibility": "everyone"}, "must be one of"),
        ({"status": "hi", "media_ids": [photo["id"], photo["id"]]}, "twice"),
        ({"status": "hi", "media_ids": [str(int(photo["id"]) + 1)]}, "not found"),
        ({"status": "hi", "media_ids": ["abc"]}, "must be an id"),
        ({"status": "hi", "media_ids": [photo["id"]] * 11}, None),
        ({"status": "", "media_ids": []}, "blank"),
        ({"status": "hi", "media_ids": [photo["id"]], "poll": {"options": ["a", "b"]}}, "can't be blank"),
        (
            {"status": "hi", "media_ids": [photo["id"]], "poll": {"options": ["a", "b"], "expires_in": 600}},
            "photos or videos",
        ),
    ]
    for fields, message in cases:
        response = await post(**fields)
        assert response.status_code == 422, (fields, response.text)
        assert "error" in response.json()
        if message:
            assert message in response.json()["error"], response.json()
    bobs_photo = await upload_photo(client, bob["headers"])
    response = await post(status="theirs", media_ids=[bobs_photo["id"]])
    assert response.status_code == 422
    assert "not found" in response.json()["error"]
    # Nothing was lost: the photo can still be posted.
    response = await post(status="finally", media_ids=[photo["id"]])
    assert response.status_code == 200, response.text
    again = await post(status="again", media_ids=[photo["id"]])
    assert again.status_code == 422
    assert "already attached" in again.json()["error"]


async def test_text_alone_is_fine_for_comments_and_direct_messages(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    post = await create_post(client, alice["headers"])
    reply = await client.post(
        "/api/v1/statuses", headers=bob["headers"], json={"status": "Lovely!", "in_reply_to_id": post["id"]}
    )
    assert reply.status_code == 200, reply.text
    assert reply.json()["in_reply_to_id"] == post["id"]
    assert reply.json()["in_reply_to_account_id"] == alice["id"]
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).json()["replies_count"] == 1
    dm = await client.post(
        "/api/v1/statuses",
        headers=alice["headers"],
        json={"status": f"@{bob['username']} hi", "visibility": "direct"},
    )
    assert dm.status_code == 200, dm.text
    assert (await client.get(f"/api/v1/statuses/{dm.json()['id']}")).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{dm.json()['id']}", headers=bob["headers"])).status_code == 200
    account = (await client.get(f"/api/v1/accounts/{alice['id']}")).json()
    assert account["statuses_count"] == 1  # comments and messages are not grid posts

    closed = await create_post(client, alice["headers"], comments_disabled=True)
    assert closed["lumigram"]["comments_disabled"] is True
    refused = await client.post(
        "/api/v1/statuses", headers=bob["headers"], json={"status": "hey", "in_reply_to_id": closed["id"]}
    )
    assert refused.status_code == 422
    assert "turned off" in refused.json()["error"]


async def test_idempotency_key_publishes_once(client: httpx.AsyncClient, services: Services) -> None:
    alice = await create_user(client)
    photo = await upload_photo(client, alice["headers"])
    headers = {**alice["headers"], "Idempotency-Key": "retry-me-1"}
    first = await client.post("/api/v1/statuses", headers=headers, json={"status": "once", "media_ids": [photo["id"]]})
    second = await client.post("/api/v1/statuses", headers=headers, json={"status": "once", "media_ids": [photo["id"]]})
    assert first.status_code == second.status_code == 200, second.text
    assert first.json()["id"] == second.json()["id"]
    assert len(await _events(services, "post.created")) == 1


async def test_edit_keeps_history_and_changes_alt_text(client: httpx.AsyncClient, services: Services) -> None:
    alice = await create_user(client)
    post = await create_post(client, alice["headers"], text="First words #one", photos=2)
    first_media = post["media_attachments"][0]["id"]
    response = await client.put(
        f"/api/v1/statuses/{post['id']}",
        headers=alice["headers"],
        json={
            "status": "Better words #two",
            "spoiler_text": "bright",
            "media_attributes": [{"id": first_media, "description": "A red square"}],
        },
    )
    assert response.status_code == 200, response.text
    edited = response.json()
    assert edited["edited_at"] is not None
    assert [t["name"] for t in edited["tags"]] == ["two"]
    assert edited["sensitive"] is True
    assert edited["spoiler_text"] == "bright"
    assert edited["media_attachments"][0]["description"] == "A red square"
    history = (await client.get(f"/api/v1/statuses/{post['id']}/history")).json()
    assert len(history) == 2
    assert "First words" in history[0]["content"]
    assert "Better words" in history[1]["content"]
    assert history[0]["media_attachments"][0]["description"] is None
    assert history[1]["media_attachments"][0]["description"] == "A red square"
    source = (await client.get(f"/api/v1/statuses/{post['id']}/source", headers=alice["headers"])).json()
    assert source == {"id": post["id"], "text": "Better words #two", "spoiler_text": "bright"}
    assert len(await _events(services, "post.updated")) == 1

    # Dropping a photo from the album; nobody else may edit.
    response = await client.put(
        f"/api/v1/statuses/{post['id']}", headers=alice["headers"], json={"media_ids": [first_media]}
    )
    assert response.status_code == 200
    assert len(response.json()["media_attachments"]) == 1
    bob = await create_user(client)
    stranger = await client.put(f"/api/v1/statuses/{post['id']}", headers=bob["headers"], json={"status": "mine"})
    assert stranger.status_code == 404
    unchanged = (await client.get(f"/api/v1/statuses/{post['id']}/history")).json()
    assert len(unchanged) == 3


async def test_delete_returns_source_and_removes_blobs_after_grace(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await create_user(client)
    post = await create_post(client, alice["headers"], text="Gone soon")
    media_id = int(post["media_attachments"][0]["id"])
    async with services.db.connect() as conn:
        row = (await conn.execute(select(media_attachments).where(media_attachments.c.id == media_id))).one()
    variants = orjson.loads(row.variants)
    keys = [fmt["key"] for sizes in variants.values() for fmt in sizes.values()]
    if row.original_key:  # the unfiltered master kept for re-rendering
        keys.append(row.original_key)
    assert await services.blobs.stat(keys[0]) is not None

    response = await client.delete(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])
    assert response.status_code == 200, response.text
    assert response.json()["text"] == "Gone soon"
    assert (await client.get(f"/api/v1/statuses/{post['id']}")).status_code == 404
    assert (await client.delete(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])).status_code == 404
    assert (await client.get(f"/api/v1/accounts/{alice['id']}")).json()["statuses_count"] == 0
    assert [e["status_id"] for e in await _events(services, "post.deleted")] == [post["id"]]

    # Within the grace period nothing is removed.
    assert await sweep_blob_deletions(services) == 0
    assert await services.blobs.stat(keys[0]) is not None
    later = utcnow() + timedelta(seconds=services.settings.media_deletion_grace + 1)
    assert await sweep_blob_deletions(services, now=later) == len(keys)
    for key in keys:
        assert await services.blobs.stat(key) is None
    async with services.db.connect() as conn:
        assert (await conn.execute(select(func.count()).select_from(blob_deletions))).scalar_one() == 0
        gone = (await conn.execute(select(media_attachments).where(media_attachments.c.id == media_id))).first()
    assert gone is None


async def test_redraft_within_grace_keeps_the_media(client: httpx.AsyncClient, services: Services) -> None:
    alice = await create_user(client)
    post = await create_post(client, alice["headers"], text="Typo")
    media_id = post["media_attachments"][0]["id"]
    await client.delete(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])
    redraft = await client.post(
        "/api/v1/statuses", headers=alice["headers"], json={"status": "Fixed", "media_ids": [media_id]}
    )
    assert redraft.status_code == 200, redraft.text
    later = utcnow() + timedelta(seconds=services.settings.media_deletion_grace + 1)
    assert await sweep_blob_deletions(services, now=later) == 0
    url = redraft.json()["media_attachments"][0]["url"]
    assert url is not None


async def test_unposted_uploads_expire(client: httpx.AsyncClient, services: Services) -> None:
    alice = await create_user(client)
    photo = await upload_photo(client, alice["headers"])
    posted = await create_post(client, alice["headers"])
    later = utcnow() + timedelta(seconds=services.settings.orphan_media_lifetime + 1)
    assert await sweep_orphan_media(services, now=later) == 1
    assert (await client.get(f"/api/v1/media/{photo['id']}", headers=alice["headers"])).status_code == 404
    assert (await client.get(f"/api/v1/statuses/{posted['id']}")).status_code == 200


async def test_pins_and_the_profile_grid(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    posts = [await create_post(client, alice["headers"], text=f"post {i} #grid{i % 2}") for i in range(5)]
    await client.post(
        "/api/v1/statuses", headers=alice["headers"], json={"status": "a comment", "in_reply_to_id": posts[0]["id"]}
    )
    pinned = await client.post(f"/api/v1/statuses/{posts[1]['id']}/pin", headers=alice["headers"])
    assert pinned.status_code == 200
    assert pinned.json()["pinned"] is True
    assert (await client.post(f"/api/v1/statuses/{posts[1]['id']}/pin", headers=bob["headers"])).status_code == 404

    grid = await client.get(f"/api/v1/accounts/{alice['id']}/statuses", params={"only_media": "true", "limit": 2})
    assert grid.status_code == 200
    assert [s["id"] for s in grid.json()] == [posts[4]["id"], posts[3]["id"]]
    assert 'rel="next"' in grid.headers["link"]
    next_url = grid.headers["link"].split(">;")[0].lstrip("<")
    page2 = await client.get(next_url.replace(str(client.base_url), ""))
    assert [s["id"] for s in page2.json()] == [posts[2]["id"], posts[1]["id"]]

    everything = (await client.get(f"/api/v1/accounts/{alice['id']}/statuses")).json()
    assert len(everything) == 6  # the comment too
    no_replies = (await client.get(f"/api/v1/accounts/{alice['id']}/statuses?exclude_replies=true")).json()
    assert len(no_replies) == 5
    only_pinned = (await client.get(f"/api/v1/accounts/{alice['id']}/statuses?pinned=true")).json()
    assert [s["id"] for s in only_pinned] == [posts[1]["id"]]
    tagged = (await client.get(f"/api/v1/accounts/{alice['id']}/statuses?tagged=GRID1")).json()
    assert [s["id"] for s in tagged] == [posts[3]["id"], posts[1]["id"]]
    newer = (await client.get(f"/api/v1/accounts/{alice['id']}/statuses?min_id={posts[2]['id']}&limit=1")).json()
    assert [s["id"] for s in newer] == [posts[3]["id"]]

    unpinned = await client.post(f"/api/v1/statuses/{posts[1]['id']}/unpin", headers=alice["headers"])
    assert unpinned.json()["pinned"] is False
    assert (await client.get(f"/api/v1/accounts/{alice['id']}/statuses?pinned=true")).json() == []


@pytest.mark.parametrize("viewer_kind", ["anonymous", "stranger", "follower", "blocked", "self", "mentioned"])
async def test_private_account_posts_are_for_followers(client: httpx.AsyncClient, viewer_kind: str) -> None:
    owner = await create_user(client)
    await client.patch("/api/v1/accounts/update_credentials", headers=owner["headers"], data={"locked": "true"})
    viewer = await create_user(client)
    post = await create_post(
        client,
        owner["headers"],
        text=f"for friends @{viewer['username']}" if viewer_kind == "mentioned" else "for friends",
    )
    headers: dict[str, str] = {}
    if viewer_kind != "anonymous":
        headers = owner["headers"] if viewer_kind == "self" else viewer["headers"]
    if viewer_kind == "follower":
        await client.post(f"/api/v1/accounts/{viewer['id']}/follow", headers=viewer["headers"])
        await client.post(f"/api/v1/accounts/{owner['id']}/follow", headers=viewer["headers"])
        await client.post(f"/api/v1/follow_requests/{viewer['id']}/authorize", headers=owner["headers"])
    if viewer_kind == "blocked":
        await client.post(f"/api/v1/accounts/{viewer['id']}/block", headers=owner["headers"])
    allowed = viewer_kind in ("follower", "self", "mentioned")
    single = await client.get(f"/api/v1/statuses/{post['id']}", headers=headers)
    assert single.status_code == (200 if allowed else 404), single.text
    grid = (await client.get(f"/api/v1/accounts/{owner['id']}/statuses", headers=headers)).json()
    expect_grid = viewer_kind in ("follower", "self")
    assert [s["id"] for s in grid] == ([post["id"]] if expect_grid else [])
    if allowed:
        url = single.json()["media_attachments"][0]["url"]
        assert "sig=" in url or "X-Amz-Signature" in url  # private media only through signed URLs


async def test_bad_ids_are_404_not_500(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    for path in ("/api/v1/statuses/abc", "/api/v1/statuses/99999999999999999999", "/api/v1/statuses/1"):
        assert (await client.get(path, headers=alice["headers"])).status_code == 404
    response = await client.post(
        "/api/v1/statuses", headers=alice["headers"], json={"status": "x", "in_reply_to_id": "12345"}
    )
    assert response.status_code == 404
    assert (await client.get("/api/v1/accounts/123/statuses")).status_code == 404


async def test_going_private_puts_existing_media_behind_signed_urls(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    bob = await create_user(client)
    post = await create_post(client, alice["headers"])
    assert "sig=" not in post["media_attachments"][0]["url"]
    await client.patch("/api/v1/accounts/update_credentials", headers=alice["headers"], data={"locked": "true"})
    assert (await client.get(f"/api/v1/statuses/{post['id']}", headers=bob["headers"])).status_code == 404
    own = (await client.get(f"/api/v1/statuses/{post['id']}", headers=alice["headers"])).json()
    url = own["media_attachments"][0]["url"]
    assert "sig=" in url or "X-Amz-Signature" in url
    await client.patch("/api/v1/accounts/update_credentials", headers=alice["headers"], data={"locked": "false"})
    public = (await client.get(f"/api/v1/statuses/{post['id']}", headers=bob["headers"])).json()
    assert "sig=" not in public["media_attachments"][0]["url"]


async def test_a_blocked_user_cannot_join_a_thread_through_another_comment(client: httpx.AsyncClient) -> None:
    owner, friend, blocked = [await create_user(client) for _ in range(3)]
    post = await create_post(client, owner["headers"])
    comment = await client.post(
        "/api/v1/statuses", headers=friend["headers"], json={"status": "first!", "in_reply_to_id": post["id"]}
    )
    await client.post(f"/api/v1/accounts/{blocked['id']}/block", headers=owner["headers"])
    reply = await client.post(
        "/api/v1/statuses",
        headers=blocked["headers"],
        json={"status": "sneaking in", "in_reply_to_id": comment.json()["id"]},
    )
    assert reply.status_code == 404
    allowed = await client.post(
        "/api/v1/statuses",
        headers=owner["headers"],
        json={"status": "thanks", "in_reply_to_id": comment.json()["id"]},
    )
    assert allowed.status_code == 200, allowed.text


async def test_comments_can_be_turned_off_after_posting(client: httpx.AsyncClient) -> None:
    owner, friend = await create_user(client), await create_user(client)
    post = await create_post(client, owner["headers"])
    response = await client.put(
        f"/api/v1/statuses/{post['id']}", headers=owner["headers"], json={"comments_disabled": True}
    )
    assert response.status_code == 200, response.text
    assert response.json()["lumigram"]["comments_disabled"] is True
    assert response.json()["edited_at"] is None  # a switch, not an edit
    refused = await client.post(
        "/api/v1/statuses", headers=friend["headers"], json={"status": "hi", "in_reply_to_id": post["id"]}
    )
    assert refused.status_code == 422


@pytest.mark.parametrize("kind", ["post", "comment", "direct"])
async def test_the_created_status_is_what_reading_it_shows(
    client: httpx.AsyncClient, services: Services, kind: str
) -> None:
    # The answer to a compose is built from what was written, not read back; it must be
    # exactly what a read shows: the tag's first spelling, the mentions, the media, the
    # author's new post count.
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    await create_post(client, bob["headers"], text="first #SunSet")
    parent = await create_post(client, bob["headers"], text="a parent")
    text = f"evening #sunset #Tide with @{bob['username']} and @{carol['username']} https://example.org/x"
    fields: dict[str, object] = {"status": text}
    if kind == "post":
        photo = await upload_photo(client, alice["headers"], description="The bay")
        fields["media_ids"] = [photo["id"]]
    elif kind == "comment":
        fields["in_reply_to_id"] = parent["id"]
    else:
        fields["visibility"] = "direct"
    created = await client.post("/api/v1/statuses", headers=alice["headers"], json=fields)
    assert created.status_code == 200, created.text
    shown = await client.get(f"/api/v1/statuses/{created.json()['id']}", headers=alice["headers"])
    assert shown.status_code == 200, shown.text
    assert created.json() == shown.json()
    assert {t["name"] for t in created.json()["tags"]} == {"SunSet", "Tide"}
    assert {m["username"] for m in created.json()["mentions"]} == {bob["username"], carol["username"]}
