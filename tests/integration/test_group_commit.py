"""Consumers that take several events at once: one transaction for the batch, the same
effects as one at a time, and a failing event that loses none of its neighbours.

The services here run without consumers and without a relay, so the events the API's
writes emit wait in the outbox until a test hands them on itself.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import event as sa_event
from sqlalchemy import func, select, update

from lumigram import consumers as table
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings
from lumigram.events import FavouriteCreated, decode_as, to_payload
from lumigram.infra.bus import Consumer, Event
from lumigram.infra.outbox import emit
from lumigram.infra.tables import notifications, outbox, processed_events, statuses
from lumigram.interactions.handlers import COUNTERS
from lumigram.services import Services
from tests.factories import create_post, create_user

LIKERS = 5
#: An account id no account has: a like event naming it as the post's owner cannot be
#: notified (the notification's recipient must exist), a real failure inside the batch.
NOBODY = 1


@pytest.fixture
async def services(
    settings: Settings, request: pytest.FixtureRequest, cheap_password_hashing: None
) -> AsyncIterator[Services]:
    """Migrated services with neither consumers nor relay: every event stays in the outbox."""
    from tests.fresh_state import copy_sqlite_template, sqlite_path

    built = build_services(settings)
    if sqlite_path(settings) is not None and copy_sqlite_template(request.getfixturevalue("sqlite_template"), settings):
        await built.db.ping()
    else:
        await built.db.migrate()
    await built.cache.flush()
    try:
        yield built
    finally:
        await built.close()


async def _like_events(services: Services) -> list[Event]:
    """The ``favourite.created`` events in the outbox, in the relay's order."""
    query = select(outbox).where(outbox.c.type == FavouriteCreated.type).order_by(outbox.c.id)
    async with services.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [Event(id=row.id, type=row.type, payload=orjson.loads(row.payload)) for row in rows]


async def _count_commits(services: Services) -> list[None]:
    """A list that grows by one at each commit of the database's write transactions."""
    async with services.db.begin() as conn:
        engine = conn.sync_connection.engine if conn.sync_connection is not None else None
    assert engine is not None
    commits: list[None] = []
    sa_event.listen(engine, "commit", lambda _conn: commits.append(None))
    return commits


async def _effects(services: Services, status_id: int) -> tuple[int, set[tuple[int, str]], int]:
    """The post's like column; its notifications (from whom, of what type); the markers
    of the events about it that the two consumers recorded."""
    async with services.db.connect() as conn:
        count = (await conn.execute(select(statuses.c.favourites_count).where(statuses.c.id == status_id))).scalar()
        notified = {
            (row.from_account_id, row.type)
            for row in await conn.execute(
                select(notifications.c.from_account_id, notifications.c.type).where(
                    notifications.c.status_id == status_id
                )
            )
        }
        markers = len((await conn.execute(select(processed_events.c.event_id))).all())
    return int(count or 0), notified, markers


def _table_consumers(services: Services) -> dict[str, Consumer]:
    wanted = ("notifications.favourites", COUNTERS)
    return {c.name: c for c in table.consumers(services) if c.name in wanted}


async def _liked_twice(client: httpx.AsyncClient) -> tuple[dict[str, Any], list[int], list[dict[str, Any]]]:
    """An owner's two posts, each liked by ``LIKERS`` accounts."""
    owner = await create_user(client)
    posts = [int((await create_post(client, owner["headers"], text=f"Post {n}"))["id"]) for n in (1, 2)]
    likers = [await create_user(client) for _ in range(LIKERS)]
    for liker in likers:
        for post in posts:
            response = await client.post(f"/api/v1/statuses/{post}/favourite", headers=liker["headers"])
            assert response.status_code == 200, response.text
    return owner, posts, likers


