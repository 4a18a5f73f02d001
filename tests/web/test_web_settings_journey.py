"""Settings and people pages in Chromium on one live server, as two people use them.

A signs up and edits the profile (a new picture cropped to a square in the page, a
name, a bio); A's block of B is listed in the settings and undone there; A makes the
account private and B asks to follow, which A's open notifications page shows live
(grouped as the v2 API groups them). A turns push notifications on in the browser,
chooses which alerts, and the subscription is checked on the server; a push about the
request is handed to the service worker, which shows it, and the worker's click code
leads the open page to the follow requests, where A approves B and then finds B in the
followers list; A turns push off again. No console error and no failed
request may happen on the way.

Offline, Chromium cannot subscribe at its push service (Google's, reached over the
network; and never from an incognito context), so the page's ``PushManager`` answers
here with an endpoint and keys made by the test: everything on this side of the push
service is real (the page's script, the API, the stored subscription). For the same
reason no real push reaches the browser; DevTools' ``ServiceWorker.deliverPushMessage``
hands the worker a push event as its push service would, with the payload the server's
pushes carry.
"""

from __future__ import annotations

import base64
import io
import os
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from PIL import Image

from tests.live import LiveServer
from tests.web.pages import browser_server, wait_for_page
from tests.web.test_web_app_journey import Watched, _sign_up

pytestmark = [pytest.mark.browser, pytest.mark.live]

ENDPOINT = "https://push.invalid/send/settings-journey"


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    with browser_server(tmp_path_factory, "websettings", instance_title="Lumigram") as running:
        yield running


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _browser_keys() -> dict[str, str]:
    """A subscription's keys as a browser makes them: a P-256 public key and a 16-byte secret."""
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    point = key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint)
    return {"p256dh": _b64url(point), "auth": _b64url(os.urandom(16))}


def _push_service_stand_in(keys: dict[str, str]) -> str:
    """A script for the page: ``PushManager`` answering as a browser with a push service would."""
    subscription = orjson.dumps({"endpoint": ENDPOINT, "expirationTime": None, "keys": keys}).decode()
    # Kept in the page's storage, as a browser keeps it across page loads.
    return f"""
    (() => {{
      const json = {subscription};
      const KEPT = "push-service-stand-in";
      function made(options) {{
        return {{
          endpoint: json.endpoint,
          expirationTime: null,
          options,
          toJSON: () => json,
          unsubscribe: async () => {{ localStorage.removeItem(KEPT); return true; }},
        }};
      }}
      PushManager.prototype.subscribe = async function (options) {{
        localStorage.setItem(KEPT, "1");
        return made(options);
      }};
      PushManager.prototype.getSubscription = async function () {{
        return localStorage.getItem(KEPT) ? made({{}}) : null;
      }};
    }})();
    """


def _picture(path: Path) -> Path:
    image = Image.new("RGB", (600, 400), (40, 90, 160))
    for x in range(300, 600):
        for y in range(0, 400, 3):
            image.putpixel((x, y), (240, 200, 60))
    buffer = io.BytesIO()
    image.save(buffer, "JPEG", quality=85)
    path.write_bytes(buffer.getvalue())
    return path


def _first_notification(http: httpx.Client, headers: dict[str, str]) -> dict[str, Any]:
    """A's newest notification, once the bus has delivered one (B's follow request)."""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        found = http.get("/api/v1/notifications", headers=headers).json()
        if found:
            return dict(found[0])
        time.sleep(0.1)
    raise AssertionError("no notification arrived")


def _delivered(page: Any, cdp: Any, origin: str, registrations: list[dict[str, Any]], data: str) -> dict[str, Any]:
    """The notification the service worker shows for a push of ``data``.

    The push is handed to every live registration DevTools has reported, and handed
    again while none is shown: a push that reaches a registration whose worker is still
    activating is dropped by the browser, not queued."""
    script = """async () => {
      const found = await (await navigator.serviceWorker.ready).getNotifications();
      return found.length ? { title: found[0].title, url: found[0].data.url } : null;
    }"""
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for registration in {item["registrationId"] for item in registrations if not item["isDeleted"]}:
            cdp.send(
                "ServiceWorker.deliverPushMessage", {"origin": origin, "registrationId": registration, "data": data}
            )
        retry_at = time.monotonic() + 3
        while time.monotonic() < min(retry_at, deadline):
            shown = page.evaluate(script)
            if shown:
                return dict(shown)
            page.wait_for_timeout(100)
    raise AssertionError("the worker showed no notification")


def _token(person: Watched) -> str:
    token = person.page.get_attribute('meta[name="lumigram-token"]', "content")
    assert token
    return token


