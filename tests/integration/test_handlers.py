"""Bus handlers called on their own, with the typed events the API's writes emitted.

Here the services run without consumers and without a relay: the events a write emits
stay in the outbox, where each test reads them back (``emitted``), decodes them as the
consumers table does, and hands them to one handler, then checks that handler's effect.
Nothing else reacts to them meanwhile, so no test waits for the bus.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any, TypeVar

import httpx
import orjson
import pytest
from sqlalchemy import select

from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.consumers import consumers
from lumigram.events import (
    BlockCreated,
    DomainEvent,
    FavouriteCreated,
    FavouriteRemoved,
    FollowCreated,
    MediaUploaded,
    PostCreated,
    PostDeleted,
    decode_as,
)
from lumigram.feed import fanout
from lumigram.feed import store as feeds
from lumigram.infra.bus import Event
from lumigram.infra.tables import notifications, outbox, processed_events, statuses
from lumigram.interactions.handlers import COUNTERS, fold_like_into_counter
from lumigram.notifications import handlers as notify
from lumigram.notifications.models import FAVOURITE, FOLLOW
from lumigram.pagecache import store as pages
from lumigram.services import Services
from lumigram.streaming.channels import ONLINE_TTL, online_key
from lumigram.streaming.notifications import channel as notification_channel
from lumigram.uploads.handlers import transcode_uploaded_video
from tests.conftest import eventually
from tests.factories import create_post, create_user
from tests.video_clips import make_clip

E = TypeVar("E", bound=DomainEvent)


@pytest.fixture
async def services(settings: Settings) -> AsyncIterator[Services]:
    """Migrated services with neither consumers nor relay: every event stays in the outbox."""
    built = build_services(settings)
    await built.db.migrate()
    await built.cache.flush()
    try:
        yield built
    finally:
        await built.close()


async def emitted(services: Services, cls: type[E]) -> list[E]:
    """The events of type ``cls`` in the outbox, oldest first, decoded as the table decodes them."""
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(outbox).where(outbox.c.type == cls.type).order_by(outbox.c.id))).all()
    return [decode_as(Event(id=row.id, type=row.type, payload=orjson.loads(row.payload)), cls) for row in rows]


async def follow(client: httpx.AsyncClient, follower: dict[str, Any], target_id: str) -> None:
    response = await client.post(f"/api/v1/accounts/{target_id}/follow", headers=follower["headers"])
    assert response.status_code == 200, response.text


async def notification_rows(services: Services, recipient: str) -> list[tuple[str, int]]:
    query = select(notifications.c.type, notifications.c.from_account_id).where(
        notifications.c.account_id == int(recipient)
    )
    async with services.db.connect() as conn:
        return [(row.type, row.from_account_id) for row in await conn.execute(query)]


# --- the home feed ---------------------------------------------------------------------


async def test_a_new_post_is_fanned_out_to_the_feeds_kept_for_its_readers(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    await follow(client, bob, alice["id"])
    await follow(client, carol, alice["id"])
    # Bob reads his home feed (it is kept, so fan-out writes into it); carol has not for long.
    await feeds.finish_rebuild(services, int(bob["id"]), [])
    posted = await create_post(client, alice["headers"])
    (event,) = await emitted(services, PostCreated)
    assert event.status_id == int(posted["id"])

    done = await fanout.fan_out_post(services, event)

    assert done is not None
    assert (done.post_id, done.author_id, done.reached, done.tag_readers) == (
        int(posted["id"]),
        int(alice["id"]),
        [int(bob["id"])],
        [],
    )
    assert await feeds.window(services, int(bob["id"]), None, 10) == [int(posted["id"])]
    assert await feeds.window(services, int(carol["id"]), None, 10) == []
    # Redelivered: the same feeds, the same answer.
    assert await fanout.fan_out_post(services, event) == done
    assert await feeds.window(services, int(bob["id"]), None, 10) == [int(posted["id"])]


async def test_a_comment_reaches_no_feed_and_an_author_above_the_threshold_only_their_own(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await follow(client, bob, alice["id"])
    for reader in (alice, bob):
        await feeds.finish_rebuild(services, int(reader["id"]), [])
    posted = await create_post(client, alice["headers"])
    await create_post(client, bob["headers"], text="Nice", in_reply_to_id=posted["id"])
    post, comment = await emitted(services, PostCreated)

    assert await fanout.fan_out_post(services, comment) is None
    assert await feeds.window(services, int(alice["id"]), None, 10) == []

    # As if alice had more followers than the fan-out serves: merged at read time instead.
    celebrity = PostCreated(
        status_id=post.status_id,
        account_id=post.account_id,
        visibility=post.visibility,
        followers_count=services.settings.fanout_celebrity_threshold + 1,
        id=post.id,
    )
    done = await fanout.fan_out_post(services, celebrity)
    assert done is not None
    assert done.reached == []
    assert await feeds.window(services, int(alice["id"]), None, 10) == [post.status_id]
    assert await feeds.window(services, int(bob["id"]), None, 10) == []


async def test_a_deleted_post_leaves_the_feeds_and_says_whose(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await follow(client, bob, alice["id"])
    await feeds.finish_rebuild(services, int(bob["id"]), [])
    posted = await create_post(client, alice["headers"])
    (created,) = await emitted(services, PostCreated)
    await fanout.fan_out_post(services, created)
    assert (await client.delete(f"/api/v1/statuses/{posted['id']}", headers=alice["headers"])).status_code == 200
    (deleted,) = await emitted(services, PostDeleted)

    # Every follower's feed is written (a feed not kept holds nothing, which costs nothing).
    assert await fanout.retract_post(services, deleted) == [int(alice["id"]), int(bob["id"])]
    assert await feeds.window(services, int(bob["id"]), None, 10) == []


async def test_a_new_follow_brings_the_authors_posts_into_a_kept_feed(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    posted = await create_post(client, alice["headers"])
    await feeds.finish_rebuild(services, int(bob["id"]), [])
    await follow(client, bob, alice["id"])
    (event,) = await emitted(services, FollowCreated)

    before = await services.cache.get(feeds.narrowed_key(int(alice["id"])))
    done = await fanout.backfill_follow(services, event)
    assert (done.readers, done.posts) == ([int(bob["id"])], [int(posted["id"])])
    assert await feeds.window(services, int(bob["id"]), None, 10) == [int(posted["id"])]
    assert await fanout.settle_backfill(services, done) == []  # nothing raced

    # Had the backfill's checks run before an unfollow, and its write after the
    # unfollow's consumer, the token it read would be the one from before: it takes the
    # posts back.
    unfollowed = await client.post(f"/api/v1/accounts/{alice['id']}/unfollow", headers=bob["headers"])
    assert unfollowed.status_code == 200, unfollowed.text
    raced = dataclasses.replace(done, narrowing=before)
    assert await fanout.settle_backfill(services, raced) == [int(bob["id"])]
    assert await feeds.window(services, int(bob["id"]), None, 10) == []


async def test_a_fan_out_that_raced_with_a_block_takes_its_post_back(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The block was handled between the fan-out's reading of the followers and its write:
    the block's consumer found nothing to remove, the write then put the post in. The
    fan-out's last step sees the author's narrowing token moved and takes it back."""
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    await follow(client, bob, alice["id"])
    await follow(client, carol, alice["id"])
    for reader in (bob, carol):
        await feeds.finish_rebuild(services, int(reader["id"]), [])
    posted = await create_post(client, alice["headers"])
    (event,) = await emitted(services, PostCreated)
    before = await services.cache.get(feeds.narrowed_key(int(alice["id"])))

    blocked = await client.post(f"/api/v1/accounts/{alice['id']}/block", headers=bob["headers"])
    assert blocked.status_code == 200, blocked.text
    (block,) = await emitted(services, BlockCreated)
    await fanout.hide_author(services, block)  # nothing there yet
    post_id, readers = int(posted["id"]), [int(bob["id"]), int(carol["id"])]
    await feeds.add(services, readers, [post_id])  # the fan-out's late write

    raced = fanout.Fanout(post_id, int(alice["id"]), readers, [], tags=tuple(event.tags), narrowing=before)
    assert await fanout.settle_fanout(services, raced) == [int(bob["id"])]
    assert await feeds.window(services, int(bob["id"]), None, 10) == []
    assert await feeds.window(services, int(carol["id"]), None, 10) == [post_id]
    # A fan-out that began after the block saw it: nothing to settle.
    now = await services.cache.get(feeds.narrowed_key(int(alice["id"])))
    assert await fanout.settle_fanout(services, dataclasses.replace(raced, narrowing=now)) == []


