"""OAuth: app registration, the authorization-code flow through the real pages (PKCE),
password / client-credentials / refresh grants, revocation, discovery and scopes."""

from __future__ import annotations

import base64
import hashlib
import html
import re
import secrets
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import parse_qs, urlsplit

import httpx
import pytest
from sqlalchemy import update

from lumigram.app import create_app as create_asgi_app
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings
from lumigram.infra.tables import oauth_codes, utcnow
from lumigram.services import Services
from tests.factories import ALL_SCOPES, DEFAULT_PASSWORD, OOB, app_token, bearer, create_app, create_user

REDIRECT = "https://client.example/callback"


def hidden_fields(page: str) -> dict[str, str]:
    """Every ``<input type="hidden">`` of a page, as a browser would submit it."""
    fields = {}
    for tag in re.findall(r"<input[^>]*>", page):
        if 'type="hidden"' not in tag:
            continue
        name = re.search(r'name="([^"]*)"', tag)
        value = re.search(r'value="([^"]*)"', tag)
        if name:
            fields[html.unescape(name.group(1))] = html.unescape(value.group(1)) if value else ""
    return fields


def pkce_pair() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


async def sign_in_through_page(client: httpx.AsyncClient, authorize_query: dict[str, str], login: str) -> str:
    """Open the authorize page, sign in on its form; returns the consent page's HTML."""
    page = await client.get("/oauth/authorize", params=authorize_query)
    assert page.status_code == 200, page.text
    assert 'name="password"' in page.text
    form = hidden_fields(page.text)
    assert form["csrf"]
    signed_in = await client.post("/auth/sign_in", data={**form, "login": login, "password": DEFAULT_PASSWORD})
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"].startswith("/oauth/authorize?")
    consent = await client.get(signed_in.headers["location"])
    assert consent.status_code == 200
    return consent.text


async def token_request(client: httpx.AsyncClient, **data: str) -> httpx.Response:
    return await client.post("/oauth/token", data=data)


# --- apps -----------------------------------------------------------------------------


async def test_registering_an_app_returns_its_credentials(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/apps",
        data={
            "client_name": "Pixel Viewer",
            "redirect_uris": f"{REDIRECT}\n{OOB}",
            "scopes": "read write:statuses push",
            "website": "https://viewer.example",
        },
    )
    assert response.status_code == 200, response.text
    app = response.json()
    assert app["name"] == "Pixel Viewer"
    assert app["website"] == "https://viewer.example"
    assert app["scopes"] == ["read", "write:statuses", "push"]
    assert app["redirect_uris"] == [REDIRECT, OOB]
    assert app["redirect_uri"] == f"{REDIRECT}\n{OOB}"
    assert isinstance(app["id"], str)
    assert len(app["client_id"]) >= 32
    assert len(app["client_secret"]) >= 32
    instance = (await client.get("/api/v2/instance")).json()
    assert app["vapid_key"] == instance["configuration"]["vapid"]["public_key"] != ""


async def test_apps_accept_json_lists_and_default_to_read(client: httpx.AsyncClient) -> None:
    response = await client.post(
        "/api/v1/apps", json={"client_name": "JSON client", "redirect_uris": [REDIRECT, "myapp://oauth"]}
    )
    assert response.status_code == 200, response.text
    assert response.json()["scopes"] == ["read"]
    assert response.json()["redirect_uris"] == [REDIRECT, "myapp://oauth"]


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"redirect_uris": OOB}, "client_name"),
        ({"client_name": "x", "redirect_uris": OOB, "scopes": "read delete_everything"}, "scopes"),
        ({"client_name": "x", "redirect_uris": "javascript:alert(1)"}, "redirect_uris"),
        ({"client_name": "x", "redirect_uris": "/relative/path"}, "redirect_uris"),
        ({"client_name": "x", "redirect_uris": "https://a.example/cb#frag"}, "redirect_uris"),
        ({"client_name": "x", "redirect_uris": OOB, "website": "not a url"}, "website"),
    ],
)
async def test_bad_app_registrations_are_refused_with_details(
    client: httpx.AsyncClient, data: dict[str, str], field: str
) -> None:
    response = await client.post("/api/v1/apps", data=data)
    assert response.status_code == 422, response.text
    assert field in response.json()["details"]
    assert response.json()["error"].startswith("Validation failed")


