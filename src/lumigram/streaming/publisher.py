"""Bus consumers that turn post events into stream messages (the real-time contract).

* ``post.created``: ``update`` with the Status to the author and to each follower (and
  follower of one of its hashtags) who may see it, on ``timeline:{account}``; public posts
  of open accounts that are not comments also go to ``timeline:public`` and
  ``timeline:hashtag:{tag}``. A direct message goes as ``conversation`` to
  ``timeline:direct:{account}`` of the author and each mentioned account.
* ``post.updated``: ``status.update`` to the same audiences.
* ``post.deleted``: ``delete`` (the id) to the author, the followers and, for a public
  post, the public timeline and its hashtags' streams; for a direct message, to the direct
  streams of the author and each mentioned account. The tag and mention rows are gone with
  the post, so the event carries them (``tags``, ``mentions``); an older event without them
  reaches the author, the followers and the public timeline only.

Only accounts with a stream open get a message: the hub keeps a marker key
(``streaming:online:{account}``, a short TTL refreshed while a stream is open) and the
followers are walked in batches, keeping those whose marker exists. An author with 100,000
followers of whom 50 are connected thus publishes 50 messages, not 100,000, for the cost of
one ``MGET`` per thousand followers. Mutes and blocks are applied here for the user's own
channels, so the hub only filters the shared public and hashtag channels.

Delivery is at most once per event delivery (pub/sub keeps nothing); a redelivered event may
repeat a message, which clients tolerate (an ``update`` for a status they have replaces it).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Iterable, Sequence
from typing import Any

import orjson

from lumigram.accounts.service import get_accounts
from lumigram.api.entities import account_entity
from lumigram.api.status_entities import status_entity
from lumigram.bootstrap import Services
from lumigram.graph.service import follower_ids, shielded_from
from lumigram.ids import unix_ms_of
from lumigram.infra.bus import Consumer, Event, payload_ids, payload_int, payload_strings
from lumigram.posts.hydrate import hydrate
from lumigram.posts.models import HydratedPost
from lumigram.posts.tags import follower_ids as tag_follower_ids
from lumigram.streaming import channels

log = logging.getLogger(__name__)

#: Followers read per round trip while looking for connected ones.
BATCH = 1000
#: Publishes in flight at once (each is one cache round trip).
PARALLEL = 64
#: Seconds after which an event is no longer news: a consumer added to a running
#: deployment replays the bus's history, and a backlog after an outage drains late; clients
#: that were connected then catch up through the timelines instead.
STALE_AFTER = 300


def _stale(event: Event) -> bool:
    """Event ids are time-sortable (see ``lumigram.ids``): their timestamp is when it happened."""
    return time.time() * 1000 - unix_ms_of(event.id) > STALE_AFTER * 1000


async def _online(services: Services, account_ids: Sequence[int]) -> list[int]:
    return await channels.connected(services.cache, account_ids)


async def _publish_all(services: Services, messages: Iterable[tuple[str, bytes]]) -> None:
    pending = list(messages)
    for start in range(0, len(pending), PARALLEL):
        chunk = pending[start : start + PARALLEL]
        await asyncio.gather(*(services.cache.publish(channel, message) for channel, message in chunk))


async def _to_home_channels(
    services: Services,
    author_id: int,
    message: bytes,
    tag_names: Sequence[str] = (),
    shield: bool = True,
) -> None:
    """``message`` to every connected follower of the author (and of one of ``tag_names``)
    except those who mute or block the author, in batches."""
    sent = {author_id}
    after: int | None = None
    while True:
        batch = await follower_ids(services, author_id, after=after, limit=BATCH)
        if not batch:
            break
        after = batch[-1]
        await _send_home(
            services, author_id, [a for a in await _online(services, batch) if a not in sent], message, shield
        )
        sent.update(batch)
    followers_of_tags = [a for a in await tag_follower_ids(services, tag_names) if a not in sent]
    for start in range(0, len(followers_of_tags), BATCH):
        batch = followers_of_tags[start : start + BATCH]
        await _send_home(services, author_id, await _online(services, batch), message, shield=True)


async def _send_home(services: Services, author_id: int, readers: list[int], message: bytes, shield: bool) -> None:
    if not readers:
        return
    hidden = await shielded_from(services, author_id, readers) if shield else set()
    await _publish_all(services, ((channels.home(r), message) for r in readers if r not in hidden))


def _is_public(item: HydratedPost) -> bool:
    post = item.post
    return post.visibility == "public" and post.in_reply_to_id is None and not item.account.locked


async def _load(services: Services, status_id: int) -> HydratedPost | None:
    found = await hydrate(services, None, [status_id], check_visibility=False)
    return found[0] if found else None


def _entities(services: Services, item: HydratedPost) -> tuple[str, str]:
    """The Status as the author sees it, and as anyone else does (no viewer state yet)."""
    cache: dict[int, dict[str, Any]] = {}
    own = orjson.dumps(status_entity(services, item, item.post.account_id, cache)).decode()
    # Any id but the author's renders the neutral form: not favourited, not bookmarked.
    others = orjson.dumps(status_entity(services, item, 0, cache)).decode()
    return own, others


async def _conversations(services: Services, item: HydratedPost) -> None:
    """A direct message to its author's and each mentioned account's direct stream."""
    author_id = item.post.account_id
    participants = [author_id, *(m.id for m in item.mentions if m.id != author_id)]
    recipients = [author_id, *await _online(services, participants[1:])]
    hidden = await shielded_from(services, author_id, recipients[1:])
    recipients = [r for r in recipients if r not in hidden]
    if not recipients:
        return
    accounts = {
        a.id: account_entity(services.settings, a).model_dump(mode="json")
        for a in await get_accounts(services, participants)
    }
    own, others = _entities(services, item)
    messages = []
    for recipient in recipients:
        conversation = {
            # Without a conversations table, a thread is named by the post it answers (or itself).
            "id": str(item.post.in_reply_to_id or item.post.id),
            "unread": recipient != author_id,
            "accounts": [accounts[p] for p in participants if p != recipient and p in accounts],
            "last_status": orjson.loads(own if recipient == author_id else others),
        }
        messages.append((channels.direct(recipient), channels.encode("conversation", conversation)))
    await _publish_all(services, messages)


async def _status_event(services: Services, event_name: str, status_id: int) -> None:
    item = await _load(services, status_id)
    if item is None:
        return  # deleted before we got here; its delete event follows
    post = item.post
    if post.visibility == "direct":
        if event_name == "update":
            await _conversations(services, item)
        return
    if post.in_reply_to_id is not None:
        return  # comments are not timeline items (the home feed leaves them out too)
    own, others = _entities(services, item)
    if await _online(services, [post.account_id]):
        await services.cache.publish(channels.home(post.account_id), channels.encode(event_name, own))
    message = channels.encode(event_name, others)
    public = _is_public(item)
    # Followers of a hashtag see the post only if anyone may (the visibility rule: a private
    # post or a locked account's post is for approved followers).
    open_to_all = post.visibility in ("public", "unlisted") and not item.account.locked
    await _to_home_channels(services, post.account_id, message, item.tags if open_to_all else ())
    if public:
        await _publish_all(
            services, [(channels.PUBLIC, message), *((channels.hashtag(tag), message) for tag in item.tags)]
        )


def consumers(services: Services) -> list[Consumer]:
    async def post_created(event: Event) -> None:
        if _stale(event):
            return
        status_id = payload_int(event.payload, "status_id")
        if status_id is None:
            log.error("event %s has no usable status_id; skipping", event.id)
            return
        await _status_event(services, "update", status_id)

    async def post_updated(event: Event) -> None:
        if _stale(event):
            return
        status_id = payload_int(event.payload, "status_id")
        if status_id is not None:
            await _status_event(services, "status.update", status_id)

    async def post_deleted(event: Event) -> None:
        if _stale(event):
            return
        status_id, author_id = payload_int(event.payload, "status_id"), payload_int(event.payload, "account_id")
        if status_id is None or author_id is None:
            return
        message = channels.encode("delete", str(status_id))
        await _publish_all(services, [(channels.home(author_id), message)])
        if event.payload.get("visibility") == "direct":
            # The direct streams that had it as a conversation (events from before the
            # payload named the mentions reach the author's only).
            mentioned = [a for a in payload_ids(event.payload, "mentions") if a != author_id]
            recipients = [author_id, *await _online(services, mentioned)]
            await _publish_all(services, ((channels.direct(r), message) for r in recipients))
            return  # never sent to followers' or public streams
        if event.payload.get("in_reply_to_id"):
            return  # comments are not timeline items
        # No shield: telling someone a post is gone reveals nothing.
        await _to_home_channels(services, author_id, message, shield=False)
        if event.payload.get("visibility") == "public":
            tag_channels = {channels.hashtag(tag) for tag in payload_strings(event.payload, "tags")}
            await _publish_all(services, [(channels.PUBLIC, message), *((c, message) for c in sorted(tag_channels))])

    return [
        Consumer("streaming.created", ["post.created"], post_created),
        Consumer("streaming.updated", ["post.updated"], post_updated),
        Consumer("streaming.deleted", ["post.deleted"], post_deleted),
    ]
