"""The bus consumer that turns ``notification.created`` into Web Pushes.

For each of the recipient's subscriptions that wants the notification (its alerts and
policy, see ``service.targets``) one encrypted push is sent. Pushes that already went out
are remembered in the cache (per event and subscription), so a retry of the event does not
send them twice. Failures worth retrying are retried up to ``MAX_ATTEMPTS`` deliveries of
the event, then given up and logged: a push service failing for that long is not helped by
more.

How the retry happens depends on the bus:

* NATS (scaled): the handler raises and JetStream redelivers with its growing back-off. The
  push consumer is its own durable consumer, so a slow push service delays only pushes.
* In-process (embedded): the bus waits for every handler before the relay moves on to the
  next event, so a push service that hangs (and anyone can subscribe with one) would hold
  up feeds, notifications, everything. There the handler returns at once and the pushes go
  out, and are retried, in a background task; a crash loses the pushes in flight, never
  the notification itself.

A push is at-least-once: a crash between sending and remembering sends it again, and a
lost cache (a Valkey restart) forgets what was sent. Clients de-duplicate by
``notification_id``, which is stable.
"""

from __future__ import annotations

import asyncio
import logging

from lumigram.events import NotificationCreated
from lumigram.push import sender, service
from lumigram.push.keys import vapid_keys
from lumigram.services import Services

log = logging.getLogger(__name__)

#: Deliveries of one event before its failing pushes are given up.
MAX_ATTEMPTS = 5
#: The in-process retries wait 1, 2, 4, 8 seconds (JetStream's back-off is the same).
RETRY_DELAY_SECONDS = 1.0
#: How long the per-event bookkeeping is kept: longer than any retry schedule.
MEMORY_SECONDS = 24 * 3600


class PushFailed(RuntimeError):
    """Some pushes failed and will be retried with the event."""


def _subject(services: Services) -> str:
    """Who push services contact about our pushes (VAPID ``sub``): the contact e-mail, else the site."""
    email = services.settings.contact_email.strip()
    return f"mailto:{email}" if email else services.settings.base_url


def _sent_key(event: NotificationCreated, subscription_id: int) -> str:
    return f"push:sent:{event.id}:{subscription_id}"


async def deliver(services: Services, event: NotificationCreated) -> int:
    """Push ``event``'s notification to every subscription that wants it and has not had it;
    returns how many pushes failed in a way worth retrying."""
    if not event.push:
        return 0  # the recipient had no push subscription when the notification was made
    recipient = event.account_id
    if recipient is not None and not await service.has_subscriptions(services, recipient):
        return 0  # nobody to push to (events from before the payload named the recipient load it)
    notification = await service.load_notification(services, event.notification_id)
    if notification is None:
        return 0  # dismissed (or rolled back) before we got to it: nothing to announce
    subscriptions = await service.targets(services, notification)
    pending = [sub for sub in subscriptions if not await services.cache.exists(_sent_key(event, sub.id))]
    if not pending:
        return 0
    payload = (await service.message(services, notification)).encode()
    keys = vapid_keys(services.settings)
    subject = _subject(services)
    async with sender.client() as http:
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
    return failed


def _give_up(event: NotificationCreated, failed: int, attempt: int) -> None:
    log.error(
        "giving up on %d push(es) for event %s (notification %s) after %d attempts",
        failed,
        event.id,
        event.notification_id,
        attempt,
    )


async def deliver_on_bus(services: Services, event: NotificationCreated) -> None:
    """For a durable bus: raise while pushes remain to retry, so the bus delivers again."""
    failed = await deliver(services, event)
    if not failed:
        return
    attempt = await services.cache.incr(f"push:attempts:{event.id}", ttl=MEMORY_SECONDS)
    if attempt >= MAX_ATTEMPTS:
        _give_up(event, failed, attempt)
        return
    raise PushFailed(f"{failed} push(es) for event {event.id} failed (attempt {attempt})")


async def deliver_in_background(services: Services, event: NotificationCreated) -> None:
    """For the in-process bus: deliver and retry here, with a doubling pause, never raising."""
    for attempt in range(1, MAX_ATTEMPTS + 1):
        try:
            failed = await deliver(services, event)
        except Exception:
            log.exception("pushing event %s failed", event.id)
            failed = 1
        if not failed:
            return
        if attempt >= MAX_ATTEMPTS:
            _give_up(event, failed, attempt)
            return
        await asyncio.sleep(RETRY_DELAY_SECONDS * 2 ** (attempt - 1))


async def push_notification(services: Services, event: NotificationCreated) -> None:
    """Deliver on the bus (scaled), or hand over to a background task (embedded; see above)."""
    if not services.settings.embedded_bus:
        await deliver_on_bus(services, event)
        return
    background = services._background  # cancelled and awaited by Services.close
    background[:] = [task for task in background if not task.done()]
    background.append(asyncio.create_task(deliver_in_background(services, event), name=f"push-{event.id}"))
