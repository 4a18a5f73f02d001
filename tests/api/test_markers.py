"""Mastodon's markers (GET/POST /api/v1/markers): saving, versions, both body styles, isolation."""

from __future__ import annotations

from typing import Any

import httpx

from tests.factories import create_user

User = dict[str, Any]
BOTH = {"timeline[]": ["home", "notifications"]}


async def markers(client: httpx.AsyncClient, user: User, **params: Any) -> dict[str, Any]:
    response = await client.get("/api/v1/markers", headers=user["headers"], params=params or BOTH)
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


async def save(client: httpx.AsyncClient, user: User, **kwargs: Any) -> httpx.Response:
    return await client.post("/api/v1/markers", headers=user["headers"], **kwargs)


async def test_saving_moves_the_marker_and_bumps_its_version(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    assert await markers(client, alice) == {}

    first = await save(client, alice, data={"home[last_read_id]": "1000"})
    assert first.status_code == 200, first.text
    assert list(first.json()) == ["home"]
    home = first.json()["home"]
    assert (home["last_read_id"], home["version"]) == ("1000", 1)
    assert home["updated_at"].endswith("Z")

    # JSON bodies (masto.js, megalodon) work like forms (Mastodon.py).
    second = await save(
        client,
        alice,
        json={"home": {"last_read_id": "2000"}, "notifications": {"last_read_id": "42"}},
    )
    assert second.status_code == 200, second.text
    assert second.json()["home"]["version"] == 2
    assert second.json()["notifications"] == {**second.json()["notifications"], "last_read_id": "42", "version": 1}

    stored = await markers(client, alice)
    assert {name: (m["last_read_id"], m["version"]) for name, m in stored.items()} == {
        "home": ("2000", 2),
        "notifications": ("42", 1),
    }
    # Only the timelines asked for; unknown names are ignored, as in Mastodon.
    assert list(await markers(client, alice, **{"timeline[]": ["notifications", "public"]})) == ["notifications"]
    assert list(await markers(client, alice, timeline="home")) == ["home"]


async def test_markers_are_private_and_checked(client: httpx.AsyncClient) -> None:
    alice, bob = await create_user(client), await create_user(client)
    assert (await save(client, alice, data={"notifications[last_read_id]": "7"})).status_code == 200
    assert await markers(client, bob) == {}

    for bad in (
        {"home[last_read_id]": "abc"},
        {"home[last_read_id]": str(2**63)},
        {"public[last_read_id]": "5"},
        {},
    ):
        response = await save(client, alice, data=bad)
        assert response.status_code == 422, (bad, response.text)
        assert "error" in response.json()
    assert (await client.get("/api/v1/markers", params=BOTH)).status_code == 401
    assert (await client.post("/api/v1/markers", data={"home[last_read_id]": "1"})).status_code == 401

    reader = await create_user(client, scopes="read write:accounts")
    refused = await save(client, reader, data={"home[last_read_id]": "1"})
    assert refused.status_code == 403
    assert (await markers(client, reader)) == {}
