"""Sign-up, the signed-in profile and its edits (avatar included), and profile lookups."""

from __future__ import annotations

import struct
import zlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from lumigram import ids
from lumigram.app import create_app as create_asgi_app
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings
from lumigram.infra.tables import accounts, outbox, users
from lumigram.services import Services
from tests.factories import DEFAULT_PASSWORD, app_token, bearer, create_app, create_user


def tiny_png(rgb: tuple[int, int, int] = (200, 30, 40)) -> bytes:
    """A valid 2x2 PNG, made by hand (no imaging library needed)."""
    raw = b"".join(b"\x00" + bytes(rgb) * 2 for _ in range(2))

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", 2, 2, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


async def sign_up(client: httpx.AsyncClient, token: str, **fields: str) -> httpx.Response:
    data = {"username": "alice", "email": "alice@example.org", "password": DEFAULT_PASSWORD, "agreement": "1"}
    data.update(fields)
    return await client.post(
        "/api/v1/accounts", data={k: v for k, v in data.items() if v is not None}, headers=bearer(token)
    )


@pytest.fixture
async def signup_token(client: httpx.AsyncClient) -> str:
    return await app_token(client, await create_app(client))


# --- sign-up ---------------------------------------------------------------------------------


async def test_sign_up_returns_a_working_token(
    client: httpx.AsyncClient, signup_token: str, services: Services
) -> None:
    response = await sign_up(client, signup_token, username="Alice_1", locale="fr")
    assert response.status_code == 200, response.text
    token = response.json()
    assert token["token_type"] == "Bearer"
    assert set(token["scope"].split()) == {"read", "write", "follow", "push"}
    assert isinstance(token["created_at"], int)
    assert int(response.headers["x-ratelimit-remaining"]) >= 0
    me = await client.get("/api/v1/accounts/verify_credentials", headers=bearer(token["access_token"]))
    assert me.status_code == 200
    body = me.json()
    assert body["username"] == "Alice_1"
    assert body["acct"] == "Alice_1"
    assert body["source"]["language"] == "fr"

    async with services.db.connect() as conn:
        account = (await conn.execute(select(accounts).where(accounts.c.id == int(body["id"])))).one()
        user = (await conn.execute(select(users).where(users.c.id == account.user_id))).one()
        events = (await conn.execute(select(outbox.c.type, outbox.c.payload))).all()
    # The login lives on its profile's shard, so the two rows can move together.
    assert ids.shard_of(user.id) == ids.shard_of(account.id)
    assert user.password_hash.startswith("$argon2id$")
    assert DEFAULT_PASSWORD not in user.password_hash
    assert [e.type for e in events] == ["user.registered"]
    assert "alice@example.org" not in events[0].payload  # no contact details on the bus


async def test_usernames_and_emails_are_unique_ignoring_case(client: httpx.AsyncClient, signup_token: str) -> None:
    assert (await sign_up(client, signup_token)).status_code == 200
    taken = await sign_up(client, signup_token, username="ALICE", email="ALICE@Example.org")
    assert taken.status_code == 422
    details = taken.json()["details"]
    assert details["username"] == [{"error": "ERR_TAKEN", "description": "is already taken"}]
    assert details["email"][0]["error"] == "ERR_TAKEN"
    assert taken.json()["error"].startswith("Validation failed: Username is already taken")


@pytest.mark.parametrize(
    ("fields", "field", "code"),
    [
        ({"username": "bad name"}, "username", "ERR_INVALID"),
        ({"username": "a" * 31}, "username", "ERR_TOO_LONG"),
        ({"username": "ädmin"}, "username", "ERR_INVALID"),
        ({"username": ""}, "username", "ERR_BLANK"),
        ({"username": "Admin"}, "username", "ERR_RESERVED"),
        ({"username": "oauth"}, "username", "ERR_RESERVED"),
        ({"password": "short"}, "password", "ERR_TOO_SHORT"),
        ({"password": "x" * 300}, "password", "ERR_TOO_LONG"),
        ({"agreement": "0"}, "agreement", "ERR_ACCEPTED"),
        ({"email": "not-an-address"}, "email", "ERR_INVALID"),
        ({"email": ""}, "email", "ERR_BLANK"),
        ({"email": "", "phone": "12345"}, "phone", "ERR_INVALID"),
        ({"locale": "<script>"}, "locale", "ERR_INCLUSION"),
    ],
)
async def test_bad_sign_ups_name_the_field(
    client: httpx.AsyncClient, signup_token: str, fields: dict[str, str], field: str, code: str
) -> None:
    response = await sign_up(client, signup_token, **fields)
    assert response.status_code == 422, response.text
    assert response.json()["details"][field][0]["error"] == code


async def test_every_problem_is_reported_at_once(client: httpx.AsyncClient, signup_token: str) -> None:
    response = await client.post(
        "/api/v1/accounts", data={"username": "no spaces", "password": "short"}, headers=bearer(signup_token)
    )
    assert response.status_code == 422
    assert set(response.json()["details"]) == {"username", "password", "agreement", "email"}


