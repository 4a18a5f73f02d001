"""Explore grid benchmark: two versions of the server on one seeded world, and the floor.

The explore step of ``bench/search.py`` (``explore_mix``: ``GET /api/v1/explore?limit=20``
as a random signed-in reader), run on its own so that the code before a change and the
code after it are measured in the same run, on the same world and backends:

0. The shape's backends on 127.0.0.1 and ``lumigram seed --users U --posts P`` (as
   ``bench/search.py`` does; explore reads no search index, so no reindex).
1. Bearer tokens for ``--readers`` random accounts (rows inserted directly).
2. For each version (``--before`` then this tree): ``lumigram serve`` (and a worker when
   scaled) started with that version's ``src`` first on ``PYTHONPATH``; the baseline
   ``GET /api/v1/instance`` at ``--baseline-rate``; then explore at each of ``--rates``,
   each step ``--step-seconds`` (open loop, Poisson arrivals, latency from the intended
   send time), the server let go quiet before each; then the server is stopped.
3. The floor: a bare ASGI app answering every request with one explore page of this
   tree's server (the same bytes), at each rate: the least a Python server does for
   the same answer here.

Each step reports what ``serve`` (and ``worker`` and PostgreSQL when scaled) spent in
CPU per answered request, the figure the noise of a shared box moves least.

Usage: .venv/bin/python bench/explore.py --shape embedded --before /tmp/old --json out.json
(``/tmp/old`` holding ``src/`` of the older commit, e.g. from ``git archive``).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed import (
    Stack,
    _make_tokens,
    _stop,
    fixed_page,
    log,
    seed_world,
    start_backends,
    start_bare,
    start_server,
    step,
)
from search import EXPLORE_P99_MS, explore_mix, instance_mix, quiet

HERE = Path(__file__).resolve().parent.parent / "src"


def _stop_server(stack: Stack) -> None:
    for name in ("worker", "serve"):
        process = stack.processes.get(name)
        if process is not None:
            _stop(process)
            stack.pids.pop(name, None)


def _version_steps(stack: Stack, version: str, src: Path, readers: list[Any], args: argparse.Namespace) -> list[Any]:
    stack.env["PYTHONPATH"] = str(src)
    base_url, _server = start_server(stack, None)
    port = int(base_url.rsplit(":", 1)[1])
    plan = [("baseline /api/v1/instance", instance_mix(), args.baseline_rate)]
    plan += [("explore", explore_mix(readers), rate) for rate in args.rates]
    steps = []
    try:
        for name, builder, rate in plan:
            waited = quiet(stack.pids["serve"])
            entry = step(name, port, builder, rate, args.step_seconds, args, stack.pids, stack.engine_pids)
            entry.update(version=version, waited_for_quiet_s=waited)
            steps.append(entry)
        if version == "after":
            page = httpx.get(
                f"{base_url}/api/v1/explore?limit=20",
                headers={"Authorization": f"Bearer {readers[0].token}"},
                timeout=30,
            )
            page.raise_for_status()
            (stack.workdir / "explore-page.json").write_bytes(page.content)
    finally:
        _stop_server(stack)
    return steps


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-explore-bench-"))
    stack = Stack(workdir=workdir, shape=args.shape)
    results: dict[str, Any] = {"shape": args.shape, "cpus": os.cpu_count(), "args": vars(args), "steps": []}
    try:
        log(f"shape {args.shape}; starting backends in {workdir}")
        start_backends(stack)
        results["world"] = seed_world(stack, args.users, args.posts, None)
        readers, _ids, _pairs = asyncio.run(_make_tokens(stack.env, args.readers, args.seed))
        versions = [("before", Path(args.before) / "src"), ("after", HERE)]
        for version, src in versions:
            log(f"{version}: serving {src}")
            results["steps"] += _version_steps(stack, version, src, readers, args)
        body = (workdir / "explore-page.json").read_bytes()
        results["page_bytes"] = len(body)
        bare_port = start_bare(stack, body)
        bare_pid = {"bare": stack.processes["bare"].pid}
        for rate in args.rates:
            entry = step(
                "floor", bare_port, fixed_page("/api/v1/explore?limit=20"), rate, args.step_seconds, args, bare_pid
            )
            entry["version"] = "bare ASGI, same bytes"
            results["steps"].append(entry)
    finally:
        stack.close()
        shutil.rmtree(workdir, ignore_errors=True)
    return results


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "| version | step | offered/s | delivered/s | p50 ms | p99 ms | CPU ms/request | load avg |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for entry in results["steps"]:
        cpu = entry["box_cpu_ms_per_request"]
        spent = " + ".join(f"{name} {cpu[name]}" for name in ("serve", "worker", "postgres", "bare") if name in cpu)
        every = entry["all"]
        lines.append(
            f"| {entry['version']} | {entry['step']} | {entry['target_rate']:.0f} | {every['throughput']:.0f} | "
            f"{every.get('p50_ms')} | {every.get('p99_ms')} | {spent} | {entry['load_average_before']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=("embedded", "scaled"), default="embedded")
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--posts", type=float, default=20.0)
    parser.add_argument("--before", required=True, help="a folder holding the older version's src/")
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--rates", type=lambda text: [float(r) for r in text.split(",")], default=[5.0, 20.0, 50.0])
    parser.add_argument("--baseline-rate", type=float, default=50.0)
    parser.add_argument("--step-seconds", type=float, default=12.0)
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--seed", type=int, default=11)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    if args.step_seconds > 20:
        parser.error("a step lasts at most 20 s on this shared box")
    results = run(args)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2, default=str))
    print(markdown(results))
    explore_p99 = {
        f"{e['version']}@{e['target_rate']:.0f}": e["all"].get("p99_ms")
        for e in results["steps"]
        if e["step"] == "explore"
    }
    print(json.dumps({"world": results.get("world"), "explore_p99_ms": explore_p99, "target_ms": EXPLORE_P99_MS}))


if __name__ == "__main__":
    main()
