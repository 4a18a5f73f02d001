"""Text holding a NUL byte: refused as a client error, never a 500, with nothing kept."""

from __future__ import annotations

import httpx
import pytest

from lumigram.services import Services
from tests.factories import create_user


async def test_a_nul_in_sent_text_is_a_422_not_a_500(client: httpx.AsyncClient, services: Services) -> None:
    person = await create_user(client)
    headers = person["headers"]
    made = await client.post(
        "/api/v2/filters", headers=headers, json={"title": "Spiders", "context": ["home"], "keywords_attributes": []}
    )
    assert made.status_code == 200, made.text
    added = await client.post(
        f"/api/v2/filters/{made.json()['id']}/keywords", headers=headers, json={"keyword": "a\x00b"}
    )
    assert added.status_code == 422, added.text
    assert "NUL" in added.json()["error"]
    assert (await client.get(f"/api/v2/filters/{made.json()['id']}/keywords", headers=headers)).json() == []

    if services.db.engine.dialect.name != "postgresql":
        pytest.skip("SQLite stores a NUL byte; only PostgreSQL refuses it")
    # A text no service checks for NUL: the database's refusal is the client's error too.
    titled = await client.post("/api/v1/lists", headers=headers, json={"title": "close\x00friends"})
    assert titled.status_code == 422, titled.text
    assert titled.json() == {"error": "Text may not contain the NUL character"}
    assert (await client.get("/api/v1/lists", headers=headers)).json() == []
