"""axe-core over every page of the web app, in Chromium, in the light and the dark theme.

A live server holds a small world (Ann posted a photo tagged #sunset; Ben follows her,
liked it and commented, so she has notifications). Each page in ``PAGES`` is opened as
its visitor, brought to the state named by its step, and checked by axe-core (the npm
package in tests/clients/node, pinned by its lockfile); a serious or critical violation
fails the test. Contrast is checked again after switching the system theme to dark.

Append new pages to ``PAGES``. axe is added to every document as an init script, which the pages' strict
Content-Security-Policy would refuse, so this context bypasses the policy (the browser
journey checks the pages with it).
"""

from __future__ import annotations

import io
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import pytest
from PIL import Image

from tests.live import LiveServer
from tests.web.pages import OOB, PASSWORD, register_app

# On the web app's one live server, which the browser journey shares (tests/web/conftest.py).
pytestmark = [pytest.mark.browser, pytest.mark.live, pytest.mark.xdist_group("webapp")]

AXE = Path(__file__).resolve().parent.parent / "clients/node/node_modules/axe-core/axe.min.js"
PHONE = {"width": 390, "height": 844}
FAILING = ("serious", "critical")


def _photo() -> bytes:
    image = Image.new("RGB", (900, 1100), (236, 142, 74))
    image.paste((40, 70, 120), (0, 700, 900, 1100))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=80)
    return out.getvalue()


def _upload_in_composer(page: Any, world: World) -> None:
    """The composer after a photo is chosen, cropped and uploaded: the filter tiles show."""
    page.set_input_files("#files", str(world.photo))
    page.click("#upload")
    page.locator(".filter-tile img[src^='data:image/jpeg']").first.wait_for()


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


def _person(http: httpx.Client, token: str, name: str) -> dict[str, str]:
    form = {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "agreement": "1"}
    signed_up = http.post("/api/v1/accounts", headers={"Authorization": f"Bearer {token}"}, data=form)
    auth = {"Authorization": f"Bearer {signed_up.raise_for_status().json()['access_token']}"}
    me = http.get("/api/v1/accounts/verify_credentials", headers=auth).raise_for_status().json()
    return {"id": me["id"], **auth}


def _seed(base_url: str, folder: Path) -> World:
    with httpx.Client(base_url=base_url) as http:
        credentials, app_token = register_app(http, "read write")
        ann, ben = _person(http, app_token, "ann"), _person(http, app_token, "ben")
        ann_auth, ben_auth = {"Authorization": ann["Authorization"]}, {"Authorization": ben["Authorization"]}
        files = {"file": ("lake.jpg", _photo(), "image/jpeg")}
        media = http.post("/api/v2/media", headers=ann_auth, files=files, data={"description": "A lake at dusk"})
        body = {"status": "Evening by the lake #sunset", "media_ids": [media.raise_for_status().json()["id"]]}
        post = http.post("/api/v1/statuses", headers=ann_auth, json=body).raise_for_status().json()["id"]
        http.post(f"/api/v1/accounts/{ann['id']}/follow", headers=ben_auth).raise_for_status()
        http.post(f"/api/v1/statuses/{post}/favourite", headers=ben_auth).raise_for_status()
        comment = {"status": "Lovely light", "in_reply_to_id": post}
        http.post("/api/v1/statuses", headers=ben_auth, json=comment).raise_for_status()
    query = {"response_type": "code", "client_id": credentials["client_id"], "redirect_uri": OOB, "scope": "read"}
    photo = folder / "lake.jpg"
    photo.write_bytes(_photo())
    return World(post=post, authorize=f"/oauth/authorize?{urlencode(query)}", photo=photo)


def _violations(page: Any, only_contrast: bool = False) -> list[str]:
    options = {"runOnly": ["color-contrast"]} if only_contrast else {}
    found = page.evaluate(
        """async (options) => (await axe.run(document, {...options, resultTypes: ["violations"]}))
             .violations.map((v) => ({id: v.id, impact: v.impact, help: v.help,
                                      nodes: v.nodes.slice(0, 3).map((n) => n.target.join(" "))}))""",
        options,
    )
    return [f"{v['id']} ({v['impact']}): {v['help']} at {v['nodes']}" for v in found if v["impact"] in FAILING]


def _sign_in(context: Any) -> None:
    page = context.new_page()
    page.goto("/auth/sign_in?next=/")
    page.fill("input[name=login]", "ann")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.tabs")
    page.close()


def test_every_page_has_no_serious_accessibility_violation_in_either_theme(
    app_server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    if not AXE.exists():
        pytest.fail("axe-core is not installed: run `make test` (npm ci in tests/clients/node)", pytrace=False)
    server = app_server
    world = _seed(server.base_url, tmp_path)
    contexts = {
        who: browser.new_context(viewport=PHONE, base_url=server.base_url, bypass_csp=True, color_scheme="light")
        for who in ("visitor", "ann")
    }
    for context in contexts.values():
        # In every document the context opens, before the page's own scripts.
        context.add_init_script(path=str(AXE))
    problems: list[str] = []
    try:
        _sign_in(contexts["ann"])
        page_of = {who: context.new_page() for who, context in contexts.items()}
        for entry in PAGES:
            page = page_of[entry.who]
            page.emulate_media(color_scheme="light")
            page.goto(entry.path.format(post=world.post, authorize=world.authorize))
            if entry.step is not None:
                entry.step(page, world)
            problems += [f"{entry.name} (light): {v}" for v in _violations(page)]
            page.emulate_media(color_scheme="dark")
            problems += [f"{entry.name} (dark): {v}" for v in _violations(page, only_contrast=True)]
    finally:
        for context in contexts.values():
            context.close()
    assert problems == [], "\n".join(problems)
