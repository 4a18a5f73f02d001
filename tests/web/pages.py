"""Steps the browser tests share: a server of their own, a client app to authorize,
signing in on its page and approving it."""

from __future__ import annotations

import contextlib
import time
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest

from lumigram.config import Settings
from tests.live import LiveServer, live_server

OOB = "urn:ietf:wg:oauth:2.0:oob"
PASSWORD = "a browser-typed password"


@contextlib.contextmanager
def browser_server(tmp_path_factory: pytest.TempPathFactory, name: str, **settings: Any) -> Iterator[LiveServer]:
    """A live server on a fresh data folder, with ``settings`` on top of the defaults."""
    data = tmp_path_factory.mktemp(name) / "data"
    with live_server(Settings(data_dir=data, secret_key="browser-secret-" + "x" * 32, **settings)) as running:
        yield running


@contextlib.contextmanager
def opened_page(browser: Any) -> Iterator[Any]:
    """A new page in ``browser``, closed afterwards."""
    page = browser.new_page()
    try:
        yield page
    finally:
        page.close()


def register_app(http: httpx.Client, scope: str) -> tuple[dict[str, Any], str]:
    """A client app ("Photo Frame", out-of-band redirect) and an app token of it with ``scope``."""
    form = {"client_name": "Photo Frame", "redirect_uris": OOB, "scopes": "read write"}
    credentials: dict[str, Any] = http.post("/api/v1/apps", data=form).raise_for_status().json()
    grant = {
        "grant_type": "client_credentials",
        "client_id": credentials["client_id"],
        "client_secret": credentials["client_secret"],
        "scope": scope,
    }
    token = str(http.post("/oauth/token", data=grant).raise_for_status().json()["access_token"])
    return credentials, token


def sign_in_to_authorize(
    page: Any, base_url: str, client_id: str, login: str, password: str = PASSWORD, scope: str = "read", **params: str
) -> None:
    """Open the authorize page of ``client_id`` in ``page`` and submit its sign-in form."""
    query = urlencode({"response_type": "code", "client_id": client_id, "redirect_uri": OOB, "scope": scope, **params})
    page.goto(f"{base_url}/oauth/authorize?{query}")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")


def approve(page: Any) -> str:
    """Approve on the consent page; the out-of-band code it then shows."""
    page.click("button[value=approve]")
    code = page.text_content("#code")
    assert code
    assert code.strip()
    return str(code).strip()


def wait_for_page(page: Any, expression: str, timeout: float = 15.0) -> None:
    """Poll ``expression`` in the page until it is true. Playwright's ``wait_for_function``
    re-evaluates a string predicate with ``eval`` inside the page after its first try,
    which the pages' Content-Security-Policy forbids, so it failed whenever the condition
    was not already true; ``evaluate`` goes through DevTools and is not bound by it."""
    deadline = time.monotonic() + timeout
    while not page.evaluate(expression):
        assert time.monotonic() < deadline, f"not true within {timeout:.0f} s: {expression}"
        page.wait_for_timeout(100)
