"""Keys of their own for each thing the web pages sign, derived from the secret key."""

from __future__ import annotations

import hashlib
import hmac


def purpose_key(secret_key: str, purpose: bytes) -> bytes:
    """A key for signing only what ``purpose`` names.

    Each signer derives its own, so no signature made under the secret key for one use
    (sessions, confirmation tickets, media URLs, e-mail links) can pass for another.
    """
    return hmac.new(secret_key.encode(), purpose, hashlib.sha256).digest()
