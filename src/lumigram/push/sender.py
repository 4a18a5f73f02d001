"""Sending one Web Push: encrypt for the subscription, sign with VAPID, POST to its endpoint.

Encryption is RFC 8291 (``aes128gcm``, the only encoding browsers' Push API must accept)
and the signature RFC 8292 (``Authorization: vapid t=<JWT>,k=<public key>``), both done by
pywebpush / py-vapid; the request itself goes through httpx like our other outgoing HTTP.

The push service's answer decides what happens next (``Outcome``):
* 2xx: delivered.
* 404 / 410: the subscription is gone (the user unsubscribed or the browser dropped it):
  delete it, as Mastodon does.
* 408, 429, 5xx and network errors: worth retrying later.
* Any other 4xx: the service refuses this request and would refuse it again (a payload
  it will not take, a key it does not know): give up on this push, keep the subscription.
"""

from __future__ import annotations

import asyncio
import enum
import logging
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlsplit

from lumigram.push.keys import VapidKeys
from lumigram.push.service import Subscription

if TYPE_CHECKING:
    import httpx

# pywebpush, py-vapid and httpx are imported where a push is sent, not with this module:
# with what they import (requests, aiohttp, each building an SSL context) they were a
# fifth of every process's start, and most processes never send a push.

log = logging.getLogger(__name__)

#: Mastodon keeps an undelivered push this long at the push service (its 48 hours).
TTL_SECONDS = 48 * 3600
#: A VAPID token is valid this long (RFC 8292 allows up to 24 hours).
TOKEN_LIFETIME = 12 * 3600
#: Push services answer in well under a second. The whole exchange has this deadline
#: (httpx's own timeouts are per phase, which a service dribbling bytes could stretch).
DEADLINE_SECONDS = 10.0
#: Of a refusal's body we keep this much for the log, and read no more of it.
MAX_DETAIL = 200


class Outcome(enum.Enum):
    DELIVERED = "delivered"
    GONE = "gone"
    REFUSED = "refused"
    RETRY = "retry"


@dataclass(frozen=True, slots=True)
class Result:
    outcome: Outcome
    detail: str = ""


def encrypt(subscription: Subscription, payload: bytes) -> bytes:
    """``payload`` encrypted for the subscription's keys (aes128gcm, fresh ephemeral key)."""
    from pywebpush import WebPusher

    pusher = WebPusher(
        {"endpoint": subscription.endpoint, "keys": {"p256dh": subscription.p256dh, "auth": subscription.auth}}
    )
    body: bytes = pusher.encode(payload, content_encoding="aes128gcm")["body"]
    return body


def vapid_headers(keys: VapidKeys, endpoint: str, subject: str) -> dict[str, str]:
    """The VAPID ``Authorization`` header for ``endpoint``'s push service (its origin is the audience)."""
    from py_vapid import Vapid02

    parts = urlsplit(endpoint)
    # "no-strict": py-vapid insists on mailto: or https: subjects; a development server has
    # neither, and the subject is only contact information for the push service's operator.
    signer = Vapid02(keys.private_key, conf={"no-strict": True})
    claims = {"aud": f"{parts.scheme}://{parts.netloc}", "sub": subject, "exp": int(time.time()) + TOKEN_LIFETIME}
    signed: dict[str, str] = signer.sign(claims)
    return signed


async def _post(http: httpx.AsyncClient, url: str, body: bytes, headers: dict[str, str]) -> tuple[int, str]:
    """POST; the status and the start of the answer (streamed: an endpoint is anyone's
    server, and its answer could be endless)."""
    async with http.stream("POST", url, content=body, headers=headers, timeout=DEADLINE_SECONDS) as response:
        excerpt = b""
        if not 200 <= response.status_code < 300:
            async for chunk in response.aiter_raw():
                excerpt += chunk
                if len(excerpt) >= MAX_DETAIL:
                    break
        return response.status_code, excerpt[:MAX_DETAIL].decode(errors="replace")


def client() -> httpx.AsyncClient:
    """The HTTP client a batch of pushes is sent with: redirects not followed (a push
    service that redirects is answered as it answered)."""
    import httpx

    return httpx.AsyncClient(follow_redirects=False)


async def send(
    http: httpx.AsyncClient, keys: VapidKeys, subject: str, subscription: Subscription, payload: bytes
) -> Result:
    import httpx
    from py_vapid import VapidException
    from pywebpush import WebPushException

    try:
        body = encrypt(subscription, payload)
        headers = vapid_headers(keys, subscription.endpoint, subject)
    except (WebPushException, VapidException, ValueError) as exc:
        # Keys and endpoint were checked on subscribing, so this is a row that predates a
        # rule or was edited by hand: nothing a retry would change.
        return Result(Outcome.REFUSED, f"cannot encrypt or sign: {exc}")
    headers.update(
        {
            "Content-Encoding": "aes128gcm",
            "Content-Type": "application/octet-stream",
            "TTL": str(TTL_SECONDS),
            "Urgency": "normal",
        }
    )
    try:
        async with asyncio.timeout(DEADLINE_SECONDS):
            status, excerpt = await _post(http, subscription.endpoint, body, headers)
    except TimeoutError:
        return Result(Outcome.RETRY, f"no answer within {DEADLINE_SECONDS:g} s")
    except httpx.HTTPError as exc:
        return Result(Outcome.RETRY, f"{type(exc).__name__}: {exc}")
    if 200 <= status < 300:
        return Result(Outcome.DELIVERED)
    detail = f"HTTP {status}: {excerpt}"
    if status in (404, 410):
        return Result(Outcome.GONE, detail)
    if status in (408, 429) or status >= 500:
        return Result(Outcome.RETRY, detail)
    return Result(Outcome.REFUSED, detail)
