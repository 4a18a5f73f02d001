"""The statement census of the embedded shape's writes: what one upload, post, like and
follow asks of SQLite, in the request and in the in-process consumers after it.

Counts, not timings, so they do not depend on how busy the box is. The server runs in
this process (the API app over an in-process transport, the relay and the consumers
started as ``lumigram serve`` starts them) on a fresh SQLite file. Every statement sent
on either engine (the readers' pool and the one writer connection) is recorded, with
each transaction's commit: in this shape every statement and every commit is a round
trip to the SQLite thread of its connection, and every commit one turn at the writer.

The world: ``--followers`` [20] accounts follow the author, and each has read its home
(so fan-out has kept feeds to write). Then, ``--times`` [20] times each: an upload (one
64x64 JPEG), a post with an uploaded photo, a like of another account's post, a follow.
Each write is measured alone: its request, then the relay's pass and the consumers'
work until the bus is quiet (the relay reads the outbox and stamps it: the
``outbox`` statements; a serving process hands its own events over instead of reading
them). Last, the same likes and follows as a burst (all requests, then the consumers at
once), where the consumers can take several events per transaction.

Usage: .venv/bin/python bench/census_embedded.py [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import sys
import tempfile
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import event
from sqlalchemy.engine import Engine

PASSWORD = "correct horse battery staple"  # noqa: S105  # the census users' own


@dataclass
class Tally:
    """Statements and commits seen while it is on, by engine."""

    statements: Counter[str] = field(default_factory=Counter)
    commits: int = 0
    on: bool = False

    def total(self) -> int:
        return sum(self.statements.values())


def _shape(statement: str) -> str:
    """A statement's kind and first table, e.g. ``INSERT notifications``."""
    words = statement.split()
    verb = words[0].upper() if words else "?"
    table = re.search(r"\b(?:FROM|INTO|UPDATE)\s+\"?(\w+)", statement, re.I)
    return f"{verb} {table.group(1)}" if table and verb != "BEGIN" else verb


def listen(engine: Engine, tally: Tally) -> None:
    def statement(_conn: object, _cursor: object, text: str, *_args: object) -> None:
        if tally.on:
            tally.statements[_shape(text)] += 1

    def commit(_conn: object) -> None:
        if tally.on:
            tally.commits += 1

    event.listen(engine, "before_cursor_execute", statement)
    event.listen(engine, "commit", commit)


@asynccontextmanager
async def counting(tallies: list[Tally]) -> AsyncIterator[None]:
    for tally in tallies:
        tally.statements.clear()
        tally.commits = 0
        tally.on = True
    try:
        yield
    finally:
        for tally in tallies:
            tally.on = False


def jpeg(seed: int) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (64, 64), (seed % 256, (seed * 7) % 256, 90)).save(out, "JPEG", quality=85)
    return out.getvalue()


async def settle(services: Any) -> None:
    """Until every event committed so far, and those its handlers emitted, is handled."""
    async with asyncio.timeout(120):
        await services.relay.drain()
        while True:
            mark = services.relay.published
            await services.bus.idle()
            await services.relay.drain()
            if services.relay.published == mark:
                return


