"""Test data made through the public API, so every test exercises the real sign-up path.

    user = await create_user(client)                 # {"id", "username", "token", "headers", ...}
    await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])

The ``client`` fixture's settings allow 1,000 sign-ups per window, so a test may make
many users; one that lowers ``signup_rate_limit`` should expect 429s from here.
"""

from __future__ import annotations

import itertools
import secrets
from typing import Any

import httpx

OOB = "urn:ietf:wg:oauth:2.0:oob"
ALL_SCOPES = "read write follow push"
DEFAULT_PASSWORD = "correct horse battery staple"

_sequence = itertools.count(1)


def unique_username(prefix: str = "user") -> str:
    """A fresh, valid username (letters, digits, underscore; at most 30 characters)."""
    return f"{prefix[:12]}_{next(_sequence)}_{secrets.token_hex(3)}"


async def create_app(
    client: httpx.AsyncClient, scopes: str = ALL_SCOPES, redirect_uris: str = OOB, name: str = "Test app"
) -> dict[str, Any]:
    """Register an OAuth client; the Application entity (with ``client_id``/``client_secret``)."""
    response = await client.post(
        "/api/v1/apps", data={"client_name": name, "redirect_uris": redirect_uris, "scopes": scopes}
    )
    assert response.status_code == 200, response.text
    app: dict[str, Any] = response.json()
    return app


async def app_token(client: httpx.AsyncClient, app: dict[str, Any], scope: str = ALL_SCOPES) -> str:
    """An app-only token (client_credentials), what a client uses to sign someone up."""
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


async def password_login(
    client: httpx.AsyncClient,
    app: dict[str, Any],
    login: str,
    password: str = DEFAULT_PASSWORD,
    scope: str | None = None,
) -> httpx.Response:
    """Ask for a token with the password grant; the answer as it came, refusals included."""
    data = {
        "grant_type": "password",
        "username": login,
        "password": password,
        "client_id": app["client_id"],
        "client_secret": app["client_secret"],
    }
    if scope is not None:
        data["scope"] = scope
    return await client.post("/oauth/token", data=data)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


async def create_user(
    client: httpx.AsyncClient,
    username: str | None = None,
    password: str = DEFAULT_PASSWORD,
    email: str | None = None,
    scopes: str = ALL_SCOPES,
    app: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """Sign a new user up through ``POST /api/v1/accounts``.

    Returns ``id`` (account id, a string as in the API), ``username``, ``email``,
    ``password``, ``token``, ``refresh_token``, ``headers`` (Authorization) and ``app``
    (the client used, for password grants later).
    """
    username = username or unique_username()
    email = email or f"{username.lower()}@example.org"
    app = app or await create_app(client, scopes=scopes)
    token = await app_token(client, app, scopes)
    response = await client.post(
        "/api/v1/accounts",
        data={"username": username, "email": email, "password": password, "agreement": "true", "locale": "en"},
        headers=bearer(token),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    # Lookup is public, so this works even when the server requires confirmed e-mail.
    found = await client.get("/api/v1/accounts/lookup", params={"acct": username})
    assert found.status_code == 200, found.text
    return {
        "id": found.json()["id"],
        "username": username,
        "email": email,
        "password": password,
        "token": body["access_token"],
        "refresh_token": body.get("refresh_token"),
        "headers": bearer(body["access_token"]),
        "app": app,
    }


def photo_bytes(color: tuple[int, int, int] = (200, 80, 40), size: tuple[int, int] = (64, 48)) -> bytes:
    """A small JPEG of one colour."""
    import io

    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", size, color).save(out, "JPEG")
    return out.getvalue()


async def upload_photo(
    client: httpx.AsyncClient, headers: dict[str, str], description: str | None = None, **image: Any
) -> dict[str, Any]:
    """Upload a photo through ``POST /api/v2/media``; the MediaAttachment."""
    data = {"description": description} if description else {}
    response = await client.post(
        "/api/v2/media", headers=headers, files={"file": ("photo.jpg", photo_bytes(**image), "image/jpeg")}, data=data
    )
    assert response.status_code == 200, response.text
    media: dict[str, Any] = response.json()
    return media


async def create_post(
    client: httpx.AsyncClient, headers: dict[str, str], text: str = "A photo", photos: int = 1, **fields: Any
) -> dict[str, Any]:
    """Publish a post with ``photos`` fresh photos; the Status."""
    media_ids = [(await upload_photo(client, headers))["id"] for _ in range(photos)]
    response = await client.post(
        "/api/v1/statuses", headers=headers, json={"status": text, "media_ids": media_ids, **fields}
    )
    assert response.status_code == 200, response.text
    status: dict[str, Any] = response.json()
    return status