async def test_a_fan_out_that_raced_with_its_posts_deletion_takes_it_back(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await follow(client, bob, alice["id"])
    await feeds.finish_rebuild(services, int(bob["id"]), [])
    posted = await create_post(client, alice["headers"])
    (event,) = await emitted(services, PostCreated)
    deleted = await client.delete(f"/api/v1/statuses/{posted['id']}", headers=alice["headers"])
    assert deleted.status_code == 200, deleted.text
    (deletion,) = await emitted(services, PostDeleted)
    await fanout.retract_post(services, deletion)  # nothing there yet

    # The late fan-out, whole: it began after the deletion, whose mark it finds at the end.
    done = await fanout.fan_out_post(services, event)
    assert done is not None
    assert done.reached == [int(bob["id"])]
    assert await fanout.settle_fanout(services, done) == [int(alice["id"]), int(bob["id"])]
    for reader in (alice, bob):
        assert await feeds.window(services, int(reader["id"]), None, 10) == []


# --- notifications ---------------------------------------------------------------------


async def test_a_like_notifies_the_posts_owner_once(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    posted = await create_post(client, alice["headers"])
    liked = await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob["headers"])
    assert liked.status_code == 200, liked.text
    (event,) = await emitted(services, FavouriteCreated)

    created = await notify.notify_of_like(services, event)

    assert [(item.account_id, item.type) for item in created] == [(int(alice["id"]), FAVOURITE)]
    assert await notification_rows(services, alice["id"]) == [(FAVOURITE, int(bob["id"]))]
    # Redelivered: nothing new, and nothing to publish again.
    assert await notify.notify_of_like(services, event) == []
    assert await notification_rows(services, alice["id"]) == [(FAVOURITE, int(bob["id"]))]
    listed = (await client.get("/api/v1/notifications", headers=alice["headers"])).json()
    assert [(n["type"], n["account"]["id"], n["status"]["id"]) for n in listed] == [
        ("favourite", bob["id"], posted["id"])
    ]


async def test_a_like_withdrawn_before_its_event_is_handled_notifies_no_one(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    posted = await create_post(client, alice["headers"])
    await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob["headers"])
    await client.post(f"/api/v1/statuses/{posted['id']}/unfavourite", headers=bob["headers"])
    (event,) = await emitted(services, FavouriteCreated)

    assert await notify.notify_of_like(services, event) == []
    assert await notification_rows(services, alice["id"]) == []


async def test_a_follow_notifies_the_followed_account(client: httpx.AsyncClient, services: Services) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await follow(client, bob, alice["id"])
    (event,) = await emitted(services, FollowCreated)

    created = await notify.notify_of_follow(services, event)

    assert [(item.account_id, item.type) for item in created] == [(int(alice["id"]), FOLLOW)]
    assert await notification_rows(services, alice["id"]) == [(FOLLOW, int(bob["id"]))]


# --- the likes counter -----------------------------------------------------------------


async def favourites_column(services: Services, status_id: str) -> int:
    query = select(statuses.c.favourites_count).where(statuses.c.id == int(status_id))
    async with services.db.connect() as conn:
        return int((await conn.execute(query)).scalar_one())


async def test_likes_are_folded_into_the_posts_counter_once_per_event(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob, carol = [await create_user(client) for _ in range(3)]
    posted = await create_post(client, alice["headers"])
    for liker in (bob, carol):
        await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=liker["headers"])
    await client.post(f"/api/v1/statuses/{posted['id']}/unfavourite", headers=carol["headers"])
    likes = await emitted(services, FavouriteCreated)
    (unlike,) = await emitted(services, FavouriteRemoved)
    assert await favourites_column(services, posted["id"]) == 0  # nothing folded in yet

    for event in likes:
        await fold_like_into_counter(services, event)
    await fold_like_into_counter(services, unlike)
    await fold_like_into_counter(services, likes[0])  # redelivered: already folded in

    assert await favourites_column(services, posted["id"]) == 1
    async with services.db.connect() as conn:
        query = select(processed_events.c.event_id).where(processed_events.c.consumer == COUNTERS)
        handled = sorted((await conn.execute(query)).scalars())
    assert handled == sorted([likes[0].id, likes[1].id, unlike.id])
    shown = (await client.get(f"/api/v1/statuses/{posted['id']}", headers=alice["headers"])).json()
    assert shown["favourites_count"] == 1


# --- videos ----------------------------------------------------------------------------


async def test_an_uploaded_video_is_transcoded_by_its_handler(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    uploaded = await client.post(
        "/api/v2/media", headers=user["headers"], files={"file": ("clip.mp4", make_clip(seconds=1), "video/mp4")}
    )
    assert uploaded.status_code == 202, uploaded.text
    media_id = uploaded.json()["id"]
    assert (await client.get(f"/api/v1/media/{media_id}", headers=user["headers"])).status_code == 206
    (event,) = await emitted(services, MediaUploaded)
    assert event.media_id == int(media_id)

    await transcode_uploaded_video(services, event)

    ready = await client.get(f"/api/v1/media/{media_id}", headers=user["headers"])
    assert ready.status_code == 200, ready.text
    assert ready.json()["type"] == "video"
    assert ready.json()["url"]


# --- the table -------------------------------------------------------------------------


async def test_the_table_hands_each_consumer_its_typed_events_and_skips_unusable_ones(
    client: httpx.AsyncClient, services: Services, caplog: pytest.LogCaptureFixture
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    posted = await create_post(client, alice["headers"])
    await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob["headers"])
    async with services.db.connect() as conn:
        row = (await conn.execute(select(outbox).where(outbox.c.type == "favourite.created"))).one()
    (counter,) = [c for c in consumers(services) if c.name == COUNTERS]

    with caplog.at_level(logging.ERROR, logger="lumigram.consumers"):
        # A payload without the post's id: logged and skipped, not retried for ever.
        await counter.handler(Event(id=services.ids.next_id(), type="favourite.created", payload={}))
    assert "status_id is missing" in caplog.text

    await counter.handler(Event(id=row.id, type=row.type, payload=orjson.loads(row.payload)))
    assert await favourites_column(services, posted["id"]) == 1


async def table_handler(services: Services, name: str) -> Callable[[Event], Awaitable[None]]:
    (found,) = [c.handler for c in consumers(services) if c.name == name]
    return found


async def as_written(services: Services, event: DomainEvent) -> Event:
    """The bus event ``event`` was read from (the table's handlers take those)."""
    async with services.db.connect() as conn:
        row = (await conn.execute(select(outbox).where(outbox.c.id == event.id))).one()
    return Event(id=row.id, type=row.type, payload=orjson.loads(row.payload))


async def test_the_fan_out_consumer_then_puts_the_post_into_the_readers_kept_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    await follow(client, bob, alice["id"])
    await feeds.finish_rebuild(services, int(bob["id"]), [])
    home = await client.get("/api/v1/timelines/home", headers=bob["headers"])
    assert home.json() == []
    kept = await pages.lookup(services, int(bob["id"]), pages.DEFAULT_VARIANT)
    assert kept.cached is not None
    assert kept.cached.ids == []
    posted = await create_post(client, alice["headers"])
    (event,) = await emitted(services, PostCreated)

    await (await table_handler(services, "feed.fanout"))(await as_written(services, event))

    # The feed took the post, and the kept page took it as it is, without a rendering.
    assert await feeds.window(services, int(bob["id"]), None, 10) == [int(posted["id"])]
    kept = await pages.lookup(services, int(bob["id"]), pages.DEFAULT_VARIANT)
    assert kept.cached is not None
    assert kept.cached.ids == [int(posted["id"])]


async def test_the_like_notification_consumer_then_tells_the_owners_open_stream(
    client: httpx.AsyncClient, services: Services
) -> None:
    alice, bob = await create_user(client), await create_user(client)
    posted = await create_post(client, alice["headers"])
    await client.post(f"/api/v1/statuses/{posted['id']}/favourite", headers=bob["headers"])
    (event,) = await emitted(services, FavouriteCreated)
    stream = notification_channel(int(alice["id"]))
    subscription = await services.cache.subscribe(stream)
    # What the streaming hub sets while alice has a stream open.
    await services.cache.set(online_key(int(alice["id"])), b"1", ttl=ONLINE_TTL)
    try:
        messages = aiter(subscription)
        await eventually(lambda: services.cache.listened([stream]))  # Redis confirms it asynchronously
        await (await table_handler(services, "notifications.favourites"))(await as_written(services, event))
        _, raw = await asyncio.wait_for(anext(messages), timeout=10)
    finally:
        await subscription.close()
    entity = orjson.loads(orjson.loads(raw)["payload"])
    assert (entity["type"], entity["account"]["id"], entity["status"]["id"]) == ("favourite", bob["id"], posted["id"])
