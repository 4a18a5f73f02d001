"""Trends on both shapes: a burst against a steady baseline, distinct and settled
accounts, public posts only, admin exclusions, and trending posts."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import insert, select, update

from lumigram.infra.tables import accounts, status_tags, statuses, tags, utcnow
from lumigram.search.service import hide_from_trends
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle


async def _backdate_accounts(services: Services, users: list[dict[str, Any]], days: int) -> None:
    async with services.db.begin() as conn:
        await conn.execute(
            update(accounts)
            .where(accounts.c.id.in_([int(u["id"]) for u in users]))
            .values(created_at=utcnow() - timedelta(days=days))
        )


async def _steady_history(services: Services, users: list[dict[str, Any]], tag: str, days: int) -> None:
    """The tag used by each of ``users`` once on each of the ``days`` days before the last 24 hours."""
    async with services.db.begin() as conn:
        tag_id = (await conn.execute(select(tags.c.id).where(tags.c.name_lower == tag))).scalar_one()
        for back in range(1, days + 1):
            for user in users:
                status_id = services.ids.next_id()
                await conn.execute(
                    insert(statuses).values(
                        id=status_id,
                        account_id=int(user["id"]),
                        text=f"#{tag}",
                        visibility="public",
                        kind="post",
                        created_at=utcnow() - timedelta(days=back, hours=12),
                    )
                )
                await conn.execute(insert(status_tags).values(status_id=status_id, tag_id=tag_id))


async def _names(client: httpx.AsyncClient, path: str = "/api/v1/trends/tags") -> list[str]:
    response = await client.get(path)
    assert response.status_code == 200, response.text
    return [tag["name"] for tag in response.json()]


async def test_trending_tags_and_posts(client: httpx.AsyncClient, services: Services) -> None:
    users = [await create_user(client) for _ in range(6)]
    settled, newcomers = users[:3], users[3:]
    await _backdate_accounts(services, settled, 60)
    posts = [
        await create_post(client, settled[0]["headers"], text="#steady #burst #solo"),
        *[await create_post(client, user["headers"], text="#steady #burst") for user in settled[1:]],
        *[await create_post(client, user["headers"], text="#fresh") for user in newcomers],
        *[await create_post(client, u["headers"], text="#hush", visibility="private") for u in newcomers[:2]],
    ]
    # #steady was used by the same three every day of the week before: no growth.
    await _steady_history(services, settled, "steady", 7)
    first, second, third = posts[3:6]
    for fan in settled[:2]:
        await client.post(f"/api/v1/statuses/{first['id']}/favourite", headers=fan["headers"])
        await client.post(f"/api/v1/statuses/{third['id']}/favourite", headers=fan["headers"])
    await client.post(f"/api/v1/statuses/{second['id']}/favourite", headers=settled[0]["headers"])
    await client.post(f"/api/v1/accounts/{settled[2]['id']}/block", headers=newcomers[0]["headers"])
    await settle(services)

    # The burst by settled accounts outranks the same burst by brand-new ones; the steady
    # tag, one account's tag and private posts' tag do not trend.
    assert await _names(client) == ["burst", "fresh"]
    trending = (await client.get("/api/v1/trends/tags", params={"limit": 1})).json()
    assert [t["name"] for t in trending] == ["burst"]
    assert (trending[0]["history"][0]["uses"], trending[0]["history"][0]["accounts"]) == ("3", "3")
    assert await _names(client, "/api/v1/trends") == ["burst", "fresh"]

    # Posts: liked by two others, not one; the admin can hide a post or a tag.
    assert await hide_from_trends(services, None, int(third["id"]))
    statuses_now = (await client.get("/api/v1/trends/statuses")).json()
    assert [s["id"] for s in statuses_now] == [first["id"]]
    blocked_view = await client.get("/api/v1/trends/statuses", headers=settled[2]["headers"])
    assert blocked_view.json() == []
    assert await hide_from_trends(services, "Burst", None)
    assert not await hide_from_trends(services, "burst", None)
    assert await _names(client) == ["fresh"]
    assert await hide_from_trends(services, "burst", None, hidden=False)
    assert await _names(client) == ["burst", "fresh"]
