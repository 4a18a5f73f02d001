"""Web Pushes for direct messages, to members with no stream open.

A message is pushed, like Mastodon pushes a direct post, to the subscriptions that take
``mention`` alerts (and whose policy admits the sender), titled "… sent you a message"
with the message's text as the body. Only members who keep the thread in their inbox and
have not muted it are pushed, plus a request's recipient the one time it is told of it.
Members with a stream open get the message there instead (``lumigram.streaming.messages``
decides who is offline).

One attempt per subscription, remembered per message so a redelivered event does not
push twice; a failure is logged, not retried (the message is in the thread all the same).
On the in-process bus the pushes go out in a background task, so a push service that
hangs holds nothing up.
"""

from __future__ import annotations

import asyncio
import dataclasses
import logging
from collections.abc import Sequence

from sqlalchemy import select

from lumigram.infra.tables import dm_participants
from lumigram.push import sender, service
from lumigram.push.keys import vapid_keys
from lumigram.services import Services

log = logging.getLogger(__name__)

MEMORY_SECONDS = 24 * 3600
#: The background tasks' names start with this (on the in-process bus).
TASK_PREFIX = "push-message-"
#: What a push says of a message with no text (media, a shared post or profile).
NO_TEXT = "Sent you something"


def _excerpt(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= service.MAX_BODY else text[: service.MAX_BODY - 1].rstrip() + "…"


def _subject(services: Services) -> str:
    email = services.settings.contact_email.strip()
    return f"mailto:{email}" if email else services.settings.base_url


async def _wanting(services: Services, thread_id: int, offline: Sequence[int], requested: Sequence[int]) -> list[int]:
    """Those of ``offline`` who keep the thread in their inbox unmuted, or were just requested."""
    query = select(dm_participants.c.account_id, dm_participants.c.folder, dm_participants.c.muted).where(
        dm_participants.c.thread_id == thread_id, dm_participants.c.account_id.in_(list(offline))
    )
    async with services.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return sorted(
        int(r.account_id) for r in rows if not r.muted and (r.folder == "inbox" or int(r.account_id) in requested)
    )


async def _deliver(services: Services, recipient: int, sender_id: int, message_id: int, text: str) -> None:
    if not await service.has_subscriptions(services, recipient):
        return
    as_mention = service.PushNotification(message_id, recipient, sender_id, "mention", None)
    subscriptions = await service.targets(services, as_mention)
    pending = []
    for subscription in subscriptions:
        key = f"push:message:{message_id}:{subscription.id}"
        if not await services.cache.exists(key):
            pending.append((subscription, key))
    if not pending:
        return
    worded = await service.message(services, dataclasses.replace(as_mention, type="message"))
    payload = dataclasses.replace(worded, notification_type="mention", body=text or NO_TEXT).encode()
    keys = vapid_keys(services.settings)
    async with sender.client() as http:
        results = await asyncio.gather(
            *(sender.send(http, keys, _subject(services), sub, payload) for sub, _ in pending)
        )
    for (subscription, key), result in zip(pending, results, strict=True):
        if result.outcome == sender.Outcome.DELIVERED:
            await services.cache.set(key, b"1", ttl=MEMORY_SECONDS)
        elif result.outcome == sender.Outcome.GONE:
            await service.remove(services, subscription.id)
        else:
            log.warning("push of message %s to subscription %s failed: %s", message_id, subscription.id, result)


async def _deliver_all(
    services: Services, recipients: Sequence[int], sender_id: int, message_id: int, text: str
) -> None:
    for recipient in recipients:
        try:
            await _deliver(services, recipient, sender_id, message_id, _excerpt(text))
        except Exception:
            log.exception("pushing message %s to %s failed", message_id, recipient)


async def push_message(
    services: Services,
    thread_id: int,
    offline: Sequence[int],
    requested: Sequence[int],
    sender_id: int,
    message_id: int,
    text: str,
) -> None:
    """Push a new message to the ``offline`` members who want it (see the module's notes)."""
    if not offline:
        return
    recipients = await _wanting(services, thread_id, offline, requested)
    if not recipients:
        return
    if not services.settings.embedded_bus:
        await _deliver_all(services, recipients, sender_id, message_id, text)
        return
    background = services._background  # cancelled and awaited by Services.close
    background[:] = [task for task in background if not task.done()]
    work = _deliver_all(services, recipients, sender_id, message_id, text)
    background.append(asyncio.create_task(work, name=f"{TASK_PREFIX}{message_id}"))
