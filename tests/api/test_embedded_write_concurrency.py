"""Many clients writing at once on the embedded shape: SQLite has one writer, and every
write must wait its turn rather than fail with ``database is locked`` (a 503).

32 concurrent clients sign up, follow each other, post photos, like and comment; not
one answer may be a 5xx, and every write the API accepted must be in the database.
"""

from __future__ import annotations

import asyncio
import random
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lumigram.infra.tables import favourites, follows, statuses
from lumigram.services import Services
from tests.factories import bearer, photo_bytes, unique_username

CLIENTS = 32
FOLLOWS_EACH = 6
LIKES_EACH = 8
COMMENTS_EACH = 4


@pytest.fixture
def shape() -> str:
    return "embedded"  # the defect is SQLite's single writer; PostgreSQL has row locks


class Recorder:
    """The API client of every task: remembers each answer's status, so the test can say
    which requests failed and how."""

    def __init__(self, client: httpx.AsyncClient) -> None:
        self.client = client
        self.failures: list[str] = []

    async def call(self, method: str, url: str, **kwargs: Any) -> httpx.Response | None:
        response = await self.client.request(method, url, **kwargs)
        if response.status_code >= 500:
            self.failures.append(f"{method} {url}: {response.status_code} {response.text[:200]}")
            return None
        assert response.status_code == 200, f"{method} {url}: {response.status_code} {response.text}"
        return response


async def sign_up(api: Recorder) -> dict[str, Any] | None:
    app = await api.call(
        "POST",
        "/api/v1/apps",
        data={"client_name": "app", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write follow"},
    )
    if app is None:
        return None
    grant = await api.call(
        "POST",
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app.json()["client_id"],
            "client_secret": app.json()["client_secret"],
            "scope": "read write follow",
        },
    )
    if grant is None:
        return None
    username = unique_username("w")
    created = await api.call(
        "POST",
        "/api/v1/accounts",
        headers=bearer(grant.json()["access_token"]),
        data={
            "username": username,
            "email": f"{username}@example.org",
            "password": "correct horse battery staple",
            "agreement": "true",
            "locale": "en",
        },
    )
    if created is None:
        return None
    headers = bearer(created.json()["access_token"])
    me = await api.call("GET", "/api/v1/accounts/verify_credentials", headers=headers)
    return None if me is None else {"id": int(me.json()["id"]), "headers": headers}


async def post_photo(api: Recorder, user: dict[str, Any], text: str, reply_to: int | None = None) -> int | None:
    media_ids = []
    if reply_to is None:
        media = await api.call(
            "POST", "/api/v2/media", headers=user["headers"], files={"file": ("photo.jpg", photo_bytes(), "image/jpeg")}
        )
        if media is None:
            return None
        media_ids.append(media.json()["id"])
    body: dict[str, Any] = {"status": text, "media_ids": media_ids}
    if reply_to is not None:
        body["in_reply_to_id"] = str(reply_to)
    posted = await api.call("POST", "/api/v1/statuses", headers=user["headers"], json=body)
    return None if posted is None else int(posted.json()["id"])


async def test_concurrent_writers_all_succeed_and_persist(client: httpx.AsyncClient, services: Services) -> None:
    api = Recorder(client)
    signed = await asyncio.gather(*(sign_up(api) for _ in range(CLIENTS)))
    users = [user for user in signed if user is not None]
    rng = random.Random(8)

    accepted_follows: set[tuple[int, int]] = set()
    accepted_posts: set[int] = set()

    async def follow_and_post(user: dict[str, Any]) -> None:
        for target in rng.sample([u for u in users if u is not user], FOLLOWS_EACH):
            if await api.call("POST", f"/api/v1/accounts/{target['id']}/follow", headers=user["headers"]):
                accepted_follows.add((user["id"], target["id"]))
        post_id = await post_photo(api, user, f"a photo from {user['id']}")
        if post_id is not None:
            accepted_posts.add(post_id)

    await asyncio.gather(*(follow_and_post(user) for user in users))
    posts = sorted(accepted_posts)
    accepted_likes: set[tuple[int, int]] = set()
    accepted_comments: set[int] = set()

    async def like_and_comment(user: dict[str, Any]) -> None:
        for post_id in rng.sample(posts, LIKES_EACH):
            if await api.call("POST", f"/api/v1/statuses/{post_id}/favourite", headers=user["headers"]):
                accepted_likes.add((user["id"], post_id))
        for post_id in rng.sample(posts, COMMENTS_EACH):
            comment_id = await post_photo(api, user, "lovely", reply_to=post_id)
            if comment_id is not None:
                accepted_comments.add(comment_id)

    await asyncio.gather(*(like_and_comment(user) for user in users))

    assert api.failures == []
    assert len(users) == CLIENTS
    async with services.db.connect() as conn:
        stored_follows = {
            tuple(row) for row in await conn.execute(select(follows.c.account_id, follows.c.target_account_id))
        }
        stored_statuses = set((await conn.execute(select(statuses.c.id))).scalars())
        stored_likes = {
            tuple(row) for row in await conn.execute(select(favourites.c.account_id, favourites.c.status_id))
        }
    assert accepted_follows <= stored_follows
    assert accepted_posts | accepted_comments <= stored_statuses
    assert accepted_likes <= stored_likes
    assert len(accepted_follows) == CLIENTS * FOLLOWS_EACH
    assert len(accepted_likes) == CLIENTS * LIKES_EACH
    assert len(accepted_comments) == CLIENTS * COMMENTS_EACH
