"""Bus consumers that turn post events into stream messages (the real-time contract).

* ``post.created``: ``update`` with the Status to the author and to each follower (and
  follower of one of its hashtags) who may see it, on ``timeline:{account}``; public posts
  of open accounts that are not comments also go to ``timeline:public`` and
  ``timeline:hashtag:{tag}``. A direct message goes as ``conversation`` to
  ``timeline:direct:{account}`` of the author and each mentioned account, once it is
  filed under its conversation (``lumigram.messages.conversations``).
* ``post.updated``: ``status.update`` to the same audiences.
* ``reblog.created``: ``update`` with the repost's wrapper (the original nested) to the
  reposter and to the connected followers whose home feed takes it
  (``lumigram.reposts.service.home_readers``: showing the reposter's reposts, shielded from
  neither account, not already given the original); ``reblog.removed``: ``delete`` with the
  wrapper's id to the reposter and their connected followers.
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
import dataclasses
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from lumigram.accounts.service import get_accounts
from lumigram.entities.accounts import account_entity
from lumigram.entities.statuses import status_entity
from lumigram.events import DomainEvent, PostCreated, PostDeleted, PostUpdated, ReblogCreated, ReblogRemoved
from lumigram.graph.service import follower_ids, shielded_from
from lumigram.ids import unix_ms_of
from lumigram.messages.conversations import DirectPost
from lumigram.posts import threads
from lumigram.posts.hydrate import hydrate
from lumigram.posts.models import HydratedPost
from lumigram.posts.tags import follower_ids as tag_follower_ids
from lumigram.reposts import service as reposts
from lumigram.services import Services
from lumigram.streaming import channels

#: Followers read per round trip while looking for connected ones.
BATCH = 1000
#: Publishes in flight at once (each is one cache round trip).
PARALLEL = 64
#: Seconds after which an event is no longer news: a consumer added to a running
#: deployment replays the bus's history, and a backlog after an outage drains late; clients
#: that were connected then catch up through the timelines instead.
STALE_AFTER = 300


def _stale(event: DomainEvent) -> bool:
    """Event ids are time-sortable (see ``lumigram.ids``): their timestamp is when it happened."""
    return time.time() * 1000 - unix_ms_of(event.id) > STALE_AFTER * 1000


async def _online(services: Services, account_ids: Sequence[int]) -> list[int]:
    return await channels.connected(services.cache, account_ids)


async def _publish_all(services: Services, messages: Iterable[tuple[str, bytes]]) -> None:
    pending = list(messages)
    for start in range(0, len(pending), PARALLEL):
        chunk = pending[start : start + PARALLEL]
        await asyncio.gather(*(services.cache.publish(channel, message) for channel, message in chunk))


@dataclass(frozen=True, slots=True)
class _Audience:
    """Who has a stream open that a post's message would go to (mutes and blocks aside)."""

    author: bool
    followers: list[int]
    #: Connected followers of one of the post's hashtags who do not follow the author.
    tag_followers: list[int]

    def __bool__(self) -> bool:
        return self.author or bool(self.followers) or bool(self.tag_followers)


async def _audience(services: Services, author_id: int, tag_names: Sequence[str] = ()) -> _Audience:
    """The author's and their followers' (and ``tag_names``' followers') open streams,
    found in batches: one query and one ``MGET`` per thousand followers. While nobody has a
    stream open anywhere (the usual case on a small instance), one ``GET`` tells."""
    if not await channels.anyone_connected(services.cache):
        return _Audience(False, [], [])
    followers: list[int] = []
    seen = {author_id}
    after: int | None = None
    author_online = False
    while True:
        batch = await follower_ids(services, author_id, after=after, limit=BATCH)
        # The author's own marker rides along with the first batch's.
        asked = batch if after is not None else [author_id, *batch]
        online = await _online(services, asked) if asked else []
        author_online = author_online or (after is None and author_id in online)
        followers += [a for a in online if a not in seen]
        seen.update(batch)
        if len(batch) < BATCH:  # the last batch: no query to find there are no more
            break
        after = batch[-1]
    others = [a for a in await tag_follower_ids(services, tag_names) if a not in seen]
    tag_followers: list[int] = []
    for start in range(0, len(others), BATCH):
        tag_followers += await _online(services, others[start : start + BATCH])
    return _Audience(author_online, followers, tag_followers)


async def _to_home_channels(
    services: Services, author_id: int, audience: _Audience, message: bytes, shield: bool = True, tags: bool = True
) -> None:
    """``message`` to the audience's followers (and, with ``tags``, the hashtags' followers)
    except, with ``shield``, those who mute or block the author."""
    for start in range(0, len(audience.followers), BATCH):
        await _send_home(services, author_id, audience.followers[start : start + BATCH], message, shield)
    if tags:
        for start in range(0, len(audience.tag_followers), BATCH):
            await _send_home(services, author_id, audience.tag_followers[start : start + BATCH], message, True)


def _public_channels(tag_names: Iterable[str]) -> list[str]:
    return [channels.PUBLIC, *sorted({channels.hashtag(tag) for tag in tag_names})]


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


async def _conversations(services: Services, item: HydratedPost, conversation_id: int) -> None:
    """A direct message to its author's and each mentioned account's direct stream."""
    author_id = item.post.account_id
    participants = [author_id, *(m.id for m in item.mentions if m.id != author_id)]
    recipients = [author_id, *await _online(services, participants[1:])]
    hidden = await shielded_from(services, author_id, recipients[1:])
    recipients = [r for r in recipients if r not in hidden]
    if item.thread is not None and len(recipients) > 1:
        # A direct comment is for those it names who may see what it answers.
        async with services.db.connect() as conn:
            allowed = await threads.audience_among(conn, item.post.id, recipients[1:])
        recipients = [r for r in recipients if r == author_id or r in allowed]
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
            "id": str(conversation_id),
            "unread": recipient != author_id,
            "accounts": [accounts[p] for p in participants if p != recipient and p in accounts],
            "last_status": orjson.loads(own if recipient == author_id else others),
        }
        messages.append((channels.direct(recipient), channels.encode("conversation", conversation)))
    await _publish_all(services, messages)


