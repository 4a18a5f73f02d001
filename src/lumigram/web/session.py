"""Signed cookie sessions for the web pages, and their CSRF tokens.

The cookie holds a small JSON object, base64url-encoded, followed by an HMAC-SHA256 of
it under a key derived from ``settings.secret_key``: the browser can read the content
(there is nothing secret in it: ids, times and a random CSRF token) but cannot change it.
Each session carries an expiry inside the signed part, so an old cookie replayed after
its lifetime is refused even if the browser kept it.

CSRF: every form carries the session's ``csrf`` value in a hidden field; a POST is
accepted only if the two match (synchroniser token). ``SameSite=Lax`` is a second layer.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import secrets
import time
from dataclasses import dataclass, replace
from typing import Any

import orjson
from starlette.requests import HTTPConnection
from starlette.responses import Response

from lumigram.web.signing_keys import purpose_key

COOKIE_NAME = "lumigram_session"
#: A signed-in browser stays signed in this long.
SIGNED_IN_LIFETIME = 30 * 24 * 3600
#: An anonymous session (just a CSRF token for the sign-in form) lasts a day.
ANONYMOUS_LIFETIME = 24 * 3600
MAX_COOKIE_BYTES = 4096


@dataclass(frozen=True, slots=True)
class Session:
    csrf: str
    expires: int
    user_id: int | None = None
    account_id: int | None = None
    signed_in_at: int | None = None
    #: The web app's own access token for this browser, which its scripts send to the
    #: JSON API and the streaming API (as Mastodon's web app does); issued on first use.
    api_token: str | None = None

    @property
    def signed_in(self) -> bool:
        return self.user_id is not None and self.account_id is not None


def _b64encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _b64decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


class SessionSigner:
    """Turns sessions into cookie values and back, refusing anything not signed by us."""

    def __init__(self, secret_key: str) -> None:
        self._key = purpose_key(secret_key, b"lumigram.web.session")

    def _signature(self, payload: str) -> str:
        return _b64encode(hmac.new(self._key, payload.encode(), hashlib.sha256).digest())

    def dumps(self, session: Session) -> str:
        data: dict[str, Any] = {"c": session.csrf, "e": session.expires}
        if session.signed_in:
            data.update(u=str(session.user_id), a=str(session.account_id), t=session.signed_in_at)
            if session.api_token is not None:
                data["k"] = session.api_token
        payload = _b64encode(orjson.dumps(data))
        return f"{payload}.{self._signature(payload)}"

    def loads(self, value: str | None, now: float | None = None) -> Session | None:
        """The session in ``value``, or None when missing, tampered with, malformed or expired."""
        if not value or len(value) > MAX_COOKIE_BYTES or "." not in value:
            return None
        payload, _, signature = value.partition(".")
        if not hmac.compare_digest(signature.encode(), self._signature(payload).encode()):
            return None
        try:
            data = orjson.loads(_b64decode(payload))
            session = Session(
                csrf=str(data["c"]),
                expires=int(data["e"]),
                user_id=int(data["u"]) if "u" in data else None,
                account_id=int(data["a"]) if "a" in data else None,
                signed_in_at=int(data["t"]) if data.get("t") is not None else None,
                api_token=str(data["k"]) if "k" in data else None,
            )
        except (binascii.Error, orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return None
        if session.expires < (time.time() if now is None else now):
            return None
        return session


def new_session() -> Session:
    return Session(csrf=secrets.token_urlsafe(32), expires=int(time.time()) + ANONYMOUS_LIFETIME)


def signed_in(user_id: int, account_id: int) -> Session:
    """A fresh session for a login that just signed in (new CSRF token: no fixation)."""
    now = int(time.time())
    return Session(
        csrf=secrets.token_urlsafe(32),
        expires=now + SIGNED_IN_LIFETIME,
        user_id=user_id,
        account_id=account_id,
        signed_in_at=now,
    )


def signed_out(session: Session) -> Session:
    return replace(new_session(), csrf=session.csrf)


def read_session(conn: HTTPConnection, signer: SessionSigner) -> Session | None:
    return signer.loads(conn.cookies.get(COOKIE_NAME))


def write_session(response: Response, session: Session, signer: SessionSigner, secure: bool) -> None:
    response.set_cookie(
        COOKIE_NAME,
        signer.dumps(session),
        max_age=max(0, session.expires - int(time.time())),
        path="/",
        secure=secure,
        httponly=True,
        samesite="lax",
    )


def csrf_ok(session: Session | None, submitted: str | None) -> bool:
    if session is None or not submitted:
        return False
    return hmac.compare_digest(session.csrf.encode(), submitted.encode("utf-8", "surrogatepass"))
