"""Scheduled posts: checked when scheduled, listed, moved, cancelled, their uploads kept
from the sweep, and published by the worker at their time with the same media."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx

from lumigram.posts.cleanup import sweep_orphan_media
from lumigram.posts.scheduled import publish_due
from lumigram.posts.service import POST_RATE_WINDOW
from lumigram.services import Services
from tests.factories import create_user, upload_photo


def _at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat()


async def test_a_scheduled_post_waits_then_is_published_with_its_photos(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    photo = await upload_photo(client, alice["headers"])
    body = {"status": "tomorrow's sunrise #dawn", "media_ids": [photo["id"]], "scheduled_at": _at(timedelta(hours=1))}

    for bad, field in (
        ({**body, "scheduled_at": _at(timedelta(minutes=1))}, "scheduled_at"),
        ({**body, "scheduled_at": "next tuesday"}, "scheduled_at"),
        ({**body, "media_ids": []}, "media_ids"),  # a post needs a photo, later as now
        ({**body, "visibility": "everyone"}, "visibility"),
    ):
        refused = await client.post("/api/v1/statuses", json=bad, headers=alice["headers"])
        assert refused.status_code == 422, refused.text
        assert field in refused.json()["details"], refused.text

    response = await client.post("/api/v1/statuses", json=body, headers=alice["headers"])
    assert response.status_code == 200, response.text
    waiting = response.json()
    assert waiting["params"]["text"] == "tomorrow's sunrise #dawn"
    assert waiting["params"]["visibility"] == "public"
    assert [m["id"] for m in waiting["media_attachments"]] == [photo["id"]]
    path = f"/api/v1/scheduled_statuses/{waiting['id']}"
    # The same upload cannot wait in two posts.
    twice = await client.post("/api/v1/statuses", json=body, headers=alice["headers"])
    assert twice.status_code == 422

    assert [s["id"] for s in (await client.get("/api/v1/scheduled_statuses", headers=alice["headers"])).json()] == [
        waiting["id"]
    ]
    assert (await client.get(path, headers=bob["headers"])).status_code == 404
    assert (await client.get("/api/v1/scheduled_statuses", headers=bob["headers"])).json() == []
    later = datetime.now(UTC) + timedelta(hours=2)
    moved = await client.put(path, json={"scheduled_at": later.isoformat()}, headers=alice["headers"])
    assert moved.status_code == 200, moved.text
    assert (await client.get(path, headers=alice["headers"])).json()["scheduled_at"] == moved.json()["scheduled_at"]
    assert moved.json()["scheduled_at"].startswith(later.strftime("%Y-%m-%dT%H:%M"))

    # Not due yet: nothing is published; and its upload is not an abandoned one.
    assert await publish_due(services, datetime.now(UTC) + timedelta(hours=1)) == []
    assert await sweep_orphan_media(services, datetime.now(UTC) + timedelta(days=30)) == 0

    published = await publish_due(services, later + timedelta(seconds=1))
    assert len(published) == 1
    assert await publish_due(services, later + timedelta(seconds=2)) == []
    post = (await client.get(f"/api/v1/statuses/{published[0].post.id}", headers=bob["headers"])).json()
    assert post["content"].startswith("<p>tomorrow")
    assert [m["id"] for m in post["media_attachments"]] == [photo["id"]]
    assert (await client.get(path, headers=alice["headers"])).status_code == 404
    assert (await client.get("/api/v1/scheduled_statuses", headers=alice["headers"])).json() == []

    another = await upload_photo(client, alice["headers"])
    second = await client.post(
        "/api/v1/statuses", json={**body, "media_ids": [another["id"]]}, headers=alice["headers"]
    )
    second_path = f"/api/v1/scheduled_statuses/{second.json()['id']}"
    assert (await client.delete(second_path, headers=bob["headers"])).status_code == 404
    assert (await client.delete(second_path, headers=alice["headers"])).json() == {}
    assert (await client.delete(second_path, headers=alice["headers"])).status_code == 404
    assert await publish_due(services, datetime.now(UTC) + timedelta(days=1)) == []

    # A passing refusal at publication (the author's posting limit reached) keeps it waiting.
    third = await client.post("/api/v1/statuses", json={**body, "media_ids": [another["id"]]}, headers=alice["headers"])
    assert third.status_code == 200, third.text
    limit = services.settings.post_rate_limit
    for _ in range(limit):
        await services.cache.hit_rate_limit(f"ratelimit:post:{alice['id']}", limit, POST_RATE_WINDOW)
    assert await publish_due(services, datetime.now(UTC) + timedelta(days=1)) == []
    assert [s["id"] for s in (await client.get("/api/v1/scheduled_statuses", headers=alice["headers"])).json()] == [
        third.json()["id"]
    ]