async def test_a_batch_commits_once_per_consumer_with_the_effects_of_one_at_a_time(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    # However slow the machine, the batch stays one transaction: this test is about counting.
    monkeypatch.setattr(table, "GROUP_BUDGET_SECONDS", 60.0)
    owner, (first, second), likers = await _liked_twice(client)
    events = await _like_events(services)
    about = {post: [e for e in events if int(e.payload["status_id"]) == post] for post in (first, second)}
    assert [len(about[first]), len(about[second])] == [LIKERS, LIKERS]
    # One more like event of the second post, in the middle of its batch, that cannot be
    # notified: its owner is no account.
    sample = decode_as(about[second][0], FavouriteCreated)
    broken = FavouriteCreated(status_id=second, account_id=sample.account_id, status_account_id=NOBODY)
    async with services.db.begin() as conn:
        bad = await emit(conn, services.ids, FavouriteCreated.type, to_payload(broken))
    wanted = _table_consumers(services)
    commits = await _count_commits(services)

    # The first post's likes one at a time, as a consumer used to get them.
    for consumer in wanted.values():
        for one in about[first]:
            await consumer.handler(one)
    one_at_a_time = len(commits)

    # Three of the second post's, in one batch each.
    commits.clear()
    failed = {name: await consumer.handle_many(about[second][:3]) for name, consumer in wanted.items()}
    assert failed == {"notifications.favourites": set(), COUNTERS: set()}
    if services.db.nests_writes:
        assert one_at_a_time == 2 * LIKERS
        assert len(commits) == 2  # one per consumer, for three events each

    # The other two, with the broken one between them: only it fails, and only where it
    # could not be handled; its neighbours are not lost.
    batch = [about[second][3], bad, about[second][4]]
    failed = {name: await consumer.handle_many(batch) for name, consumer in wanted.items()}
    assert failed == {"notifications.favourites": {bad.id}, COUNTERS: set()}
    count_1, notified_1, _ = await _effects(services, first)
    count_2, notified_2, markers = await _effects(services, second)
    expected = {(int(liker["id"]), "favourite") for liker in likers}
    assert (count_1, notified_1) == (LIKERS, expected)
    assert (count_2, notified_2) == (LIKERS, expected)
    # Every event recorded as handled by each consumer but the broken one's notification,
    # which left nothing behind: it is delivered again, not lost.
    assert markers == 2 * (2 * LIKERS + 1) - 1

    # Redelivered, the whole lot changes nothing and fails the same one again.
    everything = [*about[second], bad]
    again = {name: await consumer.handle_many(everything) for name, consumer in wanted.items()}
    assert again == failed
    assert await _effects(services, second) == (count_2, notified_2, markers)
    response = await client.get(f"/api/v1/statuses/{second}", headers=owner["headers"])
    assert response.json()["favourites_count"] == LIKERS


@pytest.mark.parametrize("shape", ["embedded"], indirect=True)
async def test_the_relay_hands_the_in_process_consumers_a_batch_and_keeps_a_failed_event(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(table, "GROUP_BUDGET_SECONDS", 60.0)
    owner, (first, second), likers = await _liked_twice(client)
    events = await _like_events(services)
    async with services.db.begin() as conn:
        # Only the likes are left to relay: the sign-ups' and posts' events are not the point.
        await conn.execute(update(outbox).where(outbox.c.type != FavouriteCreated.type).values(published_at=func.now()))
    await start_consumers(services)
    commits = await _count_commits(services)

    assert await services.relay.relay_pending() == len(events)

    # Notifications and counters each wrote the ten likes in one transaction, not one
    # each; with the relay's stamp, three commits.
    assert len(commits) <= 4, len(commits)
    expected = {(int(liker["id"]), "favourite") for liker in likers}
    for post in (first, second):
        assert (await _effects(services, post))[:2] == (LIKERS, expected)

    # A like event that cannot be notified, then two more likes after it.
    sample = decode_as(events[0], FavouriteCreated)
    broken = FavouriteCreated(status_id=first, account_id=sample.account_id, status_account_id=NOBODY)
    async with services.db.begin() as conn:
        bad = await emit(conn, services.ids, FavouriteCreated.type, to_payload(broken))
    late = [await create_user(client) for _ in range(2)]
    for liker in late:
        response = await client.post(f"/api/v1/statuses/{first}/favourite", headers=liker["headers"])
        assert response.status_code == 200, response.text
    after = [e.id for e in await _like_events(services) if e.id > bad.id]
    assert len(after) == 2

    assert await services.relay.relay_pending() == 0

    # The relay stopped at the broken event, which waits in the outbox for the next pass
    # with those after it; but those were handled all the same, and are not handled twice.
    async with services.db.connect() as conn:
        query = select(outbox.c.id).where(outbox.c.published_at.is_(None), outbox.c.type == FavouriteCreated.type)
        left = list((await conn.execute(query)).scalars())
    assert sorted(left) == sorted([bad.id, *after])
    late_ones = {(int(liker["id"]), "favourite") for liker in late}
    assert (await _effects(services, first))[:2] == (LIKERS + 2, expected | late_ones)
    assert await services.relay.relay_pending() == 0
    assert (await _effects(services, first))[:2] == (LIKERS + 2, expected | late_ones)
    response = await client.get("/api/v1/notifications", headers=owner["headers"])
    assert len(response.json()) == 2 * LIKERS + 2
