"""A login that must confirm a contact but lost its sign-up token confirms on the web
sign-in page: the right password opens a page, tied to a signed, short-lived ticket,
that sends the link or code again and takes the SMS code; then the login signs in."""

from __future__ import annotations

import html
import logging
import re
import time
from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from lumigram.accounts import service
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.services import Services
from lumigram.web.confirm_tickets import TICKET_LIFETIME, TicketSigner
from tests.api.test_apps_oauth import hidden_fields
from tests.api.test_unconfirmed_sign_in import MISSING_EMAIL, MISSING_PHONE, sign_up
from tests.conftest import eventually
from tests.factories import DEFAULT_PASSWORD, OOB, password_login
from tests.started import started_client

Setup = tuple[httpx.AsyncClient, Services]


async def _started(settings: Settings) -> AsyncIterator[Setup]:
    services = build_services(settings)
    async with started_client(services) as http:
        yield http, services


@pytest.fixture
async def setup(make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture) -> AsyncIterator[Setup]:
    """A server that requires confirmation and sends its mail and texts to the log."""
    caplog.set_level(logging.WARNING, logger="lumigram.infra.email_sms")
    async for started in _started(make_settings(require_verification=True)):
        yield started


@pytest.fixture
async def strict_setup(
    make_settings: Callable[..., Settings], caplog: pytest.LogCaptureFixture
) -> AsyncIterator[Setup]:
    """The same with only three sign-in attempts per window."""
    caplog.set_level(logging.WARNING, logger="lumigram.infra.email_sms")
    async for started in _started(make_settings(require_verification=True, login_rate_limit=3)):
        yield started


def sent_to(caplog: pytest.LogCaptureFixture, target: str) -> list[str]:
    """Bodies of the messages the log senders wrote for ``target``, oldest first."""
    bodies = []
    for record in caplog.records:
        if record.name != "lumigram.infra.email_sms":
            continue
        head, _, body = record.getMessage().partition("\n")
        if head.split(": ")[0].endswith(f" to {target}"):
            bodies.append(body)
    return bodies


async def messages(caplog: pytest.LogCaptureFixture, target: str, count: int) -> list[str]:
    """Wait for the ``count``-th message to ``target`` (the bus delivers asynchronously)."""
    await eventually(lambda: len(sent_to(caplog, target)) >= count)
    return sent_to(caplog, target)


def code_in(body: str) -> str:
    found = re.search(r"\b(\d{6})\b", body)
    assert found is not None, body
    return found.group(1)


def link_in(body: str) -> str:
    found = re.search(r"(/auth/confirm\?token=[A-Za-z0-9_-]+)", body)
    assert found is not None, body
    return found.group(1)


def form_fields(page: str, action: str) -> dict[str, str]:
    """The hidden fields of the page's form posting to ``action``, as a browser sends them."""
    found = re.search(rf'<form[^>]*action="{re.escape(action)}"[^>]*>(.*?)</form>', page, re.S)
    assert found is not None, f"no form for {action} in:\n{page}"
    fields = hidden_fields(found.group(1))
    button = re.search(r'<button[^>]*name="([^"]*)"[^>]*value="([^"]*)"', found.group(1))
    if button is not None:
        fields[button.group(1)] = html.unescape(button.group(2))
    return fields


async def open_sign_in(client: httpx.AsyncClient, login: str, password: str = DEFAULT_PASSWORD) -> httpx.Response:
    form = hidden_fields((await client.get("/auth/sign_in")).text)
    return await client.post("/auth/sign_in", data={**form, "login": login, "password": password})


async def submit(client: httpx.AsyncClient, page: str, action: str, **extra: str) -> httpx.Response:
    return await client.post(action, data={**form_fields(page, action), **extra})


