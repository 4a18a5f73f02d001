"""The OpenAPI document and the server say the same thing, case by case.

``test_openapi_fuzz.py`` searches for disagreements; these pin the ones it found, so a
regression names itself: ids, errors, security, 405s and the inputs that used to slip
past validation (or into the database).
"""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import httpx

from lumigram.api.params import ID_PATTERN, MAX_ID, OPTIONAL_ID_SCHEMA, is_id
from lumigram.app import create_app
from lumigram.config import Settings
from tests.factories import create_user, upload_photo


async def document(client: httpx.AsyncClient) -> dict[str, Any]:
    response = await client.get("/openapi.json")
    assert response.status_code == 200
    body: dict[str, Any] = response.json()
    return body


def test_the_id_pattern_is_exactly_the_64_bit_ids() -> None:
    for value in (0, 1, 10**18, MAX_ID - 1, MAX_ID):
        assert is_id(str(value)), value
    for raw in (str(MAX_ID + 1), str(10**19 - 1), "9" * 20, "", "-1", "1a", "1\n", "\uff11", "1.5", " 1"):
        assert not is_id(raw), raw
    assert is_id("0" * 19)
    assert not is_id("0" * 20)


async def test_ids_are_declared_with_the_pattern_the_server_checks(client: httpx.AsyncClient) -> None:
    paths = (await document(client))["paths"]
    status_id = paths["/api/v1/statuses/{status_id}"]["get"]["parameters"][0]
    assert status_id["schema"]["pattern"] == ID_PATTERN
    account_id = paths["/api/v1/accounts/{account_id}/follow"]["post"]["parameters"][0]
    assert account_id["schema"] == {**status_id["schema"]}
    max_id = next(p for p in paths["/api/v1/timelines/home"]["get"]["parameters"] if p["name"] == "max_id")
    assert max_id["schema"]["pattern"] == OPTIONAL_ID_SCHEMA["pattern"]

    alice = await create_user(client)
    # The largest 64-bit id is a well-formed id that names nothing; one past it is no id.
    for raw in (str(MAX_ID), str(MAX_ID + 1), "9" * 20, "abc"):
        for path in (f"/api/v1/statuses/{raw}", f"/api/v1/media/{raw}", f"/api/v1/notifications/{raw}"):
            response = await client.get(path, headers=alice["headers"])
            assert response.status_code == 404, (path, response.text)
            assert "error" in response.json()
    assert (
        await client.get("/api/v1/timelines/home", params={"max_id": str(MAX_ID)}, headers=alice["headers"])
    ).status_code == 200
    too_big = await client.get("/api/v1/timelines/home", params={"max_id": str(MAX_ID + 1)}, headers=alice["headers"])
    assert too_big.status_code == 422


async def test_errors_and_security_are_declared(client: httpx.AsyncClient) -> None:
    spec = await document(client)
    assert spec["components"]["schemas"]["Error"]["required"] == ["error"]
    error = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    home = spec["paths"]["/api/v1/timelines/home"]["get"]
    assert home["security"] == [{"bearer": []}]
    assert {"401", "403", "422", "503"} <= set(home["responses"])
    assert home["responses"]["401"]["content"] == error
    one_post = spec["paths"]["/api/v1/statuses/{status_id}"]["get"]
    assert one_post["security"] == [{}, {"bearer": []}]  # a token is optional, but checked when sent
    assert "404" in one_post["responses"]
    posting = spec["paths"]["/api/v1/statuses"]["post"]
    assert {"413", "422", "429"} <= set(posting["responses"])
    assert set(spec["paths"]["/healthz"]["get"]["responses"]) == {"200"}
    ids = [op["operationId"] for methods in spec["paths"].values() for op in methods.values()]
    assert len(ids) == len(set(ids))


async def test_a_405_names_every_method_of_the_path(client: httpx.AsyncClient) -> None:
    cases = {
        "/api/v1/statuses": {"GET", "HEAD", "POST"},
        "/api/v1/statuses/1": {"GET", "HEAD", "PUT", "DELETE"},
        "/api/v1/push/subscription": {"GET", "HEAD", "POST", "PUT", "DELETE"},
        # "clear" is no notification id, so the notification route does not count.
        "/api/v1/notifications/clear": {"POST"},
    }
    for path, expected in cases.items():
        response = await client.options(path)
        assert response.status_code == 405, path
        assert set(response.headers["allow"].split(", ")) == expected, path
        assert "error" in response.json()
    wrong = await client.get("/api/v1/notifications/clear")
    assert wrong.status_code == 405
    assert wrong.headers["allow"] == "POST"


async def test_a_nul_byte_in_a_type_filter_is_no_server_error(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    for path in ("/api/v1/notifications", "/api/v1/notifications/unread_count", "/api/v2/notifications"):
        response = await client.get(path, params={"types[]": "favourite\x00"}, headers=alice["headers"])
        assert response.status_code == 200, (path, response.text)
        excluded = await client.get(path, params={"exclude_types[]": "\x00"}, headers=alice["headers"])
        assert excluded.status_code == 200, (path, excluded.text)
    # A filter of nothing but unknown types matches nothing, as before.
    unknown = await client.get("/api/v1/notifications", params={"types[]": "nonsense"}, headers=alice["headers"])
    assert unknown.json() == []


async def test_ids_in_bodies_are_checked_like_ids_in_paths(client: httpx.AsyncClient) -> None:
    alice = await create_user(client)
    empty = await client.post("/api/v1/markers", json={"home": {"last_read_id": ""}}, headers=alice["headers"])
    assert empty.status_code == 422, empty.text
    assert "home[last_read_id]" in empty.json()["details"]
    media = await upload_photo(client, alice["headers"])
    bare_number = await client.post(
        "/api/v1/statuses", json={"status": "hi", "media_ids": int(media["id"])}, headers=alice["headers"]
    )
    assert bare_number.status_code == 422, bare_number.text
    bare_string = await client.post(
        "/api/v1/statuses", json={"status": "hi", "media_ids": media["id"]}, headers=alice["headers"]
    )
    assert bare_string.status_code == 200, bare_string.text


def test_the_document_is_built_without_a_warning(tmp_path: Path) -> None:
    """FastAPI warns when two operations share an id (GET and HEAD of one route did):
    client generators name a method after it, so one of the two would be lost."""
    app = create_app(Settings(data_dir=tmp_path / "data", secret_key="openapi-" + "x" * 32))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        spec = app.openapi()
    media = spec["paths"]["/media/{key}"]
    assert {method: operation["operationId"] for method, operation in media.items()} == {
        "get": "media_file_media__key__get",
        "head": "media_file_media__key__head",
    }