def test_profile_privacy_requests_blocks_and_push_in_the_browser(
    server: LiveServer, browser: Any, tmp_path: Path
) -> None:
    ann, ben = Watched(browser, server.base_url), Watched(browser, server.base_url)
    http = httpx.Client(base_url=server.base_url, timeout=30)
    try:
        _sign_up(ann, "setann")
        _sign_up(ben, "setben")
        ann_api = {"Authorization": f"Bearer {_token(ann)}"}

        # Edit the profile: a new picture, cropped to a square chosen in the page.
        page = ann.page
        page.click("text=Settings")
        page.wait_for_url("**/settings/profile")
        default_avatar = page.get_attribute("#avatar-current", "src")
        page.set_input_files("#avatar", str(_picture(tmp_path / "me.jpg")))
        page.wait_for_selector("#cropper:not([hidden])")
        page.fill("#crop-zoom", "1.5")
        page.focus("#crop-area")
        page.keyboard.press("ArrowRight")
        page.fill("#display_name", "Ann Settings")
        page.fill("#note", "Photos of lakes")
        page.click("#save-profile")
        page.wait_for_selector("text=Your profile was saved.")
        me = http.get("/api/v1/accounts/verify_credentials", headers=ann_api).json()
        assert (me["display_name"], me["note"]) == ("Ann Settings", "<p>Photos of lakes</p>")
        assert me["avatar"] != default_avatar
        assert page.get_attribute("#avatar-current", "src") == me["avatar"]
        avatar = Image.open(io.BytesIO(http.get(me["avatar"]).content))
        assert avatar.width == avatar.height
        # The square kept is the yellow right half's edge, moved right from the centre.
        assert avatar.getpixel((avatar.width - 1, 0))[2] < 120

        # A block is listed in the settings and undone there.
        ben_id = http.get("/api/v1/accounts/lookup", params={"acct": "setben"}).json()["id"]
        http.post(f"/api/v1/accounts/{ben_id}/block", headers=ann_api).raise_for_status()
        page.goto("/settings/blocked")
        page.click("button[aria-label='Unblock setben']")
        page.wait_for_selector(".person .done >> text=Unblocked")
        relation = http.get("/api/v1/accounts/relationships", params={"id[]": ben_id}, headers=ann_api).json()[0]
        assert relation["blocking"] is False

        # Go private: B's follow becomes a request, which A's open notifications page
        # shows as it arrives (over the stream, without a reload).
        page.click("nav.settings-menu >> text=Privacy")
        page.check("#locked")
        page.wait_for_selector("text=Your account is private.")
        page.click("nav.tabs >> text=Notifications")
        page.wait_for_selector("#notification-groups[data-live=true]")
        ben.page.goto("/@setann")
        ben.page.click("button.follow")
        ben.page.wait_for_selector("button.follow[data-state=requested]")
        page.wait_for_selector(".notification[data-type=follow_request] >> text=asked to follow you")

        # Push: the page subscribes with the server's key and hands the subscription over.
        keys = _browser_keys()
        ann.context.grant_permissions(["notifications"], origin=server.base_url)
        ann.context.add_init_script(_push_service_stand_in(keys))
        page.goto("/settings/notifications")
        page.wait_for_selector("#push-on:not([disabled])")
        page.uncheck("#alert-favourite")
        page.click("#push-on")
        page.wait_for_selector("#push[data-subscribed=true]")
        stored = http.get("/api/v1/push/subscription", headers=ann_api).json()
        assert stored["endpoint"] == ENDPOINT
        assert stored["alerts"]["favourite"] is False
        assert stored["alerts"]["follow_request"] is True
        assert stored["server_key"] == page.get_attribute("#push", "data-server-key")
        page.check("#alert-favourite")
        page.click("#push-save")
        page.wait_for_selector("text=Saved.")
        assert http.get("/api/v1/push/subscription", headers=ann_api).json()["alerts"]["favourite"] is True

        # The worker shows a push as the server words it (B's follow request), and its
        # click code leads the open page to what the notification is about.
        worker = (
            ann.context.service_workers[0]
            if ann.context.service_workers
            else ann.context.wait_for_event("serviceworker")
        )
        notification = _first_notification(http, ann_api)
        cdp = ann.context.new_cdp_session(page)
        registrations: list[dict[str, Any]] = []
        cdp.on("ServiceWorker.workerRegistrationUpdated", lambda event: registrations.extend(event["registrations"]))
        cdp.send("ServiceWorker.enable")
        wait_for_page(page, "navigator.serviceWorker.controller !== null")
        payload = {
            "notification_id": notification["id"],
            "notification_type": notification["type"],
            "preferred_locale": "en",
            "icon": f"{server.base_url}/static/avatar.png",
            "title": "setben requested to follow you",
            "body": "",
        }
        shown = _delivered(page, cdp, server.base_url, registrations, orjson.dumps(payload).decode())
        assert shown == {"title": "setben requested to follow you", "url": f"/notifications/{notification['id']}"}
        worker.evaluate("url => openTarget(url)", shown["url"])
        page.wait_for_url("**/follow_requests")

        # A approves the request there, and finds B among the followers.
        page.click("button[aria-label='Approve setben']")
        page.wait_for_selector(".person .done >> text=Approved")
        ben.page.reload()
        assert ben.page.get_attribute("button.follow", "data-state") == "following"
        page.goto("/@setann")
        page.click("a[href='/@setann/followers']")
        page.wait_for_selector(".people-list a[href='/@setben']")

        # Off again: the browser's subscription and the server's are gone.
        page.goto("/settings/notifications")
        page.wait_for_selector("#push[data-subscribed=true]")
        page.click("#push-off")
        page.wait_for_selector("#push[data-subscribed=false]")
        assert http.get("/api/v1/push/subscription", headers=ann_api).status_code == 404

        assert ann.problems == []
        assert ben.problems == []
    finally:
        http.close()
        ann.context.close()
        ben.context.close()
