"""Stories and reels in the web app, in Chromium on one live server.

Ann posts a story from the web (a first one came through the API); Ben finds her in the
story tray on his home page, watches with the keyboard (pause, next), holds a story
still and taps back, and replies; Ann's open viewer counts Ben's view live over the
stream and lists him among its viewers. Ben's reels page plays Ann's reel as it comes
into view: its HLS playlist where the browser plays HLS itself, its MP4 otherwise. No
console error and no failed request may happen on the way.
"""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from PIL import Image

from tests.live import LiveServer
from tests.video_clips import make_clip
from tests.web.pages import PASSWORD, browser_server, register_app
from tests.web.test_web_app_journey import Watched

pytestmark = [pytest.mark.browser, pytest.mark.live]

API = "/api/v1/lumigram"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with browser_server(tmp_path_factory, "stories", instance_title="Lumigram") as running:
        yield running


def _jpeg(colour: tuple[int, int, int], size: tuple[int, int]) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, "JPEG")
    return out.getvalue()


def _account(http: httpx.Client, username: str) -> dict[str, Any]:
    _app, token = register_app(http, "read write")
    form = {"username": username, "email": f"{username}@example.org", "password": PASSWORD, "agreement": "true"}
    made = http.post("/api/v1/accounts", data=form, headers={"Authorization": f"Bearer {token}"})
    made.raise_for_status()
    headers = {"Authorization": f"Bearer {made.json()['access_token']}"}
    account = http.get("/api/v1/accounts/verify_credentials", headers=headers).raise_for_status().json()
    return {"id": account["id"], "headers": headers}


def _sign_in(person: Watched, username: str) -> None:
    person.page.goto("/auth/sign_in?next=/")
    person.page.fill("#login", username)
    person.page.fill("#password", PASSWORD)
    person.page.click("button[type=submit]")
    person.page.wait_for_selector("nav.tabs")


def _ready(http: httpx.Client, headers: dict[str, str], media_id: str) -> None:
    deadline = time.monotonic() + 60
    while http.get(f"/api/v1/media/{media_id}", headers=headers).status_code == 206:
        assert time.monotonic() < deadline, "the video was not transcoded in time"
        time.sleep(0.3)


def _eventually(check: Any, timeout: float = 15.0) -> Any:
    """Poll ``check`` (the page's strict CSP forbids the string predicates of wait_for_function)."""
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.1)
    return found


def test_stories_tray_viewer_reply_viewers_and_reels(server: LiveServer, browser: Any, tmp_path: Path) -> None:
    with httpx.Client(base_url=server.base_url, timeout=30) as http:
        ann, ben = _account(http, "storyann"), _account(http, "storyben")
        http.post(f"/api/v1/accounts/{ann['id']}/follow", headers=ben["headers"]).raise_for_status()
        clip = make_clip(width=180, height=320, seconds=1.0)
        video = http.post("/api/v2/media", headers=ann["headers"], files={"file": ("reel.mp4", clip, "video/mp4")})
        assert video.status_code == 202, video.text
        photo = http.post(
            "/api/v2/media",
            headers=ann["headers"],
            files={"file": ("a.jpg", _jpeg((40, 90, 160), (640, 480)), "image/jpeg")},
        ).raise_for_status()
        first = http.post(f"{API}/stories", headers=ann["headers"], json={"media_id": photo.json()["id"]})
        first.raise_for_status()

        annie, benny = Watched(browser, server.base_url), Watched(browser, server.base_url)
        try:
            # Ann posts her second story from the web and lands on her own viewer.
            _sign_in(annie, "storyann")
            annie.page.goto("/stories/new")
            picture = tmp_path / "lake.jpg"
            picture.write_bytes(_jpeg((236, 142, 74), (800, 1000)))
            annie.page.set_input_files("#story-file", str(picture))
            annie.page.fill("#story-alt", "An orange lake at dusk")
            annie.page.fill("#story-caption", "Dusk")
            annie.page.press("#story-share", "Enter")  # from the keyboard (the tab bar covers it at this size)
            annie.page.wait_for_url("**/stories/storyann")
            assert annie.page.locator(".story-bar").count() == 2
            assert annie.page.locator("#story-views").text_content() == "0"
            second_id = annie.page.locator(".story-item").nth(1).get_attribute("data-id")
            assert annie.page.locator(f"#story-{second_id} img.story-photo").get_attribute("alt") == (
                "An orange lake at dusk"
            )
            annie.page.keyboard.press("Space")  # Ann keeps her first story on screen
            annie.page.wait_for_selector("#story-pause[aria-pressed=true]")

            # Ben finds Ann, unseen, in his tray and watches.
            _sign_in(benny, "storyben")
            ring = benny.page.locator(".story-ring.unseen", has_text="storyann")
            ring.click()
            benny.page.wait_for_url("**/stories/storyann")
            viewer = benny.page.locator("#story-viewer")
            assert benny.page.locator(f"#story-{first.json()['id']}").is_visible()
            benny.page.keyboard.press("Space")
            benny.page.wait_for_selector("#story-pause[aria-pressed=true]")
            benny.page.keyboard.press("Space")
            benny.page.keyboard.press("ArrowRight")
            benny.page.locator(f"#story-{second_id}").wait_for(state="visible")
            assert benny.page.locator("#story-position").text_content() == "Story 2 of 2"
            # Held down, the story stands still; let go, it goes on, where it was.
            benny.page.locator("#story-next").hover()
            benny.page.mouse.down()
            benny.page.wait_for_selector("#story-viewer.paused")
            benny.page.mouse.up()
            benny.page.wait_for_selector("#story-viewer:not(.paused)")
            assert benny.page.locator(f"#story-{second_id}").is_visible()
            benny.page.click("#story-prev")
            benny.page.locator(f"#story-{first.json()['id']}").wait_for(state="visible")
            benny.page.fill("#story-reply-text", "Lovely colours")
            benny.page.press("#story-reply-text", "Enter")
            benny.page.wait_for_selector("#story-reply-status:has-text('Sent')")
            assert viewer.is_visible()
            replies = http.get(f"{API}/stories/{first.json()['id']}/replies", headers=ann["headers"]).json()
            assert [(r["account"]["id"], r["content"]) for r in replies] == [(ben["id"], "Lovely colours")]

            # Ann's open viewer counted Ben's view as it happened, and lists him.
            annie.page.wait_for_selector("#story-views:text-is('1')")
            annie.page.click("#story-seen-by")
            annie.page.locator("#story-viewer-list li", has_text="storyben").wait_for()

            # Ben's reels: Ann's reel plays as it comes into view, from its MP4.
            _ready(http, ann["headers"], video.json()["id"])
            body = {"status": "Waves", "media_ids": [video.json()["id"]], "reel": True}
            http.post("/api/v1/statuses", headers=ann["headers"], json=body).raise_for_status()
            benny.page.goto("/reels")
            playing = "() => { const v = document.querySelector('.reel-video'); return !v.paused && v.currentSrc; }"
            source = _eventually(lambda: benny.page.evaluate(playing))
            # The playlist where the browser plays HLS itself (as Chromium 141 and later
            # does), the MP4 where it does not.
            native_hls = benny.page.evaluate(
                "() => document.createElement('video').canPlayType('application/vnd.apple.mpegurl') !== ''"
            )
            assert source.endswith("-master.m3u8" if native_hls else ".mp4"), source
            assert annie.problems == []
            assert benny.problems == []
        finally:
            annie.context.close()
            benny.context.close()
