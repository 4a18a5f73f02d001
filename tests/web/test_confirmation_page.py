"""In Chromium, with the real pages and their CSP: a phone-only login that has to confirm
signs in on the authorize page, gets a new code, enters it, and approves the app."""

from __future__ import annotations

import re
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from tests.live import LiveServer
from tests.web.pages import PASSWORD, approve, browser_server, opened_page, register_app, sign_in_to_authorize

pytestmark = [pytest.mark.browser, pytest.mark.live]

PHONE = "+15550100999"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with browser_server(tmp_path_factory, "confirming", require_verification=True) as running:
        yield running


def _app_and_phone_user(base_url: str, username: str) -> dict[str, Any]:
    """A client app and a phone-only login whose sign-up token is thrown away."""
    with httpx.Client(base_url=base_url) as http:
        credentials, token = register_app(http, "write")
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
    with opened_page(browser) as page:
        sign_in_to_authorize(page, server.base_url, app["client_id"], "browser_phil")
        page.wait_for_selector("text=missing a confirmed phone number")
        page.click("button[value=phone]")
        page.wait_for_selector("text=A new code is on its way")
        page.fill("input[name=code]", _wait_for_code(server, 2))
        page.click("text=Confirm and sign in")
        page.wait_for_selector("button[value=approve]")
        approve(page)
