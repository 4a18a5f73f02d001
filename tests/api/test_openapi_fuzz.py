"""Schemathesis fuzzes every documented route of a live server: no input may cause a 500.

It runs against a real `lumigram serve` (embedded shape) with a signed-in user's token,
so authenticated routes are exercised past the auth check too.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

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


@pytest.mark.timeout(900)  # a hundred routes × examples; slow on a loaded 2-core machine
def test_no_input_makes_a_server_error(fuzz_server: tuple[LiveServer, str]) -> None:
    server, token = fuzz_server
    # The command-line runner keeps schemathesis's own pytest integration (and its
    # version churn) out of our suite; a non-zero exit means a check failed.
    command = [
        _schemathesis(), "run", f"{server.base_url}/openapi.json",
        "--checks", "not_a_server_error",
        "--max-examples", "20",
        "--seed", "20261124",
        "--header", f"Authorization: Bearer {token}",
        # Revoking would pull the token every other case relies on out from under them.
        "--exclude-path", "/oauth/revoke",
        # Streams never end by design; they have their own tests.
        "--exclude-path-regex", "^/api/v1/streaming",
    ]
    result = subprocess.run(command, capture_output=True, text=True, timeout=840)
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-2000:]
    # The summary counts operations and then checks ("... 1177 passed"): take the larger.
    counts = [int(n) for n in re.findall(r"(\d+) passed", result.stdout)]
    assert counts, result.stdout[-3000:]
    assert max(counts) > 100, "schemathesis should have exercised many cases"


def _schemathesis() -> str:
    found = shutil.which("st", path=str(Path(sys.executable).parent)) or shutil.which("st")
    assert found, "schemathesis is not installed"
    return found
