"""Sign-in limits count per login, whatever name it is reached by, and per client address.

Each attempt here comes from its own client address, so only the per-login limit can
answer 429; the per-address one is checked on its own at the end.
"""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx
import pytest

from lumigram.app import create_app as create_asgi_app
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings
from lumigram.services import Services
from tests.api.test_apps_oauth import hidden_fields
from tests.factories import DEFAULT_PASSWORD, create_user, password_login

LIMIT = 3
_addresses = (f"192.0.2.{n}" for n in itertools.count(1))

Clients = Callable[[], httpx.AsyncClient]


@pytest.fixture
async def from_new_address(make_settings: Callable[..., Settings]) -> AsyncIterator[Clients]:
    """Makes clients of one server (``LIMIT`` sign-in attempts per window), each from an address of its own."""
    services: Services = build_services(make_settings(login_rate_limit=LIMIT))
    await services.db.migrate()
    await services.cache.flush()
    await start_consumers(services)
    await services.start_relay()
    app = create_asgi_app(services=services)
    opened: list[httpx.AsyncClient] = []

    def make() -> httpx.AsyncClient:
        transport = httpx.ASGITransport(app=app, client=(next(_addresses), 40000))
        opened.append(httpx.AsyncClient(transport=transport, base_url="http://testserver"))
        return opened[-1]

    yield make
    for http in opened:
        await http.aclose()
    await services.close()


async def web_login(client: httpx.AsyncClient, login: str, password: str) -> httpx.Response:
    form = hidden_fields((await client.get("/auth/sign_in")).text)
    return await client.post("/auth/sign_in", data={**form, "login": login, "password": password})


async def test_every_name_of_a_login_shares_one_allowance(from_new_address: Clients) -> None:
    user = await create_user(from_new_address())
    name, app = user["username"], user["app"]
    aliases = [name, user["email"].upper(), f"@{name}@testserver"]
    for alias in aliases:
        wrong = await password_login(from_new_address(), app, alias, "not the password")
        assert wrong.status_code == 400, wrong.text
    # A fourth name, the right password, a fresh address: still the same login's fourth attempt.
    limited = await password_login(from_new_address(), app, f"{name.upper()}@TestServer", DEFAULT_PASSWORD)
    assert limited.status_code == 429, limited.text
    assert limited.json() == {"error": "Too many requests"}
    assert limited.headers["x-ratelimit-remaining"] == "0"


async def test_the_web_sign_in_counts_against_the_same_allowance(from_new_address: Clients) -> None:
    user = await create_user(from_new_address())
    name, app = user["username"], user["app"]
    for alias in (name, user["email"]):
        assert (await password_login(from_new_address(), app, alias, "not the password")).status_code == 400
    assert (await web_login(from_new_address(), f"@{name}@testserver", "not the password")).status_code == 401
    page = await web_login(from_new_address(), user["email"], DEFAULT_PASSWORD)
    assert page.status_code == 429
    assert "Too many sign-in attempts" in page.text
    assert (await password_login(from_new_address(), app, name, DEFAULT_PASSWORD)).status_code == 429


async def test_unknown_logins_are_limited_and_answered_like_known_ones(from_new_address: Clients) -> None:
    user = await create_user(from_new_address())
    app = user["app"]

    async def attempts(aliases: list[str]) -> list[tuple[int, Any]]:
        answers = []
        for alias in aliases:
            response = await password_login(from_new_address(), app, alias, "not the password")
            answers.append((response.status_code, response.json()))
        return answers

    known = await attempts([user["username"], user["email"], f"@{user['username']}@testserver", user["username"]])
    unknown = await attempts(["nobody_here", "NOBODY_HERE", "@nobody_here@testserver", "nobody_here@testserver"])
    assert unknown == known
    assert [status for status, _ in known] == [400, 400, 400, 429]


async def test_one_address_is_still_limited_across_logins(from_new_address: Clients) -> None:
    client = from_new_address()
    user = await create_user(from_new_address())
    statuses = [
        (await password_login(client, user["app"], login, "not the password")).status_code
        for login in (user["username"], "someone_else", "third_name", "fourth_name")
    ]
    assert statuses == [400, 400, 400, 429]
