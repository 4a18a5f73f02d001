"""The bus consumer that turns ``notification.created`` into Web Pushes.

For each of the recipient's subscriptions that wants the notification (its alerts and
policy, see ``service.targets``) one encrypted push is sent. A push that failed in a way
worth retrying makes the handler raise, so the bus delivers the event again; the pushes
that already went out are remembered in the cache (per event and subscription) and not
sent twice. After ``MAX_ATTEMPTS`` deliveries of the same event the rest are given up and
logged: a push service that has been failing for minutes is not helped by more, and on
the embedded bus a failing event holds back the events behind it.

A push is at-least-once: a crash between sending and remembering sends it again, and a
lost cache (a Valkey restart) forgets what was sent. Clients de-duplicate by
``notification_id``, which is stable.
"""

from __future__ import annotations

import asyncio
import logging

import httpx

from lumigram.bootstrap import Services
from lumigram.infra.bus import Consumer, Event
from lumigram.push import sender, service
from lumigram.push.keys import vapid_keys

log = logging.getLogger(__name__)

DELIVER = "push.deliver"
#: Deliveries of one event before its failing pushes are given up.
MAX_ATTEMPTS = 5
#: How long the per-event bookkeeping is kept: longer than any retry schedule.
MEMORY_SECONDS = 24 * 3600


class PushFailed(RuntimeError):
    """Some pushes failed and will be retried with the event."""


def _subject(services: Services) -> str:
    """Who push services contact about our pushes (VAPID ``sub``): the contact e-mail, else the site."""
    email = services.settings.contact_email.strip()
    return f"mailto:{email}" if email else services.settings.base_url


def _sent_key(event: Event, subscription_id: int) -> str:
    return f"push:sent:{event.id}:{subscription_id}"


async def deliver(services: Services, event: Event) -> None:
    try:
        notification_id = int(event.payload["notification_id"])
    except (KeyError, TypeError, ValueError):
        log.error("event %s (%s) has no usable notification_id; skipping", event.id, event.type)
        return
    notification = await service.load_notification(services, notification_id)
    if notification is None:
        return  # dismissed (or rolled back) before we got to it: nothing to announce
    subscriptions = await service.targets(services, notification)
    if not subscriptions:
        return
    pending = []
    for subscription in subscriptions:
        if not await services.cache.exists(_sent_key(event, subscription.id)):
            pending.append(subscription)
    if not pending:
        return
    payload = (await service.message(services, notification)).encode()
    keys = vapid_keys(services.settings)
    subject = _subject(services)
    async with httpx.AsyncClient(follow_redirects=False) as http:
        results = await asyncio.gather(*(sender.send(http, keys, subject, sub, payload) for sub in pending))
    failed = 0
    for subscription, result in zip(pending, results, strict=True):
        if result.outcome is sender.Outcome.RETRY:
            failed += 1
            log.warning("push to subscription %s failed (%s); will retry", subscription.id, result.detail)
            continue
        if result.outcome is sender.Outcome.GONE:
            log.info("push subscription %s is gone (%s); deleting it", subscription.id, result.detail)
            await service.remove(services, subscription.id)
        elif result.outcome is sender.Outcome.REFUSED:
            log.warning("push to subscription %s refused (%s); not retrying", subscription.id, result.detail)
        await services.cache.set(_sent_key(event, subscription.id), b"1", ttl=MEMORY_SECONDS)
    if not failed:
        return
    attempt = await services.cache.incr(f"push:attempts:{event.id}", ttl=MEMORY_SECONDS)
    if attempt >= MAX_ATTEMPTS:
        log.error("giving up on %d push(es) for notification %s after %d attempts", failed, notification.id, attempt)
        return
    raise PushFailed(f"{failed} push(es) for notification {notification.id} failed (attempt {attempt})")


def consumers(services: Services) -> list[Consumer]:
    async def handle(event: Event) -> None:
        await deliver(services, event)

    return [Consumer(DELIVER, ["notification.created"], handle)]