async def test_a_phone_only_login_without_its_token_confirms_and_signs_in(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    client, _services = setup
    app = await sign_up(client, "phoebe", phone="+447700900456")  # its token is lost
    first_code = code_in((await messages(caplog, "+447700900456", 1))[0])

    page = await open_sign_in(client, "phoebe")
    assert page.status_code == 403
    assert MISSING_PHONE in page.text
    assert "e-mail" not in page.text
    assert "ending in <strong>456</strong>" in page.text
    assert "+447700900456" not in page.text  # only the end of the number

    resent = await submit(client, page.text, "/auth/confirmation/resend")
    assert resent.status_code == 200, resent.text
    assert "new code" in resent.text
    new_code = code_in((await messages(caplog, "+447700900456", 2))[1])
    assert new_code != first_code

    # The superseded code no longer confirms; the page says so and stays usable.
    wrong = await submit(client, resent.text, "/auth/confirmation/phone", code=first_code)
    assert wrong.status_code == 422
    assert "That code is wrong" in wrong.text
    assert (await password_login(client, app, "phoebe")).status_code == 400

    confirmed = await submit(client, wrong.text, "/auth/confirmation/phone", code=new_code)
    assert confirmed.status_code == 200, confirmed.text
    assert "Signed in" in confirmed.text
    assert "@phoebe" in confirmed.text
    granted = await password_login(client, app, "phoebe")
    assert granted.status_code == 200, granted.text
    assert granted.json()["access_token"]


async def test_an_e_mail_login_gets_its_link_again_confirms_and_continues(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    client, _services = setup
    app = await sign_up(client, "erin", email="erin@example.org")
    await messages(caplog, "erin@example.org", 1)

    page = await open_sign_in(client, "erin@example.org")
    assert page.status_code == 403
    assert MISSING_EMAIL in page.text
    assert 'name="code"' not in page.text

    # Continuing before the link is opened only says so.
    early = await submit(client, page.text, "/auth/confirmation/continue")
    assert early.status_code == 403
    assert MISSING_EMAIL in early.text
    assert "Signed in" not in early.text

    resent = await submit(client, early.text, "/auth/confirmation/resend")
    assert resent.status_code == 200, resent.text
    assert "new link" in resent.text
    link = link_in((await messages(caplog, "erin@example.org", 2))[1])
    assert (await client.get(link)).status_code == 200

    signed_in = await submit(client, resent.text, "/auth/confirmation/continue")
    assert signed_in.status_code == 200, signed_in.text
    assert "Signed in" in signed_in.text
    assert (await password_login(client, app, "erin")).status_code == 200


async def test_the_authorize_flow_continues_after_the_phone_is_confirmed(
    setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    client, _services = setup
    app = await sign_up(client, "olive", phone="+15550100321")
    query = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": OOB, "scope": "read"}
    authorize = await client.get("/oauth/authorize", params=query)
    form = hidden_fields(authorize.text)
    page = await client.post("/auth/sign_in", data={**form, "login": "olive", "password": DEFAULT_PASSWORD})
    assert page.status_code == 403
    assert MISSING_PHONE in page.text

    code = code_in((await messages(caplog, "+15550100321", 1))[0])
    confirmed = await submit(client, page.text, "/auth/confirmation/phone", code=code)
    assert confirmed.status_code == 303, confirmed.text
    assert confirmed.headers["location"].startswith("/oauth/authorize?")
    consent = await client.get(confirmed.headers["location"])
    assert consent.status_code == 200
    assert 'value="approve"' in consent.text


async def test_a_wrong_password_reveals_nothing_about_confirmation(setup: Setup) -> None:
    client, _services = setup
    await sign_up(client, "wendy", phone="+447700900111")
    for login, password in (("wendy", "not the password"), ("nobody_here", DEFAULT_PASSWORD)):
        page = await open_sign_in(client, login, password)
        assert page.status_code == 401
        assert "That login name and password do not match." in page.text
        assert "confirm" not in page.text.lower()
        assert 'name="ticket"' not in page.text


async def test_forged_foreign_and_expired_tickets_are_refused(setup: Setup, caplog: pytest.LogCaptureFixture) -> None:
    client, services = setup
    await sign_up(client, "frank", phone="+447700900222")
    await messages(caplog, "+447700900222", 1)
    page = (await open_sign_in(client, "frank")).text
    fields = form_fields(page, "/auth/confirmation/resend")
    user_id, expires, signature = fields["ticket"].split(".")
    signer = TicketSigner(services.settings.ensure_secret_key())
    stale = signer.issue(int(user_id), fields["csrf"], now=time.time() - TICKET_LIFETIME - 1)
    forged = {
        "another login": f"{int(user_id) + 1}.{expires}.{signature}",
        "a later expiry": f"{user_id}.{int(expires) + 3600}.{signature}",
        "a made-up signature": f"{user_id}.{expires}.{'0' * len(signature)}",
        "an expired ticket": stale,
        "no ticket": "",
        "a guessable id": user_id,
    }
    for name, ticket in forged.items():
        refused = await client.post("/auth/confirmation/resend", data={**fields, "ticket": ticket})
        assert refused.status_code == 403, name
        assert "Please sign in again" in refused.text, name
        assert 'name="password"' in refused.text, name

    # A real ticket is worthless in another browser (it is bound to this one's session).
    client.cookies.clear()
    other_form = hidden_fields((await client.get("/auth/sign_in")).text)
    stolen = await client.post("/auth/confirmation/resend", data={**fields, "csrf": other_form["csrf"]})
    assert stolen.status_code == 403
    assert "Please sign in again" in stolen.text
    assert len(sent_to(caplog, "+447700900222")) == 1  # nothing was sent on any of them


async def test_both_contacts_are_offered_and_a_disabled_login_is_refused(setup: Setup) -> None:
    client, services = setup
    await sign_up(client, "bo", email="bo@example.org", phone="+447700900666")
    page = await open_sign_in(client, "bo")
    assert page.status_code == 403
    assert "missing a confirmed e-mail address or phone number" in page.text
    assert "b•••@example.org" in page.text
    assert "bo@example.org" not in page.text
    assert 'name="code"' in page.text
    assert 'value="email"' in page.text
    assert 'value="phone"' in page.text

    user_id = int(form_fields(page.text, "/auth/confirmation/continue")["ticket"].split(".")[0])
    await service.set_disabled(services, user_id, True)
    refused = await submit(client, page.text, "/auth/confirmation/continue")
    assert refused.status_code == 403
    assert "Your login is currently disabled" in refused.text
    assert "Signed in" not in refused.text


async def test_resends_and_attempts_are_rate_limited(setup: Setup) -> None:
    client, _services = setup
    await sign_up(client, "rita", email="rita@example.org")
    page = (await open_sign_in(client, "rita")).text
    statuses = []
    for _ in range(6):
        response = await submit(client, page, "/auth/confirmation/resend")
        statuses.append(response.status_code)
    assert statuses == [200] * 5 + [429]
    assert "Too many" in response.text


async def test_the_recovery_page_counts_against_the_sign_in_limit(
    strict_setup: Setup, caplog: pytest.LogCaptureFixture
) -> None:
    client, _services = strict_setup
    await sign_up(client, "leo", phone="+447700900444")
    code = code_in((await messages(caplog, "+447700900444", 1))[0])
    page = await open_sign_in(client, "leo")  # attempt 1
    assert page.status_code == 403
    wrong = "000000" if code != "000000" else "111111"
    for _ in range(2):  # attempts 2 and 3
        response = await submit(client, page.text, "/auth/confirmation/phone", code=wrong)
        assert response.status_code == 422
    limited = await submit(client, page.text, "/auth/confirmation/phone", code=code)
    assert limited.status_code == 429
    assert "Too many sign-in attempts" in limited.text
    assert "Signed in" not in limited.text
