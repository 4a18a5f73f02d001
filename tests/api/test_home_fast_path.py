"""The rendered home page answered ahead of the framework (``lumigram.pagecache.home_fast_path``).

The middleware is driven as the ASGI callable it is, around a recording inner app, so a
test can tell whether it answered or handed the request on; the backends are real.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import orjson

from lumigram.accounts import authcache
from lumigram.accounts import service as account_service
from lumigram.accounts.oauth import hash_secret
from lumigram.feed import store
from lumigram.pagecache import store as pages
from lumigram.pagecache.home_fast_path import CachedHomePage
from lumigram.services import Services
from tests.asgi_driver import Recorded, drive
from tests.conftest import eventually
from tests.factories import DEFAULT_PASSWORD, bearer, create_post, create_user
from tests.settle import settle

User = dict[str, Any]


async def _through_fast_path(
    client: httpx.AsyncClient, headers: dict[str, str], query: bytes = b"limit=20"
) -> tuple[int, dict[str, str], bytes, int]:
    """Send one home read through the middleware alone: (status, headers, body, inner calls)."""
    inner = Recorded()
    middleware = CachedHomePage(inner)
    transport = client._transport
    app = transport.app  # type: ignore[attr-defined]
    scope = {
        "type": "http",
        "method": "GET",
        "path": "/api/v1/timelines/home",
        "query_string": query,
        "headers": [(name.lower().encode(), value.encode()) for name, value in headers.items()],
        "app": app,
    }
    status, answered, body = await drive(middleware, scope)
    return status, answered, body, inner.calls


async def _reader_with_posts(client: httpx.AsyncClient, count: int = 3) -> User:
    reader, author = await create_user(client), await create_user(client)
    followed = await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])
    assert followed.status_code == 200
    for index in range(count):
        await create_post(client, author["headers"], text=f"post {index}")
    return reader


async def _rendered(client: httpx.AsyncClient, services: Services, reader: User) -> httpx.Response:
    """Read the newest page once the feed is built (a rebuild finishing renews the page)
    and the setup's follow and posts have reached it: each of those events, handled by
    the feed consumers whenever the bus delivers it, renews the page too. Settled means
    a page rendered, then still answered by the fast path a moment later."""
    await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    await eventually(lambda: store.is_ready(services, int(reader["id"])))

    async def settled() -> httpx.Response | None:
        response = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
        assert response.status_code == 200
        await asyncio.sleep(0.3)
        return response if (await _through_fast_path(client, reader["headers"]))[3] == 0 else None

    rendered: httpx.Response = await eventually(settled)
    return rendered


async def _kept_page_holding(services: Services, account_id: int, post_id: str) -> pages.CachedPage:
    """The reader's kept newest page (``limit=20``) once the bus has settled; the fan-out has
    put the post into it."""
    await settle(services)
    page = (await pages.lookup(services, account_id, "20")).cached
    assert page is not None
    assert post_id.encode() in page.body
    return page


async def _answered_fast(client: httpx.AsyncClient, services: Services) -> User:
    """A reader whose newest page is rendered and answered by the fast path."""
    reader = await _reader_with_posts(client, count=1)
    await _rendered(client, services, reader)
    assert (await _through_fast_path(client, reader["headers"]))[3] == 0
    return reader


async def test_a_rendered_page_is_answered_byte_for_byte(client: httpx.AsyncClient, services: Services) -> None:
    reader = await _reader_with_posts(client, count=3)
    computed = await client.get("/api/v1/timelines/home?limit=2", headers=reader["headers"])
    assert computed.status_code == 200
    # limit=2 is not kept rendered: the fast path hands it on.
    assert (await _through_fast_path(client, reader["headers"], b"limit=2"))[3] == 1
    computed = await _rendered(client, services, reader)
    status, headers, body, calls = await _through_fast_path(client, reader["headers"])
    assert (status, calls) == (200, 0)
    assert body == computed.content
    assert headers["content-type"] == computed.headers["content-type"]
    assert headers.get("link") == computed.headers.get("link")
    # The default size is 20 too, so a bare read finds the same page only if it was stored
    # under that size; either way the answer is the route's.
    assert (await client.get("/api/v1/timelines/home", headers=reader["headers"])).content == computed.content


async def test_cursors_and_other_parameters_go_to_the_route(client: httpx.AsyncClient) -> None:
    reader = await _reader_with_posts(client, count=1)
    await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    for query in (b"limit=20&max_id=1", b"order=relevance", b"limit=20&limit=40", b"limit=020"):
        assert (await _through_fast_path(client, reader["headers"], query))[3] == 1, query
    # A token in the query string is the route's business too.
    token_only = {"Accept": "application/json"}
    assert (await _through_fast_path(client, token_only, b"limit=20"))[3] == 1


async def test_a_change_to_the_feed_is_never_answered_from_the_old_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    reader = await _reader_with_posts(client, count=1)
    first = await _rendered(client, services, reader)
    assert (await _through_fast_path(client, reader["headers"]))[3] == 0
    # The reader's own like renews their page generation: the old bytes are not used
    # again. The page is mended in the same step (tests/api/test_mended_home_pages.py),
    # so the fast path answers it, with the like.
    liked = await client.post(f"/api/v1/statuses/{first.json()[0]['id']}/favourite", headers=reader["headers"])
    assert liked.status_code == 200
    _status, _headers, body, _calls = await _through_fast_path(client, reader["headers"])
    assert body != first.content
    assert orjson.loads(body)[0]["favourited"] is True
    again = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    assert again.json()[0]["favourited"] is True


async def test_a_revoked_token_gets_no_rendered_page(client: httpx.AsyncClient, services: Services) -> None:
    reader = await _answered_fast(client, services)
    app = reader["app"]
    revoked = await client.post(
        "/oauth/revoke",
        data={"token": reader["token"], "client_id": app["client_id"], "client_secret": app["client_secret"]},
    )
    assert revoked.status_code == 200
    assert (await _through_fast_path(client, reader["headers"]))[3] == 1
    refused = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    assert refused.status_code == 401


async def test_a_disabled_login_gets_no_rendered_page(client: httpx.AsyncClient, services: Services) -> None:
    reader = await _answered_fast(client, services)
    account = await account_service.get_account(services, int(reader["id"]))
    await account_service.set_disabled(services, account.user_id, True)
    assert (await _through_fast_path(client, reader["headers"]))[3] == 1
    refused = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    assert refused.status_code == 403
    assert refused.json() == {"error": "Your login is currently disabled"}


async def test_a_token_without_read_scope_gets_no_rendered_page(client: httpx.AsyncClient, services: Services) -> None:
    reader = await _answered_fast(client, services)
    app = reader["app"]
    narrow = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": reader["username"],
            "password": DEFAULT_PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "write",
        },
    )
    assert narrow.status_code == 200, narrow.text
    headers = bearer(narrow.json()["access_token"])
    # Seen once by the route, so the token's grant is in the cache the fast path reads.
    assert (await client.get("/api/v1/timelines/home?limit=20", headers=headers)).status_code == 403
    assert (await _through_fast_path(client, headers))[3] == 1


async def test_a_stale_page_is_answered_then_rendered_again(client: httpx.AsyncClient, services: Services) -> None:
    reader = await _reader_with_posts(client, count=2)
    rendered = await _rendered(client, services, reader)
    account_id = int(reader["id"])
    slot = await pages.lookup(services, account_id, "20")
    assert slot.cached is not None
    assert slot.cached.fresh
    # The same feed, its numbers now out of date: still answered at once...
    await pages.put(services, slot, pages.Rendered([1], [b'"stale"'], slot.cached.link, [0]), fresh_for=0)
    status, _headers, body, calls = await _through_fast_path(client, reader["headers"])
    assert (status, body, calls) == (200, b'["stale"]', 0)

    # ...and rendered again in the background, by one reader.
    async def refreshed() -> bool:
        found = (await pages.lookup(services, account_id, "20")).cached
        return found is not None and found.fresh and found.body == rendered.content

    await eventually(refreshed)


async def test_the_route_renders_a_stale_page_again_itself(client: httpx.AsyncClient, services: Services) -> None:
    reader = await _reader_with_posts(client, count=1)
    rendered = await _rendered(client, services, reader)
    slot = await pages.lookup(services, int(reader["id"]), "20")
    assert slot.cached is not None
    await pages.put(services, slot, pages.Rendered([1], [b'"stale"'], slot.cached.link, [0]), fresh_for=0)
    # With the token's grant gone from the cache the fast path declines; the route then
    # finds the stale page and renders it again before answering.
    await services.cache.delete(authcache.token_key(hash_secret(reader["token"])))
    again = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    assert again.status_code == 200
    assert again.content == rendered.content


async def test_a_followed_accounts_new_post_is_put_into_the_kept_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    reader, author = await create_user(client), await create_user(client)
    assert (await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])).status_code == 200
    for index in range(2):
        await create_post(client, author["headers"], text=f"older {index}")
    await _rendered(client, services, reader)
    account_id = int(reader["id"])

    newest = await create_post(client, author["headers"], text="just now")

    # The fan-out puts the post into the kept page (nothing else renders it meanwhile:
    # only a read would, and none happens until the page holds the post).
    page = await _kept_page_holding(services, account_id, newest["id"])
    status, headers, body, calls = await _through_fast_path(client, reader["headers"])
    assert (status, calls) == (200, 0)
    assert orjson.loads(body)[0]["id"] == newest["id"]
    # What rendering the page afresh gives: the same posts, the new one exactly as the
    # reader would be shown it, the same Link header. (The older posts still carry their
    # author's previous post count: numbers are refreshed on the page's timer.)
    await pages.forget(services, [account_id])
    fresh = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    assert fresh.status_code == 200
    kept = orjson.loads(body)
    assert [post["id"] for post in kept] == [post["id"] for post in fresh.json()]
    assert kept[0] == fresh.json()[0]
    assert headers.get("link") == fresh.headers.get("link") == page.link


async def test_the_authors_own_post_is_put_into_their_kept_page_in_their_own_form(
    client: httpx.AsyncClient, services: Services
) -> None:
    author = await _reader_with_posts(client, count=1)  # follows someone, so has a feed
    await _rendered(client, services, author)
    account_id = int(author["id"])

    mine = await create_post(client, author["headers"], text="my own")

    # The fan-out puts it into the author's kept page: no rendering, and no read renders
    # it meanwhile (the post did not make the page unreachable).
    await _kept_page_holding(services, account_id, mine["id"])
    status, _headers, body, calls = await _through_fast_path(client, author["headers"])
    assert (status, calls) == (200, 0)
    kept = orjson.loads(body)
    # Exactly what rendering it afresh gives its author, ``pinned`` (theirs alone) included.
    await pages.forget(services, [account_id])
    fresh = await client.get("/api/v1/timelines/home?limit=20", headers=author["headers"])
    assert [post["id"] for post in kept] == [post["id"] for post in fresh.json()]
    assert kept[0] == fresh.json()[0] == {**kept[0], "pinned": False, "favourited": False}


async def test_a_private_post_never_enters_the_kept_page_of_a_hashtags_follower(
    client: httpx.AsyncClient, services: Services
) -> None:
    reader, friend, author = await create_user(client), await create_user(client), await create_user(client)
    assert (await client.post("/api/v1/tags/lanterns/follow", headers=reader["headers"])).status_code == 200
    # Something to read, so the reader has a kept page when the hashtag's posts arrive.
    assert (await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=reader["headers"])).status_code == 200
    await create_post(client, friend["headers"], text="a friend's post")
    await _rendered(client, services, reader)
    account_id = int(reader["id"])
    before = (await pages.lookup(services, account_id, "20")).generations

    hidden = await create_post(client, author["headers"], text="only followers #lanterns", visibility="private")
    shown = await create_post(client, author["headers"], text="for everyone #lanterns")

    # Both reached the reader's feed (each changes the page's generation); only the public one shows.
    await settle(services)
    assert (await pages.lookup(services, account_id, "20")).generations != before
    assert await store.size(services, account_id) >= 3
    await asyncio.sleep(0.3)
    page = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    ids = [post["id"] for post in page.json()]
    assert shown["id"] in ids
    assert hidden["id"] not in ids


async def _stale_again(services: Services, account_id: int) -> int:
    """Store the reader's kept page as it is, only stale (and no refresh claimed); its
    rendering time."""
    slot = await pages.lookup(services, account_id, "20")
    kept = slot.cached
    assert slot.key is not None
    assert kept is not None
    await services.cache.delete(f"{slot.key}:refresh")
    await pages.put(services, slot, pages.Rendered(kept.ids, kept.entities(), kept.link, kept.versions), fresh_for=0)
    stale = (await pages.lookup(services, account_id, "20")).cached
    assert stale is not None
    assert not stale.fresh
    return stale.rendered_at


async def _fresh_page(services: Services, account_id: int) -> pages.CachedPage:
    async def fresh() -> pages.CachedPage | None:
        found = (await pages.lookup(services, account_id, "20")).cached
        return found if found is not None and found.fresh else None

    page: pages.CachedPage = await eventually(fresh)
    return page


async def test_a_stale_page_is_kept_when_nothing_changed_and_mended_or_rendered_when_posts_did(
    client: httpx.AsyncClient, services: Services
) -> None:
    reader = await _reader_with_posts(client, count=2)
    rendered = await _rendered(client, services, reader)
    account_id = int(reader["id"])
    stale_at = await _stale_again(services, account_id)
    await asyncio.sleep(0.01)  # a rendering now would be stamped later

    # Nothing shown changed: answered at once, then checked and kept fresh, not rendered.
    status, _headers, body, calls = await _through_fast_path(client, reader["headers"])
    assert (status, body, calls) == (200, rendered.content, 0)
    kept = await _fresh_page(services, account_id)
    assert kept.rendered_at == stale_at
    assert kept.body == rendered.content

    fans = [await create_user(client), await create_user(client)]
    newest, older = (post["id"] for post in rendered.json())

    async def like(fan: User, post_id: str) -> None:
        assert (await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=fan["headers"])).status_code == 200

    # Someone else likes one post of the two: only its Status is rendered again, and the
    # page is then exactly what a whole rendering gives.
    await like(fans[0], newest)
    # Folded in first: between the consumer's two steps (column, then pending delta) a
    # rendering may count a like twice, and would then be kept until the page goes stale.
    await settle(services)
    stale_at = await _stale_again(services, account_id)
    await asyncio.sleep(0.01)
    assert (await _through_fast_path(client, reader["headers"]))[3] == 0
    mended = await _fresh_page(services, account_id)
    assert mended.rendered_at == stale_at
    assert [s["favourites_count"] for s in orjson.loads(mended.body)] == [1, 0]
    await pages.forget(services, [account_id])
    again = await client.get("/api/v1/timelines/home?limit=20", headers=reader["headers"])
    assert again.content == mended.body

    # Both liked: more than half the page changed, so it is rendered whole.
    await like(fans[1], newest)
    await like(fans[1], older)
    await settle(services)
    stale_at = await _stale_again(services, account_id)
    await asyncio.sleep(0.01)
    assert (await _through_fast_path(client, reader["headers"]))[3] == 0

    async def rendered_anew() -> pages.CachedPage | None:
        found = (await pages.lookup(services, account_id, "20")).cached
        return found if found is not None and found.fresh and found.rendered_at > stale_at else None

    whole: pages.CachedPage = await eventually(rendered_anew)
    assert [s["favourites_count"] for s in orjson.loads(whole.body)] == [2, 1]


async def test_a_pin_shows_in_the_authors_kept_page_at_once(client: httpx.AsyncClient, services: Services) -> None:
    author = await _reader_with_posts(client, count=1)  # follows someone, so has a feed
    await _rendered(client, services, author)
    mine = await create_post(client, author["headers"], text="pin me")
    kept = await _kept_page_holding(services, int(author["id"]), mine["id"])
    assert orjson.loads(kept.body)[0]["pinned"] is False
    pinned = await client.post(f"/api/v1/statuses/{mine['id']}/pin", headers=author["headers"])
    assert pinned.status_code == 200, pinned.text
    page = await client.get("/api/v1/timelines/home?limit=20", headers=author["headers"])
    assert page.json()[0]["id"] == mine["id"]
    assert page.json()[0]["pinned"] is True
