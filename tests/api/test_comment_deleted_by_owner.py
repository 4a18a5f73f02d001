"""A post's owner who deletes someone's comment on it sees the post's comment count drop at
once on their own home page, kept rendered or not (``PostDeleted.deleted_by``)."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.pagecache import store as pages
from lumigram.services import Services
from tests.conftest import eventually
from tests.factories import create_post, create_user


async def _home(client: httpx.AsyncClient, user: dict[str, Any]) -> list[dict[str, Any]]:
    response = await client.get("/api/v1/timelines/home", headers=user["headers"])
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


async def test_the_owner_sees_a_comment_they_deleted_gone_at_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner, commenter = await create_user(client), await create_user(client)
    post = await create_post(client, owner["headers"])

    async def in_owners_home() -> bool:
        return [s["id"] for s in await _home(client, owner)] == [post["id"]]

    await eventually(in_owners_home)
    reply = await client.post(
        "/api/v1/statuses", headers=commenter["headers"], json={"status": "Lovely", "in_reply_to_id": post["id"]}
    )
    assert reply.status_code == 200, reply.text
    # A comment changes only a number on the post, which kept pages catch up with on a
    # timer; start from a page rendered after it, kept as the owner reads it.
    await pages.forget(services, [int(owner["id"])])
    assert [s["replies_count"] for s in await _home(client, owner)] == [1]
    assert [s["replies_count"] for s in await _home(client, owner)] == [1]

    deleted = await client.delete(f"/api/v1/statuses/{reply.json()['id']}", headers=owner["headers"])
    assert deleted.status_code == 200, deleted.text
    assert [s["replies_count"] for s in await _home(client, owner)] == [0]