async def test_sign_up_with_a_phone_number(client: httpx.AsyncClient, signup_token: str) -> None:
    response = await sign_up(client, signup_token, email="", phone="+1 (555) 010-9999")
    assert response.status_code == 200, response.text
    again = await sign_up(client, signup_token, username="other", email="", phone="+15550109999")
    assert again.json()["details"]["phone"][0]["error"] == "ERR_TAKEN"


async def test_sign_up_needs_an_app_token_with_write_scope(client: httpx.AsyncClient) -> None:
    app = await create_app(client, scopes="read")
    read_only = await app_token(client, app, "read")
    assert (await sign_up(client, read_only)).status_code == 403
    anonymous = await client.post("/api/v1/accounts", data={"username": "x"})
    assert anonymous.status_code == 401


async def test_sign_up_accepts_json(client: httpx.AsyncClient, signup_token: str) -> None:
    response = await client.post(
        "/api/v1/accounts",
        json={"username": "json_user", "email": "j@example.org", "password": DEFAULT_PASSWORD, "agreement": True},
        headers=bearer(signup_token),
    )
    assert response.status_code == 200, response.text


@pytest.fixture
async def client_with(make_settings: Callable[..., Settings]) -> AsyncIterator[Callable[..., Any]]:
    opened: list[tuple[Services, httpx.AsyncClient]] = []

    async def make(**overrides: Any) -> httpx.AsyncClient:
        services = build_services(make_settings(**overrides))
        await services.db.migrate()
        await services.cache.flush()
        await start_consumers(services)
        await services.start_relay()
        transport = httpx.ASGITransport(app=create_asgi_app(services=services))
        http = httpx.AsyncClient(transport=transport, base_url="http://testserver")
        opened.append((services, http))
        return http

    yield make
    for services, http in opened:
        await http.aclose()
        await services.close()


async def test_closed_registrations_refuse_sign_ups(client_with: Callable[..., Any]) -> None:
    client = await client_with(registrations_open=False)
    token = await app_token(client, await create_app(client))
    response = await sign_up(client, token)
    assert response.status_code == 403
    assert "error" in response.json()


async def test_sign_ups_are_rate_limited_per_address(client_with: Callable[..., Any]) -> None:
    client = await client_with(signup_rate_limit=2)
    token = await app_token(client, await create_app(client))
    first = await sign_up(client, token, username="one", email="one@example.org")
    assert first.status_code == 200
    assert first.headers["x-ratelimit-limit"] == "2"
    assert first.headers["x-ratelimit-remaining"] == "1"
    assert (await sign_up(client, token, username="two", password="bad")).status_code == 422  # failures count
    limited = await sign_up(client, token, username="three", email="three@example.org")
    assert limited.status_code == 429
    assert limited.json() == {"error": "Too many requests"}
    assert limited.headers["x-ratelimit-remaining"] == "0"
    assert "x-ratelimit-reset" in limited.headers
    assert int(limited.headers["retry-after"]) >= 1


# --- the signed-in profile -------------------------------------------------------------------


async def test_verify_credentials_has_mastodons_shape(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    me = (await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])).json()
    for field in (
        "id",
        "username",
        "acct",
        "display_name",
        "locked",
        "bot",
        "discoverable",
        "group",
        "created_at",
        "note",
        "url",
        "uri",
        "avatar",
        "avatar_static",
        "header",
        "header_static",
        "followers_count",
        "following_count",
        "statuses_count",
        "last_status_at",
        "emojis",
        "fields",
    ):
        assert field in me, field
    assert isinstance(me["id"], str)
    assert me["created_at"].endswith("T00:00:00.000Z")
    assert me["url"] == f"http://testserver/@{user['username']}"
    assert me["avatar"] == "http://testserver/static/avatar.png"
    assert me["group"] is False
    assert me["source"]["privacy"] == "public"
    assert me["source"]["sensitive"] is False
    assert me["source"]["fields"] == []
    assert me["source"]["follow_requests_count"] == 0
    assert me["role"]["permissions"] == "0"
    assert (await client.get(me["avatar"].removeprefix("http://testserver"))).status_code == 200
    assert (await client.get("/api/v1/accounts/verify_credentials")).status_code == 401


