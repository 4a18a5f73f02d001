"""Tickets for the confirmation page a login sees when its password was right but it
still has to confirm a contact (``require_verification``).

Such a login gets no session and no token, so the page needs its own proof that the
password was checked: a ticket naming the login and when it stops working, signed with
a key of its own together with the browser's session CSRF token. A ticket cannot be
guessed or altered, is refused once ``TICKET_LIFETIME`` has passed, and is worthless
without the cookie of the browser it was issued to.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass

from lumigram.web.signing_keys import purpose_key

#: Long enough to fetch a new code or open a link in the mailbox, short enough that a
#: page left open does not stand in for a password for long.
TICKET_LIFETIME = 15 * 60
MAX_TICKET_LENGTH = 200


@dataclass(frozen=True, slots=True)
class Ticket:
    user_id: int
    expires: int


class TicketSigner:
    """Issues tickets and reads them back, refusing forged, foreign or expired ones."""

    def __init__(self, secret_key: str) -> None:
        self._key = purpose_key(secret_key, b"lumigram.web.confirm-ticket")

    def _signature(self, body: str, csrf: str) -> str:
        message = f"{body}\n{csrf}".encode("utf-8", "surrogatepass")
        return hmac.new(self._key, message, hashlib.sha256).hexdigest()

    def issue(self, user_id: int, csrf: str, now: float | None = None) -> str:
        """A ticket for ``user_id``, valid with the session whose CSRF token is ``csrf``."""
        expires = int(time.time() if now is None else now) + TICKET_LIFETIME
        body = f"{user_id}.{expires}"
        return f"{body}.{self._signature(body, csrf)}"

    def read(self, value: str | None, csrf: str, now: float | None = None) -> Ticket | None:
        """The ticket in ``value``, or None when missing, malformed, forged, foreign or expired."""
        if not value or len(value) > MAX_TICKET_LENGTH or value.count(".") != 2:
            return None
        body, _, signature = value.rpartition(".")
        expected = self._signature(body, csrf)
        if not hmac.compare_digest(signature.encode("utf-8", "surrogatepass"), expected.encode()):
            return None
        user_text, _, expires_text = body.partition(".")
        if not (user_text.isdecimal() and expires_text.isdecimal()):
            return None
        ticket = Ticket(int(user_text), int(expires_text))
        if ticket.expires < (time.time() if now is None else now):
            return None
        return ticket
