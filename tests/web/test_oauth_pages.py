"""A person signs in and approves an app on the real /oauth/authorize pages, in Chromium."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.live import LiveServer
from tests.web.pages import OOB, PASSWORD, approve, browser_server, opened_page, register_app, sign_in_to_authorize

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with browser_server(tmp_path_factory, "browser") as running:
        yield running


def _app_and_user(base_url: str, username: str) -> dict[str, Any]:
    with httpx.Client(base_url=base_url) as http:
        credentials, token = register_app(http, "read write")
        signed_up = http.post(
            "/api/v1/accounts",
            headers={"Authorization": f"Bearer {token}"},
            data={"username": username, "email": f"{username}@example.org", "password": PASSWORD, "agreement": "1"},
        )
        signed_up.raise_for_status()
    return credentials


def test_sign_in_approve_and_exchange_the_code_with_pkce(server: LiveServer, browser: Any) -> None:
    app = _app_and_user(server.base_url, "browser_ann")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    pkce = {"code_challenge": challenge, "code_challenge_method": "S256"}
    with opened_page(browser) as page:
        sign_in_to_authorize(page, server.base_url, app["client_id"], "browser_ann", scope="read write", **pkce)
        page.wait_for_selector("text=Photo Frame")
        code = approve(page)
    with httpx.Client(base_url=server.base_url) as http:
        token = http.post(
            "/oauth/token",
            data={
                "grant_type": "authorization_code",
                "code": code,
                "redirect_uri": OOB,
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "code_verifier": verifier,
            },
        )
        assert token.status_code == 200, token.text
        me = http.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert me.json()["username"] == "browser_ann"


def test_a_wrong_password_shows_an_error_on_the_page(server: LiveServer, browser: Any) -> None:
    app = _app_and_user(server.base_url, "browser_bea")
    with opened_page(browser) as page:
        sign_in_to_authorize(page, server.base_url, app["client_id"], "browser_bea", password="not it at all")
        body = page.text_content("body") or ""
    assert "do not match" in body
    assert "Authorize" not in body  # still on the sign-in form, not the approval page
