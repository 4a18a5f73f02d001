"""Like counts after the cache is lost while the worker is behind.

No consumer runs on its own here: the test folds the like events in itself (the
``interactions.counters`` consumer, called inline), after flushing the cache between
the likes and the fold-in. Once folded, the API must show what the database holds.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import orjson
import pytest
from sqlalchemy import func, select

from lumigram.app import create_app as create_asgi_app
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.consumers import consumers
from lumigram.infra.bus import Event
from lumigram.infra.tables import favourites, outbox, processed_events
from lumigram.interactions.handlers import COUNTERS
from lumigram.posts import counters
from lumigram.services import Services
from tests.factories import create_post, create_user

User = dict[str, Any]


@pytest.fixture
async def setup(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A server whose events wait in the outbox until the test folds them in."""
    services = build_services(make_settings())
    await services.db.migrate()
    await services.cache.flush()
    transport = httpx.ASGITransport(app=create_asgi_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http, services
    await services.close()


async def fold_in(services: Services) -> None:
    """Run the like counter's consumer over every like event it has not handled yet."""
    (handler,) = [c.handler for c in consumers(services) if c.name == COUNTERS]
    async with services.db.connect() as conn:
        handled = select(processed_events.c.event_id).where(processed_events.c.consumer == COUNTERS)
        query = (
            select(outbox)
            .where(outbox.c.type.in_(["favourite.created", "favourite.removed"]), outbox.c.id.not_in(handled))
            .order_by(outbox.c.id)
        )
        rows = (await conn.execute(query)).all()
    for row in rows:
        await handler(Event(id=row.id, type=row.type, payload=orjson.loads(row.payload)))


async def likes_in_database(services: Services, status_id: str) -> int:
    async with services.db.connect() as conn:
        query = select(func.count()).select_from(favourites).where(favourites.c.status_id == int(status_id))
        return int((await conn.execute(query)).scalar_one())


async def shown(client: httpx.AsyncClient, status_id: str) -> int:
    response = await client.get(f"/api/v1/statuses/{status_id}")
    assert response.status_code == 200, response.text
    return int(response.json()["favourites_count"])


async def like(client: httpx.AsyncClient, user: User, status_id: str, verb: str = "favourite") -> None:
    response = await client.post(f"/api/v1/statuses/{status_id}/{verb}", headers=user["headers"])
    assert response.status_code == 200, response.text


async def liked_post(client: httpx.AsyncClient, likes: int) -> tuple[dict[str, Any], list[User]]:
    """A fresh user's post, liked by ``likes`` other fresh users; the post and the likers."""
    author = await create_user(client)
    post = await create_post(client, author["headers"])
    likers = [await create_user(client) for _ in range(likes)]
    for liker in likers:
        await like(client, liker, post["id"])
    return post, likers


async def pending(services: Services, status_id: str) -> int | None:
    raw = await services.cache.get(counters.favourites_key(int(status_id)))
    return counters.parse_pending([0], [raw]).get(0) if raw is not None else None


async def test_a_flush_before_the_fold_in_loses_no_like(setup: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = setup
    post, _likers = await liked_post(client, 4)
    assert await shown(client, post["id"]) == 4  # pending in the cache, not yet in the column

    await services.cache.flush()
    await fold_in(services)

    assert await likes_in_database(services, post["id"]) == 4
    assert await shown(client, post["id"]) == 4
    assert await pending(services, post["id"]) is None  # no correction landed on the lost key


async def test_changes_after_the_flush_count_once_and_old_ones_do_not_reach_them(
    setup: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = setup
    post, early = await liked_post(client, 3)

    await services.cache.flush()
    late = await create_user(client)
    await like(client, late, post["id"])  # a new pending counter
    await like(client, early[0], post["id"], "unfavourite")
    assert await shown(client, post["id"]) == 0  # the column has not caught up; never below it

    await fold_in(services)
    assert await likes_in_database(services, post["id"]) == 3
    assert await shown(client, post["id"]) == 3
    assert await pending(services, post["id"]) == 0

    # Folding in again (a redelivery) changes nothing.
    await fold_in(services)
    assert await shown(client, post["id"]) == 3


async def test_a_counter_that_expired_is_not_driven_below_zero(setup: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = setup
    post, _likers = await liked_post(client, 2)
    # As if the pending counter's TTL ran out while the worker was behind.
    await services.cache.delete(counters.favourites_key(int(post["id"])))
    await fold_in(services)
    assert await shown(client, post["id"]) == 2
    newcomer = await create_user(client)
    await like(client, newcomer, post["id"])
    assert await shown(client, post["id"]) == 3  # the liker sees their like at once
    await fold_in(services)
    assert await shown(client, post["id"]) == await likes_in_database(services, post["id"]) == 3
