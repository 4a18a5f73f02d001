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

Also, per write alone, where its time goes: the turns at SQLite's one writer (how long
the write waited for it, and held it), the round trips to the photo processing pool (and
what the processing itself costs in this process, to see the pool's share), the CPU the
event loop's thread spent on the request and then on the consumers (``time.thread_time``
on the loop's thread; the in-process client's own work is in the request's figure), and
the process's CPU in all its threads (SQLite's, the password hash's). Sign-ups (with the
server's own argon2id settings) and comments are counted too. Then each write again,
``--concurrency`` [8] at once (the consumers held back), then their consumers: how
long each waited for the writer when they arrive together, and how late the event loop
came back to a task ready to go on (a 1 ms sleep's lateness, sampled throughout).

Usage: .venv/bin/python bench/census_embedded.py [--times 20] [--concurrency 8] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import io
import json
import re
import shutil
import sys
import tempfile
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from concurrent.futures import Executor, Future
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np
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


class TimedLock(asyncio.Lock):
    """SQLite's writer lock, timed: how long each turn was waited for and held."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []
        self.holds: list[float] = []
        self._taken = 0.0

    async def acquire(self) -> bool:
        asked = time.perf_counter()
        got = await super().acquire()
        self._taken = time.perf_counter()
        self.waits.append((self._taken - asked) * 1000)
        return got

    def release(self) -> None:
        self.holds.append((time.perf_counter() - self._taken) * 1000)
        super().release()

    def clear(self) -> None:
        self.waits.clear()
        self.holds.clear()


class TimedPool(Executor):
    """The photo processing pool, timed: each job's round trip, from submit to result."""

    def __init__(self, make: Callable[[], Executor]) -> None:
        self.make = make
        self.trips: list[float] = []

    def submit(self, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Future[Any]:
        sent = time.perf_counter()
        future = self.make().submit(fn, *args, **kwargs)
        future.add_done_callback(lambda _f: self.trips.append((time.perf_counter() - sent) * 1000))
        return future


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

    # Sign-ups are the world's making, not what is counted: the cheapest argon2id (the
    # sign-up census puts the server's own back).
    server_hasher = passwords._hasher
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
    writer_lock = TimedLock()
    services.db._write_lock = writer_lock
    pool = TimedPool(services.cpu_pool)
    services.cpu_pool = lambda: pool  # type: ignore[method-assign,assignment,return-value]
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
    timers = Timers(writer_lock, pool)
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
            others = [await sign_up(f"other{n}") for n in range(args.times * 2)]
            for follower in followers:
                await http.post(f"/api/v1/accounts/{author['id']}/follow", headers=_auth(follower))
            await settle(services)
            for follower in followers:
                await http.get("/api/v1/timelines/home", headers=_auth(follower))
            # From here on the relay runs only when the census settles the bus, so what a
            # request sends and what its consumers send afterwards are counted apart (its
            # own task would run the consumers while the request is still answering).
            # The photo pool's processes start on first use: not in the census.
            warm = {"file": ("p.jpg", jpeg(999), "image/jpeg")}
            assert (await http.post("/api/v2/media", headers=_auth(author), files=warm)).status_code == 200
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

            async def comment(n: int) -> httpx.Response:
                return await http.post(
                    "/api/v1/statuses",
                    headers=_auth(others[n]),
                    json={"status": f"lovely {n}", "in_reply_to_id": posts[n % len(posts)]},
                )

            async def new_account(n: int) -> httpx.Response:
                grant = await http.post(
                    "/oauth/token",
                    data={
                        "grant_type": "client_credentials",
                        "client_id": app["client_id"],
                        "client_secret": app["client_secret"],
                        "scope": "read write follow",
                    },
                )
                name = f"newcomer{n}x{int(time.time() * 1000) % 100000}"
                async with counting(tallies), timers.on():
                    made = await http.post(
                        "/api/v1/accounts",
                        headers={"Authorization": f"Bearer {grant.json()['access_token']}"},
                        data={
                            "username": name,
                            "email": f"{name}@example.org",
                            "password": PASSWORD,
                            "agreement": "true",
                        },
                    )
                return made

            writes = (
                ("upload", upload),
                ("post", post),
                ("like", like),
                ("comment", comment),
                ("follow", follow),
            )
            for name, write in writes:
                results["writes"][name] = await _alone(services, tallies, write, args.times, timers)
                print(_line(name, results["writes"][name]), file=sys.stderr)
            # A sign-up's grant is made first (not counted): only the sign-up request is.
            passwords._hasher = server_hasher
            results["writes"]["sign_up"] = await _alone(
                services, tallies, new_account, min(args.times, 8), timers, counted_by_write=True
            )
            print(_line("sign_up", results["writes"]["sign_up"]), file=sys.stderr)
            passwords._hasher = PasswordHasher.from_parameters(CHEAPEST)
            results["photo_processing_in_process_ms"] = _processing_ms()

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

            async def upload_post(n: int) -> httpx.Response:
                files = {"file": ("p.jpg", jpeg(args.times + n), "image/jpeg")}
                media = await http.post("/api/v2/media", headers=_auth(author), files=files)
                return await http.post(
                    "/api/v1/statuses",
                    headers=_auth(author),
                    json={"status": f"together {n}", "media_ids": [media.json()["id"]]},
                )

            async def comment_again(n: int) -> httpx.Response:
                return await comment(args.times + n)

            async def follow_more(n: int) -> httpx.Response:
                return await http.post(
                    f"/api/v1/accounts/{others[args.times + n]['id']}/follow", headers=_auth(others[n])
                )

            async def like_more(n: int) -> httpx.Response:
                return await http.post(f"/api/v1/statuses/{posts[n]}/favourite", headers=_auth(others[args.times + n]))

            together = (
                ("upload + post", upload_post),
                ("like", like_more),
                ("comment", comment_again),
                ("follow", follow_more),
            )
            results["together"] = {}
            for name, write in together:
                entry = await _together(services, write, args.times, args.concurrency, timers)
                results["together"][name] = entry
                print(f"{name:14} {args.concurrency} at once: {entry}", file=sys.stderr)
    finally:
        await services.close()
        shutil.rmtree(workdir, ignore_errors=True)
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


@dataclass
class Timers:
    """Where a write's time goes: the writer's turns, the pool's round trips, CPU."""

    lock: TimedLock
    pool: TimedPool
    loop_cpu: float = 0.0
    process_cpu: float = 0.0
    wall: float = 0.0

    @asynccontextmanager
    async def on(self) -> AsyncIterator[None]:
        loop, process, wall = time.thread_time(), time.process_time(), time.perf_counter()
        try:
            yield
        finally:
            self.loop_cpu += time.thread_time() - loop
            self.process_cpu += time.process_time() - process
            self.wall += time.perf_counter() - wall

    def take(self) -> dict[str, Any]:
        """What was timed since the last take, then cleared."""
        taken = {
            "wall_ms": self.wall * 1000,
            "loop_cpu_ms": self.loop_cpu * 1000,
            "process_cpu_ms": self.process_cpu * 1000,
            "writer_turns": len(self.lock.waits),
            "writer_wait_ms": sum(self.lock.waits),
            "writer_held_ms": sum(self.lock.holds),
            "pool_trips": len(self.pool.trips),
            "pool_ms": sum(self.pool.trips),
        }
        self.lock.clear()
        self.pool.trips.clear()
        self.loop_cpu = self.process_cpu = self.wall = 0.0
        return taken


def _per(totals: list[dict[str, Any]], times: int) -> dict[str, float]:
    return {key: round(sum(t[key] for t in totals) / times, 2) for key in totals[0]}


async def _alone(
    services: Any,
    tallies: list[Tally],
    write: Callable[[int], Awaitable[httpx.Response]],
    times: int,
    timers: Timers,
    counted_by_write: bool = False,
) -> dict[str, Any]:
    """``times`` writes one by one, each followed by its consumers; ``counted_by_write``:
    the write counts and times its own request (its set-up is not counted)."""
    request: tuple[Counter[str], int] = (Counter(), 0)
    consumers: tuple[Counter[str], int] = (Counter(), 0)
    request_times, consumer_times = [], []
    for n in range(times):
        timers.take()
        if counted_by_write:
            response = await write(n)
        else:
            async with counting(tallies), timers.on():
                response = await write(n)
        assert response.status_code == 200, response.text
        request_times.append(timers.take())
        request = (request[0] + _merge(tallies)[0], request[1] + _merge(tallies)[1])
        async with counting(tallies), timers.on():
            await settle(services)
        consumer_times.append(timers.take())
        consumers = (consumers[0] + _merge(tallies)[0], consumers[1] + _merge(tallies)[1])
    summary = _summary(request, consumers, times)
    summary["request"]["time"] = _per(request_times, times)
    summary["consumers"]["time"] = _per(consumer_times, times)
    return summary


async def _together(
    services: Any, write: Callable[[int], Awaitable[httpx.Response]], times: int, concurrency: int, timers: Timers
) -> dict[str, Any]:
    """``times`` writes, ``concurrency`` at once; then the consumers. Each write's wait for
    the writer, and the requests' latency."""
    timers.take()
    latencies: list[float] = []
    waits: list[float] = []

    async def one(n: int) -> None:
        started = time.perf_counter()
        response = await write(n)
        assert response.status_code == 200, response.text
        latencies.append((time.perf_counter() - started) * 1000)

    # How late the loop comes back to a task whose 1 ms sleep is over: the wait for the
    # event loop that every step of every request and consumer has too.
    lags: list[float] = []
    done = asyncio.Event()

    async def ticker() -> None:
        while not done.is_set():
            asked = time.perf_counter()
            await asyncio.sleep(0.001)
            lags.append((time.perf_counter() - asked - 0.001) * 1000)

    ticking = asyncio.create_task(ticker())
    for first in range(0, times, concurrency):
        timers.lock.clear()
        await asyncio.gather(*(one(n) for n in range(first, min(first + concurrency, times))))
        waits += timers.lock.waits
    await settle(services)
    done.set()
    await ticking
    timers.take()
    return {
        "request_p50_ms": round(float(np.percentile(latencies, 50)), 1),
        "request_max_ms": round(max(latencies), 1),
        "writer_wait_p50_ms": round(float(np.percentile(waits, 50)), 2),
        "writer_wait_max_ms": round(max(waits), 2),
        "writer_turns_per_write": round(len(waits) / times, 2),
        "loop_lag_p50_ms": round(float(np.percentile(lags, 50)), 2),
        "loop_lag_p99_ms": round(float(np.percentile(lags, 99)), 2),
        "loop_lag_max_ms": round(max(lags), 1),
    }


def _processing_ms() -> float:
    """One 64x64 photo's processing in this process (no pool), for the pool's share."""
    from lumigram.uploads.images import process_image

    photo = jpeg(1)
    process_image(photo)
    started = time.perf_counter()
    for _ in range(10):
        process_image(photo)
    return round((time.perf_counter() - started) * 100, 2)


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
    text = (
        f"{name:14} request {request['statements']:5} statements {request['commits']:4} commits | "
        f"consumers {consumers['statements']:5} statements {consumers['commits']:4} commits"
    )
    for part in ("request", "consumers"):
        if "time" in entry[part]:
            t = entry[part]["time"]
            text += (
                f"\n{'':14} {part}: {t['wall_ms']} ms wall, loop CPU {t['loop_cpu_ms']} ms, process CPU "
                f"{t['process_cpu_ms']} ms, writer {t['writer_turns']} turns waited {t['writer_wait_ms']} ms "
                f"held {t['writer_held_ms']} ms, pool {t['pool_trips']} trips {t['pool_ms']} ms"
            )
    return text


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--followers", type=int, default=20)
    parser.add_argument("--times", type=int, default=20)
    parser.add_argument("--concurrency", type=int, default=8, help="writes at once in the last part")
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    for name, entry in results["writes"].items():
        print(_line(name, entry))
    print(f"photo processing in process: {results['photo_processing_in_process_ms']} ms")
    for name, entry in results["together"].items():
        print(f"{name}, {args.concurrency} at once: {entry}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
