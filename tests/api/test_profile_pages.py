"""Kept profile pages (``lumigram.pagecache.profile_store``) answered ahead of the framework
(``lumigram.pagecache.profile_fast_path``).

The middleware is driven as the ASGI callable it is, around a recording inner app, so a
test can tell whether it answered or handed the request on; the route's own answer is
read from the app's router, past every middleware. The backends are real.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from lumigram.app import create_app
from lumigram.infra.tables import statuses
from lumigram.pagecache import profile_store as profile_pages
from lumigram.pagecache import store as pages
from lumigram.pagecache.profile_fast_path import CachedProfilePage
from lumigram.posts import counters
from lumigram.services import Services
from tests.asgi_driver import Recorded, drive
from tests.conftest import eventually
from tests.factories import create_post, create_user
from tests.settle import settle

User = dict[str, Any]


def _scope(client: httpx.AsyncClient, path: str, headers: dict[str, str] | None, query: bytes) -> dict[str, Any]:
    app = client._transport.app  # type: ignore[attr-defined]
    return {
        "type": "http",
        "http_version": "1.1",
        "method": "GET",
        "scheme": "http",
        "path": path,
        "raw_path": path.encode(),
        "root_path": "",
        "query_string": query,
        "headers": [(name.lower().encode(), value.encode()) for name, value in (headers or {}).items()],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
        "app": app,
    }


async def _fast(
    client: httpx.AsyncClient, author: User, headers: dict[str, str] | None, query: bytes = b""
) -> tuple[int, dict[str, str], bytes, int]:
    """One profile read through the middleware alone: (status, headers, body, inner calls)."""
    inner = Recorded()
    scope = _scope(client, f"/api/v1/accounts/{author['id']}/statuses", headers, query)
    status, answered, body = await drive(CachedProfilePage(inner), scope)
    return status, answered, body, inner.calls


async def _routed(
    client: httpx.AsyncClient, author: User, headers: dict[str, str] | None, query: bytes = b""
) -> tuple[int, dict[str, str], bytes]:
    """The same read answered by the route: the same app, built without this fast path."""
    app = client._transport.app  # type: ignore[attr-defined]
    plain = create_app(services=app.state.services)
    plain.user_middleware = [m for m in plain.user_middleware if m.cls is not CachedProfilePage]
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=plain), base_url="http://testserver") as http:
        path = f"/api/v1/accounts/{author['id']}/statuses?{query.decode()}"
        response = await http.get(path, headers=headers)
    return response.status_code, dict(response.headers), response.content


async def _reader(client: httpx.AsyncClient) -> User:
    """A signed-in account whose token the auth cache knows (a first use puts it there)."""
    user = await create_user(client)
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])).status_code == 200
    return user


def _ids(body: bytes) -> list[str]:
    return [status["id"] for status in orjson.loads(body)]


async def _author_with_posts(client: httpx.AsyncClient) -> tuple[User, list[str]]:
    """An open account with a public, an unlisted and a followers-only post (newest first)."""
    author = await create_user(client)
    made = [
        await create_post(client, author["headers"], text="for everyone", photos=1),
        await create_post(client, author["headers"], text="quietly", photos=1, visibility="unlisted"),
        await create_post(client, author["headers"], text="for friends", photos=1, visibility="private"),
    ]
    return author, [post["id"] for post in reversed(made)]


async def _follow(client: httpx.AsyncClient, reader: User, author: User) -> None:
    response = await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])
    assert response.status_code == 200, response.text


async def _likes_folded(client: httpx.AsyncClient, status_id: str, count: int) -> None:
    """Wait until the counter consumer has folded every like in. Until then a page may
    show one like too many (one like folded, another's delta still pending) and keep it
    until its next check; this test compares kept pages with the route's, not that."""
    services: Services = client._transport.app.state.services  # type: ignore[attr-defined]

    async def folded() -> bool:
        raw = await services.cache.get(counters.favourites_key(int(status_id)))
        pending = counters.parse_pending([int(status_id)], [raw]).get(int(status_id), 0)
        async with services.db.connect() as conn:
            query = select(statuses.c.favourites_count).where(statuses.c.id == int(status_id))
            column = (await conn.execute(query)).scalar_one()
        return bool(column == count and pending == 0)

    await eventually(folded)


async def test_every_tier_is_answered_as_the_route_answers_it(client: httpx.AsyncClient) -> None:
    author, (friends, quiet, public) = await _author_with_posts(client)
    follower, outsider = await _reader(client), await _reader(client)
    await _follow(client, follower, author)
    for reader in (follower, outsider):
        marked = await client.post(f"/api/v1/statuses/{public}/favourite", headers=reader["headers"])
        assert marked.status_code == 200
    saved = await client.post(f"/api/v1/statuses/{quiet}/bookmark", headers=follower["headers"])
    assert saved.status_code == 200
    await _likes_folded(client, public, 2)
    expected = {None: [quiet, public], "outsider": [quiet, public], "follower": [friends, quiet, public]}
    for name, headers in ((None, None), ("outsider", outsider["headers"]), ("follower", follower["headers"])):
        for query in (b"", b"limit=10", b"limit=40"):
            for _ in range(2):  # rendered by the first read, kept for the second
                status, answered, body, calls = await _fast(client, author, headers, query)
                assert (status, calls) == (200, 0), (name, query)
                routed = await _routed(client, author, headers, query)
                assert routed[0] == 200
                assert body == routed[2], (name, query)
                assert answered.get("link") == routed[1].get("link")
                assert answered["content-type"] == routed[1]["content-type"]
            assert _ids(body) == expected[name]
    # Each reader's own marks, and nobody else's, are in their copy.
    mine = {s["id"]: s for s in orjson.loads((await _fast(client, author, follower["headers"]))[2])}
    assert (mine[public]["favourited"], mine[public]["bookmarked"]) == (True, False)
    assert (mine[quiet]["favourited"], mine[quiet]["bookmarked"]) == (False, True)
    theirs = {s["id"]: s for s in orjson.loads((await _fast(client, author, outsider["headers"]))[2])}
    assert (theirs[public]["favourited"], theirs[quiet]["bookmarked"]) == (True, False)
    anonymous = orjson.loads((await _fast(client, author, None))[2])
    assert all("favourited" not in status for status in anonymous)


async def test_one_rendering_serves_every_reader_of_a_tier(client: httpx.AsyncClient, services: Services) -> None:
    author, _ = await _author_with_posts(client)
    first, second = await _reader(client), await _reader(client)
    await _fast(client, author, first["headers"])
    found = await profile_pages.lookup(services, int(author["id"]), (profile_pages.OUTSIDER,), pages.DEFAULT_VARIANT)
    slot = found[profile_pages.OUTSIDER]
    assert slot.cached is not None
    # Replace the kept bytes: another reader of the tier is answered with them, unrendered.
    await pages.put(services, slot, pages.Rendered([1], [b'{"id":"1"}'], None, [0]))
    assert (await _fast(client, author, second["headers"]))[2] == b'[{"id":"1"}]'


async def test_the_authors_changes_are_shown_at_once(client: httpx.AsyncClient) -> None:
    author, ids = await _author_with_posts(client)
    reader = await _reader(client)
    assert _ids((await _fast(client, author, reader["headers"]))[2]) == ids[1:]
    newest = await create_post(client, author["headers"], text="just now", photos=1)
    assert _ids((await _fast(client, author, reader["headers"]))[2]) == [newest["id"], *ids[1:]]
    edited = await client.put(f"/api/v1/statuses/{newest['id']}", headers=author["headers"], json={"status": "edited"})
    assert edited.status_code == 200
    assert "edited" in orjson.loads((await _fast(client, author, reader["headers"]))[2])[0]["content"]
    deleted = await client.delete(f"/api/v1/statuses/{newest['id']}", headers=author["headers"])
    assert deleted.status_code == 200
    assert _ids((await _fast(client, author, reader["headers"]))[2]) == ids[1:]
    renamed = await client.patch(
        "/api/v1/accounts/update_credentials", headers=author["headers"], data={"display_name": "Renamed"}
    )
    assert renamed.status_code == 200
    shown = orjson.loads((await _fast(client, author, None))[2])
    assert {status["account"]["display_name"] for status in shown} == {"Renamed"}


async def test_locking_the_account_empties_the_outsiders_page_at_once(client: httpx.AsyncClient) -> None:
    author, ids = await _author_with_posts(client)
    follower, outsider = await _reader(client), await _reader(client)
    await _follow(client, follower, author)
    for headers in (None, outsider["headers"], follower["headers"]):
        assert (await _fast(client, author, headers))[2] != b"[]"  # kept for every tier
    locked = await client.patch("/api/v1/accounts/update_credentials", headers=author["headers"], data={"locked": "1"})
    assert locked.status_code == 200
    assert (await _fast(client, author, None))[2] == b"[]"
    assert (await _fast(client, author, outsider["headers"]))[2] == b"[]"
    assert _ids((await _fast(client, author, follower["headers"]))[2]) == ids


async def test_follows_and_blocks_take_effect_on_the_next_read(client: httpx.AsyncClient) -> None:
    author, ids = await _author_with_posts(client)
    reader = await _reader(client)
    assert _ids((await _fast(client, author, reader["headers"]))[2]) == ids[1:]
    await _follow(client, reader, author)
    assert _ids((await _fast(client, author, reader["headers"]))[2]) == ids
    unfollowed = await client.post(f"/api/v1/accounts/{author['id']}/unfollow", headers=reader["headers"])
    assert unfollowed.status_code == 200
    assert _ids((await _fast(client, author, reader["headers"]))[2]) == ids[1:]
    await _follow(client, reader, author)
    removed = await client.post(f"/api/v1/accounts/{reader['id']}/remove_from_followers", headers=author["headers"])
    assert removed.status_code == 200
    assert _ids((await _fast(client, author, reader["headers"]))[2]) == ids[1:]
    blocked = await client.post(f"/api/v1/accounts/{reader['id']}/block", headers=author["headers"])
    assert blocked.status_code == 200
    status, headers, body, calls = await _fast(client, author, reader["headers"])
    assert (status, body, calls, headers.get("link")) == (200, b"[]", 0, None)
    assert (await _routed(client, author, reader["headers"]))[2] == b"[]"


async def test_what_is_not_kept_goes_to_the_route(client: httpx.AsyncClient) -> None:
    author, _ = await _author_with_posts(client)
    reader = await _reader(client)
    for query in (b"limit=2", b"max_id=1", b"only_media=true", b"limit=20&limit=40", b"limit=020"):
        assert (await _fast(client, author, reader["headers"], query))[3] == 1, query
    # The author reading their own profile (pins, followers-only posts, their own marks).
    assert (await _fast(client, author, author["headers"]))[3] == 1
    # A token the auth cache does not know, and a scheme that is not a bearer token.
    assert (await _fast(client, author, {"Authorization": "Bearer not-a-token"}))[3] == 1
    assert (await _fast(client, author, {"Authorization": "Basic eDp5"}))[3] == 1
    # An unknown account: the route's 404.
    missing = {**author, "id": str(int(author["id"]) + 10**12)}
    assert (await _fast(client, missing, None))[3] == 1
    response = await client.get(f"/api/v1/accounts/{missing['id']}/statuses")
    assert response.status_code == 404
    assert "error" in response.json()


async def test_a_stale_page_is_rendered_again_by_one_reader(client: httpx.AsyncClient, services: Services) -> None:
    author, ids = await _author_with_posts(client)
    await _fast(client, author, None)
    found = await profile_pages.lookup(services, int(author["id"]), (profile_pages.ANONYMOUS,), pages.DEFAULT_VARIANT)
    slot = found[profile_pages.ANONYMOUS]
    await pages.put(services, slot, pages.Rendered([1], [b'{"id":"1"}'], None, [0]), fresh_for=0)
    # The first reader claims the refresh and is answered with a fresh rendering...
    assert _ids((await _fast(client, author, None))[2]) == ids[1:]
    # ...which every reader after gets.
    assert _ids((await _fast(client, author, None))[2]) == ids[1:]


async def _anonymous_slot(services: Services, author: User) -> pages.Slot:
    found = await profile_pages.lookup(services, int(author["id"]), (profile_pages.ANONYMOUS,), pages.DEFAULT_VARIANT)
    return found[profile_pages.ANONYMOUS]


async def _stale_again(services: Services, author: User) -> int:
    """Store the anonymous page as it is, only stale (and no refresh claimed); its
    rendering time."""
    slot = await _anonymous_slot(services, author)
    kept = slot.cached
    assert slot.key is not None
    assert kept is not None
    await services.cache.delete(f"{slot.key}:refresh")
    await pages.put(services, slot, pages.Rendered(kept.ids, kept.entities(), kept.link, kept.versions), fresh_for=0)
    stale = (await _anonymous_slot(services, author)).cached
    assert stale is not None
    assert not stale.fresh
    return stale.rendered_at


async def test_a_stale_page_is_kept_when_nothing_changed_and_mended_or_rendered_when_posts_did(
    client: httpx.AsyncClient, services: Services
) -> None:
    author, ids = await _author_with_posts(client)
    fans = [await _reader(client), await _reader(client)]
    first = (await _fast(client, author, None))[2]
    stale_at = await _stale_again(services, author)
    await asyncio.sleep(0.01)  # a rendering now would be stamped later

    # Nothing shown changed: the page is answered, checked and kept fresh, not rendered.
    assert (await _fast(client, author, None))[2] == first
    kept = (await _anonymous_slot(services, author)).cached
    assert kept is not None
    assert kept.fresh
    assert kept.rendered_at == stale_at
    assert kept.body == first

    async def like(fan: User, post_id: str) -> None:
        assert (await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=fan["headers"])).status_code == 200

    # One post of the two liked: only its Status is rendered again, and the page is
    # then exactly what a whole rendering gives.
    await like(fans[0], ids[1])
    # The counter's consumer folds the like in two steps (column, then the pending
    # delta); between them a reader may count it twice, so let it finish first.
    await settle(services)
    stale_at = await _stale_again(services, author)
    await asyncio.sleep(0.01)
    mended = (await _fast(client, author, None))[2]
    assert [s["favourites_count"] for s in orjson.loads(mended)] == [1, 0]
    kept = (await _anonymous_slot(services, author)).cached
    assert kept is not None
    assert (kept.fresh, kept.rendered_at, kept.body) == (True, stale_at, mended)
    await pages.forget(services, [], authors=[int(author["id"])])
    assert (await _fast(client, author, None))[2] == mended

    # Both liked: more than half the page changed, so it is rendered whole.
    for post_id in ids[1:]:
        await like(fans[1], post_id)
    await settle(services)
    stale_at = await _stale_again(services, author)
    await asyncio.sleep(0.01)
    answered = orjson.loads((await _fast(client, author, None))[2])
    assert [s["favourites_count"] for s in answered] == [2, 1]
    rendered = (await _anonymous_slot(services, author)).cached
    assert rendered is not None
    assert rendered.fresh
    assert rendered.rendered_at > stale_at
