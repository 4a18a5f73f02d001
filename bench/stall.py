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

Usage: .venv/bin/python bench/stall.py --edges ../shared/datasets/socfb-Reed98.edges
(``PYTHONPATH`` chooses which copy of the code serves, so two versions run the same script.)
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
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
    closed_step,
    fixed_page,
    home_pages,
    log,
    seed_world,
    start_backends,
    start_bare,
    start_server,
)

#: The burst's kinds of write and their shares.
LIKE, FOLLOW, POST = "like", "follow", "post"
SHARES = ((LIKE, 0.6), (FOLLOW, 0.3), (POST, 0.1))


def pending_events(database: Path) -> int:
    """Outbox events not yet handed to the consumers (read-only, beside the server)."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True, timeout=30) as conn:
        return int(conn.execute("SELECT count(*) FROM outbox WHERE published_at IS NULL").fetchone()[0])


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
    results: dict[str, Any] = {"cpus": os.cpu_count(), "args": vars(args), "steps": []}
    try:
        start_backends(stack)
        stack.env.update(LUMIGRAM_FOLLOW_RATE_LIMIT="100000000", LUMIGRAM_SIGNUP_RATE_LIMIT="100000000")
        results["world"] = seed_world(stack, args.users, args.posts, args.edges)
        base_url, _server = start_server(stack, None)
        port = int(base_url.rsplit(":", 1)[1])
        readers, _accounts, _pairs = asyncio.run(_make_tokens(stack.env, args.readers, args.seed))
        asyncio.run(_read_all(base_url, readers))
        statuses = asyncio.run(home_status_ids(base_url, readers))
        log(f"{len(readers)} readers, {len(statuses)} posts to like; homes read once")
        pages = home_pages(readers, args.closed_limit)
        counts = [int(n) for n in args.closed_connections.split(",") if n.strip()]
        for n, connections in enumerate(counts):
            written = asyncio.run(burst(base_url, readers, statuses, args, args.seed + n))
            before = pending_events(database)
            log(f"burst: {written}; {before} events pending")
            entry = closed_step("home", port, pages, connections, args.closed_seconds, args, stack.pids)
            entry.update(burst=written, pending_before=before, pending_after=pending_events(database))
            entry["drained_after_s"] = wait_drained(database, args.drain_seconds)
            log(f"{entry['pending_after']} events pending after the reads; drained {entry['drained_after_s']} s later")
            results["steps"].append(entry)
        path = f"/api/v1/timelines/home?limit={args.closed_limit}"
        page = httpx.get(f"{base_url}{path}", headers={"Authorization": f"Bearer {readers[0].token}"}).content
        bare_port = start_bare(stack, page)
        for connections in counts:
            results["steps"].append(
                closed_step("bare", bare_port, fixed_page(path), connections, args.closed_seconds, args)
            )
    finally:
        stack.close()
        if args.keep:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def main() -> None:
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
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    results = run(args)
    for entry in results["steps"]:
        every = entry["all"]
        extra = ""
        if "burst" in entry:
            extra = (
                f"; burst {entry['burst']}, pending {entry['pending_before']} -> {entry['pending_after']},"
                f" drained {entry['drained_after_s']} s later"
            )
        print(
            f"{entry['step']:5} {entry['connections']:3} connections: {every['throughput']:.0f}/s "
            f"p50 {every.get('p50_ms')} p90 {every.get('p90_ms')} p99 {every.get('p99_ms')} max {every.get('max_ms')}"
            f" ms, non-2xx {every['non_2xx']}, errors {every['errors']}{extra}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
