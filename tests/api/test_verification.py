"""Confirming contacts: e-mail links through a real SMTP server (aiosmtpd), SMS codes."""

from __future__ import annotations

import email
import email.policy
import re
import socket
from collections.abc import AsyncIterator, Callable, Iterator
from dataclasses import dataclass, field
from datetime import timedelta
from email.message import EmailMessage
from typing import Any

import httpx
import orjson
import pytest
from aiosmtpd.controller import Controller
from sqlalchemy import update

from lumigram.accounts.handlers import SEND_VERIFICATION
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.consumers import consumers
from lumigram.infra.bus import Event
from lumigram.infra.tables import outbox, processed_events, utcnow, verifications
from lumigram.services import Services
from tests.factories import DEFAULT_PASSWORD, app_token, bearer, create_app
from tests.settle import settle
from tests.started import started_client

UNCONFIRMED = {"error": "Your login is missing a confirmed e-mail address"}


@dataclass
class Mailbox:
    """What the test SMTP server received."""

    port: int
    messages: list[EmailMessage] = field(default_factory=list)

    def to(self, address: str) -> list[EmailMessage]:
        return [m for m in self.messages if m["To"] == address]


class _Recorder:
    def __init__(self, mailbox: Mailbox) -> None:
        self.mailbox = mailbox

    async def handle_DATA(self, server: Any, session: Any, envelope: Any) -> str:
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        assert isinstance(message, EmailMessage)
        self.mailbox.messages.append(message)
        return "250 Message accepted for delivery"


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@pytest.fixture
def mailbox() -> Iterator[Mailbox]:
    box = Mailbox(port=_free_port())
    controller = Controller(_Recorder(box), hostname="127.0.0.1", port=box.port)
    controller.start()
    try:
        yield box
    finally:
        controller.stop()


@dataclass
class Recording:
    """Stands in for the SMS gateway."""

    sent: list[tuple[str, str]] = field(default_factory=list)

    async def send(self, to: str, subject: str, body: str) -> None:
        self.sent.append((to, body))


@pytest.fixture
async def setup(
    make_settings: Callable[..., Settings], mailbox: Mailbox
) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    """A client on a server that sends real mail to ``mailbox`` and requires confirmation."""
    settings = make_settings(email_url=f"smtp://127.0.0.1:{mailbox.port}?from=noreply@test", require_verification=True)
    services = build_services(settings)
    services.sms = Recording()
    async with started_client(services) as http:
        yield http, services


async def sign_up(client: httpx.AsyncClient, **fields: str) -> dict[str, str]:
    token = await app_token(client, await create_app(client))
    data = {"username": "carol", "email": "carol@example.org", "password": DEFAULT_PASSWORD, "agreement": "true"}
    data.update(fields)
    response = await client.post("/api/v1/accounts", data=data, headers=bearer(token))
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


def link_in(message: EmailMessage) -> str:
    body = message.get_body(("plain",))
    assert body is not None
    found = re.search(r"http://testserver(/auth/confirm\?token=[A-Za-z0-9_-]+)", body.get_content())
    assert found is not None, body.get_content()
    return found.group(1)


async def test_email_confirmation_end_to_end(setup: tuple[httpx.AsyncClient, Services], mailbox: Mailbox) -> None:
    client, services = setup
    headers = await sign_up(client)
    refused = await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert refused.status_code == 403
    assert refused.json() == UNCONFIRMED

    await settle(services)
    assert mailbox.to("carol@example.org")
    message = mailbox.to("carol@example.org")[0]
    assert message["From"] == "noreply@test"
    assert "Confirm" in message["Subject"]
    page = await client.get(link_in(message))
    assert page.status_code == 200
    assert "confirmed" in page.text
    assert "carol@example.org" in page.text

    # The cached "unconfirmed" state is dropped at once: no waiting for the cache to expire.
    me = await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert me.status_code == 200, me.text
    assert (await client.get(link_in(message))).status_code == 200  # a second click is fine
    again = await client.post("/api/v1/emails/confirmations", headers=headers)
    assert again.status_code == 403


async def test_bad_confirmation_links_are_refused(setup: tuple[httpx.AsyncClient, Services]) -> None:
    client, _services = setup
    for token in ("", "nonsense", "x" * 1000):
        page = await client.get("/auth/confirm", params={"token": token})
        assert page.status_code == 404
        assert "invalid or has expired" in page.text


async def test_resending_and_correcting_the_address(
    setup: tuple[httpx.AsyncClient, Services], mailbox: Mailbox
) -> None:
    client, services = setup
    headers = await sign_up(client, email="typo@exmaple.org")
    await settle(services)
    assert mailbox.to("typo@exmaple.org")
    first_link = link_in(mailbox.to("typo@exmaple.org")[0])

    resent = await client.post("/api/v1/emails/confirmations", data={"email": "carol@example.org"}, headers=headers)
    assert resent.status_code == 200, resent.text
    assert resent.json() == {}
    await settle(services)
    assert mailbox.to("carol@example.org")
    new_link = link_in(mailbox.to("carol@example.org")[0])
    assert new_link != first_link

    # The link sent to the mistyped address no longer confirms anything.
    assert (await client.get(first_link)).status_code == 404
    assert (await client.get(new_link)).status_code == 200
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=headers)).status_code == 200


