"""A new post put into its readers' kept home pages by the ``feed.fanout`` consumer: the
readers with hidden words for home are found by the fan-out's own read of the followers
(no read of the filters of its own), and their pages are rendered again rather than given
the common Status; everyone else's page takes the post, the author's in its own form."""

from __future__ import annotations

import httpx
import orjson

from lumigram.events import PostCreated
from lumigram.feed import fanout
from lumigram.feed import store as feeds
from lumigram.pagecache import store as pages
from lumigram.pagecache.feed_pages import put_fanned_out_post
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle
from tests.statements import statements_sent

HOME_ONLY = {
    "title": "Not at home",
    "context": ["home"],
    "filter_action": "warn",
    "keywords_attributes": [{"keyword": "spoilers"}],
}


async def _keep_empty_page(services: Services, account_id: int) -> None:
    """A kept feed and a kept (empty) newest page, as a reader who has read their home has."""
    await feeds.finish_rebuild(services, account_id, [])
    slot = await pages.lookup(services, account_id, "20")
    await pages.put(services, slot, pages.Rendered([], [], None, []))


async def test_the_fan_out_finds_hidden_words_with_the_followers_and_pages_stay_right(
    client: httpx.AsyncClient, services: Services
) -> None:
    author, plain, hiding = [await create_user(client) for _ in range(3)]
    for reader in (plain, hiding):
        followed = await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])
        assert followed.status_code == 200
    assert (await client.post("/api/v2/filters", headers=hiding["headers"], json=HOME_ONLY)).status_code == 200
    await settle(services)
    ids = [int(user["id"]) for user in (author, plain, hiding)]
    for account_id in ids:
        await _keep_empty_page(services, account_id)

    post = await create_post(client, author["headers"], text="out in the garden")
    await settle(services)

    # The plain reader's page holds the common Status; the author's their own form; the
    # reader who hides words at home has no page to be served until it is rendered again.
    author_page, plain_page, hiding_page = [(await pages.lookup(services, i, "20")).cached for i in ids]
    assert plain_page is not None
    assert author_page is not None
    assert plain_page.ids == author_page.ids == [int(post["id"])]
    common, own = orjson.loads(plain_page.body)[0], orjson.loads(author_page.body)[0]
    assert "pinned" not in common
    assert own["pinned"] is False
    assert common == {key: value for key, value in own.items() if key != "pinned"}
    assert hiding_page is None

    # The consumer again, inline (a redelivery changes nothing): the followers' read tells
    # who hides words; the hydrate of the post is the rest.
    event = PostCreated(status_id=int(post["id"]), account_id=ids[0], visibility="public", followers_count=2)
    with statements_sent(services) as sent:
        done = await fanout.fan_out_post(services, event)
        await put_fanned_out_post(services, done)
    assert done is not None
    assert not [s for s in sent if s.startswith("SELECT filters.")], sent
    assert len(sent) <= 4, sent  # the followers, the post, its author, the author's marks
    assert (await pages.lookup(services, ids[1], "20")).cached == plain_page
