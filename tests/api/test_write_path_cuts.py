"""What a photo upload, a new post's fan-out and a comment send, and that they still do
what they did.

* A small photo (at most ``SMALL_PIXELS``) is processed on a thread of the serving
  process, not in the process pool, into the very same stored variants and BlurHash as
  ``process_image`` makes; a larger one still goes to the pool. The upload records its row in one statement (the
  owner's ``locked`` read inside the insert, the row read back by RETURNING).
* A post reaches its followers' kept feeds with one statement per thousand followers
  (the page of followers, with who mutes or blocks the author and who reads them in an
  exclusive list): never a muting follower, an exclusive list's owner, or a feed not kept.
* A comment reads its parent's photos and tags from the cache, as reads do.
* A like, a post, an upload and a follow check their caller in one dependency, with the same
  answers as before for every kind of caller that may not write.
"""

from __future__ import annotations

import hashlib
from typing import Any

import httpx
import orjson
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute
from sqlalchemy import select

from lumigram.api.auth import NEEDS_USER, OUTSIDE_SCOPES
from lumigram.api.routes import interactions as interactions_routes
from lumigram.api.routes import media as media_routes
from lumigram.api.routes import relationships as relationships_routes
from lumigram.api.routes import statuses as statuses_routes
from lumigram.events import PostCreated
from lumigram.feed import store
from lumigram.feed.fanout import fan_out_post
from lumigram.feed.home import rebuild
from lumigram.infra.tables import media_attachments
from lumigram.services import Services
from lumigram.uploads.images import process_image
from lumigram.uploads.service import SMALL_PIXELS, _executor_for
from tests.factories import app_token, bearer, create_app, create_post, create_user, password_login, photo_bytes
from tests.settle import settle
from tests.statements import statements_sent


def _sent_in_transaction(sent: list[str]) -> list[str]:
    return [s for s in sent if not s.startswith(("BEGIN", "COMMIT"))]


async def _upload(client: httpx.AsyncClient, user: dict[str, Any], data: bytes) -> dict[str, Any]:
    response = await client.post(
        "/api/v2/media", headers=user["headers"], files={"file": ("p.jpg", data, "image/jpeg")}
    )
    assert response.status_code == 200, response.text
    media: dict[str, Any] = response.json()
    return media


async def _stored_digests(services: Services, media_id: str) -> dict[str, str]:
    """Each stored variant's content digest, by name and format (from its key)."""
    async with services.db.connect() as conn:
        variants = (
            await conn.execute(select(media_attachments.c.variants).where(media_attachments.c.id == int(media_id)))
        ).scalar_one()
    return {
        f"{name}.{fmt}": entry["key"].rsplit("-", 1)[1].split(".")[0]
        for name, formats in orjson.loads(variants).items()
        for fmt, entry in formats.items()
    }


def _expected_digests(data: bytes) -> tuple[dict[str, str], str | None]:
    made = process_image(data)
    digests = {
        f"{v.name}.{v.content_type.removeprefix('image/')}": hashlib.sha256(v.data).hexdigest()[:16]
        for v in made.variants
    }
    return digests, made.blurhash


async def test_small_photos_skip_the_pool_and_every_photo_is_processed_the_same(
    client: httpx.AsyncClient, services: Services
) -> None:
    user = await create_user(client)
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])).status_code == 200
    pool = services.cpu_pool()
    small, large = photo_bytes(size=(640, 480)), photo_bytes((20, 90, 160), size=(1200, 900))
    assert 640 * 480 <= SMALL_PIXELS < 1200 * 900

    submitted = pool._queue_count  # type: ignore[attr-defined]  # the pool's count of work items
    with statements_sent(services) as sent:
        media = await _upload(client, user, small)
    assert pool._queue_count == submitted  # type: ignore[attr-defined]
    # The row in one statement: no read of the owner before it, none of the row after.
    assert [s.split()[:2] for s in _sent_in_transaction(sent)] == [["INSERT", "INTO"]], sent
    digests, blurhash = _expected_digests(small)
    assert await _stored_digests(services, media["id"]) == digests
    assert media["blurhash"] == blurhash
    assert media["meta"]["original"]["width"] == 640

    # A larger one goes to the pool (not sent here: the pool's start alone takes seconds).
    assert _executor_for(services, large) is pool
    assert _executor_for(services, small) is not pool

    # A locked account's uploads are private from the start, as before.
    locked = await create_user(client)
    update = await client.patch(
        "/api/v1/accounts/update_credentials", headers=locked["headers"], data={"locked": "true"}
    )
    assert update.status_code == 200, update.text
    mine = await _upload(client, locked, small)
    async with services.db.connect() as conn:
        private = (
            await conn.execute(select(media_attachments.c.private).where(media_attachments.c.id == int(mine["id"])))
        ).scalar_one()
    assert private is True


async def _feed(services: Services, user: dict[str, Any]) -> list[str]:
    return [member for member, _ in await services.cache.zrevrange_by_score(store.feed_key(int(user["id"])), limit=50)]


