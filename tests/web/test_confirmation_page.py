"""In Chromium, with the real pages and their CSP: a phone-only login that has to confirm
signs in on the authorize page, gets a new code, enters it, and approves the app."""

from __future__ import annotations

import re
import time
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
PHONE = "+15550100999"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data: Path = tmp_path_factory.mktemp("confirming") / "data"
    settings = Settings(data_dir=data, secret_key="browser-secret-" + "x" * 32, require_verification=True)
    with live_server(settings) as running:
        yield running


def _app_and_phone_user(base_url: str, username: str) -> dict[str, Any]:
    """A client app and a phone-only login whose sign-up token is thrown away."""
    with httpx.Client(base_url=base_url) as http:
        form = {"client_name": "Photo Frame", "redirect_uris": OOB, "scopes": "read write"}
        credentials: dict[str, Any] = http.post("/api/v1/apps", data=form).raise_for_status().json()
        grant = {
            "grant_type": "client_credentials",
            "client_id": credentials["client_id"],
            "client_secret": credentials["client_secret"],
            "scope": "write",
        }
        token = http.post("/oauth/token", data=grant).raise_for_status().json()["access_token"]
        sign_up = {"username": username, "phone": PHONE, "password": PASSWORD, "agreement": "1"}
        http.post("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}, data=sign_up).raise_for_status()
    return credentials


def _codes_sent(server: LiveServer) -> list[str]:
    """The SMS codes the server's log sender wrote, oldest first."""
    return re.findall(rf"sms to {re.escape(PHONE)}: [^\n]*\n(\d{{6}}) is your", server.log())


def _wait_for_code(server: LiveServer, count: int, timeout: float = 20.0) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        codes = _codes_sent(server)
        if len(codes) >= count:
            return codes[count - 1]
        time.sleep(0.1)
    raise AssertionError(f"code {count} was not sent within {timeout}s:\n{server.log()}")


def test_confirm_by_sms_on_the_page_then_approve(server: LiveServer, browser: Any) -> None:
    app = _app_and_phone_user(server.base_url, "browser_phil")
    _wait_for_code(server, 1)
    query = urlencode({"response_type": "code", "client_id": app["client_id"], "redirect_uri": OOB, "scope": "read"})
    page = browser.new_page()
    try:
        page.goto(f"{server.base_url}/oauth/authorize?{query}")
        page.fill("input[name=login]", "browser_phil")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_selector("text=missing a confirmed phone number")
        page.click("button[value=phone]")
        page.wait_for_selector("text=A new code is on its way")
        page.fill("input[name=code]", _wait_for_code(server, 2))
        page.click("text=Confirm and sign in")
        page.wait_for_selector("button[value=approve]")
        page.click("button[value=approve]")
        code = page.text_content("#code")
    finally:
        page.close()
    assert code
    assert code.strip()
