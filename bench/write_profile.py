"""Where one write's CPU goes, in the embedded shape, inside one process.

The API app and its services run in this process on a fresh SQLite file (the relay and
the consumers stopped, so only the request is measured); each write is driven as a bare
ASGI call (no sockets, no client library), one at a time, ``--times`` [300] times, with
``time.process_time`` around the batch and cProfile over a second batch. The profile's
own time per function is then put in buckets by where the function lives: the auth
dependency, the route and its service, SQLAlchemy's statement building and execution,
the SQLite driver and its thread hand-off, the JSON answer, events and the outbox,
FastAPI/Starlette plumbing and middleware, asyncio itself.

The world: an author followed by ``--followers`` [20] accounts (each has read its home),
``--times`` other accounts. Writes: a like of the author's posts, a follow of an
account, a comment on the author's post, an upload of a 64×64 JPEG, a post with it.

The consumers' share: after each write of the unprofiled batch, the events it committed
are relayed and handled to the end (``settle``), with the process's CPU counted apart
from the request's (less the cost of a settle with nothing to do, measured first); the
profiled batch profiles them apart too, their own time put in buckets by package.
``--without`` leaves consumers out (by name), so one run beside another gives each
consumer's share: the fan-out into the followers' kept feeds, the kept home pages,
notifications, the search index, streams. An upload's photo processing, in the worker pool's processes, is the
pool's CPU (its processes' own clocks), reported beside the request's.

Usage: .venv/bin/python bench/write_profile.py [--times 300] [--kinds like,follow]
       [--top 25]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import pstats
import shutil
import sys
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import orjson
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
from census_embedded import jpeg, settle
from request_cpu import in_process_api

PASSWORD = "correct horse battery staple"  # noqa: S105  # the bench users' own
#: The author's posts that are liked and commented on (each by distinct accounts).
SEED_POSTS = 20

#: Buckets of the profile, first match wins: (name, substrings of the function's file).
BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("auth (token lookup)", ("lumigram/api/auth", "lumigram/accounts/tokens", "lumigram/oauth")),
    ("events + outbox", ("lumigram/events", "lumigram/infra/outbox", "lumigram/unit_of_work")),
    ("answer (entities, JSON)", ("lumigram/entities", "lumigram/api/responses", "orjson", "pydantic")),
    ("SQLite driver + thread hop", ("lumigram/infra/sqlite_driver", "sqlite3", "threading", "queue.py")),
    ("SQLAlchemy: build + compile", ("sqlalchemy/sql/",)),
    ("SQLAlchemy: execute + results", ("sqlalchemy/",)),
    ("lumigram services + routes", ("lumigram/",)),
    ("FastAPI/Starlette + middleware", ("fastapi/", "starlette/", "anyio/")),
    ("asyncio", ("asyncio/", "uvloop")),
]


def bucket_of(filename: str) -> str:
    for name, needles in BUCKETS:
        if any(needle in filename for needle in needles):
            return name
    return "other (builtins, C)"


async def run(args: argparse.Namespace) -> None:
    if args.without:
        # The consumers left out run nowhere: what the rest cost, beside a run with them
        # all, is each one's share. (A profile cannot say: SQLAlchemy's greenlet switches
        # hide from cProfile where one coroutine stops and another resumes, so a handler's
        # cumulative time takes in others'.)
        from lumigram import consumers as table

        left_out = set(args.without.split(","))
        table.CONSUMERS[:] = [r for r in table.CONSUMERS if r.name not in left_out]
    workdir, services, api = await in_process_api("profile", PASSWORD)
    send, sign_up = api.send, api.sign_up

    times = args.times
    author = await sign_up("author")
    followers = [await sign_up(f"f{n}") for n in range(args.followers)]
    others = [await sign_up(f"o{n}") for n in range(2 * times)]
    for _, token in followers:
        await send("POST", f"/api/v1/accounts/{author[0]}/follow", token)
    await settle(services)
    for _, token in followers:
        await send("GET", "/api/v1/timelines/home", token)
    js = b"application/json"
    boundary = "lumigramprofileboundary"

    def multipart(n: int) -> bytes:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        return head + jpeg(n) + f"\r\n--{boundary}--\r\n".encode()

    upload_kind = f"multipart/form-data; boundary={boundary}".encode()
    posts: list[str] = []
    for n in range(SEED_POSTS):
        seed_media = (await send("POST", "/api/v2/media", author[1], multipart(10_000 + n), upload_kind))["id"]
        body = orjson.dumps({"status": f"p{n}", "media_ids": [seed_media]})
        posts.append((await send("POST", "/api/v1/statuses", author[1], body, js))["id"])
    await settle(services)
    await services.relay.stop()
    media: list[str] = []

    async def like(n: int) -> None:
        await send("POST", f"/api/v1/statuses/{posts[n % SEED_POSTS]}/favourite", others[n][1])

    async def follow(n: int) -> None:
        await send("POST", f"/api/v1/accounts/{others[n][0]}/follow", followers[n % len(followers)][1])

    async def comment(n: int) -> None:
        body = orjson.dumps({"status": f"nice {n}", "in_reply_to_id": posts[n % SEED_POSTS]})
        await send("POST", "/api/v1/statuses", others[n][1], body, js)

    async def upload(n: int) -> None:
        media.append((await send("POST", "/api/v2/media", author[1], multipart(n), upload_kind))["id"])

    async def post(n: int) -> None:
        body = orjson.dumps({"status": f"photo {n}", "media_ids": [media[n]]})
        await send("POST", "/api/v1/statuses", author[1], body, js)

    writes: dict[str, Callable[[int], Awaitable[None]]] = {
        "like": like,
        "follow": follow,
        "comment": comment,
        "upload": upload,
        "post": post,
    }
    sent: list[str] | None = None
    if args.statements:
        from sqlalchemy import event

        async with services.db.begin() as conn:
            assert conn.sync_connection is not None
            engines = {services.db.engine.sync_engine, conn.sync_connection.engine}

        def record(_conn: object, _cursor: object, text: str, *_args: object) -> None:
            if sent is not None:
                sent.append(" ".join(text.split()))

        for engine in engines:
            event.listen(engine, "before_cursor_execute", record)
            event.listen(engine, "commit", lambda _conn: sent.append("COMMIT") if sent is not None else None)
    try:
        for kind in args.kinds.split(","):
            write = writes[kind]
            if args.statements:
                sent = []
                await write(times)
                print(f"\n== {kind}: the statements of one write ({len(sent)})")
                print("\n".join(f"  {text[:400]}" for text in sent))
                sent = []
                await settle(services)
                print(f"\n== {kind}: the statements its consumers send ({len(sent)})")
                print("\n".join(f"  {text[:400]}" for text in sent))
                sent = None
            half = times // 2
            idle_settle = await settle_cpu(services, half)
            request_cpu = consumers_cpu = wall = loop_cpu = 0.0
            pool_before = pool_cpu()
            for n in range(half):
                started_cpu, started = time.process_time(), time.perf_counter()
                started_loop = time.thread_time()
                await write(n)
                mid = time.process_time()
                loop_cpu += time.thread_time() - started_loop
                wall += time.perf_counter() - started
                await settle(services)
                request_cpu += mid - started_cpu
                consumers_cpu += time.process_time() - mid
            pool_ms = (pool_cpu() - pool_before) * 1000 / half
            # The loop thread's CPU clock: time waiting in epoll for SQLite's threads is not
            # the loop's work (and SQLite's own is in the process CPU above).
            profile = cProfile.Profile(time.thread_time)
            consumers_profile = cProfile.Profile(time.thread_time)
            for n in range(half, times):
                profile.enable()
                await write(n)
                profile.disable()
                consumers_profile.enable()
                await settle(services)
                consumers_profile.disable()
            cpu_ms = request_cpu * 1000 / half
            report(kind, cpu_ms, wall * 1000 / half, profile, times - half, args.top)
            # The rest of the process's CPU is in other threads: SQLite's, the photo
            # threads, the blob store's file writes (their system time included).
            print(f"  of which the loop thread: {loop_cpu * 1000 / half:.2f} ms")
            print(f"  photo processing in the pool's processes: {pool_ms:.2f} ms CPU per write")
            consumed_ms = max(consumers_cpu * 1000 / half - idle_settle, 0.0)
            print(
                f"  consumers: {consumed_ms:.2f} ms process CPU per write (a settle with nothing to do,"
                f" {idle_settle:.2f} ms, taken off); request + consumers {cpu_ms + consumed_ms:.2f} ms"
            )
            report_handlers(consumers_profile, times - half)
            if args.dump:
                profile.dump_stats(f"{args.dump}.{kind}.prof")
                consumers_profile.dump_stats(f"{args.dump}.{kind}.consumers.prof")
    finally:
        await services.close()
        shutil.rmtree(workdir, ignore_errors=True)


def pool_cpu() -> float:
    """CPU seconds (user + system) spent so far by this process's children: the media
    worker pool's processes (started on the first upload)."""
    total = 0.0
    for child in psutil.Process().children(recursive=True):
        try:
            times = child.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += times.user + times.system
    return total


