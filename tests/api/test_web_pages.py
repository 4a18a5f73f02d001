"""The web app's pages over the ASGI client, on both shapes: security headers, CSRF on
sign-up, the web session's API token, and pages that answer as the API does for what a
viewer may not see (an HTML 404 page, never JSON)."""

from __future__ import annotations

import re

import httpx

from tests.factories import create_post, create_user
from tests.web_session import signed_in_browser

PASSWORD = "a web-typed password"
_CSRF = re.compile(r'name="csrf" value="([^"]+)"')
_TOKEN = re.compile(r'<meta name="lumigram-token" content="([^"]+)">')


def _strict(response: httpx.Response) -> None:
    policy = response.headers["content-security-policy"]
    assert "script-src 'self';" in policy
    assert "style-src 'self';" in policy
    assert "unsafe-inline" not in policy
    assert "frame-ancestors 'none'" in policy
    assert response.headers["content-type"].startswith("text/html")
    assert "<script>" not in response.text
    assert " style=" not in response.text


async def test_visitors_get_the_welcome_and_html_404s_under_a_strict_policy(client: httpx.AsyncClient) -> None:
    welcome = await client.get("/")
    assert welcome.status_code == 200
    _strict(welcome)
    assert 'href="/auth/sign_up"' in welcome.text
    assert "lumigram-token" not in welcome.text
    for path in ("/@nobody_here", "/@nobody_here/123", "/@nobody_here/not-a-number", "/tags/%20"):
        missing = await client.get(path)
        assert missing.status_code == 404, path
        _strict(missing)
        assert "Page not found" in missing.text


async def test_sign_up_needs_the_session_token_and_then_the_pages_hold_an_api_token(
    client: httpx.AsyncClient,
) -> None:
    form = {"username": "webform", "email": "webform@example.org", "password": PASSWORD, "agreement": "on"}
    forged = await client.post("/auth/sign_up", data={**form, "csrf": "guessed"})
    assert forged.status_code == 403
    assert (await client.get("/api/v1/accounts/lookup", params={"acct": "webform"})).status_code == 404

    page = await client.get("/auth/sign_up")
    _strict(page)
    csrf = _CSRF.search(page.text)
    assert csrf is not None
    bad = await client.post("/auth/sign_up", data={**form, "password": "short", "csrf": csrf.group(1)})
    assert bad.status_code == 422
    assert "Password is too short" in bad.text
    assert 'value="webform"' in bad.text  # what was typed is kept

    signed_up = await client.post("/auth/sign_up", data={**form, "csrf": csrf.group(1)})
    assert signed_up.status_code == 303
    assert signed_up.headers["location"] == "/"
    home = await client.get("/")
    _strict(home)
    assert 'aria-label="Main"' in home.text
    token = _TOKEN.search(home.text)
    assert token is not None
    me = await client.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token.group(1)}"})
    assert me.json()["username"] == "webform"

    profile = await client.get("/@webform")
    out = _CSRF.search(profile.text)
    assert out is not None
    signed_out = await client.post("/auth/sign_out", data={"csrf": out.group(1), "next": "/"})
    assert signed_out.status_code == 303
    revoked = await client.get(
        "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token.group(1)}"}
    )
    assert revoked.status_code == 401


async def test_a_private_accounts_post_is_a_404_page_to_others_and_public_posts_preview(
    client: httpx.AsyncClient,
) -> None:
    owner = await create_user(client)
    public_post = await create_post(client, owner["headers"], text="Out in the open #webtag")
    path = public_post["url"].removeprefix("http://testserver")
    shown = await client.get(path)
    assert shown.status_code == 200
    _strict(shown)
    assert '<meta property="og:image"' in shown.text
    assert 'srcset="' in shown.text
    assert "Out in the open" in shown.text
    assert path in (await client.get("/tags/webtag")).text

    locked = await client.patch(
        "/api/v1/accounts/update_credentials", headers=owner["headers"], data={"locked": "true"}
    )
    assert locked.status_code == 200
    hidden = await client.get(path)
    assert hidden.status_code == 404
    assert "Out in the open" not in hidden.text
    profile = await client.get(f"/@{owner['username']}")
    assert profile.status_code == 200
    assert "This account is private" in profile.text
    assert path not in profile.text
    assert "og:title" not in profile.text


async def test_the_home_feed_shows_albums_both_orders_and_pages_on(client: httpx.AsyncClient) -> None:
    author, reader = await create_user(client), await create_user(client)
    await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=reader["headers"])
    album = await create_post(client, author["headers"], text="Two views", photos=2)
    assert (await client.get("/web/home")).status_code == 401
    async with signed_in_browser(client, reader) as browser:
        following = (await browser.get("/")).text
        assert f'id="post-{album["id"]}"' in following
        assert 'aria-label="Album of 2"' in following
        assert 'aria-label="Next photo"' in following
        assert 'loading="lazy"' not in following.split('class="photo"', 2)[1]  # the first photo loads at once
        for_you = (await browser.get("/?feed=foryou")).text
        assert f'id="post-{album["id"]}"' in for_you
        assert "Why am I seeing this?" in for_you
        older = await browser.get(f"/web/home?cursor={album['id']}")
        assert older.status_code == 200
        assert "post-" not in older.text
        assert f'id="post-{album["id"]}"' not in (await browser.get(f"/?cursor={album['id']}")).text
