"""A person signs in and approves an app on the real /oauth/authorize pages, in Chromium."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from lumigram.config import Settings
from tests.live import LiveServer, live_server

pytestmark = [pytest.mark.browser, pytest.mark.live]

OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "a browser-typed password"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data: Path = tmp_path_factory.mktemp("browser") / "data"
    with live_server(Settings(data_dir=data, secret_key="browser-secret-" + "x" * 32)) as running:
        yield running


def _app_and_user(base_url: str, username: str) -> dict[str, Any]:
    with httpx.Client(base_url=base_url) as http:
        form = {"client_name": "Photo Frame", "redirect_uris": OOB, "scopes": "read write"}
        app = http.post("/api/v1/apps", data=form)
        app.raise_for_status()
        credentials = app.json()
        token = http.post(
            "/oauth/token",
            data={"grant_type": "client_credentials", "client_id": credentials["client_id"],
                  "client_secret": credentials["client_secret"], "scope": "read write"},
        ).json()["access_token"]
        signed_up = http.post(
            "/api/v1/accounts",
            headers={"Authorization": f"Bearer {token}"},
            data={"username": username, "email": f"{username}@example.org", "password": PASSWORD, "agreement": "1"},
        )
        signed_up.raise_for_status()
    return credentials  # type: ignore[no-any-return]


def test_sign_in_approve_and_exchange_the_code_with_pkce(server: LiveServer, browser: Any) -> None:
    app = _app_and_user(server.base_url, "browser_ann")
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({
        "response_type": "code", "client_id": app["client_id"], "redirect_uri": OOB, "scope": "read write",
        "code_challenge": challenge, "code_challenge_method": "S256",
    })
    page = browser.new_page()
    try:
        page.goto(f"{server.base_url}/oauth/authorize?{query}")
        page.fill("input[name=login]", "browser_ann")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=Photo Frame")
        page.click("button[value=approve]")
        code = page.text_content("#code")
    finally:
        page.close()
    assert code
    assert code.strip()
    with httpx.Client(base_url=server.base_url) as http:
        token = http.post(
            "/oauth/token",
            data={"grant_type": "authorization_code", "code": code.strip(), "redirect_uri": OOB,
                  "client_id": app["client_id"], "client_secret": app["client_secret"], "code_verifier": verifier},
        )
        assert token.status_code == 200, token.text
        me = http.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert me.json()["username"] == "browser_ann"


def test_a_wrong_password_shows_an_error_on_the_page(server: LiveServer, browser: Any) -> None:
    app = _app_and_user(server.base_url, "browser_bea")
    query = urlencode({"response_type": "code", "client_id": app["client_id"], "redirect_uri": OOB, "scope": "read"})
    page = browser.new_page()
    try:
        page.goto(f"{server.base_url}/oauth/authorize?{query}")
        page.fill("input[name=login]", "browser_bea")
        page.fill("input[name=password]", "not it at all")
        page.click("button[type=submit]")
        body = page.text_content("body") or ""
    finally:
        page.close()
    assert "do not match" in body
    assert "Authorize" not in body  # still on the sign-in form, not the approval page
