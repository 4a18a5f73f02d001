"""masto.js, a second client written independently of Mastodon.py, against a live server.

On both shapes, on the live server the package's client tests share (scaled out, its
requests land on either of two serve processes, and the streamed event reaches the one
holding the stream through the bus). The accounts are made with Mastodon.py as in the
other client tests; ``node/journey.mjs`` then signs in with the password grant, uploads
and posts a photo, reads home, makes a list and reads its timeline, reads notifications
and receives an event over the WebSocket streaming API, printing what it saw as JSON.

Under CI (``CI=true``) a missing ``node`` or ``node_modules`` fails the test: ``.ci/run``
installs them. Elsewhere the test skips, saying how to install them.
"""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from mastodon import Mastodon
from PIL import Image

from tests.live import LiveServer

# The package's live server per shape (tests/clients/conftest.py), shared with the other client tests.
pytestmark = [pytest.mark.live, pytest.mark.xdist_group("clients")]

NODE_PROJECT = Path(__file__).parent / "node"
PASSWORD = "a long enough password"
SCOPES = ["read", "write", "follow"]


def _node() -> str:
    """The node binary, with masto.js installed beside the script; skips (fails in CI) if not."""
    node = shutil.which("node")
    installed = (NODE_PROJECT / "node_modules" / "masto" / "package.json").exists()
    if node and installed:
        return node
    reason = "node is not installed" if not node else "masto.js is not installed (npm ci in tests/clients/node)"
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason}: .ci/run must install it")
    pytest.skip(reason)


def _photo(path: Path) -> Path:
    Image.new("RGB", (320, 240), (30, 120, 170)).save(path, "JPEG")
    return path


def test_masto_js_signs_in_posts_reads_lists_and_streams(server: LiveServer, tmp_path: Path) -> None:
    node = _node()
    client_id, client_secret = Mastodon.create_app("masto-js-test", api_base_url=server.base_url, scopes=SCOPES)
    mia, friend = (
        Mastodon(client_id=client_id, client_secret=client_secret, api_base_url=server.base_url) for _ in range(2)
    )
    # Signing up leaves each client holding the new account's token.
    mia.create_account("mia_js", PASSWORD, "mia_js@example.org", agreement=True, scopes=SCOPES)
    friend.create_account("noah_js", PASSWORD, "noah_js@example.org", agreement=True, scopes=SCOPES)
    mia_id = friend.account_lookup("mia_js").id
    friend_id = friend.account_verify_credentials().id
    image = io.BytesIO(_photo(tmp_path / "friend.jpg").read_bytes())
    shared = friend.status_post(
        "Lighthouse", media_ids=[friend.media_post(image, mime_type="image/jpeg", synchronous=True).id]
    )
    friend.account_follow(mia_id)  # mia hears of it: a follow notification

    env = {
        "PATH": os.environ.get("PATH", ""),
        "LUMIGRAM_URL": server.base_url,
        "CLIENT_ID": client_id,
        "CLIENT_SECRET": client_secret,
        "LOGIN": "mia_js@example.org",
        "PASSWORD": PASSWORD,
        "FRIEND_ID": str(friend_id),
        "PHOTO": str(_photo(tmp_path / "mine.jpg")),
    }
    ran = subprocess.run(
        [node, "journey.mjs"], cwd=NODE_PROJECT, env=env, capture_output=True, text=True, timeout=60, check=False
    )
    for api in (mia, friend):
        api.session.close()  # idle keep-alive connections would hold the server's shutdown up
    assert ran.returncode == 0, f"{ran.stdout}\n{ran.stderr}\n{server.log()[-3000:]}"
    seen = json.loads(ran.stdout.strip().splitlines()[-1])

    assert (seen["signedIn"], seen["username"]) == (True, "mia_js")
    assert seen["media"] == {"type": "image", "description": "Harbour"}
    posted = seen["status"]
    assert (len(posted["media"]), posted["tags"]) == (1, ["film"])
    # Home holds her own post and, once she follows him, her friend's.
    assert {posted["id"], str(shared.id)} <= set(seen["home"])
    assert seen["list"] == {"title": "Friends", "timeline": [str(friend_id)]}
    assert seen["notifications"] == [["follow", str(friend_id)]]
    assert seen["stream"]["event"] == "status.update"
    assert seen["stream"]["id"] == posted["id"]