async def test_expired_links_are_refused(setup: tuple[httpx.AsyncClient, Services], mailbox: Mailbox) -> None:
    client, services = setup
    await sign_up(client)
    await settle(services)
    assert mailbox.to("carol@example.org")
    async with services.db.begin() as conn:
        await conn.execute(update(verifications).values(expires_at=utcnow() - timedelta(seconds=1)))
    assert (await client.get(link_in(mailbox.to("carol@example.org")[0]))).status_code == 404


async def test_redelivered_events_send_the_same_link(
    setup: tuple[httpx.AsyncClient, Services], mailbox: Mailbox
) -> None:
    client, services = setup
    await sign_up(client)
    await settle(services)
    assert mailbox.to("carol@example.org")
    first = mailbox.to("carol@example.org")[0]

    # Recorded just after the mail went out, before the event is acknowledged.
    async with services.db.connect() as conn:
        query = processed_events.select().where(processed_events.c.consumer == SEND_VERIFICATION)
        event_id = int((await conn.execute(query)).one().event_id)
    (handler,) = [c.handler for c in consumers(services) if c.name == SEND_VERIFICATION]
    async with services.db.connect() as conn:
        row = (await conn.execute(outbox.select().where(outbox.c.id == event_id))).one()
    event = Event(id=event_id, type=row.type, payload=orjson.loads(row.payload))

    await handler(event)  # already handled: nothing is sent
    assert len(mailbox.to("carol@example.org")) == 1

    # As if the process died after sending but before recording the event as handled.
    async with services.db.begin() as conn:
        await conn.execute(processed_events.delete().where(processed_events.c.consumer == SEND_VERIFICATION))
    await handler(event)
    messages = mailbox.to("carol@example.org")
    assert len(messages) == 2
    assert link_in(messages[1]) == link_in(first)


async def test_phone_sign_up_is_confirmed_with_an_sms_code(setup: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = setup
    sms = services.sms
    assert isinstance(sms, Recording)
    headers = await sign_up(client, email="", phone="+447700900123")
    refused = await client.get("/api/v1/accounts/verify_credentials", headers=headers)
    assert refused.json() == {"error": "Your login is missing a confirmed phone number"}
    await settle(services)
    assert sms.sent
    to, body = sms.sent[0]
    assert to == "+447700900123"
    code = re.search(r"\b(\d{6})\b", body)
    assert code is not None

    wrong = "000000" if code.group(1) != "000000" else "111111"
    refused = await client.post("/api/v1/accounts/phone/verify", data={"code": wrong}, headers=headers)
    assert refused.status_code == 422
    assert refused.json()["details"]["code"][0]["error"] == "ERR_INVALID"
    missing = await client.post("/api/v1/accounts/phone/verify", data={}, headers=headers)
    assert missing.status_code == 422
    accepted = await client.post("/api/v1/accounts/phone/verify", json={"code": code.group(1)}, headers=headers)
    assert accepted.status_code == 200, accepted.text
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=headers)).status_code == 200


async def test_sms_codes_allow_only_a_few_attempts(setup: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = setup
    sms = services.sms
    assert isinstance(sms, Recording)
    headers = await sign_up(client, email="", phone="+15550100777")
    await settle(services)
    assert sms.sent
    code = re.search(r"\b(\d{6})\b", sms.sent[0][1])
    assert code is not None
    wrong = "000000" if code.group(1) != "000000" else "111111"
    for _ in range(5):
        response = await client.post("/api/v1/accounts/phone/verify", data={"code": wrong}, headers=headers)
        assert response.status_code == 422
    blocked = await client.post("/api/v1/accounts/phone/verify", data={"code": code.group(1)}, headers=headers)
    assert blocked.status_code == 422
    assert blocked.json()["details"]["code"][0]["error"] == "ERR_TOO_MANY_ATTEMPTS"

    # A new code starts a new count.
    assert (await client.post("/api/v1/accounts/phone/confirmations", headers=headers)).status_code == 200
    await settle(services)
    assert len(sms.sent) == 2
    fresh = re.search(r"\b(\d{6})\b", sms.sent[1][1])
    assert fresh is not None
    ok = await client.post("/api/v1/accounts/phone/verify", data={"code": fresh.group(1)}, headers=headers)
    assert ok.status_code == 200, ok.text


async def test_expired_sms_codes_are_refused(setup: tuple[httpx.AsyncClient, Services]) -> None:
    client, services = setup
    sms = services.sms
    assert isinstance(sms, Recording)
    headers = await sign_up(client, email="", phone="+15550100778")
    await settle(services)
    assert sms.sent
    code = re.search(r"\b(\d{6})\b", sms.sent[0][1])
    assert code is not None
    async with services.db.begin() as conn:
        await conn.execute(update(verifications).values(expires_at=utcnow() - timedelta(seconds=1)))
    response = await client.post("/api/v1/accounts/phone/verify", data={"code": code.group(1)}, headers=headers)
    assert response.status_code == 422
    assert response.json()["details"]["code"][0]["error"] == "ERR_EXPIRED"


async def test_resends_are_rate_limited(setup: tuple[httpx.AsyncClient, Services]) -> None:
    client, _services = setup
    headers = await sign_up(client)
    statuses = [(await client.post("/api/v1/emails/confirmations", headers=headers)).status_code for _ in range(6)]
    assert statuses == [200] * 5 + [429]