@dataclass(frozen=True, slots=True)
class _Announced:
    """What a ``post.created`` event says of its post: enough to tell, before loading and
    rendering it, whether anyone is connected to receive it."""

    author_id: int
    visibility: str
    comment: bool
    tags: list[str]

    @classmethod
    def of(cls, event: PostCreated) -> _Announced:
        return cls(event.account_id, event.visibility, event.in_reply_to_id is not None, event.tags)


async def _status_event(
    services: Services, event_name: str, status_id: int, announced: _Announced | None = None
) -> None:
    audience: _Audience | None = None
    if announced is not None and announced.visibility != "direct":
        if announced.comment:
            return  # comments are not timeline items (the home feed leaves them out too)
        # Most posts reach nobody connected; finding that out costs less than rendering.
        audience = await _audience(services, announced.author_id, announced.tags)
        listened = announced.visibility == "public" and await services.cache.listened(_public_channels(announced.tags))
        if not audience and not listened:
            return
    item = await _load(services, status_id)
    if item is None:
        return  # deleted before we got here; its delete event follows
    post = item.post
    if post.visibility == "direct":
        return  # a conversation, sent once it is filed (stream_direct_post)
    if post.in_reply_to_id is not None:
        return  # comments are not timeline items (the home feed leaves them out too)
    own, others = _entities(services, item)
    # Followers of a hashtag see the post only if anyone may (the visibility rule: a private
    # post or a locked account's post is for approved followers).
    open_to_all = post.visibility in ("public", "unlisted") and not item.account.locked
    if audience is None:
        audience = await _audience(services, post.account_id, item.tags if open_to_all else ())
    if audience.author:
        await services.cache.publish(channels.home(post.account_id), channels.encode(event_name, own))
    message = channels.encode(event_name, others)
    await _to_home_channels(services, post.account_id, audience, message, tags=open_to_all)
    if _is_public(item):
        await _publish_all(services, ((channel, message) for channel in _public_channels(item.tags)))


async def stream_direct_post(services: Services, filed: DirectPost | None) -> None:
    """A direct post, once filed under its conversation, as ``conversation`` to the direct
    streams of its author and of the mentioned accounts."""
    if filed is None or time.time() * 1000 - unix_ms_of(filed.status_id) > STALE_AFTER * 1000:
        return  # (post ids are time-sortable: the post's own id tells when it was made)
    if not await channels.anyone_connected(services.cache):
        return
    item = await _load(services, filed.status_id)
    if item is not None:
        await _conversations(services, item, filed.conversation_id)


async def stream_new_post(services: Services, event: PostCreated) -> None:
    if not _stale(event):
        await _status_event(services, "update", event.status_id, _Announced.of(event))


async def stream_edited_post(services: Services, event: PostUpdated) -> None:
    if not _stale(event):
        await _status_event(services, "status.update", event.status_id)


async def stream_deleted_post(services: Services, event: PostDeleted) -> None:
    if _stale(event):
        return
    author_id = event.account_id
    message = channels.encode("delete", str(event.status_id))
    await _publish_all(services, [(channels.home(author_id), message)])
    if event.visibility == "direct":
        # The direct streams that had it as a conversation (events from before the
        # payload named the mentions reach the author's only).
        mentioned = [a for a in event.mentions if a != author_id]
        recipients = [author_id, *await _online(services, mentioned)]
        await _publish_all(services, ((channels.direct(r), message) for r in recipients))
        return  # never sent to followers' or public streams
    if event.in_reply_to_id is not None:
        return  # comments are not timeline items
    # No shield: telling someone a post is gone reveals nothing.
    await _to_home_channels(services, author_id, await _audience(services, author_id), message, shield=False)
    if event.visibility == "public":
        await _publish_all(services, ((c, message) for c in _public_channels(event.tags)))


async def stream_repost(services: Services, event: ReblogCreated) -> None:
    """A new repost, as Mastodon streams a reblog: ``update`` with the wrapper."""
    if _stale(event):
        return
    audience = await _audience(services, event.account_id)
    if not audience:
        return
    readers = await reposts.home_readers(services, event.account_id, event.status_account_id, audience.followers)
    if not readers and not audience.author:
        return
    item = await reposts.repost_for_streams(services, event.reblog_id)
    if item is None:
        return  # taken back meanwhile, or its original is no longer for everyone
    messages: list[tuple[str, bytes]] = []
    if audience.author:
        own = orjson.dumps(status_entity(services, dataclasses.replace(item, reblogged=True), event.account_id))
        messages.append((channels.home(event.account_id), channels.encode("update", own.decode())))
    # Any id but the reposter's renders the neutral form: not favourited, not bookmarked.
    others = channels.encode("update", orjson.dumps(status_entity(services, item, 0)).decode())
    messages += [(channels.home(reader), others) for reader in readers]
    await _publish_all(services, messages)


async def stream_unrepost(services: Services, event: ReblogRemoved) -> None:
    """A repost taken back: ``delete`` with the wrapper's id, as for a deleted post. No
    shield: telling someone a repost is gone reveals nothing."""
    if _stale(event):
        return
    audience = await _audience(services, event.account_id)
    message = channels.encode("delete", str(event.reblog_id))
    recipients = ([event.account_id] if audience.author else []) + audience.followers
    await _publish_all(services, ((channels.home(r), message) for r in recipients))