async def test_update_credentials_with_form_booleans(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        data={
            "display_name": " Alice M ",
            "note": "Film photos\n<script>x</script>",
            "locked": "1",
            "bot": "false",
            "discoverable": "0",
            "source[privacy]": "private",
            "source[language]": "de",
        },
        headers=user["headers"],
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["display_name"] == "Alice M"
    assert me["note"] == "<p>Film photos<br />&lt;script&gt;x&lt;/script&gt;</p>"
    assert me["source"]["note"] == "Film photos\n<script>x</script>"
    assert me["locked"] is True
    assert me["bot"] is False
    assert me["discoverable"] is False
    public = (await client.get(f"/api/v1/accounts/{user['id']}")).json()
    assert public["locked"] is True
    assert public["display_name"] == "Alice M"


async def test_update_credentials_with_json_and_partial_changes(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    await client.patch("/api/v1/accounts/update_credentials", json={"display_name": "First"}, headers=user["headers"])
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        json={"locked": True, "source": {"privacy": "public"}},
        headers=user["headers"],
    )
    assert response.status_code == 200, response.text
    assert response.json()["display_name"] == "First"
    assert response.json()["locked"] is True


@pytest.mark.parametrize(
    ("data", "field"),
    [
        ({"display_name": "x" * 65}, "display_name"),
        ({"note": "x" * 501}, "note"),
        ({"locked": "maybe"}, "locked"),
        ({"source[privacy]": "everyone"}, "source.privacy"),
    ],
)
async def test_update_credentials_validates(client: httpx.AsyncClient, data: dict[str, str], field: str) -> None:
    user = await create_user(client)
    response = await client.patch("/api/v1/accounts/update_credentials", data=data, headers=user["headers"])
    assert response.status_code == 422, response.text
    assert field in response.json()["details"]


async def test_avatar_upload_is_stored_by_content_and_served(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    png = tiny_png()
    response = await client.patch(
        "/api/v1/accounts/update_credentials",
        files={
            "avatar": ("me.bin", png, "application/octet-stream"),
            "header": ("h.png", tiny_png((1, 2, 3)), "image/png"),
        },
        data={"display_name": "Pic"},
        headers=user["headers"],
    )
    assert response.status_code == 200, response.text
    me = response.json()
    assert me["display_name"] == "Pic"
    assert me["avatar"].startswith("http://testserver/avatars/")
    assert me["avatar"].endswith(".jpg")  # re-encoded (tests/api/test_profile_images.py)
    assert me["avatar_static"] == me["avatar"]
    assert me["header"].startswith("http://testserver/headers/")
    served = await client.get(me["avatar"].removeprefix("http://testserver"))
    assert served.status_code == 200
    assert served.content.startswith(b"\xff\xd8\xff")
    assert served.headers["content-type"] == "image/jpeg"
    assert "immutable" in served.headers["cache-control"]
    cached = await client.get(served.url.path, headers={"If-None-Match": served.headers["etag"]})
    assert cached.status_code == 304

    same = await client.patch(
        "/api/v1/accounts/update_credentials",
        files={"avatar": ("again.png", png, "image/png")},
        headers=user["headers"],
    )
    assert same.json()["avatar"] == me["avatar"]  # content-addressed

    removed = await client.delete("/api/v1/profile/avatar", headers=user["headers"])
    assert removed.json()["avatar"] == "http://testserver/static/avatar.png"


async def test_avatar_must_really_be_an_image(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    fake = await client.patch(
        "/api/v1/accounts/update_credentials",
        files={"avatar": ("evil.png", b"<html><script>alert(1)</script></html>", "image/png")},
        headers=user["headers"],
    )
    assert fake.status_code == 422
    assert fake.json()["details"]["avatar"][0]["error"] == "ERR_INVALID"
    big = await client.patch(
        "/api/v1/accounts/update_credentials",
        files={"avatar": ("big.png", tiny_png() + b"\x00" * (8 * 1024 * 1024), "image/png")},
        headers=user["headers"],
    )
    assert big.status_code == 422
    for name in ("../../etc/passwd", "x.png", "0" * 64 + ".svg"):
        assert (await client.get(f"/avatars/{name}")).status_code == 404


# --- reading profiles --------------------------------------------------------------------------


async def test_get_account_by_id_and_404s(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    found = await client.get(f"/api/v1/accounts/{user['id']}")
    assert found.status_code == 200
    assert found.json()["username"] == user["username"]
    assert "source" not in found.json()
    for bad in ("123", "abc", "-5", "99999999999999999999999999", "1e5"):
        response = await client.get(f"/api/v1/accounts/{bad}")
        assert response.status_code == 404, bad
        assert response.json() == {"error": "Record not found"}


async def test_lookup_by_acct(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    name = user["username"]
    for acct in (name, name.upper(), f"@{name}", f"{name}@testserver"):
        response = await client.get("/api/v1/accounts/lookup", params={"acct": acct})
        assert response.status_code == 200, acct
        assert response.json()["id"] == user["id"]
    for acct in (f"{name}@elsewhere.example", "nobody", "", "a b", "x" * 100):
        assert (await client.get("/api/v1/accounts/lookup", params={"acct": acct})).status_code == 404, acct
    assert (await client.get("/api/v1/accounts/lookup")).status_code == 404


async def test_several_accounts_by_id(client: httpx.AsyncClient) -> None:
    first = await create_user(client)
    second = await create_user(client)
    response = await client.get(
        "/api/v1/accounts", params=[("id[]", second["id"]), ("id[]", "404"), ("id[]", first["id"]), ("id[]", "x")]
    )
    assert response.status_code == 200
    assert [a["id"] for a in response.json()] == [second["id"], first["id"]]
    assert (await client.get("/api/v1/accounts")).json() == []


async def test_token_for_a_deleted_account_stops_working(client: httpx.AsyncClient, services: Services) -> None:
    from sqlalchemy import delete

    user = await create_user(client)
    async with services.db.begin() as conn:
        await conn.execute(delete(accounts).where(accounts.c.id == int(user["id"])))
    response = await client.get("/api/v1/accounts/verify_credentials", headers=user["headers"])
    assert response.status_code in (401, 404)