async def run(args: argparse.Namespace) -> dict[str, Any]:
    from argon2 import PasswordHasher
    from argon2.profiles import CHEAPEST

    from lumigram.accounts import passwords
    from lumigram.app import create_app
    from lumigram.bootstrap import build_services, start_consumers
    from lumigram.config import Settings

    # Sign-ups are the world's making, not what is counted: the cheapest argon2id.
    passwords._hasher = PasswordHasher.from_parameters(CHEAPEST)
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-census-"))
    settings = Settings(
        data_dir=workdir / "data",
        secret_key="census-secret-key-" + "x" * 32,
        base_url="http://census.invalid",
        signup_rate_limit=100_000,
        follow_rate_limit=100_000,
        post_rate_limit=100_000,
    )
    services = build_services(settings)
    await services.db.migrate()
    await start_consumers(services)
    await services.start_relay()
    readers, writer = Tally(), Tally()
    listen(services.db.engine.sync_engine, readers)
    async with services.db.begin() as conn:
        assert conn.sync_connection is not None
        writer_engine = conn.sync_connection.engine
    if writer_engine is not services.db.engine.sync_engine:
        listen(writer_engine, writer)
    tallies = [readers, writer]
    results: dict[str, Any] = {"followers": args.followers, "times": args.times, "writes": {}}
    transport = httpx.ASGITransport(app=create_app(services=services))
    try:
        async with httpx.AsyncClient(transport=transport, base_url="http://census.invalid", timeout=60) as http:
            app = (
                await http.post(
                    "/api/v1/apps",
                    data={
                        "client_name": "census",
                        "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                        "scopes": "read write follow",
                    },
                )
            ).json()

            async def sign_up(name: str) -> dict[str, str]:
                grant = await http.post(
                    "/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": app["client_id"],
                        "client_secret": app["client_secret"],
                        "scope": "read write follow",
                    },
                )
                headers = {"Authorization": f"Bearer {grant.json()['access_token']}"}
                made = await http.post(
                    "/api/v1/accounts",
                    headers=headers,
                    data={"username": name, "email": f"{name}@example.org", "password": PASSWORD, "agreement": "true"},
                )
                me_headers = {"Authorization": f"Bearer {made.json()['access_token']}"}
                me = (await http.get("/api/v1/accounts/verify_credentials", headers=me_headers)).json()
                return {"id": me["id"], **me_headers}

            author = await sign_up("author")
            followers = [await sign_up(f"follower{n}") for n in range(args.followers)]
            others = [await sign_up(f"other{n}") for n in range(args.times)]
            for follower in followers:
                await http.post(f"/api/v1/accounts/{author['id']}/follow", headers=_auth(follower))
            await settle(services)
            for follower in followers:
                await http.get("/api/v1/timelines/home", headers=_auth(follower))
            # From here on the relay runs only when the census settles the bus, so what a
            # request sends and what its consumers send afterwards are counted apart (its
            # own task would run the consumers while the request is still answering).
            await services.relay.stop()
            media_ids: list[str] = []
            posts: list[str] = []

            async def upload(n: int) -> httpx.Response:
                files = {"file": ("p.jpg", jpeg(n), "image/jpeg")}
                response = await http.post("/api/v2/media", headers=_auth(author), files=files)
                media_ids.append(response.json()["id"])
                return response

            async def post(n: int) -> httpx.Response:
                response = await http.post(
                    "/api/v1/statuses", headers=_auth(author), json={"status": f"post {n}", "media_ids": [media_ids[n]]}
                )
                posts.append(response.json()["id"])
                return response

            async def like(n: int) -> httpx.Response:
                # Another account likes one of the author's posts (the author is notified).
                return await http.post(f"/api/v1/statuses/{posts[n]}/favourite", headers=_auth(others[n]))

            async def follow(n: int) -> httpx.Response:
                return await http.post(
                    f"/api/v1/accounts/{others[n]['id']}/follow", headers=_auth(followers[n % len(followers)])
                )

            for name, write in (("upload", upload), ("post", post), ("like", like), ("follow", follow)):
                results["writes"][name] = await _alone(services, tallies, write, args.times)
                print(_line(name, results["writes"][name]), file=sys.stderr)

            async def like_again(n: int) -> httpx.Response:
                return await http.post(
                    f"/api/v1/statuses/{posts[n]}/favourite", headers=_auth(followers[n % len(followers)])
                )

            async def follow_back(n: int) -> httpx.Response:
                return await http.post(
                    f"/api/v1/accounts/{followers[n % len(followers)]['id']}/follow", headers=_auth(others[n])
                )

            for name, write in (("like, burst", like_again), ("follow, burst", follow_back)):
                results["writes"][name] = await _burst(services, tallies, write, args.times)
                print(_line(name, results["writes"][name]), file=sys.stderr)
    finally:
        await services.close()
    return results


def _auth(who: dict[str, str]) -> dict[str, str]:
    return {"Authorization": who["Authorization"]}


def _summary(request: tuple[Counter[str], int], consumers: tuple[Counter[str], int], times: int) -> dict[str, Any]:
    def per(counter: Counter[str], commits: int) -> dict[str, Any]:
        return {
            "statements": round(sum(counter.values()) / times, 2),
            "commits": round(commits / times, 2),
            "by_shape": {k: round(v / times, 2) for k, v in counter.most_common()},
        }

    return {"request": per(*request), "consumers": per(*consumers)}


def _merge(tallies: list[Tally]) -> tuple[Counter[str], int]:
    merged: Counter[str] = Counter()
    for tally in tallies:
        merged.update(tally.statements)
    return merged, sum(t.commits for t in tallies)


async def _alone(
    services: Any, tallies: list[Tally], write: Callable[[int], Awaitable[httpx.Response]], times: int
) -> dict[str, Any]:
    request: tuple[Counter[str], int] = (Counter(), 0)
    consumers: tuple[Counter[str], int] = (Counter(), 0)
    for n in range(times):
        async with counting(tallies):
            response = await write(n)
        assert response.status_code == 200, response.text
        request = (request[0] + _merge(tallies)[0], request[1] + _merge(tallies)[1])
        async with counting(tallies):
            await settle(services)
        consumers = (consumers[0] + _merge(tallies)[0], consumers[1] + _merge(tallies)[1])
    return _summary(request, consumers, times)


async def _burst(
    services: Any, tallies: list[Tally], write: Callable[[int], Awaitable[httpx.Response]], times: int
) -> dict[str, Any]:
    async with counting(tallies):
        for n in range(times):
            response = await write(n)
            assert response.status_code == 200, response.text
    request = _merge(tallies)
    async with counting(tallies):
        await settle(services)
    consumers = _merge(tallies)
    return _summary(request, consumers, times)


def _line(name: str, entry: dict[str, Any]) -> str:
    request, consumers = entry["request"], entry["consumers"]
    return (
        f"{name:14} request {request['statements']:5} statements {request['commits']:4} commits | "
        f"consumers {consumers['statements']:5} statements {consumers['commits']:4} commits"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--followers", type=int, default=20)
    parser.add_argument("--times", type=int, default=20)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    for name, entry in results["writes"].items():
        print(_line(name, entry))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
