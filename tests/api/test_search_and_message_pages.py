"""The web app's search, explore and messages pages over the ASGI client, on both shapes:
they show what the search and message services show the same viewer, and a thread is a
404 page to anyone but its current members."""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterator
from typing import Any

import httpx

from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')


@contextlib.asynccontextmanager
async def _signed_in(client: httpx.AsyncClient, user: dict[str, Any]) -> AsyncIterator[httpx.AsyncClient]:
    """A browser of its own for ``user``, signed in through the sign-in page."""
    transport = client._transport  # type: ignore[attr-defined]
    async with httpx.AsyncClient(transport=transport, base_url=str(client.base_url)) as browser:
        csrf = _CSRF.search((await browser.get("/auth/sign_in")).text)
        assert csrf is not None
        form = {"login": user["username"], "password": user["password"], "csrf": csrf.group(1), "next": "/"}
        assert (await browser.post("/auth/sign_in", data=form)).status_code == 303
        yield browser


async def test_search_and_explore_pages_find_what_the_api_finds(client: httpx.AsyncClient, services: Services) -> None:
    author, viewer = await create_user(client), await create_user(client)
    post = await create_post(client, author["headers"], text="Paper lanterns over the harbour #lanterns")
    await create_post(client, viewer["headers"], text="More #lanterns tonight")
    await settle(services)  # the search index follows the bus

    explore = await client.get("/explore")  # a visitor
    assert explore.status_code == 200
    assert 'role="combobox"' in explore.text
    assert post["url"] in explore.text
    assert 'href="/tags/lanterns"' in explore.text  # trending: two accounts used it today
    found = await client.get("/search", params={"q": "lantern", "type": "statuses"})
    assert post["url"] in found.text
    people = await client.get("/search", params={"q": author["username"][:6]})
    assert f'href="/@{author["username"]}"' in people.text
    assert (await client.get("/web/explore", params={"cursor": "soon"})).status_code == 400

    recorded = await client.post("/api/v1/search/recent", data={"q": "harbour lights"}, headers=viewer["headers"])
    assert recorded.status_code == 200, recorded.text
    async with _signed_in(client, viewer) as browser:
        mine = await browser.get("/explore")
        assert "harbour lights" in mine.text
        assert f'data-id="{recorded.json()["id"]}"' in mine.text
        assert post["url"] in mine.text
