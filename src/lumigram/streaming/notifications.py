"""Pushing new notifications to the recipient's open streams.

Per the streaming contract, each message goes to ``timeline:{account_id}:notification``
as orjson bytes of ``{"event": "notification", "payload": "<Notification JSON>"}``; the
payload is the very entity ``GET /api/v1/notifications`` returns, so the rendering is
the API's. Only recipients with a stream open are rendered for (the hub's online
marker); the others find the notification in the list. Publishing is fire-and-forget: a stream that misses one finds the
notification in the list, so a failure is logged and not retried.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from typing import Any

import orjson

from lumigram.notifications import service
from lumigram.services import Services
from lumigram.streaming.channels import connected

log = logging.getLogger(__name__)


def channel(account_id: int) -> str:
    return f"timeline:{account_id}:notification"


async def publish(services: Services, created: Sequence[service.Created]) -> None:
    """Publish each new notification (after its transaction committed)."""
    from lumigram.entities.notifications import notification_entity

    by_recipient: dict[int, list[int]] = {}
    for item in created:
        by_recipient.setdefault(item.account_id, []).append(item.id)
    try:
        online = set(await connected(services.cache, list(by_recipient)))
    except Exception:
        log.exception("could not tell who of %s has a stream open", list(by_recipient))
        return
    for recipient, ids in by_recipient.items():
        if recipient not in online:
            continue
        try:
            cache: dict[int, dict[str, Any]] = {}
            for found in reversed(await service.by_ids(services, recipient, ids)):
                payload = orjson.dumps(notification_entity(services, found, recipient, cache)).decode()
                message = orjson.dumps({"event": "notification", "payload": payload})
                await services.cache.publish(channel(recipient), message)
        except Exception:
            log.exception("publishing notifications %s to %s failed", ids, recipient)