async def test_malformed_bodies_are_4xx_not_500(client: httpx.AsyncClient) -> None:
    for content, kind in (
        (b"[1, 2]", "application/json"),
        (b"{not json", "application/json"),
        (b'{"client_name": 5, "redirect_uris": {"a": 1}}', "application/json"),
        (b"--broken\r\nno headers", "multipart/form-data; boundary=broken"),
    ):
        response = await client.post("/api/v1/apps", content=content, headers={"Content-Type": kind})
        assert 400 <= response.status_code < 500, (content, response.text)
    # NUL and invalid UTF-8 are cleaned, not stored (PostgreSQL would refuse a NUL).
    odd = await client.post(
        "/api/v1/apps",
        content=b"client_name=a%00b%ff&redirect_uris=urn:ietf:wg:oauth:2.0:oob",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert odd.status_code == 200
    assert "\x00" not in odd.json()["name"]
    assert (await client.post("/oauth/token", content=b"[]", headers={"Content-Type": "application/json"})).json()[
        "error"
    ] == "invalid_request"


async def test_verify_app_credentials_with_an_app_token(client: httpx.AsyncClient) -> None:
    app = await create_app(client)
    token = await app_token(client, app)
    response = await client.get("/api/v1/apps/verify_credentials", headers=bearer(token))
    assert response.status_code == 200
    assert response.json()["name"] == "Test app"
    assert "client_secret" not in response.json()
    assert (await client.get("/api/v1/apps/verify_credentials")).status_code == 401
    bad = await client.get("/api/v1/apps/verify_credentials", headers=bearer("nope"))
    assert bad.status_code == 401
    assert bad.json() == {"error": "The access token is invalid"}


async def test_discovery_document_lists_endpoints_and_grants(client: httpx.AsyncClient) -> None:
    body = (await client.get("/.well-known/oauth-authorization-server")).json()
    assert body["authorization_endpoint"] == "http://testserver/oauth/authorize"
    assert body["token_endpoint"] == "http://testserver/oauth/token"
    assert body["revocation_endpoint"] == "http://testserver/oauth/revoke"
    assert body["app_registration_endpoint"] == "http://testserver/api/v1/apps"
    assert set(body["grant_types_supported"]) == {
        "authorization_code",
        "password",
        "client_credentials",
        "refresh_token",
    }
    assert body["code_challenge_methods_supported"] == ["S256"]
    assert body["response_types_supported"] == ["code"]
    assert {"read", "write", "read:accounts", "admin:read"} <= set(body["scopes_supported"])


# --- authorization code ----------------------------------------------------------------


async def test_authorization_code_flow_with_pkce_through_the_pages(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = await create_app(client, redirect_uris=REDIRECT, scopes="read write")
    verifier, challenge = pkce_pair()
    query = {
        "response_type": "code",
        "client_id": app["client_id"],
        "redirect_uri": REDIRECT,
        "scope": "read write:accounts",
        "state": "xyz-123",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    consent = await sign_in_through_page(client, query, user["username"])
    assert "Test app" in consent
    assert f"@{user['username']}" in consent
    assert "write:accounts" in consent
    form = hidden_fields(consent)
    assert form["client_id"] == app["client_id"]

    approved = await client.post("/oauth/authorize", data={**form, "decision": "approve"})
    assert approved.status_code == 302
    location = approved.headers["location"]
    assert location.startswith(REDIRECT + "?")
    params = parse_qs(urlsplit(location).query)
    assert params["state"] == ["xyz-123"]
    code = params["code"][0]

    exchange = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": REDIRECT,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
        "code_verifier": verifier,
    }
    wrong = await token_request(client, **{**exchange, "code_verifier": secrets.token_urlsafe(48)})
    assert wrong.status_code == 400
    assert wrong.json()["error"] == "invalid_grant"
    missing = await token_request(client, **{k: v for k, v in exchange.items() if k != "code_verifier"})
    assert missing.json()["error"] == "invalid_grant"
    other_uri = await token_request(client, **{**exchange, "redirect_uri": "https://evil.example/cb"})
    assert other_uri.json()["error"] == "invalid_grant"

    granted = await token_request(client, **exchange)
    assert granted.status_code == 200, granted.text
    token = granted.json()
    assert token["token_type"] == "Bearer"
    assert token["scope"] == "read write:accounts"
    assert isinstance(token["created_at"], int)
    assert token["refresh_token"]
    assert granted.headers["cache-control"] == "no-store"
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    assert me.status_code == 200
    assert me.json()["id"] == user["id"]

    reused = await token_request(client, **exchange)
    assert reused.status_code == 400
    assert reused.json()["error"] == "invalid_grant"
    assert reused.json()["error_description"]


async def test_denying_sends_the_client_access_denied(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = await create_app(client, redirect_uris=REDIRECT)
    query = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT, "state": "s1"}
    consent = await sign_in_through_page(client, query, user["email"])
    denied = await client.post("/oauth/authorize", data={**hidden_fields(consent), "decision": "deny"})
    assert denied.status_code == 302
    params = parse_qs(urlsplit(denied.headers["location"]).query)
    assert params["error"] == ["access_denied"]
    assert params["state"] == ["s1"]
    assert "code" not in params


async def test_out_of_band_shows_the_code_and_it_works_without_pkce(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = await create_app(client)  # registered with the oob redirect only
    query = {"response_type": "code", "client_id": app["client_id"], "scope": "read"}
    consent = await sign_in_through_page(client, query, user["username"])
    shown = await client.post("/oauth/authorize", data={**hidden_fields(consent), "decision": "approve"})
    assert shown.status_code == 200
    code = re.search(r'<output class="code"[^>]*>([^<]+)</output>', shown.text)
    assert code is not None
    granted = await token_request(
        client,
        grant_type="authorization_code",
        code=code.group(1),
        redirect_uri=OOB,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert granted.status_code == 200, granted.text
    assert granted.json()["scope"] == "read"


async def test_authorize_errors_never_redirect_to_unregistered_uris(client: httpx.AsyncClient) -> None:
    app = await create_app(client, redirect_uris=REDIRECT)
    unknown = await client.get("/oauth/authorize", params={"response_type": "code", "client_id": "nope"})
    assert unknown.status_code == 400
    assert "unknown" in unknown.text
    foreign = await client.get(
        "/oauth/authorize",
        params={"response_type": "code", "client_id": app["client_id"], "redirect_uri": "https://evil.example/"},
    )
    assert foreign.status_code == 400
    assert "location" not in foreign.headers


async def test_authorize_errors_for_a_known_client_go_back_to_it(client: httpx.AsyncClient) -> None:
    app = await create_app(client, redirect_uris=REDIRECT, scopes="read")
    base = {"client_id": app["client_id"], "redirect_uri": REDIRECT, "state": "st"}
    too_much = await client.get("/oauth/authorize", params={**base, "response_type": "code", "scope": "write"})
    assert too_much.status_code == 302
    assert parse_qs(urlsplit(too_much.headers["location"]).query)["error"] == ["invalid_scope"]
    token_type = await client.get("/oauth/authorize", params={**base, "response_type": "token"})
    assert parse_qs(urlsplit(token_type.headers["location"]).query)["error"] == ["unsupported_response_type"]
    plain = await client.get(
        "/oauth/authorize",
        params={**base, "response_type": "code", "code_challenge": "a" * 43, "code_challenge_method": "plain"},
    )
    assert parse_qs(urlsplit(plain.headers["location"]).query)["error"] == ["invalid_request"]


async def test_consent_needs_the_sessions_csrf_token(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = await create_app(client, redirect_uris=REDIRECT)
    query = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT}
    consent = await sign_in_through_page(client, query, user["username"])
    form = hidden_fields(consent)
    forged = await client.post("/oauth/authorize", data={**form, "csrf": "guess", "decision": "approve"})
    assert forged.status_code == 403
    assert "location" not in forged.headers
    no_token = await client.post(
        "/oauth/authorize", data={**{k: v for k, v in form.items() if k != "csrf"}, "decision": "approve"}
    )
    assert no_token.status_code == 403


async def test_sign_in_page_refuses_wrong_passwords_and_forged_forms(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    page = await client.get("/auth/sign_in")
    form = hidden_fields(page.text)
    wrong = await client.post("/auth/sign_in", data={**form, "login": user["username"], "password": "wrong pass"})
    assert wrong.status_code == 401
    assert "do not match" in wrong.text
    forged = await client.post(
        "/auth/sign_in", data={"csrf": "x", "login": user["username"], "password": DEFAULT_PASSWORD}
    )
    assert forged.status_code == 403
    ok = await client.post("/auth/sign_in", data={**form, "login": user["username"], "password": DEFAULT_PASSWORD})
    assert ok.status_code == 200
    assert f"@{user['username']}" in ok.text
    # A crafted "next" pointing elsewhere is ignored: no open redirect.
    form = hidden_fields(ok.text)
    again = await client.post(
        "/auth/sign_in",
        data={**form, "login": user["username"], "password": DEFAULT_PASSWORD, "next": "//evil.example/"},
    )
    assert again.status_code == 200


async def test_force_login_asks_again_even_when_signed_in(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = await create_app(client, redirect_uris=REDIRECT)
    query = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT}
    await sign_in_through_page(client, query, user["username"])
    again = await client.get("/oauth/authorize", params={**query, "force_login": "true"})
    assert again.status_code == 200
    assert 'name="password"' in again.text
    assert "force_login" not in hidden_fields(again.text)["next"]


async def test_pages_are_not_framable_or_cached(client: httpx.AsyncClient) -> None:
    page = await client.get("/auth/sign_in")
    assert page.headers["x-frame-options"] == "DENY"
    assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
    assert page.headers["cache-control"] == "no-store"
    assert "httponly" in page.headers["set-cookie"].lower()
    assert (await client.get("/static/lumigram.css")).status_code == 200


async def test_expired_codes_are_refused(client: httpx.AsyncClient, services: Services) -> None:
    user = await create_user(client)
    app = await create_app(client, redirect_uris=REDIRECT)
    query = {"response_type": "code", "client_id": app["client_id"], "redirect_uri": REDIRECT}
    consent = await sign_in_through_page(client, query, user["username"])
    approved = await client.post("/oauth/authorize", data={**hidden_fields(consent), "decision": "approve"})
    code = parse_qs(urlsplit(approved.headers["location"]).query)["code"][0]
    async with services.db.begin() as conn:
        await conn.execute(update(oauth_codes).values(expires_at=utcnow() - timedelta(seconds=1)))
    late = await token_request(
        client,
        grant_type="authorization_code",
        code=code,
        redirect_uri=REDIRECT,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert late.status_code == 400
    assert late.json()["error"] == "invalid_grant"


# --- password, client credentials, refresh, revoke --------------------------------------------


async def test_password_grant_by_username_or_email(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = user["app"]
    for login in (user["username"], user["email"].upper(), f"{user['username']}@testserver"):
        response = await token_request(
            client,
            grant_type="password",
            username=login,
            password=DEFAULT_PASSWORD,
            client_id=app["client_id"],
            client_secret=app["client_secret"],
            scope="read write",
        )
        assert response.status_code == 200, (login, response.text)
        assert response.json()["scope"] == "read write"
        assert int(response.headers["x-ratelimit-remaining"]) >= 0
        assert "x-ratelimit-limit" in response.headers
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(response.json()["access_token"]))
    assert me.json()["username"] == user["username"]


async def test_password_grant_failures_use_oauth_error_shape(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = user["app"]
    base = {
        "grant_type": "password",
        "username": user["username"],
        "password": DEFAULT_PASSWORD,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    wrong_password = await token_request(client, **{**base, "password": "not the password"})
    assert wrong_password.status_code == 400
    assert wrong_password.json()["error"] == "invalid_grant"
    assert "error_description" in wrong_password.json()
    nobody = await token_request(client, **{**base, "username": "nobody_here"})
    assert nobody.json()["error"] == "invalid_grant"
    wrong_secret = await token_request(client, **{**base, "client_secret": "wrong"})
    assert wrong_secret.status_code == 401
    assert wrong_secret.json()["error"] == "invalid_client"
    too_wide = await token_request(client, **{**base, "scope": "admin:write"})
    assert too_wide.status_code == 400
    assert too_wide.json()["error"] == "invalid_scope"
    unknown_grant = await token_request(client, **{**base, "grant_type": "implicit"})
    assert unknown_grant.json()["error"] == "unsupported_grant_type"
    granular = await token_request(client, **{**base, "scope": "read:accounts write:media"})
    assert granular.status_code == 200
    assert granular.json()["scope"] == "read:accounts write:media"


async def test_token_endpoint_accepts_json_and_basic_auth(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = user["app"]
    as_json = await client.post(
        "/oauth/token",
        json={
            "grant_type": "password",
            "username": user["username"],
            "password": DEFAULT_PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
        },
    )
    assert as_json.status_code == 200, as_json.text
    assert as_json.json()["scope"] == "read"
    basic = base64.b64encode(f"{app['client_id']}:{app['client_secret']}".encode()).decode()
    with_basic = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": f"Basic {basic}"}
    )
    assert with_basic.status_code == 200, with_basic.text
    bad_basic = await client.post(
        "/oauth/token", data={"grant_type": "client_credentials"}, headers={"Authorization": "Basic Zm9vOmJhcg=="}
    )
    assert bad_basic.status_code == 401
    assert bad_basic.headers["www-authenticate"].startswith("Basic")


async def test_client_credentials_tokens_have_no_user(client: httpx.AsyncClient) -> None:
    app = await create_app(client)
    response = await token_request(
        client, grant_type="client_credentials", client_id=app["client_id"], client_secret=app["client_secret"]
    )
    assert response.status_code == 200
    body = response.json()
    assert "refresh_token" not in body
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(body["access_token"]))
    assert me.status_code == 401
    assert me.json() == {"error": "This method requires an authenticated user"}


async def test_refresh_rotates_both_tokens(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = user["app"]
    old_access, old_refresh = user["token"], user["refresh_token"]
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=bearer(old_access))).status_code == 200
    refreshed = await token_request(
        client,
        grant_type="refresh_token",
        refresh_token=old_refresh,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert refreshed.status_code == 200, refreshed.text
    new = refreshed.json()
    assert new["access_token"] != old_access
    assert new["refresh_token"] != old_refresh
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=bearer(old_access))).status_code == 401
    assert (
        await client.get("/api/v1/accounts/verify_credentials", headers=bearer(new["access_token"]))
    ).status_code == 200
    replay = await token_request(
        client,
        grant_type="refresh_token",
        refresh_token=old_refresh,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert replay.status_code == 400
    assert replay.json()["error"] == "invalid_grant"
    narrower = await token_request(
        client,
        grant_type="refresh_token",
        refresh_token=new["refresh_token"],
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        scope="read",
    )
    assert narrower.json()["scope"] == "read"


async def test_revoke_makes_the_token_fail_at_once(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = user["app"]
    headers = user["headers"]
    # Warm the token cache: revoking must still take effect immediately.
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=headers)).status_code == 200
    other = await create_app(client)
    refused = await client.post(
        "/oauth/revoke",
        data={"token": user["token"], "client_id": other["client_id"], "client_secret": other["client_secret"]},
    )
    assert refused.status_code == 403
    wrong_secret = await client.post(
        "/oauth/revoke", data={"token": user["token"], "client_id": app["client_id"], "client_secret": "nope"}
    )
    assert wrong_secret.status_code == 401
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=headers)).status_code == 200

    revoked = await client.post(
        "/oauth/revoke",
        data={"token": user["token"], "client_id": app["client_id"], "client_secret": app["client_secret"]},
    )
    assert revoked.status_code == 200
    assert revoked.json() == {}
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=headers)).status_code == 401
    unknown = await client.post(
        "/oauth/revoke",
        data={"token": "never-issued", "client_id": app["client_id"], "client_secret": app["client_secret"]},
    )
    assert unknown.status_code == 200


async def test_tokens_are_accepted_in_the_query_string(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    response = await client.get("/api/v1/accounts/verify_credentials", params={"access_token": user["token"]})
    assert response.status_code == 200


async def test_scopes_are_enforced(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    app = user["app"]

    async def token_with(scope: str) -> dict[str, str]:
        response = await token_request(
            client,
            grant_type="password",
            username=user["username"],
            password=DEFAULT_PASSWORD,
            client_id=app["client_id"],
            client_secret=app["client_secret"],
            scope=scope,
        )
        assert response.status_code == 200, response.text
        return bearer(response.json()["access_token"])

    read_only = await token_with("read")
    refused = await client.patch("/api/v1/accounts/update_credentials", data={"display_name": "x"}, headers=read_only)
    assert refused.status_code == 403
    assert refused.json() == {"error": "This action is outside the authorized scopes"}
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=read_only)).status_code == 200

    profile_only = await token_with("profile")
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=profile_only)).status_code == 200
    statuses_only = await token_with("read:statuses")
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=statuses_only)).status_code == 403
    assert (await client.get(f"/api/v1/accounts/{user['id']}", headers=statuses_only)).status_code == 403
    write_accounts = await token_with("write:accounts")
    allowed = await client.patch(
        "/api/v1/accounts/update_credentials", data={"display_name": "Granular"}, headers=write_accounts
    )
    assert allowed.status_code == 200, allowed.text


