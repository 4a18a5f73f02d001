"""Server-side render time of the web app's pages, and the home page's first-paint weight.

Builds the embedded shape in a temporary folder, signs two people up (an author with
``--posts`` photo posts tagged #bench, and a reader who follows them and signs in through
the sign-in page), then asks for each page ``--requests`` times, one at a time, through
the app as an ASGI callable (no sockets) and reports p50 and p95 wall time. The weight is
the home page's HTML plus every stylesheet and script it loads, before any photo.

Usage: .venv/bin/python bench/web_pages.py [--posts 20] [--requests 200]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx
from PIL import Image

sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "src"))

from lumigram.app import create_app
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings

STATIC = Path(__file__).resolve().parent.parent / "src/lumigram/web/static"
PASSWORD = "a benchmark password"  # noqa: S105 (the benchmark's own throwaway login)


def _jpeg(shade: int) -> bytes:
    out = io.BytesIO()
    Image.new("RGB", (1080, 1350), (shade, 120, 200 - shade)).save(out, "JPEG", quality=85)
    return out.getvalue()


async def _person(http: httpx.AsyncClient, app_token: str, name: str) -> dict[str, str]:
    form = {"username": name, "email": f"{name}@example.org", "password": PASSWORD, "agreement": "true"}
    answer = await http.post("/api/v1/accounts", data=form, headers={"Authorization": f"Bearer {app_token}"})
    token = answer.raise_for_status().json()["access_token"]
    me = (await http.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"})).json()
    return {"id": me["id"], "name": name, "auth": f"Bearer {token}"}


async def _world(http: httpx.AsyncClient, posts: int) -> tuple[dict[str, str], str]:
    """An author with ``posts`` liked photo posts and a reader who follows them; the last post's id."""
    app = (await http.post("/api/v1/apps", data={"client_name": "bench", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                                                    "scopes": "read write follow"})).json()  # fmt: skip
    grant = {"grant_type": "client_credentials", "client_id": app["client_id"],
             "client_secret": app["client_secret"], "scope": "read write follow"}  # fmt: skip
    app_token = (await http.post("/oauth/token", data=grant)).json()["access_token"]
    author, reader = await _person(http, app_token, "author"), await _person(http, app_token, "reader")
    await http.post(f"/api/v1/accounts/{author['id']}/follow", headers={"Authorization": reader["auth"]})
    post_id = ""
    for index in range(posts):
        files = {"file": ("photo.jpg", _jpeg(index * 5 % 200), "image/jpeg")}
        media = (await http.post("/api/v2/media", files=files, data={"description": f"Photo {index}"},
                                 headers={"Authorization": author["auth"]})).json()  # fmt: skip
        body = {"status": f"Photo {index} #bench", "media_ids": [media["id"]]}
        post_id = (await http.post("/api/v1/statuses", json=body, headers={"Authorization": author["auth"]})).json()[
            "id"
        ]
        await http.post(f"/api/v1/statuses/{post_id}/favourite", headers={"Authorization": reader["auth"]})
    return author, post_id


async def _sign_in(http: httpx.AsyncClient) -> None:
    page = (await http.get("/auth/sign_in")).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page)
    assert csrf is not None
    form = {"login": "reader", "password": PASSWORD, "csrf": csrf.group(1), "next": "/"}
    assert (await http.post("/auth/sign_in", data=form)).status_code == 303


async def _time(http: httpx.AsyncClient, path: str, requests: int) -> tuple[float, float]:
    took = []
    for _ in range(requests):
        started = time.perf_counter()
        answer = await http.get(path)
        took.append((time.perf_counter() - started) * 1000)
        assert answer.status_code == 200, (path, answer.status_code)
    took.sort()
    return statistics.median(took), took[int(len(took) * 0.95) - 1]


async def main(posts: int, requests: int) -> None:
    with tempfile.TemporaryDirectory() as folder:
        settings = Settings(data_dir=Path(folder) / "data", secret_key="bench-" + "x" * 40, base_url="http://bench",
                            inline_worker=True, signup_rate_limit=1000, login_rate_limit=1000)  # fmt: skip
        services = build_services(settings)
        await services.db.migrate()
        await start_consumers(services)
        await services.start_relay()
        try:
            transport = httpx.ASGITransport(app=create_app(services=services))
            async with httpx.AsyncClient(transport=transport, base_url="http://bench") as http:
                _author, post_id = await _world(http, posts)
                async with httpx.AsyncClient(transport=transport, base_url="http://bench") as visitor:
                    rows = [("/ (welcome, visitor)", *await _time(visitor, "/", requests))]
                    rows.append(("post page (visitor)", *await _time(visitor, f"/@author/{post_id}", requests)))
                await _sign_in(http)
                pages = {"/ (home feed)": "/", "/@author (profile)": "/@author",
                         "/@author/<id> (post)": f"/@author/{post_id}", "/tags/bench": "/tags/bench",
                         "/new (composer)": "/new", "/notifications": "/notifications"}  # fmt: skip
                for name, path in pages.items():
                    rows.append((name, *await _time(http, path, requests)))
                home = (await http.get("/")).text
                assets = re.findall(r'(?:href|src)="(/static/[^"]+\.(?:css|js))"', home)
                weight = len(home.encode())
                static = STATIC
                scripts = list((static / "js").glob("*.js"))  # the entry module imports every one
                weight += sum(
                    len((static / a.removeprefix("/static/")).read_bytes()) for a in assets if a.endswith(".css")
                )
                weight += sum(len(s.read_bytes()) for s in scripts)
        finally:
            await services.close()
    print(f"{'page':28} {'p50 ms':>8} {'p95 ms':>8}")
    for name, p50, p95 in rows:
        print(f"{name:28} {p50:8.1f} {p95:8.1f}")
    print(f"home first paint: {weight / 1024:.1f} KiB of HTML, CSS and JS (uncompressed, before photos)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--posts", type=int, default=20)
    parser.add_argument("--requests", type=int, default=200)
    args = parser.parse_args()
    asyncio.run(main(args.posts, args.requests))
