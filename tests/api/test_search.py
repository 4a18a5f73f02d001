"""Search (``/api/v2/search``, ``/api/v1/accounts/search``) on both shapes: ranking,
typo tolerance, prefixes, operators, privacy, and an index kept current by the bus and
rebuilt from the tables. Hashtag search is in tests/api/test_tag_pages.py."""

from __future__ import annotations

import secrets
import string
from typing import Any

import httpx
import pytest

from lumigram.search import accounts as search_accounts
from lumigram.search.indexing import reindex
from lumigram.services import Services
from tests.factories import create_post, create_user, upload_photo
from tests.settle import settle


async def _search(client: httpx.AsyncClient, user: dict[str, Any] | None, q: str, **params: Any) -> dict[str, Any]:
    headers = user["headers"] if user else {}
    response = await client.get("/api/v2/search", params={"q": q, **params}, headers=headers)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def _found(client: httpx.AsyncClient, user: dict[str, Any] | None, q: str, **params: Any) -> list[str]:
    body = await _search(client, user, q, type="statuses", **params)
    return [status["id"] for status in body["statuses"]]


async def test_posts_by_words_phrases_and_operators(client: httpx.AsyncClient, services: Services) -> None:
    author, other, viewer = [await create_user(client) for _ in range(3)]
    photo = await upload_photo(client, author["headers"], description="a dog running on the beach")
    running = (
        await client.post(
            "/api/v1/statuses",
            headers=author["headers"],
            json={"status": "Running through the golden fields", "media_ids": [photo["id"]]},
        )
    ).json()
    lantern = await create_post(client, other["headers"], text="A lantern, another lantern, lanterns in the fields")
    once = await create_post(client, other["headers"], text="one lantern by the golden door")
    reply = (
        await client.post(
            "/api/v1/statuses",
            headers=viewer["headers"],
            json={"status": "golden indeed", "in_reply_to_id": running["id"]},
        )
    ).json()
    await settle(services)

    # Stemming ("runs" finds "Running"), alt text ("beach"), phrases in order only.
    assert await _found(client, viewer, "runs") == [running["id"]]
    assert await _found(client, viewer, "beaches") == [running["id"]]
    assert await _found(client, viewer, '"golden fields"') == [running["id"]]
    assert await _found(client, viewer, '"fields golden"') == []
    # Relevance: the post saying "lantern" three times before the one saying it once.
    assert await _found(client, viewer, "lantern") == [lantern["id"], once["id"]]
    # Words too common to search by are left out on both shapes ("at" is in no post here),
    # and "or" is a word like them, not an operator.
    assert await _found(client, viewer, "dog at beach") == [running["id"]]
    assert await _found(client, viewer, "lantern or door") == [once["id"]]
    # Operators: from:, has:media, is:reply (and negated), account_id, and none but operators.
    assert await _found(client, viewer, f"golden from:{other['username']}") == [once["id"]]
    assert set(await _found(client, viewer, "golden")) == {running["id"], once["id"], reply["id"]}
    assert await _found(client, viewer, "golden is:reply") == [reply["id"]]
    assert reply["id"] not in await _found(client, viewer, "golden -is:reply")
    assert reply["id"] not in await _found(client, viewer, "golden has:media")
    assert await _found(client, viewer, "golden", account_id=author["id"]) == [running["id"]]
    assert set(await _found(client, viewer, f"from:{other['username']}")) == {lantern["id"], once["id"]}
    # Paging by offset and ids.
    assert await _found(client, viewer, "lantern", limit=1, offset=1) == [once["id"]]
    assert await _found(client, viewer, "lantern", max_id=once["id"]) == [lantern["id"]]
    assert await _found(client, viewer, "lantern", min_id=lantern["id"]) == [once["id"]]

    # Edits and deletions reach the index through the bus.
    edited = await client.put(
        f"/api/v1/statuses/{once['id']}", headers=other["headers"], json={"status": "one candle by the door"}
    )
    assert edited.status_code == 200, edited.text
    deleted = await client.delete(f"/api/v1/statuses/{lantern['id']}", headers=other["headers"])
    assert deleted.status_code == 200, deleted.text
    await settle(services)
    assert await _found(client, viewer, "lantern") == []
    assert await _found(client, viewer, "candles") == [once["id"]]

    # Rebuilding the index from the tables gives the same answers.
    queries = ["runs", "beach", "golden", "candle", '"golden fields"', f"from:{other['username']}"]
    before = [await _found(client, viewer, q) for q in queries]
    posts, _accounts = await reindex(services)
    assert posts == 3
    assert [await _found(client, viewer, q) for q in queries] == before


