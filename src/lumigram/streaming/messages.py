"""Direct messages on the ``direct`` stream: Lumigram's extension events.

Each goes to ``timeline:direct:{account}`` of the thread's members who have a stream open
and have not declined the thread; who they are was fixed when the event was written
(``audience``), so a member removed before a message was sent never receives it. Every
open stream of an account listens on that one channel, so an unsent message is taken
back on all of a member's devices at once.

* ``lumigram.message``: a new message (Message JSON), ``lumigram.message.edit`` its edit;
* ``lumigram.unsend``: ``{"thread_id", "message_id"}``: remove it everywhere;
* ``lumigram.reaction``: ``{"thread_id", "message_id", "account_id", "emoji"}`` (empty
  emoji: taken back);
* ``lumigram.read``: ``{"thread_id", "account_id", "last_read_id"}``;
* ``lumigram.typing``: ``{"thread_id", "account_id"}`` (not stored: a stream that misses
  one has missed nothing);
* ``lumigram.request``: ``{"thread_id", "account_id"}``, once per request, to whom it is for;
* ``lumigram.members``: ``{"thread_id", "added", "removed"}``, also to those removed.

Members with no stream open get a Web Push instead (``lumigram.push.messages``).

A message sent through the API reaches the open streams from the request that sent it,
as soon as its transaction has committed (``publish_sent``): rendered once, from what the
send wrote, and published once per member with a stream open, with no trip through the
outbox and the bus. Its event (``streamed``) then leaves only the pushes to the bus
consumer. Streams are at most once either way: a process that dies between the commit
and the publish loses the stream message, never the message, which the thread lists.
Messages with a shared post (shown to each member as they may see it) and replies to
stories go by the bus consumer, which reads such a message once and renders it per
member only where a shared post or story makes them differ.

Mastodon's ``conversation`` event (direct posts) is sent from here too, once the post is
filed under its conversation (``stream_direct_post``).
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Sequence
from typing import Any

import orjson

from lumigram.entities.messages import message_entity
from lumigram.events import (
    DomainEvent,
    MessageEdited,
    MessageReacted,
    MessageSent,
    MessageUnsent,
    ThreadMembersChanged,
    ThreadRead,
)
from lumigram.ids import unix_ms_of
from lumigram.messages import queries
from lumigram.messages.models import Sent
from lumigram.push.messages import push_message
from lumigram.services import Services
from lumigram.streaming import channels

log = logging.getLogger(__name__)

#: As for posts: an event older than this is history, not news.
STALE_AFTER = 300


def _stale(event: DomainEvent) -> bool:
    return event.id != 0 and time.time() * 1000 - unix_ms_of(event.id) > STALE_AFTER * 1000


async def _publish(services: Services, account_ids: Sequence[int], event: str, payload: Any) -> list[int]:
    """``payload`` to the direct streams of those of ``account_ids`` who have one open."""
    online = await channels.connected(services.cache, list(account_ids))
    message = channels.encode(event, payload)
    for account_id in online:
        await services.cache.publish(channels.direct(account_id), message)
    return online


async def publish_typing(services: Services, account_id: int, thread_id: int, audience: Sequence[int]) -> None:
    await _publish(services, audience, "lumigram.typing", {"thread_id": str(thread_id), "account_id": str(account_id)})


async def publish_sent(services: Services, sent: Sent, entity: dict[str, Any]) -> None:
    """A message just sent (``entity``, as its sender sees it and is answered) to the open
    streams of its audience, and its request to whom it opened one for: one ``MGET`` for
    who has a stream open, then one publish each, all at once. A failure is logged, not
    raised: the message is written, and failing its request would only invite a resend."""
    try:
        online = await channels.connected(services.cache, sent.audience)
        if not online:
            return
        message = channels.encode("lumigram.message", orjson.dumps(entity).decode())
        published = [(channels.direct(a), message) for a in online]
        if sent.requested:
            request = channels.encode(
                "lumigram.request",
                {"thread_id": str(sent.message.thread_id), "account_id": str(sent.message.account_id)},
            )
            published += [(channels.direct(a), request) for a in sent.requested if a in online]
        await asyncio.gather(*(services.cache.publish(channel, data) for channel, data in published))
    except Exception:
        log.exception("publishing message %s to its members' streams failed", sent.message.id)


async def _message_to_members(services: Services, event: MessageSent | MessageEdited, name: str) -> list[int]:
    """The message to each member with a stream open; returns who they were. It is read
    once, and rendered once unless a shared post or story makes members see it apart."""
    online = await channels.connected(services.cache, event.audience)
    seen = await queries.message_as_seen_by(services, online, event.thread_id, event.message_id)
    rendered: dict[int, bytes] = {}  # by the Message object: one per way of seeing it
    for reader, message in seen.items():
        key = id(message)
        if key not in rendered:
            rendered[key] = channels.encode(name, orjson.dumps(message_entity(services, message, reader)).decode())
        await services.cache.publish(channels.direct(reader), rendered[key])
    return online


async def stream_message_sent(services: Services, event: MessageSent) -> None:
    """The message to the members' open streams (unless its writer published it there),
    and a Web Push to those with none open."""
    if _stale(event):
        return
    if event.streamed:
        online = await channels.connected(services.cache, event.audience)
    else:
        online = await _message_to_members(services, event, "lumigram.message")
        if event.requested:
            payload = {"thread_id": str(event.thread_id), "account_id": str(event.account_id)}
            await _publish(services, event.requested, "lumigram.request", payload)
    offline = [a for a in event.audience if a != event.account_id and a not in online]
    if not offline:
        return
    text = await queries.text_to_push(services, event.thread_id, event.message_id)
    if text is not None:
        sender = event.account_id
        await push_message(services, event.thread_id, offline, event.requested, sender, event.message_id, text)


async def stream_message_edited(services: Services, event: MessageEdited) -> None:
    if not _stale(event):
        await _message_to_members(services, event, "lumigram.message.edit")


async def stream_message_unsent(services: Services, event: MessageUnsent) -> None:
    if not _stale(event):
        payload = {"thread_id": str(event.thread_id), "message_id": str(event.message_id)}
        await _publish(services, event.audience, "lumigram.unsend", payload)


async def stream_reaction(services: Services, event: MessageReacted) -> None:
    if not _stale(event):
        payload = {
            "thread_id": str(event.thread_id),
            "message_id": str(event.message_id),
            "account_id": str(event.account_id),
            "emoji": event.emoji,
        }
        await _publish(services, event.audience, "lumigram.reaction", payload)


async def stream_read(services: Services, event: ThreadRead) -> None:
    if not _stale(event):
        payload = {
            "thread_id": str(event.thread_id),
            "account_id": str(event.account_id),
            "last_read_id": str(event.last_read_id),
        }
        await _publish(services, event.audience, "lumigram.read", payload)


async def stream_members(services: Services, event: ThreadMembersChanged) -> None:
    if not _stale(event):
        payload = {
            "thread_id": str(event.thread_id),
            "added": [str(a) for a in event.added],
            "removed": [str(a) for a in event.removed],
        }
        await _publish(services, event.audience, "lumigram.members", payload)
