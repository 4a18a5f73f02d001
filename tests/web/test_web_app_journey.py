"""Two people use the web app in Chromium on one live server, from sign-up to a live badge.

A and B sign up; A posts a photo (cropped square, filtered, with alt text and a mention
of B picked from the caption's suggestions) and edits its caption; B opens A's profile
from its URL, follows, finds the post in the home feed, double-taps it to like it and
comments; A's notification badge goes up without a reload; A deletes the post and it
leaves B's open feed. No console error and no failed request may happen on the way.
(docs/screenshots/ is made by ``python -m tests.web.screenshots``.)
"""

from __future__ import annotations

import io
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.live import LiveServer
from tests.web.pages import PASSWORD, wait_for_page

pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.xdist_group("webapp")]

PHONE = {"width": 390, "height": 844}


@pytest.fixture(scope="module")
def server(app_server: LiveServer) -> LiveServer:
    return app_server


class Watched:
    """A browser context whose console errors and failed requests are recorded."""

    def __init__(self, browser: Any, base_url: str) -> None:
        self.context = browser.new_context(viewport=PHONE, base_url=base_url)
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda error: self.problems.append(f"page error: {error}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _failed(self, request: Any) -> None:
        # Leaving a page cancels the reads its scripts had just started there (a badge or
        # an inbox refreshing on a stream event): the browser's doing, not a failure.
        if request.method == "GET" and request.failure == "net::ERR_ABORTED":
            return
        self.problems.append(f"failed: {request.url}")

    def _console(self, message: Any) -> None:
        if message.type == "error":
            self.problems.append(f"console: {message.text}")

    def _response(self, response: Any) -> None:
        if response.status >= 400:
            self.problems.append(f"{response.status}: {response.url}")


def _photo(path: Path) -> Path:
    image = Image.new("RGB", (800, 1000), (236, 142, 74))
    for y in range(600, 1000):
        for x in range(0, 800, 4):
            image.putpixel((x, y), (40, 70, 120))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=80)
    path.write_bytes(buffer.getvalue())
    return path


def _sign_up(person: Watched, username: str) -> None:
    page = person.page
    page.goto("/")
    page.click("text=Create an account")
    page.fill("#username", username)
    page.fill("#email", f"{username}@example.org")
    page.fill("#password", PASSWORD)
    page.check("input[name=agreement]")
    page.click("button[type=submit]")
    page.wait_for_selector("nav.tabs")


def _compose(person: Watched, tmp_path: Path) -> None:
    """Crop a photo square, upload it, pick a filter from the server's previews, write alt
    text and a caption with a mention chosen from the suggestions, and share it."""
    page = person.page
    page.click("nav.tabs >> text=Create")
    page.set_input_files("#files", str(_photo(tmp_path / "sunset.jpg")))
    page.check("fieldset.aspects input[value='1:1']")
    page.focus(".crop-frame")
    page.keyboard.press("ArrowDown")
    page.click("#upload")
    page.locator(".filter-tile", has_text="juno").click()
    page.locator("img.look-preview[src^='data:image/jpeg']").wait_for()
    assert page.locator(".filter-tile img[src^='data:image/jpeg']").count() == 15
    page.fill("input.alt", "An orange sky over a blue lake")
    page.locator("#caption").press_sequentially("Evening by the lake with @webb")
    page.locator("#caption-suggestions li", has_text="@webben").wait_for()
    page.locator("#caption").press("Enter")
    page.locator("#caption").press_sequentially("#sunset")
    assert page.input_value("#caption") == "Evening by the lake with @webben #sunset"
    page.click("#share")
    page.wait_for_url(re.compile(r".*/@webann/\d+$"))


def test_two_people_post_follow_like_comment_and_see_the_badge(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    ann, ben = Watched(browser, server.base_url), Watched(browser, server.base_url)
    try:
        _sign_up(ann, "webann")
        _sign_up(ben, "webben")
        _compose(ann, tmp_path)
        post_url = ann.page.url
        post_id = post_url.rsplit("/", 1)[1]
        assert ann.page.get_attribute("img.photo", "alt") == "An orange sky over a blue lake"
        assert "w," in (ann.page.get_attribute("img.photo", "srcset") or "")
        # The square crop and the filter reached the server, and the mention was completed.
        assert ann.page.get_attribute("img.photo", "width") == ann.page.get_attribute("img.photo", "height")
        status = httpx.get(f"{server.base_url}/api/v1/statuses/{post_id}").json()
        assert status["media_attachments"][0]["lumigram"]["filter"] == "juno"
        assert "@webben" in status["content"]
        ann.page.click("#edit-caption")
        ann.page.fill("#new-caption", "Evening by the lake #sunset (edited)")
        ann.page.click("#caption-form button[type=submit]")
        ann.page.wait_for_selector(".caption >> text=(edited)")
        assert "(edited)" in httpx.get(f"{server.base_url}/api/v1/statuses/{post_id}").json()["content"]
        ann.page.click("text=#sunset")
        ann.page.click("button.tag-follow")
        ann.page.wait_for_selector("button.tag-follow[aria-pressed=true]")
        ann.page.goto("/")
        badge = ann.page.locator("#unread-badge")
        assert badge.is_hidden()

        ben.page.goto(f"{server.base_url}/@webann")
        ben.page.click("button.follow")
        ben.page.wait_for_selector("button.follow[data-state=following]")
        for _ in range(40):  # the follow brings A's posts into B's feed as the bus delivers it
            ben.page.goto("/")
            if ben.page.locator(f"#post-{post_id}").count():
                break
            ben.page.wait_for_timeout(250)
        post = ben.page.locator(f"#post-{post_id}")
        post.locator(".carousel").dblclick()
        post.locator("button.like[aria-pressed=true]").wait_for()
        assert post.locator(".like-count").text_content() == "1"
        post.locator("input[name=status]").fill("What a sky!")
        post.locator("input[name=status]").press("Enter")
        post.locator("ol.comments li", has_text="What a sky!").wait_for()

        # A's open page learns of the like, the follow and the comment over the stream.
        wait_for_page(ann.page, "Number(document.getElementById('unread-badge').dataset.count) >= 3")
        assert ann.page.locator("#unread-badge").is_visible()
        ann.page.click("nav.tabs >> text=Notifications")
        ann.page.wait_for_selector("text=liked your post")
        ann.page.wait_for_selector("text=commented: What a sky!")
        ann.page.goto(post_url)
        ann.page.wait_for_selector("text=What a sky!")

        # A deletes the post; it leaves B's open feed over the stream.
        ann.page.once("dialog", lambda dialog: dialog.accept())
        ann.page.click("#delete-post")
        ann.page.wait_for_url(re.compile(r".*/@webann$"))
        post.wait_for(state="detached")

        assert ann.problems == []
        assert ben.problems == []
    finally:
        ann.context.close()
        ben.context.close()
