"""The settings, people and notification pages over the ASGI client, on both shapes:
sessions ended from another browser and everywhere (CSRF-checked forms), who may see a
private account's followers, likes and follow requests, the worker and where a clicked
notification leads, and notifications grouped as the v2 API groups them."""

from __future__ import annotations

import re

import httpx

from lumigram.accounts import oauth
from lumigram.services import Services
from tests.factories import create_post, create_user
from tests.settle import settle
from tests.web_session import signed_in_browser

_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TOKEN = re.compile(r'<meta name="lumigram-token" content="([^"]+)">')
_SESSION = re.compile(r'id="session-(\d+)"')


def _found(pattern: re.Pattern[str], text: str) -> str:
    match = pattern.search(text)
    assert match is not None, text[:2000]
    return match.group(1)


async def _signed_in(browser: httpx.AsyncClient) -> bool:
    return 'aria-label="Main"' in (await browser.get("/")).text


async def test_sessions_end_one_from_another_browser_and_everywhere(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner = await create_user(client)
    assert (await client.get("/settings/sessions")).headers["location"].startswith("/auth/sign_in")
    async with signed_in_browser(client, owner) as laptop, signed_in_browser(client, owner) as phone:
        phone_token = _found(_TOKEN, (await phone.get("/")).text)
        page = await laptop.get("/settings/sessions")
        assert page.status_code == 200
        listed = _SESSION.findall(page.text)
        assert len(listed) == 3  # the app's token, and each browser's
        assert page.text.count("This browser") == 1
        csrf = _found(_CSRF, page.text)

        grant = await oauth.resolve_token(services, phone_token)
        assert grant is not None
        phone_session = str(grant.token_id)
        assert phone_session in listed

        forged = await laptop.post(f"/settings/sessions/{phone_session}/end", data={"csrf": "guessed"})
        assert forged.status_code == 403
        assert await _signed_in(phone)
        for wrong in ("123", "not-a-number", "99999999999999999999999"):
            missing = await laptop.post(f"/settings/sessions/{wrong}/end", data={"csrf": csrf})
            assert missing.status_code == 404, wrong
        ended = await laptop.post(f"/settings/sessions/{phone_session}/end", data={"csrf": csrf})
        assert ended.status_code == 303
        assert ended.headers["location"] == "/settings/sessions"
        # The phone is signed out at once, and its token no longer works.
        assert not await _signed_in(phone)
        stale = await phone.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {phone_token}"}
        )
        assert stale.status_code == 401
        assert await _signed_in(laptop)

        everywhere = await laptop.post("/settings/sessions/end_all", data={"csrf": csrf})
        assert everywhere.status_code == 303
        assert not await _signed_in(laptop)
        assert (await client.get("/api/v1/accounts/verify_credentials", headers=owner["headers"])).status_code == 401


async def test_people_and_grouped_notifications_show_what_the_api_shows(
    client: httpx.AsyncClient, services: Services
) -> None:
    owner = await create_user(client)
    fan, stranger, third = [await create_user(client) for _ in range(3)]
    post = await create_post(client, owner["headers"], text="Liked by many")
    await client.post(f"/api/v1/accounts/{owner['id']}/follow", headers=fan["headers"])
    for liker in (fan, stranger, third):
        await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=liker["headers"])
    path = post["url"].removeprefix("http://testserver")
    await settle(services)

    # Grouped as the v2 API groups them; the list alone for the live page to swap in.
    async with signed_in_browser(client, owner) as own:
        page = await own.get("/notifications")
        assert page.status_code == 200
        assert page.text.count('data-type="favourite"') == 1
        assert re.search(rf"{third['username']}</a>\s*and 2 others\s*liked your post", page.text)
        assert 'data-type="follow"' in page.text
        fragment = await own.get("/web/notifications")
        assert fragment.status_code == 200
        assert "<html" not in fragment.text
        assert "and 2 others" in fragment.text

        # The worker opens /notifications/<id>, which leads to what the notification is about.
        listed = (await client.get("/api/v1/notifications", headers=owner["headers"])).json()
        by_type = {item["type"]: item["id"] for item in listed}
        liked = await own.get(f"/notifications/{by_type['favourite']}")
        assert liked.status_code == 303
        assert liked.headers["location"] == path
        followed = await own.get(f"/notifications/{by_type['follow']}")
        assert followed.headers["location"] == f"/@{fan['username']}"
        assert (await own.get("/notifications/12345")).status_code == 404
        assert (await own.get("/notifications/nope")).status_code == 404
    assert (await client.get(f"/notifications/{by_type['favourite']}")).status_code == 303  # to sign in
    assert (await client.get("/web/notifications")).status_code == 401

    # Followers and likes, as the API lists them.
    shown = await client.get(f"/@{owner['username']}/followers")
    assert shown.status_code == 200
    assert f'href="/@{fan["username"]}"' in shown.text
    likes = await client.get(f"{path}/likes")
    assert likes.status_code == 200
    assert all(f'href="/@{liker["username"]}"' in likes.text for liker in (fan, stranger, third))
    assert "Liked by" in (await client.get(path)).text
    assert (await client.get(f"/@{owner['username']}/123/likes")).status_code == 404
    assert (await client.get("/@nobody_here/followers")).status_code == 404

    # Private: the network shows to approved followers only; a block is a 404 page.
    await client.post(f"/api/v1/accounts/{third['id']}/follow", headers=fan["headers"])
    await client.patch("/api/v1/accounts/update_credentials", headers=third["headers"], data={"locked": "true"})
    await client.post(f"/api/v1/accounts/{third['id']}/follow", headers=stranger["headers"])
    async with signed_in_browser(client, stranger) as outsider, signed_in_browser(client, fan) as follower:
        hidden = await outsider.get(f"/@{third['username']}/following")
        assert hidden.status_code == 200
        assert "only its approved followers" in hidden.text
        assert f'href="/@{fan["username"]}"' not in (await outsider.get(f"/@{third['username']}/followers")).text
        assert f'href="/@{fan["username"]}"' in (await follower.get(f"/@{third['username']}/followers")).text
        await client.post(f"/api/v1/accounts/{stranger['id']}/block", headers=owner["headers"])
        assert (await outsider.get(f"/@{owner['username']}/followers")).status_code == 404
        assert (await outsider.get(f"{path}/likes")).status_code == 404
    async with signed_in_browser(client, third) as private, signed_in_browser(client, owner) as own:
        requests = await private.get("/follow_requests")
        assert requests.status_code == 200
        assert f'aria-label="Approve {stranger["username"]}"' in requests.text
        blocked = await own.get("/settings/blocked")
        assert f'href="/@{stranger["username"]}"' in blocked.text
        assert 'data-action="unblock"' in blocked.text

    worker = await client.get("/sw.js")
    assert worker.status_code == 200
    assert worker.headers["content-type"].startswith("text/javascript")
    assert "default-src 'none'" in worker.headers["content-security-policy"]
    assert 'addEventListener("notificationclick"' in worker.text
