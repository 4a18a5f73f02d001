"""The web app's pages for whole-site checks (accessibility, screenshots), and the small
world they are shown with.

The world: Ann posted a photo tagged #sunset; Ben follows her, liked it and commented;
Cam and Cleo liked it too, so her notifications group three likes; Cam posted a photo
too, for Ann's explore grid. Ann follows Ben, who
has a live story and a reel; Ann has a story Ben has seen. Ann wrote to Ben, and Cam, whom
she does not follow, wrote to her (a request). Ann blocks Dan and mutes Eve. Cleo's
account is private and Ann asked to follow her. A photo and a short video wait to be
chosen in the composer. ``PAGES`` lists every page with who looks at it and, for states a
URL alone does not reach, a step to take first. Append new pages to ``PAGES``.
"""

from __future__ import annotations

import io
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from PIL import Image

from tests.video_clips import make_clip
from tests.web.pages import OOB, PASSWORD, register_app

API = "/api/v1/lumigram"


def photo_bytes(
    size: tuple[int, int] = (900, 1100),
    sky: tuple[int, int, int] = (236, 142, 74),
    land: tuple[int, int, int] = (40, 70, 120),
) -> bytes:
    image = Image.new("RGB", size, sky)
    image.paste(land, (0, size[1] * 7 // 11, *size))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _upload_in_composer(page: Any, world: World) -> None:
    """The composer after a photo and a video are uploaded: the photo's filter tiles show,
    and the video, answered 202 while it is transcoded, is polled until it is ready."""
    page.set_input_files("#files", [str(world.photo), str(world.video)])
    page.click("#upload")
    page.locator(".filter-tile img[src^='data:image/jpeg']").first.wait_for()
    page.locator(".picked-item .item-state", has_text="Video ready").wait_for()
    page.locator("img.look-preview").first.scroll_into_view_if_needed()


def _approve(page: Any, world: World) -> None:
    """The consent page's approval, which shows the out-of-band code page."""
    page.click("button[value=approve]")
    page.wait_for_selector("#code")


def _pause_story(page: Any, world: World) -> None:
    """Someone else's story, held still (it would go on to the next, then home)."""
    page.locator("#story-viewer").wait_for()
    page.click("#story-pause")
    page.wait_for_selector("#story-pause[aria-pressed=true]")


def _seen_by(page: Any, world: World) -> None:
    """One's own story with its Seen-by panel open (which holds the story still)."""
    page.click("#story-seen-by")
    page.locator("#story-viewer-list li").first.wait_for()


@dataclass(frozen=True)
class Page:
    name: str
    #: A path; ``{post}``, ``{authorize}`` and ``{thread}`` are filled in from the world.
    path: str
    #: "visitor" (signed out), "ann" (signed in as the world's author) or "cleo" (the
    #: private account).
    who: str
    #: What to do on the page before checking it, for states a URL alone does not reach.
    step: Callable[[Any, World], None] | None = None


#: Every page of the web app, and the state it is checked in. Append new pages here.
PAGES: tuple[Page, ...] = (
    Page("welcome", "/", "visitor"),
    Page("sign-up", "/auth/sign_up", "visitor"),
    Page("sign-in", "/auth/sign_in", "visitor"),
    Page("OAuth sign-in", "{authorize}", "visitor"),
    Page("post, as a visitor", "/@ann/{post}", "visitor"),
    Page("profile, as a visitor", "/@ann", "visitor"),
    Page("page not found", "/@nobody", "visitor"),
    Page("home, following", "/", "ann"),
    Page("home, for you", "/?feed=foryou", "ann"),
    Page("composer", "/new", "ann"),
    Page("composer, choosing a filter", "/new", "ann", _upload_in_composer),
    Page("post", "/@ann/{post}", "ann"),
    Page("profile", "/@ann", "ann"),
    Page("someone else's profile", "/@ben", "ann"),
    Page("hashtag", "/tags/sunset", "ann"),
    Page("notifications", "/notifications", "ann"),
    Page("OAuth consent", "{authorize}", "ann"),
    Page("OAuth code", "{authorize}", "ann", _approve),
    Page("new story", "/stories/new", "ann"),
    Page("story, as its owner", "/stories/ann", "ann", _seen_by),
    Page("story, as a viewer", "/stories/ben", "ann", _pause_story),
    Page("reels", "/reels", "ann"),
    Page("explore", "/explore", "ann"),
    Page("search, posts", "/search?q=sunset", "ann"),
    Page("search, accounts", "/search?q=ben&type=accounts", "ann"),
    Page("messages", "/messages", "ann"),
    Page("message requests", "/messages/requests", "ann"),
    Page("new message", "/messages/new", "ann"),
    Page("message thread", "/messages/{thread}", "ann"),
    Page("settings, profile", "/settings/profile", "ann"),
    Page("settings, privacy", "/settings/privacy", "ann"),
    Page("settings, blocked", "/settings/blocked", "ann"),
    Page("settings, muted", "/settings/muted", "ann"),
    Page("settings, sessions", "/settings/sessions", "ann"),
    Page("settings, notifications", "/settings/notifications", "ann"),
    Page("follow requests", "/follow_requests", "cleo"),
    Page("followers", "/@ann/followers", "ann"),
    Page("following", "/@ann/following", "ann"),
    Page("likes", "/@ann/{post}/likes", "ann"),
)

#: Who looks at the pages, signed in unless a visitor.
PEOPLE: tuple[str, ...] = tuple(dict.fromkeys(entry.who for entry in PAGES))


@dataclass(frozen=True)
class World:
    post: str
    authorize: str
    thread: str
    photo: Path
    video: Path


def _person(http: httpx.Client, token: str, name: str) -> dict[str, str]:
    form = {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "agreement": "1"}
    signed_up = http.post("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}, data=form)
    auth = {"Authorization": f"Bearer {signed_up.raise_for_status().json()['access_token']}"}
    me = http.get("/api/v1/accounts/verify_credentials", headers=auth).raise_for_status().json()
    return {"id": me["id"], **auth}


def _upload(http: httpx.Client, auth: dict[str, str], name: str, data: bytes, kind: str, description: str) -> str:
    files = {"file": (name, data, kind)}
    uploaded = http.post("/api/v2/media", headers=auth, files=files, data={"description": description})
    return str(uploaded.raise_for_status().json()["id"])


def _transcoded(http: httpx.Client, auth: dict[str, str], media_id: str) -> None:
    deadline = time.monotonic() + 60
    while http.get(f"/api/v1/media/{media_id}", headers=auth).raise_for_status().status_code == 206:
        assert time.monotonic() < deadline, "the reel's video was not transcoded in time"
        time.sleep(0.2)


def seed(base_url: str, folder: Path) -> World:
    with httpx.Client(base_url=base_url, timeout=30) as http, ThreadPoolExecutor(3) as pool:
        # Sign-ups (password hashing) and uploads (image processing) are the slow calls:
        # they go a few at a time, as the server works on each in a thread of its own.
        credentials, app_token = register_app(http, "read write")
        names = ("ann", "ben", "cam", "cleo", "dan", "eve")
        ann, ben, cam, cleo, dan, eve = pool.map(lambda name: _person(http, app_token, name), names)
        auth = {
            name: {"Authorization": p["Authorization"]}
            for name, p in zip(("ann", "ben", "cam", "cleo"), (ann, ben, cam, cleo), strict=True)
        }
        dusk = photo_bytes((360, 640))
        hill = photo_bytes((600, 600), (200, 214, 226), (62, 110, 70))
        reel_clip = make_clip(width=90, height=160, seconds=0.5, fps=10, audio=False)
        uploads = [
            ("ann", "lake.jpg", photo_bytes(), "image/jpeg", "A lake at dusk"),
            ("cam", "hill.jpg", hill, "image/jpeg", "A green hill under a pale sky"),
            ("ann", "dusk.jpg", dusk, "image/jpeg", "Dusk over the water"),
            ("ben", "dusk.jpg", dusk, "image/jpeg", "Dusk over the water"),
            # Ben's reel is transcoded while the rest of the world is built.
            ("ben", "waves.mp4", reel_clip, "video/mp4", "Waves"),
        ]
        media, hill_id, ann_still, ben_still, reel_video = pool.map(
            lambda upload: _upload(http, auth[upload[0]], *upload[1:]), uploads
        )
        body = {"status": "Evening by the lake #sunset", "media_ids": [media]}
        post = http.post("/api/v1/statuses", headers=auth["ann"], json=body).raise_for_status().json()["id"]
        for fan in ("ben", "cam"):
            http.post(f"/api/v1/accounts/{ann['id']}/follow", headers=auth[fan]).raise_for_status()
        for fan in ("ben", "cam", "cleo"):
            http.post(f"/api/v1/statuses/{post}/favourite", headers=auth[fan]).raise_for_status()
        comment = {"status": "Lovely light", "in_reply_to_id": post}
        http.post("/api/v1/statuses", headers=auth["ben"], json=comment).raise_for_status()
        # A post by someone Ann does not follow, for her explore grid.
        fog = {"status": "Morning fog on the hill #sunrise", "media_ids": [hill_id]}
        http.post("/api/v1/statuses", headers=auth["cam"], json=fog).raise_for_status()
        # People: Cleo is private and Ann asked to follow her; Ann follows Ben, blocks Dan, mutes Eve.
        http.patch(
            "/api/v1/accounts/update_credentials", headers=auth["cleo"], data={"locked": "true"}
        ).raise_for_status()
        http.post(f"/api/v1/accounts/{cleo['id']}/follow", headers=auth["ann"]).raise_for_status()
        http.post(f"/api/v1/accounts/{ben['id']}/follow", headers=auth["ann"]).raise_for_status()
        http.post(f"/api/v1/accounts/{dan['id']}/block", headers=auth["ann"]).raise_for_status()
        http.post(f"/api/v1/accounts/{eve['id']}/mute", headers=auth["ann"]).raise_for_status()
        # Stories: Ben's in Ann's tray; Ann's, which Ben has seen.
        stories = {}
        for name, still in (("ben", ben_still), ("ann", ann_still)):
            made = http.post(f"{API}/stories", headers=auth[name], json={"media_id": still}).raise_for_status()
            stories[name] = made.json()["id"]
        http.post(f"{API}/stories/{stories['ann']}/seen", headers=auth["ben"]).raise_for_status()
        # Messages: Ann's thread with Ben, and Cam's request to Ann.
        thread = http.post(f"{API}/threads", headers=auth["ann"], json={"account_ids": [ben["id"]]})
        thread_id = thread.raise_for_status().json()["id"]
        said = {"text": "Are you going to the lake tonight?"}
        http.post(f"{API}/threads/{thread_id}/messages", headers=auth["ann"], json=said).raise_for_status()
        request = http.post(f"{API}/threads", headers=auth["cam"], json={"account_ids": [ann["id"]]})
        asked = {"text": "Hi Ann, could I print your lake photo?"}
        request_id = request.raise_for_status().json()["id"]
        http.post(f"{API}/threads/{request_id}/messages", headers=auth["cam"], json=asked).raise_for_status()
        _transcoded(http, auth["ben"], reel_video)
        reel = {"status": "Waves", "media_ids": [reel_video], "reel": True}
        http.post("/api/v1/statuses", headers=auth["ben"], json=reel).raise_for_status()
    query = {"response_type": "code", "client_id": credentials["client_id"], "redirect_uri": OOB, "scope": "read"}
    photo, video = folder / "lake.jpg", folder / "waves.mp4"
    photo.write_bytes(photo_bytes())
    video.write_bytes(make_clip(width=96, height=64, seconds=0.5, fps=10, audio=False))
    authorize = f"/oauth/authorize?{urlencode(query)}"
    return World(post=post, authorize=authorize, thread=str(thread_id), photo=photo, video=video)


def sign_in(context: Any, login: str = "ann") -> None:
    """Sign ``context`` in through the sign-in page."""
    page = context.new_page()
    page.goto("/auth/sign_in?next=/")
    page.fill("input[name=login]", login)
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.tabs")
    page.close()


def open_page(page: Any, entry: Page, world: World) -> None:
    """Bring ``page`` to ``entry``'s state."""
    page.goto(entry.path.format(post=world.post, authorize=world.authorize, thread=world.thread))
    if entry.step is not None:
        entry.step(page, world)
