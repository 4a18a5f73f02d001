"""Signed, expiring media URLs.

A private blob is reachable only as ``/media/<key>?exp=<unix seconds>&sig=<mac>``, where
the MAC is an HMAC-SHA256 of the key and the expiry under the server's secret key. The
key is content-addressed and unguessable on its own, but a signature makes a leaked
URL stop working once it expires, and makes the path alone worthless.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time

#: How long a signed URL handed to a client stays valid.
SIGNED_URL_LIFETIME = 6 * 3600


def _mac(secret: str, key: str, expires: int) -> str:
    digest = hmac.new(secret.encode(), f"{key}\n{expires}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest[:18]).decode()


def sign(
    secret: str, key: str, lifetime: int = SIGNED_URL_LIFETIME, now: float | None = None, not_after: int | None = None
) -> tuple[int, str]:
    """``(expires, signature)`` for ``key``. Expiry is rounded up to the hour so that URLs,
    and so browser caches, stay stable within the hour; but never later than
    ``not_after`` when given (what is signed for must end then)."""
    moment = int(time.time() if now is None else now)
    expires = ((moment + lifetime) // 3600 + 1) * 3600
    if not_after is not None:
        expires = min(expires, not_after)
    return expires, _mac(secret, key, expires)


def verify(secret: str, key: str, expires: int, signature: str, now: float | None = None) -> bool:
    """True when the signature is ours for this key and has not expired."""
    moment = time.time() if now is None else now
    if expires <= moment:
        return False
    return hmac.compare_digest(_mac(secret, key, expires), signature)
