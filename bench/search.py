"""Search benchmark: ``/api/v2/search``, the explore grid, trends and index lag on a seeded world.

Steps (each load step bounded in time and count):

0. Start the shape's backends on 127.0.0.1 as ``bench/feed.py`` does (*scaled*:
   PostgreSQL, Valkey, NATS JetStream and one ``lumigram worker``; *embedded*: SQLite
   and the in-process cache and bus), then ``lumigram seed --users U --posts P`` and
   ``lumigram search reindex`` (the seed writes rows, not events, so nothing indexes
   them as they land), each timed: what building the world costs is a result too.
   ``--data-dir`` reuses an embedded world already seeded and indexed there.
   ``lumigram serve`` runs ``--serve-processes`` processes (2 when scaled, as deployed).
1. Bearer tokens for ``--readers`` random accounts (rows inserted directly, as in
   ``bench/feed.py``) and one photo each for the index-lag posts.
2. Index lag on the idle server: a reader posts a photo whose caption carries a word
   made for it, then ``GET /api/v2/search?type=statuses&q=<word>`` is polled until the
   post is found; the lag runs from the compose reply, p50/p99 over ``--lag-posts``.
3. Open-loop load (``bench/loadgen.py``, Poisson arrivals, latency from the intended send
   time), each step ``--step-seconds``:
   - baseline: ``GET /api/v1/instance`` on the same server at the search rate;
   - search: ``GET /api/v2/search`` at ``--search-rate`` (200/s), a third each of
     accounts (``user_N`` prefixes), hashtags (prefixes of the seeded tags) and posts
     (words of the seeded captions, one or two), as a random signed-in reader;
   - trends: ``GET /api/v1/trends/tags`` and ``/api/v1/trends/statuses`` at the same rate;
   - explore: ``GET /api/v1/explore?limit=20`` as a random reader at ``--explore-rate``;
   - search and explore each run twice in a row: the first step takes every reader's
     first request (all 200 readers' first explore pages, each working out its affinity,
     come within its first seconds), the second (``, again``) the steady state, each
     reader's kept values read within the minute;
   - then each search kind alone and explore alone at ``--probe-rate`` [5/s]: latency
     below saturation, and what one request of the kind costs in CPU.
   Each step reports the CPU time ``serve`` (and ``worker``) spent per answered request.
4. The SQL floor (``bench/search_floor.py``): each kind's statements sent again alone with
   the same driver on the same database, and what they cost in CPU.

Usage: .venv/bin/python bench/search.py --shape embedded --users 5000 --posts 20 --json out.json
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from lumigram.seed import TAGS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed import (
    Reader,
    Stack,
    _make_tokens,
    _upload_pool,
    cpu_seconds,
    log,
    lumigram,
    seed_world,
    start_backends,
    start_server,
    step,
)
from loadgen import Mix, Request

#: The issue's targets.
SEARCH_P99_MS = 50.0
EXPLORE_P99_MS = 100.0
LAG_P99_MS = 1000.0

#: Words of the seeded captions (``lumigram.seed``, whose hashtags are ``TAGS``).
CAPTION_WORDS = ("photo", "day", "home", "light", "weekend", "mood", "filter", "throwback", "caught", "right")


KINDS = ("accounts", "hashtags", "statuses")


def reindex(stack: Stack) -> dict[str, Any]:
    started = time.perf_counter()
    done = subprocess.run(
        lumigram("search", "reindex"), env={**os.environ, **stack.env}, capture_output=True, text=True, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"reindex failed: {done.stderr[-2000:]}")
    summary = " ".join(done.stdout.split()[-8:])
    log(summary)
    return {"seconds": round(time.perf_counter() - started, 1), "summary": summary}


def _auth(reader: Reader) -> tuple[tuple[str, str], ...]:
    return (("Authorization", f"Bearer {reader.token}"),)


def search_mix(readers: list[Reader], users: int, only: str | None = None) -> Any:
    """A third each of account, hashtag and post searches, as a random reader (or ``only`` one kind)."""

    def accounts(rng: random.Random) -> Request:
        name = f"user_{rng.randint(1, users)}"[: rng.randint(6, 9)]
        path = f"/api/v2/search?type=accounts&limit=10&q={name}"
        return Request("accounts", "GET", path, _auth(readers[rng.randrange(len(readers))]))

    def hashtags(rng: random.Random) -> Request:
        tag = rng.choice(TAGS)
        path = f"/api/v2/search?type=hashtags&limit=10&q=%23{tag[: rng.randint(3, len(tag))]}"
        return Request("hashtags", "GET", path, _auth(readers[rng.randrange(len(readers))]))

    def statuses(rng: random.Random) -> Request:
        words = "+".join(rng.sample(CAPTION_WORDS + TAGS, rng.randint(1, 2)))
        path = f"/api/v2/search?type=statuses&limit=20&q={words}"
        return Request("statuses", "GET", path, _auth(readers[rng.randrange(len(readers))]))

    kinds = {"accounts": accounts, "hashtags": hashtags, "statuses": statuses}

    def build(_index: int, _count: int) -> Mix:
        return [(1.0, make) for kind, make in kinds.items() if only in (None, kind)]

    return build


def trends_mix(readers: list[Reader]) -> Any:
    def tags(rng: random.Random) -> Request:
        return Request("trend_tags", "GET", "/api/v1/trends/tags?limit=10", _auth(readers[rng.randrange(len(readers))]))

    def posts(rng: random.Random) -> Request:
        path = "/api/v1/trends/statuses?limit=20"
        return Request("trend_statuses", "GET", path, _auth(readers[rng.randrange(len(readers))]))

    def build(_index: int, _count: int) -> Mix:
        return [(1.0, tags), (1.0, posts)]

    return build


def explore_mix(readers: list[Reader]) -> Any:
    def make(rng: random.Random) -> Request:
        return Request("explore", "GET", "/api/v1/explore?limit=20", _auth(readers[rng.randrange(len(readers))]))

    def build(_index: int, _count: int) -> Mix:
        return [(1.0, make)]

    return build


def instance_mix() -> Any:
    request = Request("instance", "GET", "/api/v1/instance")

    def build(_index: int, _count: int) -> Mix:
        return [(1.0, lambda _rng: request)]

    return build


def index_lag(base_url: str, authors: list[Reader], searcher: Reader, timeout: float = 10.0) -> dict[str, Any]:
    """Post with a word made for the post, then search for it until found."""
    lags: list[float] = []
    missing = 0
    rng = random.Random(7)
    with httpx.Client(base_url=base_url, timeout=30) as http:
        for author in authors:
            if not author.media:
                continue
            word = f"lagprobe{rng.getrandbits(48):012x}"
            body = {"status": f"Index lag probe {word}", "media_ids": [author.media.pop()]}
            created = http.post("/api/v1/statuses", json=body, headers=dict(_auth(author)))
            created.raise_for_status()
            post_id = created.json()["id"]
            replied = time.perf_counter()
            deadline = replied + timeout
            while time.perf_counter() < deadline:
                found = http.get(
                    "/api/v2/search", params={"q": word, "type": "statuses"}, headers=dict(_auth(searcher))
                ).json()
                if any(item["id"] == post_id for item in found["statuses"]):
                    lags.append((time.perf_counter() - replied) * 1000)
                    break
                time.sleep(0.01)
            else:
                missing += 1
    result: dict[str, Any] = {"posts": len(lags) + missing, f"missing_after_{timeout:.0f}s": missing}
    if lags:
        p50, p99 = np.percentile(lags, [50, 99])
        result.update(p50_ms=round(float(p50), 1), p99_ms=round(float(p99), 1), max_ms=round(max(lags), 1))
    return result


def quiet(pid: int, limit: float = 30.0) -> float:
    """Wait until ``serve`` has worked off what an overloaded step left queued in it (under
    a fifth of a core for a second), at most ``limit`` seconds; how long it took. Without
    this, the backlog of a saturated step lands on the next step's figures."""
    started = time.perf_counter()
    while time.perf_counter() - started < limit:
        before = cpu_seconds(pid)
        time.sleep(1.0)
        if cpu_seconds(pid) - before < 0.2:
            break
    return round(time.perf_counter() - started, 1)


