"""With ``require_verification``, an unconfirmed login gets no token: the password grant
and the web sign-in refuse it and name the contact to confirm."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import update

from lumigram.accounts import service
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.infra.tables import users, utcnow
from lumigram.services import Services
from tests.api.test_apps_oauth import hidden_fields, sign_in_through_page
from tests.factories import DEFAULT_PASSWORD, OOB, app_token, bearer, create_app, password_login
from tests.started import started_client

MISSING_EMAIL = "Your login is missing a confirmed e-mail address"
MISSING_PHONE = "Your login is missing a confirmed phone number"


@pytest.fixture
async def setup(make_settings: Callable[..., Settings]) -> AsyncIterator[tuple[httpx.AsyncClient, Services]]:
    services = build_services(make_settings(require_verification=True))
    async with started_client(services) as http:
        yield http, services


async def sign_up(client: httpx.AsyncClient, username: str, **contact: str) -> dict[str, Any]:
    """Sign up (unconfirmed); the client app used, for password grants, with the
    sign-up's token under ``headers``."""
    app = await create_app(client)
    data = {"username": username, "password": DEFAULT_PASSWORD, "agreement": "true", **contact}
    response = await client.post("/api/v1/accounts", data=data, headers=bearer(await app_token(client, app)))
    assert response.status_code == 200, response.text
    return {**app, "headers": bearer(response.json()["access_token"])}


async def web_login(client: httpx.AsyncClient, login: str) -> httpx.Response:
    form = hidden_fields((await client.get("/auth/sign_in")).text)
    return await client.post("/auth/sign_in", data={**form, "login": login, "password": DEFAULT_PASSWORD})


async def confirm_everything(services: Services) -> None:
    async with services.db.begin() as conn:
        await conn.execute(update(users).values(email_verified_at=utcnow(), phone_verified_at=utcnow()))


@pytest.mark.parametrize(
    ("username", "contact", "grant_login", "page_login", "missing"),
    [
        ("erin", {"email": "erin@example.org"}, "erin", "erin@example.org", MISSING_EMAIL),
        ("phoebe", {"phone": "+447700900456"}, "+44 7700 900456", "phoebe", MISSING_PHONE),
    ],
    ids=["e-mail", "phone"],
)
async def test_an_unconfirmed_login_is_told_what_to_confirm_and_gets_no_token(
    setup: tuple[httpx.AsyncClient, Services],
    username: str,
    contact: dict[str, str],
    grant_login: str,
    page_login: str,
    missing: str,
) -> None:
    client, services = setup
    app = await sign_up(client, username, **contact)
    refused = await password_login(client, app, grant_login)
    assert refused.status_code == 400
    assert refused.json() == {"error": "invalid_grant", "error_description": missing}
    assert "access_token" not in refused.text
    page = await web_login(client, page_login)
    assert page.status_code == 403
    assert missing in page.text

    await confirm_everything(services)
    assert (await password_login(client, app, username)).status_code == 200
    signed_in = await web_login(client, username)
    assert signed_in.status_code == 200, signed_in.text
    assert "Signed in" in signed_in.text


async def test_a_wrong_password_still_says_nothing_about_confirmation(
    setup: tuple[httpx.AsyncClient, Services],
) -> None:
    client, _services = setup
    app = await sign_up(client, "wendy", email="wendy@example.org")
    wrong = await password_login(client, app, "wendy", "not the password")
    assert wrong.status_code == 400
    assert wrong.json()["error_description"] != MISSING_EMAIL


async def test_without_the_setting_unconfirmed_logins_sign_in(make_settings: Callable[..., Settings]) -> None:
    services = build_services(make_settings())
    await services.db.migrate()
    try:
        user, _account = await service.register(
            services, service.Registration("uma", DEFAULT_PASSWORD, email="uma@example.org", agreement=True)
        )
        service.check_confirmed(services, user)  # no LoginUnconfirmed
        assert not user.verified
    finally:
        await services.close()


async def test_the_sign_up_token_is_refused_naming_the_contact_to_confirm(
    setup: tuple[httpx.AsyncClient, Services],
) -> None:
    client, _services = setup
    expected = {
        "by_mail": MISSING_EMAIL,
        "by_phone": MISSING_PHONE,
        "by_both": "Your login is missing a confirmed e-mail address or phone number",
    }
    contacts = {
        "by_mail": {"email": "mail@example.org"},
        "by_phone": {"phone": "+447700900789"},
        "by_both": {"email": "both@example.org", "phone": "+447700900790"},
    }
    for username, contact in contacts.items():
        app = await sign_up(client, username, **contact)
        refused = await client.get("/api/v1/accounts/verify_credentials", headers=app["headers"])
        assert refused.status_code == 403
        assert refused.json() == {"error": expected[username]}
        # The routes that confirm still take the token.
        route = "/api/v1/accounts/phone/confirmations" if username == "by_phone" else "/api/v1/emails/confirmations"
        resent = await client.post(route, headers=app["headers"])
        assert resent.status_code == 200, resent.text


async def test_a_session_of_a_login_no_longer_confirmed_gets_no_code(
    setup: tuple[httpx.AsyncClient, Services],
) -> None:
    client, services = setup
    app = await sign_up(client, "sam", email="sam@example.org")
    await confirm_everything(services)
    query = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": OOB}
    consent = await sign_in_through_page(client, query, "sam")
    assert 'value="approve"' in consent

    # The address changes and awaits confirmation again: the session may not approve.
    async with services.db.begin() as conn:
        await conn.execute(update(users).values(email_verified_at=None, phone_verified_at=None))
    page = await client.get("/oauth/authorize", params=query)
    assert 'name="password"' in page.text
    assert 'value="approve"' not in page.text
    form = hidden_fields(page.text)
    approved = await client.post("/oauth/authorize", data={**form, **query, "decision": "approve"})
    assert approved.status_code == 303
    assert approved.headers["location"].startswith("/oauth/authorize?")
    refused = await web_login(client, "sam")
    assert refused.status_code == 403
    assert MISSING_EMAIL in refused.text
