"""The web app's search, explore and messages pages over the ASGI client, on both shapes:
they show what the search and message services show the same viewer, and a thread is a
404 page to anyone but its current members."""

from __future__ import annotations

import re

import httpx

from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle
from tests.web_session import signed_in_browser


def _badge(page: httpx.Response) -> str:
    found = re.search(r'id="messages-badge" aria-hidden="true" data-count="(\d+)"', page.text)
    assert found is not None
    return found.group(1)


async def test_search_explore_and_message_pages_show_each_viewer_what_the_services_do(
    client: httpx.AsyncClient, services: Services
) -> None:
    ann, ben, eve = [await create_user(client) for _ in range(3)]
    post = await create_post(client, ann["headers"], text="Paper lanterns over the harbour #lanterns")
    await create_post(client, ben["headers"], text="More #lanterns tonight")
    started = await client.post("/api/v1/lumigram/threads", data={"account_ids[]": ben["id"]}, headers=ann["headers"])
    assert started.status_code == 200, started.text
    thread_id = started.json()["id"]
    sent = await client.post(
        f"/api/v1/lumigram/threads/{thread_id}/messages", data={"text": "Dinner at eight?"}, headers=ann["headers"]
    )
    assert sent.status_code == 200, sent.text
    await settle(services)  # the search index follows the bus

    # A visitor searches and explores as the API lets them; messages need signing in.
    explore = await client.get("/explore")
    assert explore.status_code == 200
    assert 'role="combobox"' in explore.text
    assert post["url"] in explore.text
    assert 'href="/tags/lanterns"' in explore.text  # trending: two accounts used it today
    found = await client.get("/search", params={"q": "lantern", "type": "statuses"})
    assert post["url"] in found.text
    people = await client.get("/search", params={"q": ann["username"][:6]})
    assert f'href="/@{ann["username"]}"' in people.text
    assert (await client.get("/web/explore", params={"cursor": "soon"})).status_code == 400
    assert (await client.get(f"/messages/{thread_id}")).status_code == 303

    async with signed_in_browser(client, ben) as browser:
        # Ben does not follow Ann: a request, which opening does not mark read.
        requests = await browser.get("/messages/requests")
        assert "Dinner at eight?" in requests.text
        assert "accept-request" in requests.text
        assert _badge(requests) == "1"
        opened = await browser.get(f"/messages/{thread_id}")
        assert "Dinner at eight?" in opened.text
        assert "request-banner" in opened.text
        assert _badge(opened) == "1"

        accepted = await client.post(f"/api/v1/lumigram/threads/{thread_id}/accept", headers=ben["headers"])
        assert accepted.status_code == 200, accepted.text
        inbox = await browser.get("/messages")
        assert f'data-thread-id="{thread_id}"' in inbox.text
        assert "thread-row unread" in inbox.text
        assert 'href="/messages/new"' in inbox.text
        assert 'id="new-thread"' in (await browser.get("/messages/new")).text
        read = await browser.get(f"/messages/{thread_id}")
        assert _badge(read) == "0"
        assert 'id="message-form"' in read.text
        unread = (await client.get("/api/v1/lumigram/unread", headers=ben["headers"])).json()
        assert unread == {"total": 0, "threads": 0, "requests": 0}
        news = await browser.get(f"/web/messages/{thread_id}", params={"since_id": sent.json()["id"]})
        assert news.status_code == 200
        assert "Dinner" not in news.text

    async with signed_in_browser(client, ann) as browser:
        own = await browser.get(f"/messages/{thread_id}")
        assert '<p class="small seen" id="seen-state">Seen</p>' in own.text
        assert "unsend" in own.text

    recorded = await client.post("/api/v1/search/recent", data={"q": "harbour lights"}, headers=eve["headers"])
    assert recorded.status_code == 200, recorded.text
    async with signed_in_browser(client, eve) as browser:
        mine = await browser.get("/explore")
        assert "harbour lights" in mine.text
        assert f'data-id="{recorded.json()["id"]}"' in mine.text
        assert post["url"] in mine.text
        # A thread is a 404 page to anyone but its members.
        for path in (f"/messages/{thread_id}", f"/web/messages/{thread_id}"):
            stranger = await browser.get(path)
            assert stranger.status_code == 404, path
            assert "Dinner" not in stranger.text
        assert "Dinner" not in (await browser.get("/messages")).text