async def test_posts_only_where_the_viewer_may_see_them(client: httpx.AsyncClient, services: Services) -> None:
    # Locked authors, blocks either way and mutes: the privacy matrix's search path.
    viewer, follower, public, hidden = [await create_user(client) for _ in range(4)]
    await client.post(f"/api/v1/accounts/{public['id']}/follow", headers=follower["headers"])
    await client.patch("/api/v1/accounts/update_credentials", headers=hidden["headers"], data={"discoverable": "false"})
    text = "quokka sighting"
    open_post = await create_post(client, public["headers"], text=text)
    followers_only = await create_post(client, public["headers"], text=text, visibility="private")
    unlisted = await create_post(client, public["headers"], text=text, visibility="unlisted")
    direct = (
        await client.post(
            "/api/v1/statuses",
            headers=public["headers"],
            json={"status": f"{text} @{follower['username']}", "visibility": "direct"},
        )
    ).json()
    hidden_post = await create_post(client, hidden["headers"], text=text)
    await settle(services)

    # Others' unlisted posts are for followers; direct posts never; opted-out accounts' never.
    assert set(await _found(client, None, "quokka")) == {open_post["id"]}
    assert set(await _found(client, viewer, "quokka")) == {open_post["id"]}
    assert set(await _found(client, follower, "quokka")) == {open_post["id"], followers_only["id"], unlisted["id"]}
    # Their own posts are found by their authors, whatever their settings.
    assert set(await _found(client, public, "quokka sighting")) == {
        open_post["id"],
        followers_only["id"],
        unlisted["id"],
        direct["id"],
    }
    assert set(await _found(client, hidden, "quokka")) == {open_post["id"], hidden_post["id"]}

    # Going private hides the posts from those who do not follow, at once.
    await client.patch("/api/v1/accounts/update_credentials", headers=public["headers"], data={"locked": "true"})
    assert await _found(client, viewer, "quokka") == []
    assert set(await _found(client, follower, "quokka")) == {open_post["id"], followers_only["id"], unlisted["id"]}


async def test_accounts_by_prefix_typos_and_rank(
    client: httpx.AsyncClient, services: Services, monkeypatch: pytest.MonkeyPatch
) -> None:
    viewer, fan = [await create_user(client) for _ in range(2)]
    names = ("Marigold Fenwick", "Marigold Ashby", "Marigold Quill")
    followed, popular, plain = [await create_user(client) for _ in names]
    for user, name in zip((followed, popular, plain), names, strict=True):
        response = await client.patch(
            "/api/v1/accounts/update_credentials", headers=user["headers"], data={"display_name": name}
        )
        assert response.status_code == 200, response.text
    await client.post(f"/api/v1/accounts/{followed['id']}/follow", headers=viewer["headers"])
    for who in (fan, followed):
        await client.post(f"/api/v1/accounts/{popular['id']}/follow", headers=who["headers"])
    blocker = await create_user(client)
    await client.patch(
        "/api/v1/accounts/update_credentials", headers=blocker["headers"], data={"display_name": "Marigold Blocker"}
    )
    await client.post(f"/api/v1/accounts/{viewer['id']}/block", headers=blocker["headers"])
    await settle(services)

    expected = [followed["id"], popular["id"], plain["id"]]
    for query in ("mari", "Marigold", "marigld", "marigodl"):
        body = await _search(client, viewer, query, type="accounts")
        assert [a["id"] for a in body["accounts"]] == expected, query
    # Mastodon's account search route, and its username prefix.
    response = await client.get(
        "/api/v1/accounts/search", params={"q": "@" + plain["username"][:6]}, headers=viewer["headers"]
    )
    assert response.status_code == 200, response.text
    assert plain["id"] in [a["id"] for a in response.json()]
    following = await client.get(
        "/api/v1/accounts/search", params={"q": "marigold", "following": "true"}, headers=viewer["headers"]
    )
    assert [a["id"] for a in following.json()] == [followed["id"]]
    # A followed account is found by its display name even when more followed names
    # fill the window of the most followed (here of one, at a page of one).
    monkeypatch.setattr(search_accounts, "WINDOW_MARGIN", 0)
    first = await _search(client, viewer, "marigold", type="accounts", limit=1)
    assert [a["id"] for a in first["accounts"]] == [followed["id"]]
    monkeypatch.undo()
    # A rename is found under the new name.
    await client.patch(
        "/api/v1/accounts/update_credentials", headers=plain["headers"], data={"display_name": "Zinnia Quill"}
    )
    await settle(services)
    assert [a["id"] for a in (await _search(client, viewer, "zinnia", type="accounts"))["accounts"]] == [plain["id"]]


async def test_names_alike_among_many_sharing_common_trigrams(
    client: httpx.AsyncClient, services: Services, monkeypatch: Any
) -> None:
    """Names alike are counted from at most ``PER_GRAM`` holders of each trigram, then in
    full: the nearest name still ranks when it holds the query's common trigrams beyond
    the first holders of each (here it signs up last, after more than ``PER_GRAM`` others
    sharing the first word). Names sharing only common trigrams with the query may be left
    out beyond those first holders; they are the least alike."""
    monkeypatch.setattr(search_accounts, "PER_GRAM", 2)
    monkeypatch.setattr(search_accounts, "CANDIDATES", 3)  # names alike ranked on their counts
    stem = "".join(secrets.choice(string.ascii_lowercase) for _ in range(6))
    viewer = await create_user(client)
    fillers = [await create_user(client, f"{stem}_filler{index}") for index in range(3)]
    target = await create_user(client, f"{stem}_marlow")
    near = await create_user(client, f"{stem}_marlw")
    await settle(services)

    for query in (target["username"], f"{stem}_marlov"):  # exact, then a typo of it
        body = await _search(client, viewer, query, type="accounts", limit=5)
        found = [account["id"] for account in body["accounts"]]
        assert found[:2] == [target["id"], near["id"]], query
        # Names sharing only the first word follow, those read among its first holders.
        assert found[2:], query
        assert set(found[2:]) <= {filler["id"] for filler in fillers}, query