async def settle_cpu(services: Any, count: int) -> float:
    """Process CPU ms of one ``settle`` with nothing to relay or handle: the measuring's own cost."""
    started = time.process_time()
    for _ in range(count):
        await settle(services)
    return (time.process_time() - started) * 1000 / count


#: Buckets of the consumers' profile, first match wins: the handlers' packages first.
CONSUMER_BUCKETS: list[tuple[str, tuple[str, ...]]] = [
    ("fan-out into kept feeds", ("lumigram/feed/",)),
    ("kept pages (pagecache)", ("lumigram/pagecache/",)),
    ("notifications", ("lumigram/notifications/",)),
    ("search index", ("lumigram/search/",)),
    ("streams", ("lumigram/streaming/",)),
    ("consumer runner, relay, bus", ("lumigram/consumers", "lumigram/infra/outbox", "lumigram/infra/bus")),
    ("cache adapter", ("lumigram/infra/cache",)),
    *BUCKETS,
]


def report_handlers(profile: cProfile.Profile, count: int) -> None:
    """The consumers' loop CPU per write, their own time put in buckets by package."""
    stats = pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    if not total:
        return
    buckets: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), entry in raw.items():
        bucket = next((name for name, needles in CONSUMER_BUCKETS if any(n in filename for n in needles)), "other")
        buckets[bucket] += entry[2]
    print(f"  the consumers' loop CPU, profiled: {1000 * total / count:.3f} ms/write; own time by package:")
    for name, seconds in sorted(buckets.items(), key=lambda item: -item[1]):
        print(f"    {name:34s} {100 * seconds / total:5.1f}%  {1000 * seconds / count:6.3f} ms/write")


