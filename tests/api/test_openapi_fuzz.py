"""Schemathesis fuzzes every documented route of a live server: no input may cause a 500.

It runs against a real `lumigram serve` (embedded shape) with a signed-in user's token,
so authenticated routes are exercised past the auth check too.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, settings
from schemathesis.specs.openapi.checks import not_a_server_error

from lumigram.config import Settings
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.live


@pytest.fixture(scope="module")
def fuzz_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[LiveServer, str]]:
    data: Path = tmp_path_factory.mktemp("fuzz") / "data"
    settings = Settings(data_dir=data, secret_key="fuzz-secret-" + "x" * 32, signup_rate_limit=1000)
    with live_server(settings) as server:
        yield server, _sign_up(server.base_url)


def _sign_up(base_url: str) -> str:
    with httpx.Client(base_url=base_url) as http:
        app = http.post(
            "/api/v1/apps",
            data={"client_name": "fuzz", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write follow"},
        ).json()
        app_token = http.post(
            "/oauth/token",
            data={
                "grant_type": "client_credentials",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "read write follow",
            },
        ).json()["access_token"]
        signed_up = http.post(
            "/api/v1/accounts",
            headers={"Authorization": f"Bearer {app_token}"},
            data={"username": "fuzzer", "email": "fuzz@example.org", "password": "fuzzing password", "agreement": "1"},
        )
        signed_up.raise_for_status()
        return str(signed_up.json()["access_token"])


@pytest.fixture(scope="module")
def api_schema(fuzz_server: tuple[LiveServer, str]) -> Any:
    server, _token = fuzz_server
    return schemathesis.openapi.from_url(f"{server.base_url}/openapi.json")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(max_examples=25, deadline=None, suppress_health_check=list(HealthCheck))
def test_no_input_makes_a_server_error(case: Any, fuzz_server: tuple[LiveServer, str]) -> None:
    server, token = fuzz_server
    if case.path == "/oauth/revoke":
        return  # fuzzing revoke could revoke the token every other case relies on
    response = case.call(base_url=server.base_url, headers={"Authorization": f"Bearer {token}"}, timeout=15)
    case.validate_response(response, checks=[not_a_server_error])
    if response.status_code >= 400 and response.headers.get("content-type", "").startswith("application/json"):
        body = response.json()
        assert "error" in body, f"{case.method} {case.path}: error without Mastodon's shape: {body}"
