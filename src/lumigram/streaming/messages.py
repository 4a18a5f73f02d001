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

Mastodon's ``conversation`` event (direct posts) is sent from here too, once the post is
filed under its conversation (``stream_direct_post``).
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import Any

import orjson

from lumigram.entities.messages import message_entity
from lumigram.errors import NotFound
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
from lumigram.push.messages import push_message
from lumigram.services import Services
from lumigram.streaming import channels

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


async def _message_to_members(services: Services, event: MessageSent | MessageEdited, name: str) -> list[int]:
    """The message to each member with a stream open; returns who they were."""
    online = await channels.connected(services.cache, event.audience)
    if not online:
        return []
    rendered: str | None = None
    for reader in online:
        try:
            message = await queries.get_message(services, reader, event.thread_id, event.message_id)
        except NotFound:  # the reader left, or the message went, meanwhile: nothing to send
            continue
        if message.shared_post is None and rendered is not None:
            payload = rendered
        else:
            # A shared post renders for each reader (it may be hidden from some of them).
            payload = orjson.dumps(message_entity(services, message, reader)).decode()
            if message.shared_post is None:
                rendered = payload
        await services.cache.publish(channels.direct(reader), channels.encode(name, payload))
    return online


async def stream_message_sent(services: Services, event: MessageSent) -> None:
    """The message to the members' open streams, and a Web Push to those with none open."""
    if _stale(event):
        return
    online = await _message_to_members(services, event, "lumigram.message")
    if event.requested:
        payload = {"thread_id": str(event.thread_id), "account_id": str(event.account_id)}
        await _publish(services, event.requested, "lumigram.request", payload)
    offline = [a for a in event.audience if a != event.account_id and a not in online]
    if not offline:
        return
    try:
        message = await queries.get_message(services, event.account_id, event.thread_id, event.message_id)
    except NotFound:
        return  # the sender left, or the thread went, meanwhile
    if not message.unsent:
        await push_message(
            services, event.thread_id, offline, event.requested, event.account_id, event.message_id, message.text
        )


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
