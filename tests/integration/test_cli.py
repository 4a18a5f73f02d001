"""The `lumigram` command, run as a person would run it."""

from __future__ import annotations

import os
import subprocess
import sys
import time
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
            data={
                "grant_type": "password",
                "username": "admin@example.org",
                "password": "an admin password",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "read",
            },
        )
        assert token.status_code == 200, token.text
        me = http.get(
            "/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token.json()['access_token']}"}
        )
        assert me.json()["username"] == "root_admin"

        # Deleted from the command line, the account can no longer sign in.
        deleted = _run(data, "admin", "delete-account", "root_admin")
        assert deleted.returncode == 0, deleted.stderr
        assert "deleted @root_admin" in deleted.stdout
        refused = http.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "username": "admin@example.org",
                "password": "an admin password",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "read",
            },
        )
        assert refused.status_code in (400, 401, 403), refused.text
        assert http.get(f"/api/v1/accounts/{me.json()['id']}").status_code == 404


def test_several_serve_processes_need_the_scaled_shape(tmp_path: Path) -> None:
    refused = _run(tmp_path / "data", "serve", "--processes", "2", "--no-migrate")
    assert refused.returncode == 2
    assert "scaled shape" in refused.stderr
    assert "Traceback" not in refused.stderr


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            children = (task / "children").read_text().split()
        except OSError:
            continue
        for child in map(int, children):
            found |= {child, *_descendants(child)}
    return found


def test_serve_leaves_no_media_workers_behind(tmp_path: Path) -> None:
    from tests.factories import photo_bytes

    with live_server(Settings(data_dir=tmp_path / "data")) as server, httpx.Client(base_url=server.base_url) as http:
        form = {"client_name": "t", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write"}
        app = http.post("/api/v1/apps", data=form).json()
        grant = {"client_id": app["client_id"], "client_secret": app["client_secret"], "scope": "read write"}
        app_token = http.post("/oauth/token", data={"grant_type": "client_credentials", **grant}).json()
        signup = {"username": "pool_check", "email": "p@example.org", "password": "a long password", "agreement": "1"}
        user = http.post(
            "/api/v1/accounts", data=signup, headers={"Authorization": f"Bearer {app_token['access_token']}"}
        )
        assert user.status_code == 200, user.text
        uploaded = http.post(
            "/api/v2/media",
            headers={"Authorization": f"Bearer {user.json()['access_token']}"},
            # Over a megapixel: smaller photos are processed on a thread, not in the pool.
            files={"file": ("p.jpg", photo_bytes(size=(1280, 960)), "image/jpeg")},
            timeout=30,
        )
        assert uploaded.status_code == 200, uploaded.text
        workers = _descendants(server.processes[0].pid)
        assert workers  # the photo went through the media worker pool
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(Path(f"/proc/{pid}").exists() for pid in workers):
        time.sleep(0.1)
    assert not [pid for pid in workers if Path(f"/proc/{pid}").exists()]