# --- settings-dependent behaviour ---------------------------------------------------------------


@pytest.fixture
async def client_with(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    """Makes clients over services built with setting overrides; all closed after the test."""
    opened: list[tuple[Services, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> httpx.AsyncClient:
        services = build_services(make_settings(**overrides))
        await services.db.migrate()
        await services.cache.flush()
        await start_consumers(services)
        await services.start_relay()
        http = httpx.AsyncClient(
            transport=httpx.ASGITransport(app=create_asgi_app(services=services)), base_url="http://testserver"
        )
        opened.append((services, http))
        return http

    yield make
    for services, http in opened:
        await http.aclose()
        await services.close()


async def test_password_grant_is_rate_limited_per_login(client_with: Callable[..., Any]) -> None:
    client = await client_with(login_rate_limit=3)
    user = await create_user(client)
    app = user["app"]
    base = {
        "grant_type": "password",
        "username": user["username"],
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    for _ in range(3):
        assert (await token_request(client, **base, password="wrong password")).status_code == 400
    limited = await token_request(client, **base, password=DEFAULT_PASSWORD)
    assert limited.status_code == 429
    assert limited.headers["x-ratelimit-limit"] == "3"
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "retry-after" in limited.headers
    page = await client.get("/auth/sign_in")
    web = await client.post(
        "/auth/sign_in",
        data={**hidden_fields(page.text), "login": user["username"], "password": DEFAULT_PASSWORD},
    )
    assert web.status_code == 429
    assert "Too many" in web.text


async def test_tokens_expire_when_a_lifetime_is_set(client_with: Callable[..., Any]) -> None:
    client = await client_with(token_lifetime=1)
    user = await create_user(client)
    app = user["app"]
    response = await token_request(
        client,
        grant_type="password",
        username=user["username"],
        password=DEFAULT_PASSWORD,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert response.json()["expires_in"] == 1
    headers = bearer(response.json()["access_token"])
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=headers)).status_code == 200
    import asyncio

    await asyncio.sleep(1.2)
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=headers)).status_code == 401


async def test_disabled_logins_are_refused_everywhere(client: httpx.AsyncClient, services: Services) -> None:
    from lumigram.accounts import service

    user = await create_user(client)
    assert (await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])).status_code == 200
    account = await service.get_account(services, int(user["id"]))
    await service.set_disabled(services, account.user_id, True)
    refused = await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])
    assert refused.status_code == 403
    assert refused.json() == {"error": "Your login is currently disabled"}
    app = user["app"]
    login = await token_request(
        client,
        grant_type="password",
        username=user["username"],
        password=DEFAULT_PASSWORD,
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert login.json()["error"] == "invalid_grant"
    refresh = await token_request(
        client,
        grant_type="refresh_token",
        refresh_token=user["refresh_token"],
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert refresh.json()["error"] == "invalid_grant"


async def test_app_scopes_cover_granular_requests(client: httpx.AsyncClient) -> None:
    app = await create_app(client, scopes=ALL_SCOPES)
    response = await token_request(
        client,
        grant_type="client_credentials",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
        scope="read:statuses write:follows",
    )
    assert response.status_code == 200
    assert response.json()["scope"] == "read:statuses write:follows"


async def test_control_characters_never_reach_the_database(client: httpx.AsyncClient) -> None:
    # PostgreSQL refuses NUL in text parameters; such input must be a 4xx on both shapes.
    user = await create_user(client)
    app = user["app"]
    nul_login = await token_request(
        client,
        grant_type="password",
        username="a\x00b@example.org",
        password="x",
        client_id=app["client_id"],
        client_secret=app["client_secret"],
    )
    assert nul_login.status_code == 400
    nul_client = await token_request(client, grant_type="client_credentials", client_id="a\x00", client_secret="b")
    assert nul_client.status_code == 401
    page = await client.get("/oauth/authorize", params={"response_type": "code", "client_id": "\x00"})
    assert page.status_code == 400
    lookup = await client.get("/api/v1/accounts/lookup", params={"acct": "a\x00b"})
    assert lookup.status_code == 404
