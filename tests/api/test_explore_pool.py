"""The explore grid's shared candidate pool on both shapes: kept for every reader, yet
what stops qualifying leaves a reader's grid at once, and a new post enters it at once."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.search import explore_pool
from lumigram.services import Services
from tests.factories import create_post, create_user


async def _explored(client: httpx.AsyncClient, viewer: dict[str, Any]) -> set[str]:
    response = await client.get("/api/v1/explore", headers=viewer["headers"], params={"limit": 40})
    assert response.status_code == 200, response.text
    return {status["id"] for status in response.json()}


async def test_kept_pool_answers_at_once(client: httpx.AsyncClient, services: Services) -> None:
    viewer, busy, goes_private, blocked, muted, blocker, stays = [await create_user(client) for _ in range(7)]
    posts = {}
    for name, author, text in (
        ("deleted", busy, "a view"),
        ("liked", busy, "a view"),
        ("private", goes_private, "a view"),
        ("blocked", blocked, "a view"),
        ("muted", muted, "a view"),
        ("blocker", blocker, "a view"),
        ("stays", stays, "a view"),
        ("filtered", stays, "spoilers ahead"),
    ):
        posts[name] = (await create_post(client, author["headers"], text=text))["id"]
    assert await _explored(client, viewer) == set(posts.values())
    kept = await services.cache.get(explore_pool.KEY)
    assert kept is not None

    # Each of these takes a post out of the viewer's grid, while the pool stays as kept.
    deleting = await client.delete(f"/api/v1/statuses/{posts['deleted']}", headers=busy["headers"])
    assert deleting.status_code == 200, deleting.text
    locking = await client.patch(
        "/api/v1/accounts/update_credentials", headers=goes_private["headers"], data={"locked": "true"}
    )
    assert locking.status_code == 200, locking.text
    for path, headers in (
        (f"/api/v1/accounts/{blocked['id']}/block", viewer["headers"]),
        (f"/api/v1/accounts/{muted['id']}/mute", viewer["headers"]),
        (f"/api/v1/accounts/{viewer['id']}/block", blocker["headers"]),
        (f"/api/v1/statuses/{posts['liked']}/favourite", viewer["headers"]),
    ):
        assert (await client.post(path, headers=headers)).status_code == 200
    hidden_word = {
        "title": "No spoilers",
        "context": ["public"],
        "filter_action": "hide",
        "keywords_attributes": [{"keyword": "spoilers"}],
    }
    assert (await client.post("/api/v2/filters", headers=viewer["headers"], json=hidden_word)).status_code == 200
    # A post made after the pool was kept is explored at once.
    fresh = (await create_post(client, busy["headers"], text="just now"))["id"]

    assert await _explored(client, viewer) == {posts["stays"], fresh}
    assert await services.cache.get(explore_pool.KEY) == kept  # the same pool answered
    # A visitor has no blocks, mutes, likes or hidden words: only the authors' changes count.
    visitor = {"headers": {}}
    left = {posts[name] for name in ("liked", "blocked", "muted", "blocker", "stays", "filtered")}
    assert await _explored(client, visitor) == left | {fresh}

    # A pool read anew holds the new post itself, and no longer the deleted one.
    await explore_pool.forget(services)
    assert await _explored(client, visitor) == left | {fresh}
    renewed = {str(candidate.id) for candidate in (await explore_pool.pool(services)).candidates}
    assert fresh in renewed
    assert posts["deleted"] not in renewed