def report(kind: str, cpu_ms: float, wall_ms: float, profile: cProfile.Profile, count: int, top: int) -> None:
    stats = pstats.Stats(profile)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    total = sum(entry[2] for entry in raw.values())
    buckets: dict[str, float] = defaultdict(float)
    for (filename, _line, _name), entry in raw.items():
        buckets[bucket_of(filename)] += entry[2]
    print(f"\n== {kind}: {cpu_ms:.2f} ms process CPU, {wall_ms:.2f} ms wall per write (unprofiled)")
    print("  the loop thread's CPU by bucket (profiled, so inflated; compare the shares):")
    for name, seconds in sorted(buckets.items(), key=lambda item: -item[1]):
        print(f"  {name:34s} {100 * seconds / total:5.1f}%  {1000 * seconds / count:6.3f} ms/write")
    out = io.StringIO()
    pstats.Stats(profile, stream=out).sort_stats("tottime").print_stats(top)
    print("\n".join(out.getvalue().splitlines()[6:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--times", type=int, default=300)
    parser.add_argument("--followers", type=int, default=20)
    parser.add_argument("--kinds", default="like,follow,comment,upload,post")
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--statements", action="store_true", help="print the SQL each kind's first write sends")
    parser.add_argument("--without", default="", help="consumers (by name, comma-separated) not to run")
    parser.add_argument("--dump", help="write each kind's profile to DUMP.<kind>.prof (for pstats)")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
