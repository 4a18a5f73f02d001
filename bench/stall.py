"""Closed-loop home reads on the embedded shape while the in-process consumers work off a
burst of writes, beside the bare ASGI app in the same run.

In the embedded shape the consumers (notifications, fan-out, counters) run on the serving
event loop and write through SQLite's one writer. A burst of writes leaves them a backlog;
this measures what reading costs while they work it off:

1. a world is seeded (``lumigram seed``, e.g. Reed98's graph) and ``--readers`` of its
   users get tokens; every reader's home is read once;
2. for each of ``--closed-connections`` [4,64]: a bounded burst of writes through the API
   (``--burst-clients`` clients, for at most ``--burst-seconds`` or ``--burst-writes``,
   whichever ends first: likes 60 %, follows 30 %, photo posts 10 %), then at once
   closed-loop home reads (``limit=20``, a random reader each) for ``--closed-seconds``,
   reporting p50, p90, p99 and max, the outbox events still pending before and after
   the reads, and how long the rest took to drain (at most ``--drain-seconds``);
3. the bare ASGI app serving the same page, at the same connection counts.

With ``--idle-drain`` a burst is first left to drain with no reads at all: how long the
consumers take to work off a backlog on their own.

The server runs with a loop-lag probe (``lag-serve`` below): a task on its event loop
that asks to wake every millisecond and records, per quarter second, how late its
wake-ups were. A read waits at least as long as the loop's longest gap, so the worst gap
while the consumers work is the stall itself, measured inside the server rather than
through the load generator's clock. Beside it, a ``gc.callbacks`` timer records every
collection of CPython's garbage collector (its generation and how long it held the
interpreter, on whichever thread it ran), summed per step: a collection pauses the loop
as surely as a callback does, and a sampler of Python frames cannot see it.

Usage: .venv/bin/python bench/stall.py --edges ../shared/datasets/socfb-Reed98.edges
(``PYTHONPATH`` chooses which copy of the code serves, so two versions run the same script.)
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
import sqlite3
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded_server import solid_jpeg
from feed import (
    Reader,
    Stack,
    _make_tokens,
    _read_all,
    _wait,
    closed_step,
    cpu_seconds,
    fixed_page,
    free_ports,
    home_pages,
    log,
    seed_world,
    start_backends,
)
from loadgen import run_bare_app

#: The burst's kinds of write and their shares.
LIKE, FOLLOW, POST = "like", "follow", "post"
SHARES = ((LIKE, 0.6), (FOLLOW, 0.3), (POST, 0.1))


#: The probe's timer: it asks to wake this often, and reports how much later it woke.
PROBE_INTERVAL = 0.001
#: How often the probe writes a line (the window its figures cover).
PROBE_WINDOW = 0.25


#: The probe's last wake-up (``time.monotonic``), for the stall sampler's thread.
_heartbeat = [0.0]
#: A gap this long and the stall sampler looks at what the event loop is doing.
STALL_SECONDS = 0.03


async def probe_loop_lag(out: Path) -> None:
    """Wake every ``PROBE_INTERVAL`` and append, per ``PROBE_WINDOW``, one line: the wall
    time, wake-ups, the longest lag, the summed lag (ms) and the wake-ups over 5, 20 and
    100 ms late."""
    with out.open("a", buffering=1) as sink:
        loop = asyncio.get_running_loop()
        last = window_start = loop.time()
        ticks, worst, total = 0, 0.0, 0.0
        over = [0, 0, 0]
        while True:
            _heartbeat[0] = time.monotonic()
            await asyncio.sleep(PROBE_INTERVAL)
            now = loop.time()
            lag = max(0.0, now - last - PROBE_INTERVAL) * 1000
            last = now
            ticks += 1
            worst = max(worst, lag)
            total += lag
            for i, bound in enumerate((5, 20, 100)):
                over[i] += lag > bound
            if now - window_start >= PROBE_WINDOW:
                sink.write(f"{time.time():.3f} {ticks} {worst:.2f} {total:.1f} {over[0]} {over[1]} {over[2]}\n")
                window_start, ticks, worst, total, over = now, 0, 0.0, 0.0, [0, 0, 0]


def time_statements(out: Path) -> None:
    """Time each SQLite statement twice: inside its connection's thread (the statement's
    own run, the GIL waits of its rows included) and as the event loop's caller waits for
    it (the hop there and back added). Per statement shape (its first 70 characters):
    count, summed and longest ms of each (longest: so far); appended to ``out`` every second
    by a thread."""
    import collections
    import threading

    from lumigram.infra import sqlite_driver, sqlite_prebuilt

    inside: collections.defaultdict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    waited: collections.defaultdict[str, list[float]] = collections.defaultdict(lambda: [0, 0.0, 0.0])
    original_run, original_send = sqlite_driver._run, sqlite_driver.run_statement

    def note(table: Any, operation: Any, began: float) -> None:
        ms = (time.perf_counter() - began) * 1000
        entry = table[" ".join(str(operation).split())[:70]]
        entry[0] += 1
        entry[1] += ms
        entry[2] = max(entry[2], ms)

    def timed_run(conn: Any, operation: Any, parameters: Any, many: bool) -> Any:
        began = time.perf_counter()
        try:
            return original_run(conn, operation, parameters, many)
        finally:
            note(inside, operation, began)

    async def timed_send(adapted: Any, operation: Any, parameters: Any, many: bool) -> Any:
        began = time.perf_counter()
        try:
            return await original_send(adapted, operation, parameters, many)
        finally:
            note(waited, operation, began)

    sqlite_driver._run = timed_run  # type: ignore[assignment]
    sqlite_driver.run_statement = timed_send  # type: ignore[assignment]
    sqlite_prebuilt.run_statement = timed_send  # type: ignore[assignment]

    def flush() -> None:
        # One line a second, the totals so far: two lines' difference is a step's.
        with out.open("a", buffering=1) as sink:
            while True:
                time.sleep(1)
                rows = {
                    shape: {"inside": [round(v, 1) for v in inside[shape]], "waited": [round(v, 1) for v in spent]}
                    for shape, spent in waited.items()
                }
                sink.write(json.dumps({"t": time.time(), "statements": rows}) + "\n")

    threading.Thread(target=flush, name="statement-timer", daemon=True).start()


def count_forgets(out: Path) -> None:
    """Count the readers whose kept home pages are made unreachable (``pages.forget``), by
    the function that asked: each such reader's next read renders whole. Appended to
    ``out`` every second, the totals so far."""
    import collections
    import threading

    from lumigram.pagecache import invalidation
    from lumigram.pagecache import store as pages

    readers: collections.Counter[str] = collections.Counter()
    original = pages.forget

    async def counted(services: Any, account_ids: Any, authors: Any = ()) -> None:
        ids = list(account_ids)
        readers[sys._getframe(1).f_code.co_name] += len(ids)
        await original(services, ids, authors)

    pages.forget = counted  # type: ignore[assignment]
    invalidation.forget = counted  # type: ignore[attr-defined]

    def flush() -> None:
        with out.open("a", buffering=1) as sink:
            while True:
                time.sleep(1)
                sink.write(json.dumps({"t": time.time(), "readers": dict(readers)}) + "\n")

    threading.Thread(target=flush, name="forget-counter", daemon=True).start()


#: A request in the app this long is sampled by ``sample_waits`` (s).
SLOW_REQUEST = 0.010


def await_chain(coro: Any) -> str:
    """Where a suspended coroutine waits: its chain of awaits, innermost last (Lumigram's,
    SQLAlchemy's and the innermost two frames)."""
    frames: list[str] = []
    last = ""
    while coro is not None:
        frame = getattr(coro, "cr_frame", None) or getattr(coro, "gi_frame", None)
        if frame is not None:
            frames.append(f"{frame.f_code.co_filename.rsplit('/', 1)[-1]}:{frame.f_code.co_name}:{frame.f_lineno}")
        nxt = getattr(coro, "cr_await", None) or getattr(coro, "gi_yieldfrom", None)
        if nxt is None and not hasattr(coro, "cr_frame") and not hasattr(coro, "gi_frame"):
            last = type(coro).__name__
        coro = nxt
    kept = [f for f in frames[:-2] if "lumigram" in f or "sqlalchemy" in f or ".py" not in f]
    picked = [f for f in frames[:-2] if any(k in f for k in ("api", "service", "page", "home", "feed", "sql"))]
    return " > ".join((picked or kept)[-6:] + frames[-2:] + ([last] if last else []))


async def sample_waits(out: Path, inflight: dict[asyncio.Task[Any], float]) -> None:
    """Every 5 ms, for each request in the app longer than ``SLOW_REQUEST``, count where it
    waits (``await_chain``); the counts are rewritten to ``out`` every 2 s. A slow request
    whose loop is not late waits on something else: a thread, a lock, another task."""
    import collections

    counts: collections.Counter[str] = collections.Counter()
    written = time.monotonic()
    while True:
        await asyncio.sleep(0.005)
        now = time.perf_counter()
        for task, began in list(inflight.items()):
            if now - began > SLOW_REQUEST:
                counts[await_chain(task.get_coro())] += 1
        if time.monotonic() - written > 2:
            written = time.monotonic()
            # A small file every 2 s: a bench probe may afford the write on the loop.
            out.write_text(json.dumps(counts.most_common(40), indent=1))  # noqa: ASYNC240


def sample_stalls(out: Path, main_id: int) -> None:
    """A thread: whenever the probe has not woken for ``STALL_SECONDS``, note what the
    event loop's thread is running (the innermost frames of Lumigram's and its
    libraries'), counted every 5 ms; the counts are rewritten to ``out`` every 2 s."""
    import collections
    import threading

    counts: collections.Counter[str] = collections.Counter()
    written = time.monotonic()

    def where(frame: Any) -> str:
        names: list[str] = []
        while frame is not None and len(names) < 8:
            path = frame.f_code.co_filename
            if not names or "lumigram" in path or "sqlalchemy" in path:
                names.append(f"{path.rsplit('/', 1)[-1]}:{frame.f_code.co_name}")
            frame = frame.f_back
        return " < ".join(names)

    def run() -> None:
        nonlocal written
        while True:
            time.sleep(0.005)
            now = time.monotonic()
            if _heartbeat[0] and now - _heartbeat[0] > STALL_SECONDS:
                frame = sys._current_frames().get(main_id)
                counts[where(frame)] += 1
            if now - written > 2:
                written = now
                out.write_text(json.dumps(counts.most_common(40), indent=1))

    threading.Thread(target=run, name="stall-sampler", daemon=True).start()


def time_collections(out: Path) -> None:
    """Time every garbage collection in this process: one line each (wall time at its
    end, generation, pause in ms, objects freed, 1 if it ran on the main thread), kept in
    memory by the callback (a write per collection would cost more than a young
    collection) and appended to ``out`` by a thread every ``PROBE_WINDOW``."""
    import gc
    import threading

    main_id = threading.get_ident()
    done: list[tuple[float, int, float, int, int]] = []
    started = [0.0]

    def on_collection(phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            started[0] = time.perf_counter()
            return
        pause_ms = (time.perf_counter() - started[0]) * 1000
        on_main = int(threading.get_ident() == main_id)
        done.append((time.time(), info["generation"], pause_ms, info["collected"], on_main))

    def flush() -> None:
        with out.open("a", buffering=1) as sink:
            while True:
                time.sleep(PROBE_WINDOW)
                taken = len(done)
                rows, done[:taken] = done[:taken], []
                sink.write("".join(f"{t:.3f} {g} {ms:.3f} {n} {m}\n" for t, g, ms, n, m in rows))

    gc.callbacks.append(on_collection)
    threading.Thread(target=flush, name="gc-timer", daemon=True).start()


#: The pauses counted apart in the summary (ms).
GC_PAUSE_BOUNDS = (10, 30, 100)


def collections(gc_file: Path, start: float, end: float) -> dict[str, Any]:
    """The collector's figures between two wall times: per generation the count, the
    summed and the longest pause (ms), and how many pauses reached each of
    ``GC_PAUSE_BOUNDS``."""
    per_gen = {gen: [0, 0.0, 0.0] for gen in range(3)}
    over = dict.fromkeys(GC_PAUSE_BOUNDS, 0)
    off_main = 0
    if not gc_file.exists():
        return {}
    for line in gc_file.read_text().splitlines():
        fields = line.split()
        if len(fields) != 5 or not start <= float(fields[0]) <= end:
            continue
        gen, pause = int(fields[1]), float(fields[2])
        per_gen[gen][0] += 1
        per_gen[gen][1] += pause
        per_gen[gen][2] = max(per_gen[gen][2], pause)
        off_main += fields[4] == "0"
        for bound in GC_PAUSE_BOUNDS:
            over[bound] += pause >= bound
    summary: dict[str, Any] = {
        f"gen{gen}": {"count": count, "total_ms": round(total, 1), "max_ms": round(worst, 2)}
        for gen, (count, total, worst) in per_gen.items()
    }
    summary.update({f"over_{bound}ms": n for bound, n in over.items()}, off_main_thread=off_main)
    return summary


def lag_serve(out: Path, collector: bool = True, young_threshold: int = 0, switch_interval: float = 0.0) -> None:
    """``lumigram serve --no-migrate`` with the loop-lag probe running on its event loop
    and every garbage collection timed; with ``collector`` false, no automatic
    collections at all (start-up's own ``gc.collect`` still runs): the most any tuning
    of the collector could take off the latencies. ``young_threshold``, when given, is
    the allocations between two young collections (CPython's default 700).
    ``switch_interval``, when given, replaces CPython's 5 ms (``sys.setswitchinterval``)."""
    import gc
    import threading

    if switch_interval:
        sys.setswitchinterval(switch_interval)
    if not collector:
        gc.disable()
    if young_threshold:
        gc.set_threshold(young_threshold, *gc.get_threshold()[1:])

    import lumigram.app

    sample_stalls(out.with_suffix(".stalls.json"), threading.get_ident())
    time_collections(out.with_suffix(".gc.txt"))

    create_app = lumigram.app.create_app
    # Each request's time inside the app (from its scope to its last byte handed to the
    # server): a read slow here waited in the app; slow only at the client, it waited
    # before the app saw it (the accept queue, the HTTP parser, the load generator).
    served: list[tuple[float, float]] = []
    inflight: dict[asyncio.Task[Any], float] = {}

    def flush_served() -> None:
        with out.with_suffix(".requests.txt").open("a", buffering=1) as sink:
            while True:
                time.sleep(PROBE_WINDOW)
                taken = len(served)
                rows, served[:taken] = served[:taken], []
                sink.write("".join(f"{t:.4f} {ms:.3f}\n" for t, ms in rows))

    threading.Thread(target=flush_served, name="request-timer", daemon=True).start()

    def with_probe(*args: Any, **kwargs: Any) -> Any:
        app = create_app(*args, **kwargs)

        async def probed(scope: dict[str, Any], receive: Any, send: Any) -> None:
            if scope["type"] == "lifespan":
                task = asyncio.create_task(probe_loop_lag(out), name="loop-lag-probe")
                waits = asyncio.create_task(sample_waits(out.with_suffix(".waits.json"), inflight))
                try:
                    await app(scope, receive, send)
                finally:
                    task.cancel()
                    waits.cancel()
                return
            if scope["type"] != "http":
                await app(scope, receive, send)
                return
            began = time.perf_counter()
            task = asyncio.current_task()
            if task is not None:
                inflight[task] = began
            try:
                await app(scope, receive, send)
            finally:
                served.append((time.time(), (time.perf_counter() - began) * 1000))
                if task is not None:
                    inflight.pop(task, None)

        return probed

    lumigram.app.create_app = with_probe  # the CLI imports it when it serves
    time_statements(out.with_suffix(".statements.jsonl"))
    count_forgets(out.with_suffix(".forgets.jsonl"))
    from lumigram.cli import app as cli

    with contextlib.suppress(KeyboardInterrupt, SystemExit):
        cli(["serve", "--no-migrate"], standalone_mode=False)


def lag_bare(port: int, body_path: Path, out: Path) -> None:
    """The bare ASGI app (``feed.serve_bare``'s) with the same probe on its loop: the
    machine's floor for loop lag, the box's scheduling noise included."""

    body = body_path.read_bytes()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] == "lifespan":
            task = asyncio.create_task(probe_loop_lag(out), name="loop-lag-probe")
            try:
                while (await receive())["type"] != "lifespan.shutdown":
                    await send({"type": "lifespan.startup.complete"})
                await send({"type": "lifespan.shutdown.complete"})
            finally:
                task.cancel()
            return
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    run_bare_app(app, port)


def start_probed_bare(stack: Stack, body: bytes, lag_file: Path) -> int:
    (port,) = free_ports(1)
    page = stack.workdir / "page.json"
    page.write_bytes(body)
    argv = [sys.executable, str(Path(__file__).resolve()), "lag-bare", "--port", str(port), "--body", str(page)]
    stack.popen([*argv, "--out", str(lag_file)], "bare")
    _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code == 200, "bare ASGI app")
    return port


