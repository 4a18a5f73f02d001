"""The `lumigram` command, run as a person would run it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import httpx

from lumigram.config import Settings
from tests.live import live_server


def _run(data: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(data), "LUMIGRAM_NEW_PASSWORD": "an admin password"}
    return subprocess.run(
        [sys.executable, "-m", "lumigram.cli", *args], env=env, capture_output=True, text=True, timeout=120
    )


def test_help_lists_the_commands(tmp_path: Path) -> None:
    result = _run(tmp_path, "--help")
    assert result.returncode == 0
    for command in ("serve", "worker", "migrate", "admin"):
        assert command in result.stdout


def test_admin_create_user_makes_a_user_who_can_sign_in(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert _run(data, "migrate").returncode == 0
    created = _run(data, "admin", "create-user", "root_admin", "--email", "admin@example.org", "--admin")
    assert created.returncode == 0, created.stderr
    assert "created @root_admin" in created.stdout

    again = _run(data, "admin", "create-user", "ROOT_admin", "--email", "other@example.org")
    assert again.returncode == 1
    assert "taken" in again.stderr.lower()
    assert "Traceback" not in again.stderr

    with live_server(Settings(data_dir=data)) as server, httpx.Client(base_url=server.base_url) as http:
        form = {"client_name": "cli", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"}
        app = http.post("/api/v1/apps", data=form).json()
        token = http.post(
            "/oauth/token",
            data={"grant_type": "password", "username": "admin@example.org", "password": "an admin password",
                  "client_id": app["client_id"], "client_secret": app["client_secret"], "scope": "read"},
        )
        assert token.status_code == 200, token.text
        me = http.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert me.json()["username"] == "root_admin"


def test_several_serve_processes_need_the_scaled_shape(tmp_path: Path) -> None:
    refused = _run(tmp_path / "data", "serve", "--processes", "2", "--no-migrate")
    assert refused.returncode == 2
    assert "scaled shape" in refused.stderr
    assert "Traceback" not in refused.stderr
