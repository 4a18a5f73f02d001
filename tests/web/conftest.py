"""Chromium for browser tests: Debian's build, driven by Playwright (which cannot download its own here)."""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from typing import Any

import pytest

from tests.live import LiveServer
from tests.web.pages import browser_server

CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def _unavailable(reason: str) -> None:
    if os.environ.get("CI") == "true":
        pytest.fail(f"Chromium could not start: {reason}", pytrace=False)
    pytest.skip(f"Chromium could not start: {reason}")


# Per module, not per session: while Playwright's sync API is open it leaves an event loop
# marked running in its thread, and every asyncio test that the worker ran after a
# browser test then failed to start its own loop.
@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    executable = shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(executable):
        _unavailable("chromium is not installed (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        try:
            launched = playwright.chromium.launch(executable_path=executable, headless=True, args=CHROMIUM_ARGS)
        except Exception as exc:
            _unavailable(str(exc))
        try:
            yield launched
        finally:
            launched.close()


@pytest.fixture(scope="session")
def app_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """The web app's live server, shared by the modules marked ``xdist_group("webapp")``."""
    # The site's world (tests/web/site.py) signs up more people than one address may by default.
    with browser_server(tmp_path_factory, "webapp", instance_title="Lumigram", signup_rate_limit=50) as running:
        yield running
