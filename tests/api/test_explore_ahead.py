"""The explore grid's kept pool and each viewer's kept affinity, renewed ahead on both
shapes: once due, a request is answered from the kept ones while they are computed anew
in the background (one renewal at a time, across processes too), and the next request
has the new ones."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx

from lumigram import ahead
from lumigram.search import explore, explore_pool
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle


async def _scores(client: httpx.AsyncClient, viewer: dict[str, Any]) -> dict[str, dict[str, float]]:
    response = await client.get("/api/v1/explore", headers=viewer["headers"], params={"explain": "true"})
    assert response.status_code == 200, response.text
    return {status["id"]: status["lumigram"]["score"] for status in response.json()}


async def test_due_pool_and_affinity_answer_while_renewed(client: httpx.AsyncClient, services: Services) -> None:
    viewer, fan, tagger = [await create_user(client) for _ in range(3)]
    tagged = (await create_post(client, tagger["headers"], text="#dunes at dusk"))["id"]
    the_viewers_like = (await create_post(client, fan["headers"], text="more #dunes"))["id"]
    await settle(services)
    first = await _scores(client, viewer)  # the pool and the viewer's affinity, computed
    assert set(first) == {tagged, the_viewers_like}
    assert first[tagged]["hashtags"] == 0

    # The viewer likes a #dunes post: its affinity would now favour #dunes, once renewed.
    like = await client.post(f"/api/v1/statuses/{the_viewers_like}/favourite", headers=viewer["headers"])
    assert like.status_code == 200, like.text
    await settle(services)
    pool_key, affinity_key = explore_pool.KEY, explore._affinity_key(int(viewer["id"]))
    kept_pool, kept_affinity = await services.cache.get(pool_key), await services.cache.get(affinity_key)
    # The affinity outlives the pool unread: a viewer back within the half hour is ranked
    # by it at once while it is worked out anew.
    assert (await services.cache.ttl(pool_key) or 0) <= explore_pool.TTL_SECONDS * ahead.KEEP_FACTOR
    assert (await services.cache.ttl(affinity_key) or 0) >= explore.AFFINITY_KEEP_SECONDS - 60
    assert (await _scores(client, viewer))[tagged]["hashtags"] == 0  # kept, not yet due

    started, clock = services.now(), services.clock
    services.clock = lambda: started + timedelta(seconds=explore_pool.TTL_SECONDS + 1)
    try:
        # Another process is renewing the pool: this one answers from the kept pool and
        # leaves it to them. The affinity it renews itself, after answering from the kept one.
        claim = f"{pool_key}:renewing"
        assert await services.cache.incr(claim, 1, ahead.CLAIM_SECONDS) == 1
        due = await _scores(client, viewer)
        assert set(due) == {tagged}
        assert due[tagged]["hashtags"] == 0
        await ahead.renewed(services, pool_key)
        await ahead.renewed(services, affinity_key)
        assert await services.cache.get(pool_key) == kept_pool
        renewed_affinity = await services.cache.get(affinity_key)
        assert renewed_affinity is not None
        assert renewed_affinity != kept_affinity
        assert ahead.stamp(renewed_affinity)[0] == round(services.now().timestamp(), 3)
        assert (await _scores(client, viewer))[tagged]["hashtags"] > 0

        # Their renewal ended without storing one: the next request starts one here.
        await services.cache.delete(claim)
        await _scores(client, viewer)
        await ahead.renewed(services, pool_key)
        renewed_pool = await services.cache.get(pool_key)
        assert renewed_pool is not None
        assert ahead.stamp(renewed_pool)[0] == round(services.now().timestamp(), 3)
        assert await services.cache.get(claim) is None  # released
    finally:
        services.clock = clock
    assert set(await _scores(client, viewer)) == {tagged}
