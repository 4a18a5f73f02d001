"""What the like's and the comment's consumers send to the database, on both shapes: the
notification's and the like counter's statements are built once (on PostgreSQL they go by
the driver itself, not through SQLAlchemy's execution), and the conversation-mute look-up
rides in the recipients' statement; the notifications they make stay the same."""

from __future__ import annotations

import httpx

from lumigram.events import FavouriteCreated, PostCreated
from lumigram.ids import shard_of
from lumigram.interactions.handlers import recount_likes
from lumigram.notifications.handlers import notify_of_like, notify_of_new_post
from lumigram.notifications.models import COMMENT, FAVOURITE
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle
from tests.statements import statements_sent


async def test_a_like_and_a_comment_notify_in_few_statements(
    client: httpx.AsyncClient, services: Services, shape: str
) -> None:
    ann, bo = await create_user(client), await create_user(client)
    ann_id, bo_id = int(ann["id"]), int(bo["id"])
    post = await create_post(client, ann["headers"], text="a heron at dawn")
    post_id = int(post["id"])
    liked = await client.post(f"/api/v1/statuses/{post_id}/favourite", headers=bo["headers"])
    assert liked.status_code == 200, liked.text
    comment = await create_post(client, bo["headers"], text="lovely", photos=0, in_reply_to_id=str(post_id))
    await settle(services)

    # The consumers' steps, driven here on events of their own (fresh ids, so each is
    # handled as new), counting what they send.
    like = FavouriteCreated(post_id, bo_id, ann_id, id=services.ids.next_id(shard_of(bo_id)))
    with statements_sent(services) as by_notification:
        told = await notify_of_like(services, like)
    with statements_sent(services) as by_counter:
        applied = await recount_likes(services, like)
    reply = PostCreated(
        int(comment["id"]),
        bo_id,
        "public",
        in_reply_to_id=post_id,
        in_reply_to_account_id=ann_id,
        id=services.ids.next_id(shard_of(bo_id)),
    )
    with statements_sent(services) as by_comment:
        answered = await notify_of_new_post(services, reply)

    assert [(item.account_id, item.type) for item in told] == [(ann_id, FAVOURITE)]
    assert applied == like
    assert [(item.account_id, item.type) for item in answered] == [(ann_id, COMMENT)]
    seen = (await client.get(f"/api/v1/statuses/{post_id}", headers=ann["headers"])).json()
    assert seen["favourites_count"] == 1
    if shape == "embedded":
        # BEGIN, marked handled, still liked, the recipients (blocks, mutes, push,
        # muted conversations), the insert (the commit is no statement here).
        assert len(by_notification) <= 5, by_notification
        # BEGIN, marked processed, the recount.
        assert len(by_counter) <= 3, by_counter
        # The thread's audience (two reads), then the five of the like's.
        assert len(by_comment) <= 7, by_comment
    else:
        # Only the inserts and the once-only marker of the counter go through SQLAlchemy.
        assert len(by_notification) <= 1, by_notification
        assert len(by_counter) <= 1, by_counter
        assert len(by_comment) <= 1, by_comment
