"""The web app's pages for whole-site checks (accessibility, screenshots), and the small
world they are shown with.

The world: Ann posted a photo tagged #sunset; Ben follows her, liked it and commented, so
she has notifications; a photo and a short video wait to be chosen in the composer.
``PAGES`` lists every page with who looks at it and, for states a URL alone does not
reach, a step to take first. Append new pages to ``PAGES``.
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
from PIL import Image

from tests.video_clips import make_clip
from tests.web.pages import OOB, PASSWORD, register_app


def photo_bytes() -> bytes:
    image = Image.new("RGB", (900, 1100), (236, 142, 74))
    image.paste((40, 70, 120), (0, 700, 900, 1100))
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


@dataclass(frozen=True)
class Page:
    name: str
    #: A path; ``{post}`` and ``{authorize}`` are filled in from the world.
    path: str
    #: "visitor" (signed out) or "ann" (signed in as the world's author).
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
)


@dataclass(frozen=True)
class World:
    post: str
    authorize: str
    photo: Path
    video: Path


def _person(http: httpx.Client, token: str, name: str) -> dict[str, str]:
    form = {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "agreement": "1"}
    signed_up = http.post("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}, data=form)
    auth = {"Authorization": f"Bearer {signed_up.raise_for_status().json()['access_token']}"}
    me = http.get("/api/v1/accounts/verify_credentials", headers=auth).raise_for_status().json()
    return {"id": me["id"], **auth}


def seed(base_url: str, folder: Path) -> World:
    with httpx.Client(base_url=base_url) as http:
        credentials, app_token = register_app(http, "read write")
        ann, ben = _person(http, app_token, "ann"), _person(http, app_token, "ben")
        ann_auth, ben_auth = {"Authorization": ann["Authorization"]}, {"Authorization": ben["Authorization"]}
        files = {"file": ("lake.jpg", photo_bytes(), "image/jpeg")}
        media = http.post("/api/v2/media", headers=ann_auth, files=files, data={"description": "A lake at dusk"})
        body = {"status": "Evening by the lake #sunset", "media_ids": [media.raise_for_status().json()["id"]]}
        post = http.post("/api/v1/statuses", headers=ann_auth, json=body).raise_for_status().json()["id"]
        http.post(f"/api/v1/accounts/{ann['id']}/follow", headers=ben_auth).raise_for_status()
        http.post(f"/api/v1/statuses/{post}/favourite", headers=ben_auth).raise_for_status()
        comment = {"status": "Lovely light", "in_reply_to_id": post}
        http.post("/api/v1/statuses", headers=ben_auth, json=comment).raise_for_status()
    query = {"response_type": "code", "client_id": credentials["client_id"], "redirect_uri": OOB, "scope": "read"}
    photo, video = folder / "lake.jpg", folder / "waves.mp4"
    photo.write_bytes(photo_bytes())
    video.write_bytes(make_clip(width=96, height=64, seconds=0.5, fps=10, audio=False))
    return World(post=post, authorize=f"/oauth/authorize?{urlencode(query)}", photo=photo, video=video)


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
    page.goto(entry.path.format(post=world.post, authorize=world.authorize))
    if entry.step is not None:
        entry.step(page, world)