def sql_floor(stack: Stack, users: int) -> dict[str, Any]:
    """What each kind's statements cost alone on the same database (``bench/search_floor.py``)."""
    argv = [sys.executable, str(Path(__file__).with_name("search_floor.py")), "--users", str(users)]
    done = subprocess.run(
        argv, env={**os.environ, **stack.env}, capture_output=True, text=True, check=False, timeout=240
    )
    if done.returncode != 0:
        return {"error": done.stderr[-2000:]}
    found: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return found


def _p99(summary: dict[str, Any], kind: str | None = None) -> float:
    stats = summary["all"] if kind is None else summary["kinds"].get(kind, {})
    return float(stats.get("p99_ms", float("inf")))


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-search-bench-"))
    stack = Stack(workdir=workdir, shape=args.shape)
    if args.pg_shared_buffers:
        stack.pg_settings["shared_buffers"] = args.pg_shared_buffers
    results: dict[str, Any] = {"shape": args.shape, "cpus": os.cpu_count(), "args": vars(args), "steps": []}
    try:
        log(f"shape {args.shape}; starting backends in {workdir}")
        start_backends(stack)
        if args.data_dir:
            if args.shape != "embedded":
                raise SystemExit("--data-dir reuses an embedded world only")
            stack.env["LUMIGRAM_DATA_DIR"] = str(Path(args.data_dir).resolve())
            results["world"] = {"reused": args.data_dir}
        else:
            results["world"] = seed_world(stack, args.users, args.posts, None)
            results["reindex"] = reindex(stack)
        processes = args.serve_processes or (2 if args.shape == "scaled" else 1)
        results["serve_processes"] = processes
        base_url, server = start_server(stack, args.profile, processes)
        port = int(base_url.rsplit(":", 1)[1])
        readers, _ids, _pairs = asyncio.run(_make_tokens(stack.env, args.readers, args.seed))
        authors = readers[: args.lag_posts]
        asyncio.run(_upload_pool(base_url, authors))
        log(f"{len(readers)} readers; measuring index lag over {len(authors)} posts")
        results["index_lag"] = index_lag(base_url, authors, readers[-1])
        log(f"index lag: {results['index_lag']}")
        if args.profile is not None:
            server.send_signal(signal.SIGUSR1)  # the profile covers the load steps only
        seconds = args.step_seconds
        plan = [
            ("baseline /api/v1/instance", instance_mix(), args.search_rate),
            ("search", search_mix(readers, args.users), args.search_rate),
            # Again at once: every reader has now searched within the minute, so what a
            # reader's first request reads once (its token, its follows) is kept.
            ("search, again", search_mix(readers, args.users), args.search_rate),
            ("trends", trends_mix(readers), args.search_rate),
            ("explore", explore_mix(readers), args.explore_rate),
            # Every reader's affinity is now kept (a minute): the steady state, apart from
            # the first step, where all 200 readers' first explore pages came at once.
            ("explore, again", explore_mix(readers), args.explore_rate),
            ("baseline /api/v1/instance (after)", instance_mix(), args.search_rate),
        ]
        # Each kind alone at a rate the box can serve: its latency below saturation and
        # what one request costs the server and the database.
        probes = [(f"search {kind} alone", search_mix(readers, args.users, kind), args.probe_rate) for kind in KINDS]
        probes.append(("explore alone", explore_mix(readers), args.probe_rate))
        steps = [(name, builder, rate, seconds) for name, builder, rate in plan]
        steps += [(name, builder, rate, args.probe_seconds) for name, builder, rate in probes]
        for name, builder, rate, length in steps:
            waited = quiet(stack.pids["serve"])
            entry = step(name, port, builder, rate, length, args, stack.pids, stack.engine_pids)
            entry["waited_for_quiet_s"] = waited
            results["steps"].append(entry)
        results["floor"] = sql_floor(stack, args.users)
        log(f"SQL floor per search: {results['floor']}")
        by_name = {s["step"]: s for s in results["steps"]}
        baseline = _p99(by_name["baseline /api/v1/instance"])
        search_p99, explore_p99 = _p99(by_name["search"]), _p99(by_name["explore"])
        search_again, explore_again = _p99(by_name["search, again"]), _p99(by_name["explore, again"])
        results["verdict"] = {
            "search_p99_ms": search_p99,
            "search_p99_over_baseline": round(search_p99 / baseline, 1) if baseline else None,
            "search_target_met": search_p99 <= SEARCH_P99_MS
            and by_name["search"]["all"]["throughput"] >= 0.95 * args.search_rate,
            "search_again_p99_ms": search_again,
            "search_again_target_met": search_again <= SEARCH_P99_MS
            and by_name["search, again"]["all"]["throughput"] >= 0.95 * args.search_rate,
            "explore_p99_ms": explore_p99,
            "explore_target_met": explore_p99 <= EXPLORE_P99_MS,
            "explore_again_p99_ms": explore_again,
            "explore_again_target_met": explore_again <= EXPLORE_P99_MS,
            "trends_p99_ms": _p99(by_name["trends"]),
            "lag_target_met": results["index_lag"].get("p99_ms", float("inf")) <= LAG_P99_MS
            and not results["index_lag"].get("missing_after_10s"),
        }
        log(f"verdict: {results['verdict']}")
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| step | offered/s | delivered/s | kind | p50 ms | p99 ms | CPU ms/request |",
        "|---|---|---|---|---|---|---|",
    ]
    for entry in results["steps"]:
        cpu = entry["box_cpu_ms_per_request"]
        spent = " + ".join(f"{name} {cpu[name]}" for name in ("serve", "worker", "postgres") if name in cpu)
        rows = [("all", entry["all"])]
        if len(entry["kinds"]) > 1:
            rows += list(entry["kinds"].items())
        for kind, stats in rows:
            lines.append(
                f"| {entry['step']} | {entry['target_rate']:.0f} | {stats['throughput']:.0f} | {kind} | "
                f"{stats.get('p50_ms')} | {stats.get('p99_ms')} | {spent} |"
            )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=("embedded", "scaled"), default="embedded")
    parser.add_argument(
        "--pg-shared-buffers", help="scaled: PostgreSQL's shared_buffers (e.g. 1GB) instead of pgserver's 128MB"
    )
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--posts", type=float, default=20.0)
    parser.add_argument("--data-dir", help="an embedded data folder already seeded and reindexed (--users as seeded)")
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--lag-posts", type=int, default=50)
    parser.add_argument("--search-rate", type=float, default=200.0)
    parser.add_argument("--explore-rate", type=float, default=50.0)
    parser.add_argument("--step-seconds", type=float, default=15.0)
    parser.add_argument("--probe-rate", type=float, default=5.0, help="each kind alone, below saturation")
    parser.add_argument("--probe-seconds", type=float, default=10.0)
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument(
        "--serve-processes", type=int, default=0, help="serve --processes N [2 when scaled, 1 when embedded]"
    )
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument(
        "--profile",
        type=Path,
        help="embedded: sample serve's event loop during the load steps into PROFILE"
        " (bench/feed.py show-profile PROFILE prints it)",
    )
    args = parser.parse_args()
    if max(args.step_seconds, args.probe_seconds) > 20:
        parser.error("a step lasts at most 20 s on this shared box")
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    print(json.dumps({"world": results.get("world"), "reindex": results.get("reindex"), **results["verdict"]}))


if __name__ == "__main__":
    main()
