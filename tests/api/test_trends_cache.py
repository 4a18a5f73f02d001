"""Trends are computed once and kept: a burst of reads, of any page, runs the ranking's
queries once; hiding something forgets the kept rankings, on both shapes."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import httpx
from sqlalchemy import event

from lumigram import ahead
from lumigram.search import explore_pool
from lumigram.search.service import hide_from_trends, warm_shared
from lumigram.search.trend_cache import POSTS_KEY, TAGS_KEY, TTL_SECONDS
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle


@contextmanager
def ranking_queries(services: Services) -> Iterator[list[str]]:
    """The statements sent to the database that compute a trend ranking: only those read
    posts less ``trend_exclusions`` (one for the hashtags, two for the posts: likes and
    comments); hiding reads and writes ``trend_exclusions`` alone."""
    seen: list[str] = []

    def record(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if "trend_exclusions" in statement and "statuses" in statement:
            seen.append(statement)

    engine = services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


async def test_a_burst_of_trend_reads_computes_once(client: httpx.AsyncClient, services: Services) -> None:
    users = [await create_user(client) for _ in range(3)]
    post = await create_post(client, users[0]["headers"], text="#burst #other")
    for user in users[1:]:
        await create_post(client, user["headers"], text="#burst")
        await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=user["headers"])
    await settle(services)

    with ranking_queries(services) as seen:
        reads = [
            client.get("/api/v1/trends/tags"),
            client.get("/api/v1/trends/tags", params={"limit": 1}),
            client.get("/api/v1/trends/tags", params={"offset": 1}),
            client.get("/api/v1/trends", headers=users[1]["headers"]),
            *[client.get("/api/v1/trends/statuses") for _ in range(4)],
        ]
        answers = await asyncio.gather(*reads)
        assert [a.status_code for a in answers] == [200] * len(reads)
        assert [t["name"] for t in answers[0].json()] == ["burst"]
        assert [t["name"] for t in answers[1].json()] == ["burst"]
        assert answers[2].json() == []
        assert [s["id"] for s in answers[4].json()] == [post["id"]]
        assert len(seen) == 3, seen  # one ranking of hashtags, one of posts (two statements)

        # Later reads are answered from the kept rankings, even with new uses since.
        await create_post(client, users[1]["headers"], text="#other")
        await settle(services)
        again = await client.get("/api/v1/trends/tags", params={"limit": 5})
        assert [t["name"] for t in again.json()] == ["burst"]
        assert (await client.get("/api/v1/trends/statuses")).status_code == 200
        assert len(seen) == 3, seen

        # Hiding a hashtag forgets the kept rankings: the next read ranks again.
        assert await hide_from_trends(services, "burst", None)
        after = await client.get("/api/v1/trends/tags", params={"limit": 5})
        assert [t["name"] for t in after.json()] == ["other"]
        assert len(seen) == 4, seen


async def test_a_starting_server_computes_the_shared_values_before_its_readers(
    client: httpx.AsyncClient, services: Services
) -> None:
    for _ in range(3):  # a hashtag trends when several accounts use it
        await create_post(client, (await create_user(client))["headers"], text="#dawn")
    await settle(services)
    await services.cache.delete(TAGS_KEY, POSTS_KEY, explore_pool.KEY)

    await warm_shared(services)
    assert None not in await services.cache.get_many([TAGS_KEY, POSTS_KEY, explore_pool.KEY])
    with ranking_queries(services) as seen:
        tags = await client.get("/api/v1/trends/tags")
        assert [t["name"] for t in tags.json()] == ["dawn"]
        assert (await client.get("/api/v1/trends/statuses")).status_code == 200
    assert seen == []  # answered from what the start computed

    # A server starting where they are kept (another process's) computes nothing.
    with ranking_queries(services) as seen:
        await warm_shared(services)
    assert seen == []


async def test_a_due_ranking_answers_while_renewed(client: httpx.AsyncClient, services: Services) -> None:
    users = [await create_user(client) for _ in range(3)]
    for user in users:
        await create_post(client, user["headers"], text="#tide")
    await settle(services)
    assert [t["name"] for t in (await client.get("/api/v1/trends/tags")).json()] == ["tide"]
    kept = await services.cache.get(TAGS_KEY)
    assert kept is not None
    for user in users:
        await create_post(client, user["headers"], text="#ebb #ebb2")
    await settle(services)

    started, clock = services.now(), services.clock
    services.clock = lambda: started + timedelta(seconds=TTL_SECONDS + 1)
    try:
        with ranking_queries(services) as seen:
            # Due: this read has the kept ranking, and starts its renewal.
            due = await client.get("/api/v1/trends/tags", params={"limit": 5})
            assert [t["name"] for t in due.json()] == ["tide"]
            await ahead.renewed(services, TAGS_KEY)
            assert len(seen) == 1, seen
        renewed_tags = await services.cache.get(TAGS_KEY)
        assert renewed_tags is not None
        assert renewed_tags != kept
        assert ahead.stamp(renewed_tags)[0] == round(services.now().timestamp(), 3)
        after = await client.get("/api/v1/trends/tags", params={"limit": 5})
        assert {"ebb", "ebb2"} <= {t["name"] for t in after.json()}
    finally:
        services.clock = clock


async def test_a_due_ranking_is_renewed_by_one_process_of_several(
    client: httpx.AsyncClient, services: Services
) -> None:
    """While another serving process holds the renewal's claim, a due read here answers
    with the kept ranking and computes nothing (two would each take a core for it)."""
    users = [await create_user(client) for _ in range(2)]
    for user in users:
        await create_post(client, user["headers"], text="#swell")
    await settle(services)
    assert [t["name"] for t in (await client.get("/api/v1/trends/tags")).json()] == ["swell"]
    await services.cache.incr(f"{TAGS_KEY}:renewing", 1, ahead.CLAIM_SECONDS)  # the other process's

    started, clock = services.now(), services.clock
    services.clock = lambda: started + timedelta(seconds=TTL_SECONDS + 1)
    try:
        with ranking_queries(services) as seen:
            due = await client.get("/api/v1/trends/tags")
            assert [t["name"] for t in due.json()] == ["swell"]
            await ahead.renewed(services, TAGS_KEY)
            assert seen == []
    finally:
        services.clock = clock
        await services.cache.delete(f"{TAGS_KEY}:renewing")
