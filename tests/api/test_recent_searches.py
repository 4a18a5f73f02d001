"""Recent searches (extensions) on both shapes: record, list, repeat, remove, clear."""

from __future__ import annotations

import httpx

from tests.factories import create_user

PATH = "/api/v1/search/recent"


async def test_recent_searches_journey(client: httpx.AsyncClient) -> None:
    me, other = [await create_user(client) for _ in range(2)]
    first = await client.post(PATH, headers=me["headers"], json={"q": "  sunset   beach "})
    assert first.status_code == 200, first.text
    assert (first.json()["q"], first.json()["opened"]) == ("sunset beach", None)
    opened = await client.post(PATH, headers=me["headers"], json={"q": "marigold", "opened": f"account:{other['id']}"})
    assert opened.json()["opened"] == {"type": "account", "id": other["id"]}
    # The same query again moves to the top rather than repeating.
    again = await client.post(PATH, headers=me["headers"], data={"q": "Sunset Beach"})
    listed = (await client.get(PATH, headers=me["headers"])).json()
    assert [entry["q"] for entry in listed] == ["Sunset Beach", "marigold"]
    # Each account sees only its own, and removes only its own.
    assert (await client.get(PATH, headers=other["headers"])).json() == []
    assert (await client.delete(f"{PATH}/{again.json()['id']}", headers=other["headers"])).status_code == 404
    assert (await client.delete(f"{PATH}/{again.json()['id']}", headers=me["headers"])).status_code == 200
    assert [entry["q"] for entry in (await client.get(PATH, headers=me["headers"])).json()] == ["marigold"]
    assert (await client.delete(PATH, headers=me["headers"])).status_code == 200
    assert (await client.get(PATH, headers=me["headers"])).json() == []
    # Bad input, and no account.
    control = await client.post(PATH, headers=me["headers"], json={"q": "\x00cats\x01 "})
    assert control.json()["q"] == "cats"
    blank = await client.post(PATH, headers=me["headers"], json={"q": "  \x00 "})
    assert blank.status_code == 422
    assert "error" in blank.json()
    half = await client.post(PATH, headers=me["headers"], json={"q": "x", "opened": "status"})
    assert half.status_code == 422
    assert "error" in half.json()
    assert (await client.delete(f"{PATH}/99999999999999999999", headers=me["headers"])).status_code == 404
    assert (await client.get(PATH)).status_code == 401