def start_probed_server(
    stack: Stack, lag_file: Path, collector: bool = True, young_threshold: int = 0, switch_interval: float = 0.0
) -> str:
    (port,) = free_ports(1)
    base_url = f"http://127.0.0.1:{port}"
    stack.env.update(LUMIGRAM_HOST="127.0.0.1", LUMIGRAM_PORT=str(port), LUMIGRAM_BASE_URL=base_url)
    serve = [sys.executable, str(Path(__file__).resolve()), "lag-serve", "--out", str(lag_file)]
    serve += [] if collector else ["--no-collector"]
    serve += ["--young-threshold", str(young_threshold)] if young_threshold else []
    serve += ["--switch-interval", str(switch_interval)] if switch_interval else []
    server = stack.popen(serve, "serve", signal.SIGINT)
    stack.pids["serve"] = server.pid
    _wait(lambda: httpx.get(f"{base_url}/readyz", timeout=2).status_code == 200, "lumigram serve")
    return base_url


def in_app(lag_file: Path, start: float, end: float) -> dict[str, Any]:
    """The requests' own times inside the app between two wall times (ms)."""
    path = lag_file.with_suffix(".requests.txt")
    if not path.exists():
        return {}
    times = sorted(
        float(fields[1])
        for fields in (line.split() for line in path.read_text().splitlines())
        if len(fields) == 2 and start <= float(fields[0]) <= end
    )
    if not times:
        return {}
    return {
        "count": len(times),
        **{f"p{q}_ms": round(times[min(len(times) - 1, int(len(times) * q / 100))], 2) for q in (50, 90, 99)},
        "max_ms": round(times[-1], 2),
        "over_30ms": sum(t >= 30 for t in times),
    }


