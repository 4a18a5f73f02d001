"""A post's cached media, hashtags and mentions (``lumigram.posts.parts``): never stale, and
a page read again costs only the queries of what may change without an edit."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.posts import parts
from lumigram.posts.hydrate import hydrate_in
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.statements import statements_on

User = dict[str, Any]


async def _hydrate_counting(services: Services, viewer_id: int, ids: list[int]) -> tuple[list[Any], list[str]]:
    """Hydrate ``ids`` on a connection of its own, with the SQL statements run on it (the
    engine's other users, such as the in-process consumers, are not counted)."""
    async with services.db.connect() as conn, statements_on(conn) as seen:
        items = await hydrate_in(conn, viewer_id, ids, cache=services.cache)
    return items, seen.all


async def _status(client: httpx.AsyncClient, user: User, status_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/v1/statuses/{status_id}", headers=user["headers"])
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def test_a_page_read_again_reads_only_what_may_change_without_an_edit(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    ids = [
        int((await create_post(client, alice["headers"], text=f"#tag{i} hi @{bob['username']}"))["id"])
        for i in range(3)
    ]
    await services.cache.delete(*(parts.key(i) for i in ids))
    first, cold = await _hydrate_counting(services, int(bob["id"]), ids)
    again, warm = await _hydrate_counting(services, int(bob["id"]), ids)
    assert again == first
    assert [item.tags for item in again] == [[f"tag{i}"] for i in range(3)]
    assert all(item.mentions and item.media for item in again)
    # Rows, authors, and the viewer's relations to them with their marks in one; then the
    # two queries for media, and hashtags with mentions, only when they were not cached.
    assert len(warm) == 3, warm
    assert len(cold) == 5, cold


async def test_an_edit_shows_at_once_after_its_parts_were_cached(client: httpx.AsyncClient) -> None:
    alice, bob, carol = await create_user(client), await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"], text=f"#before with @{bob['username']}")
    assert [t["name"] for t in (await _status(client, bob, post["id"]))["tags"]] == ["before"]
    edited = await client.put(
        f"/api/v1/statuses/{post['id']}",
        headers=alice["headers"],
        json={
            "status": f"#after with @{carol['username']}",
            "media_ids": [post["media_attachments"][0]["id"]],
            "media_attributes": [{"id": post["media_attachments"][0]["id"], "description": "a red square"}],
        },
    )
    assert edited.status_code == 200, edited.text
    seen = await _status(client, bob, post["id"])
    assert [t["name"] for t in seen["tags"]] == ["after"]
    assert [m["username"] for m in seen["mentions"]] == [carol["username"]]
    assert seen["media_attachments"][0]["description"] == "a red square"


async def test_alt_text_changed_on_a_posted_photo_shows_at_once(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    post = await create_post(client, alice["headers"])
    media_id = post["media_attachments"][0]["id"]
    assert (await _status(client, alice, post["id"]))["media_attachments"][0]["description"] is None
    changed = await client.put(f"/api/v1/media/{media_id}", headers=alice["headers"], data={"description": "dunes"})
    assert changed.status_code == 200, changed.text
    assert (await _status(client, alice, post["id"]))["media_attachments"][0]["description"] == "dunes"


async def test_media_privacy_follows_the_lock_whatever_was_cached(client: httpx.AsyncClient) -> None:
    alice, bob = await create_user(client), await create_user(client)
    post = await create_post(client, alice["headers"])
    await client.patch("/api/v1/accounts/update_credentials", headers=alice["headers"], data={"locked": "true"})
    # Read (and cached) while private: the photo is behind a signed URL...
    url = (await _status(client, alice, post["id"]))["media_attachments"][0]["url"]
    assert "sig=" in url or "X-Amz-Signature" in url
    await client.patch("/api/v1/accounts/update_credentials", headers=alice["headers"], data={"locked": "false"})
    # ...and public again at once, though the cached parts were read while it was private.
    url = (await _status(client, bob, post["id"]))["media_attachments"][0]["url"]
    assert "sig=" not in url
    assert "X-Amz-Signature" not in url


async def test_unreadable_or_lost_parts_fall_back_to_the_database(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice = await create_user(client)
    post = await create_post(client, alice["headers"], text="#kept")
    await services.cache.set(parts.key(int(post["id"])), b"not json", ttl=60)
    assert [t["name"] for t in (await _status(client, alice, post["id"]))["tags"]] == ["kept"]
    await services.cache.flush()
    assert [t["name"] for t in (await _status(client, alice, post["id"]))["tags"]] == ["kept"]
