"""Outgoing messages to people: e-mail (log or SMTP) and SMS (log; other senders plug in).

The log senders are the defaults so a fresh install works with no mail server; they
write the whole message to the log, where the admin can read a sign-up link.
"""

from __future__ import annotations

import asyncio
import logging
import smtplib
from dataclasses import dataclass
from email.message import EmailMessage
from typing import Protocol
from urllib.parse import parse_qs, unquote, urlsplit

log = logging.getLogger("lumigram.infra.email_sms")


class MessageSender(Protocol):
    async def send(self, to: str, subject: str, body: str) -> None:
        """Deliver one message; raise if it could not be handed over."""
        ...


class LogSender:
    """Writes messages to the log instead of sending them."""

    def __init__(self, channel: str) -> None:
        self.channel = channel

    async def send(self, to: str, subject: str, body: str) -> None:
        log.warning("%s to %s: %s\n%s", self.channel, to, subject, body)


@dataclass(frozen=True)
class SmtpSender:
    host: str
    port: int
    sender: str
    username: str | None = None
    password: str | None = None
    starttls: bool = False
    timeout: float = 10.0

    @classmethod
    def from_url(cls, url: str) -> SmtpSender:
        parts = urlsplit(url)
        query = parse_qs(parts.query)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 25,
            sender=query.get("from", ["lumigram@localhost"])[0],
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            starttls=query.get("starttls", ["0"])[0] in ("1", "true", "yes"),
        )

    async def send(self, to: str, subject: str, body: str) -> None:
        message = EmailMessage()
        message["From"] = self.sender
        message["To"] = to
        message["Subject"] = subject
        message.set_content(body)
        # smtplib is blocking; a thread keeps the event loop free while the server talks.
        await asyncio.to_thread(self._deliver, message)

    def _deliver(self, message: EmailMessage) -> None:
        with smtplib.SMTP(self.host, self.port, timeout=self.timeout) as client:
            if self.starttls:
                client.starttls()
            if self.username and self.password:
                client.login(self.username, self.password)
            client.send_message(message)


def open_email_sender(url: str) -> MessageSender:
    if url.startswith("smtp://"):
        return SmtpSender.from_url(url)
    return LogSender("email")


def open_sms_sender(url: str) -> MessageSender:
    return LogSender("sms")
