"""Search and direct messages in Chromium, two people on one live server.

A finds B with the search box's typeahead (keyboard only), opens B's profile and sends a
message from its Message button. B, who does not follow A, has the inbox open: the
request and the Messages badge appear there without a reload; B accepts it, and A's open
thread shows "Seen". B types (A sees "… is typing") and replies; the reply appears in A's
open thread; A unsends the first message and it is taken back in B's open thread. The
search A made is among A's recent searches, and A removes it. No console error and no
failed request may happen on the way.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import TimeoutError as PlaywrightTimeout

from tests.live import LiveServer
from tests.web.pages import browser_server
from tests.web.test_web_app_journey import Watched, _sign_up

pytestmark = [pytest.mark.browser, pytest.mark.live]


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with browser_server(tmp_path_factory, "webinbox", instance_title="Lumigram") as running:
        yield running


def _find_by_typeahead(person: Watched, typed: str, wanted: str) -> None:
    """Type ``typed`` into the search box until ``wanted`` is suggested (the account index
    follows sign-ups over the bus), then choose it with the keyboard."""
    page = person.page
    box = page.locator("#search-q")
    option = page.locator("#search-suggestions [role=option]", has_text=wanted)
    for _ in range(20):
        box.fill("")
        box.press_sequentially(typed)
        try:
            option.first.wait_for(timeout=1500)
            break
        except PlaywrightTimeout:
            continue  # not indexed yet: type it again
    assert box.get_attribute("aria-expanded") == "true"
    box.press("ArrowDown")
    active = box.get_attribute("aria-activedescendant")
    assert active
    assert page.locator(f"#{active}").get_attribute("aria-selected") == "true"
    assert wanted in (page.locator(f"#{active}").text_content() or "")
    box.press("Enter")


def test_search_a_person_message_them_and_chat_live(server: LiveServer, browser: Any) -> None:
    ann, ben = Watched(browser, server.base_url), Watched(browser, server.base_url)
    try:
        _sign_up(ann, "inboxann")
        _sign_up(ben, "inboxben")
        ben.page.click("nav.tabs >> text=Messages")
        ben.page.wait_for_selector("text=No messages yet")

        ann.page.click("nav.tabs >> text=Search")
        ann.page.wait_for_url(re.compile(r".*/explore$"))
        _find_by_typeahead(ann, "inboxb", "inboxben")
        ann.page.wait_for_url(re.compile(r".*/@inboxben$"))
        ann.page.click("button.message-start")
        ann.page.wait_for_url(re.compile(r".*/messages/\d+$"))
        ann.page.fill("#message-text", "Hi Ben, found you through search")
        ann.page.press("#message-text", "Enter")
        first = ann.page.locator(".message.mine", has_text="Hi Ben, found you through search")
        first.wait_for()

        # B does not follow A: a request, announced live on B's open inbox and badge.
        ben.page.locator(".requests-link .count", has_text="1").wait_for()
        ben.page.locator("#messages-badge[data-count='1']").wait_for()
        ben.page.click(".requests-link")
        ben.page.locator(".thread-row a", has_text="inboxann").click()
        ben.page.wait_for_selector("text=Hi Ben, found you through search")
        assert ann.page.text_content("#seen-state") == ""  # a request is not marked read
        ben.page.click("button.accept-request")
        ben.page.wait_for_selector("#message-text")
        ann.page.locator("#seen-state", has_text="Seen").wait_for()

        ben.page.locator("#message-text").press_sequentially("Hello Ann")
        ann.page.locator("#typing", has_text="inboxben is typing").wait_for()
        ben.page.press("#message-text", "Enter")
        ann.page.locator(".message:not(.mine)", has_text="Hello Ann").wait_for()
        ann.page.locator("#messages-badge").wait_for(state="hidden")  # read as it arrived
        assert ben.page.locator("#messages-badge").is_hidden()

        first.locator("button.unsend").click()
        ben.page.locator(".message:not(.mine)", has_text="Message unsent").wait_for()
        assert ben.page.locator("text=Hi Ben, found you through search").count() == 0

        # The suggestion A chose was kept among A's recent searches, and can be removed.
        ann.page.click("nav.tabs >> text=Search")
        ann.page.locator("#recent-searches li", has_text="inboxb").locator("button.remove-recent").click()
        ann.page.locator(".recent-searches").wait_for(state="detached")
        ann.page.reload()
        assert ann.page.locator(".recent-searches").count() == 0

        assert ann.problems == []
        assert ben.problems == []
    finally:
        ann.context.close()
        ben.context.close()