def loop_lag(lag_file: Path, start: float, end: float) -> dict[str, Any]:
    """The probe's figures between two wall times."""
    rows = []
    for line in lag_file.read_text().splitlines():
        fields = line.split()
        if len(fields) == 7 and start <= float(fields[0]) <= end:
            rows.append([float(v) for v in fields])
    if not rows:
        return {}
    worsts = sorted(row[2] for row in rows)
    ticks = sum(row[1] for row in rows)
    seconds = end - start
    return {
        "max_ms": max(worsts),
        "window_max_p50_ms": worsts[len(worsts) // 2],
        "window_max_p90_ms": worsts[int(len(worsts) * 0.9)],
        "mean_lag_ms": round(sum(row[3] for row in rows) / max(ticks, 1), 3),
        "over_5ms_per_s": round(sum(row[4] for row in rows) / seconds, 1),
        "over_20ms_per_s": round(sum(row[5] for row in rows) / seconds, 1),
        "over_100ms_per_s": round(sum(row[6] for row in rows) / seconds, 2),
    }


def memory_kb(pid: int) -> dict[str, int]:
    """A process's resident memory now and at its peak (kB, from ``/proc``)."""
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{pid}/status").read_text().splitlines() if ":" in line)
    return {name: int(fields[name].split()[0]) for name in ("VmRSS", "VmHWM")}


def pending_events(database: Path) -> int:
    """Outbox events not yet handed to the consumers (read-only, beside the server)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0])


def make_backlog(database: Path, readers: list[Reader], count: int, seed: int) -> int:
    """``count`` ``follow.created`` events put in the outbox at once, for follows that
    exist and whose followers are not readers: work for the consumers (a notification and
    the follower's feed each) that changes none of the pages read, as a build through the
    API leaves behind. The relay finds them at its next sweep (within a second)."""
    from lumigram.ids import IdGenerator

    reading = {reader.account_id for reader in readers}
    with sqlite3.connect(database, timeout=60) as conn:
        pairs = [
            (follower, target)
            for follower, target in conn.execute("SELECT account_id, target_account_id FROM follows")
            if follower not in reading
        ]
        chosen = random.Random(seed).sample(pairs, min(count, len(pairs)))
        ids = IdGenerator()
        now = time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())
        rows = [
            (
                ids.next_id(),
                "follow.created",
                json.dumps({"account_id": str(follower), "target_account_id": str(target)}),
                now,
            )
            for follower, target in chosen
        ]
        conn.executemany("INSERT INTO outbox (id, type, payload, created_at, attempts) VALUES (?, ?, ?, ?, 0)", rows)
    return len(rows)


def wait_drained(database: Path, limit: float) -> float | None:
    """Seconds until no event is pending (None: still some after ``limit``)."""
    started = time.monotonic()
    while pending_events(database):
        if time.monotonic() - started > limit:
            return None
        time.sleep(0.25)
    return round(time.monotonic() - started, 1)


async def home_status_ids(base_url: str, readers: list[Reader]) -> list[str]:
    """Posts to like: those on a sample of the readers' homes."""
    found: set[str] = set()
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for reader in readers[:50]:
            page = await http.get(
                "/api/v1/timelines/home", params={"limit": 40}, headers={"Authorization": f"Bearer {reader.token}"}
            )
            found.update(status["id"] for status in page.json())
    return sorted(found)


async def burst(
    base_url: str, readers: list[Reader], statuses: list[str], args: argparse.Namespace, seed: int
) -> dict[str, Any]:
    """Writes from ``args.burst_clients`` clients, bounded in count and time."""
    rng = random.Random(seed)
    photo = solid_jpeg(seed, (64, 64))
    kinds = [kind for kind, _ in SHARES]
    weights = [share for _, share in SHARES]
    done: dict[str, int] = dict.fromkeys(kinds, 0)
    refused: dict[str, int] = {}
    deadline = time.monotonic() + args.burst_seconds
    budget = [args.burst_writes]
    limits = httpx.Limits(max_connections=args.burst_clients, max_keepalive_connections=args.burst_clients)

    async def client(http: httpx.AsyncClient) -> None:
        while time.monotonic() < deadline and budget[0] > 0:
            budget[0] -= 1
            kind = rng.choices(kinds, weights)[0]
            reader = rng.choice(readers)
            headers = {"Authorization": f"Bearer {reader.token}"}
            if kind == LIKE:
                response = await http.post(f"/api/v1/statuses/{rng.choice(statuses)}/favourite", headers=headers)
            elif kind == FOLLOW:
                target = rng.choice(readers)
                response = await http.post(f"/api/v1/accounts/{target.account_id}/follow", headers=headers)
            else:
                media = await http.post(
                    "/api/v2/media", headers=headers, files={"file": ("p.jpg", photo, "image/jpeg")}
                )
                if media.status_code != 200:
                    response = media
                else:
                    response = await http.post(
                        "/api/v1/statuses", headers=headers, json={"status": "burst", "media_ids": [media.json()["id"]]}
                    )
            if response.status_code == 200:
                done[kind] += 1
            else:
                key = f"{kind} {response.status_code}"
                refused[key] = refused.get(key, 0) + 1

    started = time.monotonic()
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        await asyncio.gather(*(client(http) for _ in range(args.burst_clients)))
    seconds = time.monotonic() - started
    return {"seconds": round(seconds, 1), "accepted": done, "refused": refused}


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-stall-bench-"))
    stack = Stack(workdir=workdir, shape="embedded")
    database = workdir / "data" / "lumigram.db"
    lag_file = workdir / "loop-lag.txt"
    gc_file = lag_file.with_suffix(".gc.txt")
    results: dict[str, Any] = {"cpus": os.cpu_count(), "args": vars(args), "steps": []}
    try:
        start_backends(stack)
        stack.env.update(LUMIGRAM_FOLLOW_RATE_LIMIT="100000000", LUMIGRAM_SIGNUP_RATE_LIMIT="100000000")
        results["world"] = seed_world(stack, args.users, args.posts, args.edges)
        base_url = start_probed_server(
            stack, lag_file, not args.no_collector, args.young_threshold, args.switch_interval
        )
        port = int(base_url.rsplit(":", 1)[1])
        readers, _accounts, _pairs = asyncio.run(_make_tokens(stack.env, args.readers, args.seed))
        asyncio.run(_read_all(base_url, readers))
        statuses = asyncio.run(home_status_ids(base_url, readers))
        log(f"{len(readers)} readers, {len(statuses)} posts to like; homes read once")
        pages = home_pages(readers, args.closed_limit)
        counts = [int(n) for n in args.closed_connections.split(",") if n.strip()]
        written: dict[str, Any]
        if args.idle_drain:
            # A burst left to the consumers alone: how fast they work off a backlog.
            if args.backlog:
                written = {"backlog": make_backlog(database, readers, args.backlog, args.seed - 1)}
            else:
                written = asyncio.run(burst(base_url, readers, statuses, args, args.seed - 1))
            before = pending_events(database)
            started = time.time()
            cpu_before = cpu_seconds(stack.pids["serve"])
            drained = wait_drained(database, args.drain_seconds)
            entry = {
                "serve_cpu_s": round(cpu_seconds(stack.pids["serve"]) - cpu_before, 2),
                "step": "drain",
                "connections": 0,
                "burst": written,
                "pending_before": before,
                "drained_after_s": drained,
                "loop_lag": loop_lag(lag_file, started, time.time()),
                "gc": collections(gc_file, started, time.time()),
                "load_average_before": round(os.getloadavg()[0], 2),
            }
            log(f"idle drain: burst {written}; {before} pending, drained in {drained} s; lag {entry['loop_lag']}")
            results["steps"].append(entry)
        for n, connections in enumerate(counts):
            if args.backlog:
                # A backlog that changes no page read: the consumers' share of the loop alone.
                written = {"backlog": make_backlog(database, readers, args.backlog, args.seed + n)}
                time.sleep(1.2)  # the relay's next sweep finds them
            else:
                burst_started = time.time()
                written = asyncio.run(burst(base_url, readers, statuses, args, args.seed + n))
            burst_ended = time.time()
            before = pending_events(database)
            log(f"burst: {written}; {before} events pending")
            started = time.time()
            entry = closed_step("home", port, pages, connections, args.closed_seconds, args, stack.pids)
            reads_ended = time.time()
            entry.update(burst=written, pending_before=before, pending_after=pending_events(database))
            cpu_before = cpu_seconds(stack.pids["serve"])
            entry["drained_after_s"] = wait_drained(database, args.drain_seconds)
            entry["drain_serve_cpu_s"] = round(cpu_seconds(stack.pids["serve"]) - cpu_before, 2)
            entry["loop_lag"] = loop_lag(lag_file, started, reads_ended)
            time.sleep(PROBE_WINDOW * 2)  # the request timer's last lines reach the file
            entry["in_app"] = in_app(lag_file, started, reads_ended)
            entry["loop_lag_drain"] = loop_lag(lag_file, reads_ended, time.time())
            time.sleep(PROBE_WINDOW * 2)  # the timer's last lines reach the file
            # The burst's figures only now: waiting for them before the reads would give the
            # consumers time to catch up, and the reads are to begin while they work.
            if not args.backlog:
                written["gc"] = collections(gc_file, burst_started, burst_ended)
            entry["gc"] = collections(gc_file, started, reads_ended)
            entry["gc_drain"] = collections(gc_file, reads_ended, time.time())
            log(
                f"{entry['pending_after']} events pending after the reads; drained {entry['drained_after_s']} s later;"
                f" loop lag during the reads {entry['loop_lag']}; inside the app {entry['in_app']}"
            )
            results["steps"].append(entry)
        results["serve_gc"] = collections(gc_file, 0, time.time())
        results["serve_memory_kb"] = memory_kb(stack.pids["serve"])
        path = f"/api/v1/timelines/home?limit={args.closed_limit}"
        page = httpx.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {readers[0].token}"}).content
        bare_lag = workdir / "bare-loop-lag.txt"
        bare_port = start_probed_bare(stack, page, bare_lag)
        for connections in counts:
            started = time.time()
            entry = closed_step("bare", bare_port, fixed_page(path), connections, args.closed_seconds, args)
            entry["loop_lag"] = loop_lag(bare_lag, started, time.time())
            results["steps"].append(entry)
    finally:
        stack.close()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def main() -> None:
    if sys.argv[1:2] == ["lag-bare"]:
        bare = argparse.ArgumentParser(prog="stall.py lag-bare")
        bare.add_argument("--port", type=int, required=True)
        bare.add_argument("--body", required=True)
        bare.add_argument("--out", required=True)
        given = bare.parse_args(sys.argv[2:])
        lag_bare(given.port, Path(given.body), Path(given.out))
        return
    if sys.argv[1:2] == ["lag-serve"]:
        out = argparse.ArgumentParser(prog="stall.py lag-serve")
        out.add_argument("--out", required=True)
        out.add_argument("--no-collector", action="store_true")
        out.add_argument("--young-threshold", type=int, default=0)
        out.add_argument("--switch-interval", type=float, default=0.0)
        served = out.parse_args(sys.argv[2:])
        lag_serve(Path(served.out), not served.no_collector, served.young_threshold, served.switch_interval)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", help="an undirected edge list, e.g. socfb-Reed98.edges")
    parser.add_argument("--users", type=int, default=1000, help="users to seed (the edge list's, when given)")
    parser.add_argument("--posts", type=float, default=5, help="posts per user")
    parser.add_argument("--readers", type=int, default=500, help="users with tokens: readers and writers")
    parser.add_argument("--closed-connections", default="4,64")
    parser.add_argument("--closed-seconds", type=float, default=15)
    parser.add_argument("--closed-limit", type=int, default=20)
    parser.add_argument("--burst-clients", type=int, default=32)
    parser.add_argument("--burst-seconds", type=float, default=8)
    parser.add_argument("--burst-writes", type=int, default=2000)
    parser.add_argument("--drain-seconds", type=float, default=60, help="the most to wait for the backlog")
    parser.add_argument("--idle-drain", action="store_true", help="first, a burst drained with no reads")
    parser.add_argument(
        "--backlog", type=int, default=0, help="instead of each burst, this many follow events put in the outbox"
    )
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument(
        "--no-collector", action="store_true", help="serve with automatic garbage collection off (a control)"
    )
    parser.add_argument(
        "--young-threshold", type=int, default=0, help="serve with this gen-0 collection threshold (a trial)"
    )
    parser.add_argument(
        "--switch-interval", type=float, default=0.0, help="serve with this GIL switch interval, s (a trial)"
    )
    args = parser.parse_args()
    results = run(args)
    for entry in results["steps"]:
        if entry["step"] == "drain":
            print(
                f"drain: burst {entry['burst']}, {entry['pending_before']} pending, drained in"
                f" {entry['drained_after_s']} s using {entry['serve_cpu_s']} s of CPU, loop lag {entry['loop_lag']};"
                f" collections {entry['gc']}"
            )
            continue
        every = entry["all"]
        extra = ""
        if "burst" in entry:
            extra = (
                f"; burst {entry['burst']}, pending {entry['pending_before']} -> {entry['pending_after']},"
                f" drained {entry['drained_after_s']} s later (CPU {entry['drain_serve_cpu_s']} s);"
                f" loop lag {entry['loop_lag']},"
                f" while draining {entry['loop_lag_drain']};"
                f" collections during the reads {entry['gc']}, while draining {entry['gc_drain']}"
            )
        print(
            f"{entry['step']:5} {entry['connections']:3} connections: {every['throughput']:.0f}/s "
            f"p50 {every.get('p50_ms')} p90 {every.get('p90_ms')} p99 {every.get('p99_ms')} max {every.get('max_ms')}"
            f" ms, non-2xx {every['non_2xx']}, errors {every['errors']},"
            f" CPU ms/request {entry.get('cpu_ms_per_request')}{extra}"
            + (f"; loop lag {entry['loop_lag']}" if entry["step"] == "bare" else "")
        )
    print(f"serve, whole run: collections {results['serve_gc']}; memory after the reads {results['serve_memory_kb']}")
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
