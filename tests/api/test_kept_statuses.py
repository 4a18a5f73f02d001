"""Kept Statuses on both shapes, in the explore grid and in post search: each is what the
post's own endpoint answers the same reader, before and after every kind of change a kept rendering could
miss (counts, the reader's marks, a vote, an edit, alt text, the author's profile
and numbers), and a post that stops qualifying leaves at once."""

from __future__ import annotations

from typing import Any

import httpx

from lumigram.posts import parts
from lumigram.search import kept_statuses
from lumigram.search.explore import Marks
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle
from tests.statements import statements_on


async def _explored(client: httpx.AsyncClient, viewer: dict[str, Any]) -> dict[str, dict[str, Any]]:
    response = await client.get("/api/v1/explore", headers=viewer["headers"], params={"limit": 40})
    assert response.status_code == 200, response.text
    return {status["id"]: status for status in response.json()}


async def _searched(client: httpx.AsyncClient, viewer: dict[str, Any], words: str) -> dict[str, dict[str, Any]]:
    params = {"q": words, "type": "statuses"}
    response = await client.get("/api/v2/search", headers=viewer["headers"], params=params)
    assert response.status_code == 200, response.text
    return {status["id"]: status for status in response.json()["statuses"]}


async def _as_its_endpoint_says(client: httpx.AsyncClient, viewer: dict[str, Any], *status_ids: str) -> None:
    explored = await _explored(client, viewer)
    searched = await _searched(client, viewer, "dunes")
    for status_id in status_ids:
        alone = await client.get(f"/api/v1/statuses/{status_id}", headers=viewer["headers"])
        assert alone.status_code == 200, alone.text
        assert explored[status_id] == alone.json()
        if status_id in searched:
            assert searched[status_id] == alone.json()
    assert status_ids[0] in searched


async def test_kept_statuses_show_every_change(client: httpx.AsyncClient, services: Services) -> None:
    viewer, author, fan = [await create_user(client) for _ in range(3)]
    post = await create_post(client, author["headers"], text=f"#dunes with @{fan['username']}")
    polled = await create_post(
        client, author["headers"], text="which?", photos=0, poll={"options": ["sand", "sea"], "expires_in": 600}
    )
    ids = (post["id"], polled["id"])
    await settle(services)  # indexed for search
    await _as_its_endpoint_says(client, viewer, *ids)
    # Kept: the same Status is answered from its rendering while nothing it shows changed.
    assert int(post["id"]) in kept_statuses._kept_for(services).statuses
    await _as_its_endpoint_says(client, viewer, *ids)

    headers, photo = author["headers"], post["media_attachments"][0]["id"]
    changes = [
        ("post", f"/api/v1/statuses/{post['id']}/favourite", fan["headers"], None),
        ("post", f"/api/v1/statuses/{post['id']}/bookmark", viewer["headers"], None),
        ("post", f"/api/v1/statuses/{post['id']}/reblog", viewer["headers"], None),
        ("post", f"/api/v1/accounts/{author['id']}/follow", fan["headers"], None),
        ("post", f"/api/v1/polls/{polled['poll']['id']}/votes", viewer["headers"], {"choices": [1]}),
        ("put", f"/api/v1/media/{photo}", headers, {"description": "sand"}),
        ("put", f"/api/v1/statuses/{post['id']}", headers, {"status": "#dunes at dusk", "media_ids": [photo]}),
        ("patch", "/api/v1/accounts/update_credentials", headers, {"display_name": "Dune Walker"}),
    ]
    for method, path, by, body in changes:
        response = await client.request(method, path, headers=by, json=body)
        assert response.status_code == 200, (path, response.text)
        # Once the consumers are done: while a like is being counted, two reads a moment
        # apart may count it once or twice (``lumigram.posts.counters.with_pending``).
        await settle(services)
        await _as_its_endpoint_says(client, viewer, *ids)

    # An author gone undiscoverable leaves the grid at once, its Status kept or not.
    hidden = await client.patch("/api/v1/accounts/update_credentials", headers=headers, data={"discoverable": "false"})
    assert hidden.status_code == 200, hidden.text
    assert not set(ids) & set(await _explored(client, viewer))
    # Its own posts, which a reader may find, show whether it pinned them: not kept.
    pinned = await client.post(f"/api/v1/statuses/{post['id']}/pin", headers=headers)
    assert pinned.status_code == 200, pinned.text
    found = (await _searched(client, author, "dunes"))[post["id"]]
    assert found == (await client.get(f"/api/v1/statuses/{post['id']}", headers=headers)).json()
    assert found["pinned"] is True


async def test_a_page_never_rendered_reads_its_posts_parts_at_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    viewer, author = await create_user(client), await create_user(client)
    ids = [int((await create_post(client, author["headers"], text=f"#dunes at {hour}"))["id"]) for hour in range(4)]
    await settle(services)
    # As after a restart: no rendering kept, no parts in the cache.
    await parts.forget(services, *ids)
    kept_statuses._kept_for(services).statuses.clear()
    async with services.db.connect() as conn, statements_on(conn) as sent:
        found = await kept_statuses.rendered(services, conn, int(viewer["id"]), ids, Marks())
    for status_id in ids:
        alone = await client.get(f"/api/v1/statuses/{status_id}", headers=viewer["headers"])
        assert found[status_id] == alone.json()
    # The rows, then the media and the hashtags and mentions of all four posts: not two
    # statements a post. Each Status is kept from its first rendering.
    assert len(sent.all) == 3, sent.all
    assert set(ids) <= set(kept_statuses._kept_for(services).statuses)
