"""/docs renders the API reference in Chromium with every other host out of reach."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.live import LiveServer
from tests.web.pages import browser_server

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with browser_server(tmp_path_factory, "docs") as running:
        yield running


def test_the_docs_page_renders_offline(server: LiveServer, browser: Any) -> None:
    own = urlsplit(server.base_url).netloc
    elsewhere: list[str] = []

    def only_this_server(route: Any) -> None:
        url = route.request.url
        if urlsplit(url).netloc == own:
            route.continue_()
        else:
            elsewhere.append(url)
            route.abort()

    context = browser.new_context()
    try:
        context.route("**/*", only_this_server)
        page = context.new_page()
        page.goto(f"{server.base_url}/docs")
        # Swagger UI draws the document's title and its operations once its script ran.
        page.wait_for_selector(".swagger-ui .info .title", timeout=30_000)
        assert "Lumigram" in page.inner_text(".swagger-ui .info .title")
        page.wait_for_selector(".opblock", timeout=30_000)
    finally:
        context.close()
    assert elsewhere == []