async def test_a_post_reaches_only_kept_unshielded_feeds_in_one_statement(
    client: httpx.AsyncClient, services: Services, shape: str
) -> None:
    author = await create_user(client)
    kept, cold, muting, listing = [await create_user(client) for _ in range(4)]
    for follower in (kept, cold, muting, listing):
        response = await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=follower["headers"])
        assert response.status_code == 200, response.text
    mute = await client.post(f"/api/v1/accounts/{author['id']}/mute", headers=muting["headers"])
    assert mute.status_code == 200, mute.text
    made = await client.post("/api/v1/lists", headers=listing["headers"], json={"title": "Apart", "exclusive": True})
    assert made.status_code == 200, made.text
    added = await client.post(
        f"/api/v1/lists/{made.json()['id']}/accounts", headers=listing["headers"], json={"account_ids": [author["id"]]}
    )
    assert added.status_code == 200, added.text
    await settle(services)
    for reader in (author, kept, muting, listing):  # their feeds are kept from now on
        assert (await client.get("/api/v1/timelines/home", headers=reader["headers"])).status_code == 200

    post = await create_post(client, author["headers"])
    await settle(services)
    assert post["id"] in await _feed(services, kept)
    assert post["id"] in await _feed(services, author)
    for left_out in (cold, muting, listing):
        assert post["id"] not in await _feed(services, left_out)
    # A feed rebuilt after the post (a reader's first read starts one in the background,
    # and it may run after the post) keeps out what the fan-out kept out.
    for rebuilt in (kept, muting, listing):
        await rebuild(services, int(rebuilt["id"]))
    assert post["id"] in await _feed(services, kept)
    assert post["id"] not in await _feed(services, muting)
    assert post["id"] not in await _feed(services, listing)

    # The consumer's step again, inline (it is idempotent): what it reaches, and what it sends.
    event = PostCreated(status_id=int(post["id"]), account_id=int(author["id"]), visibility="public", followers_count=4)
    with statements_sent(services) as sent:
        fanout = await fan_out_post(services, event)
    assert fanout is not None
    assert fanout.reached == [int(kept["id"])]
    # One statement for the followers and who is shielded or reads the author in a list;
    # on PostgreSQL it goes by the driver itself, past SQLAlchemy.
    assert len(sent) == (1 if shape == "embedded" else 0), sent


async def test_a_comment_takes_its_parents_parts_from_the_cache(
    client: httpx.AsyncClient, services: Services, shape: str
) -> None:
    author, reader = await create_user(client), await create_user(client)
    post = await create_post(client, author["headers"], text="a photo #sunset")
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=reader["headers"])).status_code == 200
    with statements_sent(services) as sent:
        comment = await client.post(
            "/api/v1/statuses", headers=reader["headers"], json={"status": "lovely", "in_reply_to_id": post["id"]}
        )
    assert comment.status_code == 200, comment.text
    assert comment.json()["in_reply_to_id"] == post["id"]
    if shape == "embedded":
        # No read of the parent's photos (nor of its tags and mentions: the same parts).
        assert not [s for s in sent if s.startswith("SELECT media_attachments.id,")], sent


#: The busiest writes, whose caller is checked by one dependency (``account_with_scopes``).
HOT_WRITES = (
    (interactions_routes, "POST", "/api/v1/statuses/{status_id}/favourite"),
    (interactions_routes, "POST", "/api/v1/statuses/{status_id}/unfavourite"),
    (statuses_routes, "POST", "/api/v1/statuses"),
    (media_routes, "POST", "/api/v2/media"),
    (media_routes, "POST", "/api/v1/media"),
    (relationships_routes, "POST", "/api/v1/accounts/{account_id:int}/follow"),
    # The writes with no body, one route-maker for all of them.
    (relationships_routes, "POST", "/api/v1/accounts/{account_id:int}/unfollow"),
    (relationships_routes, "POST", "/api/v1/accounts/{account_id:int}/block"),
    (relationships_routes, "POST", "/api/v1/accounts/{account_id:int}/unmute"),
    (relationships_routes, "POST", "/api/v1/follow_requests/{account_id:int}/authorize"),
)


def _calls(dependant: Dependant) -> list[Any]:
    return [c for sub in dependant.dependencies for c in ([sub.call] if sub.call else []) + _calls(sub)]


async def test_hot_writes_check_their_caller_in_one_dependency_with_the_same_answers(
    client: httpx.AsyncClient, services: Services
) -> None:
    for module, method, path in HOT_WRITES:
        (route,) = [
            r for r in module.router.routes if isinstance(r, APIRoute) and r.path == path and method in r.methods
        ]
        # The caller's check and the services (resolved once, cached for the route): FastAPI
        # resolved five for the caller before.
        assert len(set(_calls(route.dependant))) == 2, (path, _calls(route.dependant))

    author = await create_user(client)
    login = await password_login(client, author["app"], author["username"], scope="read")
    assert login.status_code == 200, login.text
    read_only = bearer(login.json()["access_token"])
    app_only = await app_token(client, await create_app(client), "write")
    callers: list[tuple[dict[str, str], int, str]] = [
        ({}, 401, "The access token is invalid"),
        (bearer("not-a-token"), 401, "The access token is invalid"),
        (read_only, 403, OUTSIDE_SCOPES),
        (bearer(app_only), 401, NEEDS_USER),
    ]
    for headers, status, error in callers:
        for _, method, path in HOT_WRITES:
            # Refused before the post is looked for: any id will do.
            target = path.replace("{status_id}", "1").replace("{account_id:int}", "1")
            response = await client.request(method, target, headers=headers)
            assert (response.status_code, response.json()) == (status, {"error": error}), (path, headers)
