"""Home reads on a world built through the API, closed loop, on the embedded shape.

Unlike ``bench/feed.py`` (which seeds its world straight into the database), this builds
the world the way a real instance grows one, in the ``lumigram serve`` that then answers
the reads: every user of an edge list signs up (``POST /api/v1/accounts``), every edge
becomes two follows (``POST /api/v1/accounts/:id/follow``), and every user posts
``--posts`` [5] photos (``POST /api/v2/media`` then ``POST /api/v1/statuses``), all with
``--build-clients`` [16] concurrent clients. Then, in the same server process:

1. every user's home (``limit=20``) is read once, one request at a time (p50, max);
2. closed-loop home reads of a random user at each of ``--closed-connections``
   [4,64] for ``--closed-seconds`` [20] each (p50, p90, p99, max);
3. the same connection counts against a bare ASGI app serving the same page, in the
   same run: the machine's ceiling, to compare with.

``--keep`` leaves the work folder (database, media, tokens) behind; ``--reuse DIR``
serves such a kept world again (a fresh ``lumigram serve``, so an empty in-process cache)
and runs steps 1-3 on it without building: the way to compare two versions of the code
on one world.

Usage: .venv/bin/python bench/api_world.py --edges ../shared/datasets/socfb-Reed98.edges
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded_server import solid_jpeg, start_embedded
from feed import Reader, Stack, log, run_closed
from stall import pending_events

PASSWORD = "correct horse battery staple"  # noqa: S105  # the bench users' own


async def each(items: list[Any], clients: int, work: Any) -> None:
    """``work(item)`` for every item, ``clients`` at a time."""
    queue: asyncio.Queue[Any] = asyncio.Queue()
    for item in items:
        queue.put_nowait(item)

    async def worker() -> None:
        while not queue.empty():
            await work(queue.get_nowait())

    await asyncio.gather(*(worker() for _ in range(clients)))


def ok(response: httpx.Response) -> dict[str, Any]:
    if response.status_code != 200:
        raise RuntimeError(
            f"{response.request.method} {response.request.url.path}: {response.status_code} {response.text[:300]}"
        )
    body: dict[str, Any] = response.json()
    return body


async def build(
    base_url: str, users: int, follows: list[tuple[int, int]], posts: int, clients: int, timings: dict[str, float]
) -> list[Reader]:
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=120) as http:
        app = ok(
            await http.post(
                "/api/v1/apps",
                data={
                    "client_name": "api-world",
                    "redirect_uris": "urn:ietf:wg:oauth:2.0:oob",
                    "scopes": "read write follow",
                },
            )
        )
        grant = ok(
            await http.post(
                "/oauth/token",
                data={
                    "grant_type": "client_credentials",
                    "client_id": app["client_id"],
                    "client_secret": app["client_secret"],
                    "scope": "read write follow",
                },
            )
        )
        app_headers = {"Authorization": f"Bearer {grant['access_token']}"}
        readers: dict[int, Reader] = {}

        async def sign_up(index: int) -> None:
            username = f"reed{index}"
            created = ok(
                await http.post(
                    "/api/v1/accounts",
                    headers=app_headers,
                    data={
                        "username": username,
                        "email": f"{username}@example.org",
                        "password": PASSWORD,
                        "agreement": "true",
                        "locale": "en",
                    },
                )
            )
            token = created["access_token"]
            me = ok(await http.get("/api/v1/accounts/verify_credentials", headers={"Authorization": f"Bearer {token}"}))
            readers[index] = Reader(int(me["id"]), username, token)

        started = time.perf_counter()
        await each(list(range(users)), clients, sign_up)
        timings["sign_ups_s"] = round(time.perf_counter() - started, 1)
        log(f"{users} sign-ups in {timings['sign_ups_s']} s")

        async def follow(pair: tuple[int, int]) -> None:
            source, target = readers[pair[0]], readers[pair[1]]
            ok(
                await http.post(
                    f"/api/v1/accounts/{target.account_id}/follow", headers={"Authorization": f"Bearer {source.token}"}
                )
            )

        started = time.perf_counter()
        await each(follows, clients, follow)
        timings["follows_s"] = round(time.perf_counter() - started, 1)
        log(f"{len(follows)} follows in {timings['follows_s']} s")
        photos = [solid_jpeg(n, (640, 480)) for n in range(16)]

        async def post(job: tuple[int, int]) -> None:
            reader = readers[job[0]]
            headers = {"Authorization": f"Bearer {reader.token}"}
            media = ok(
                await http.post(
                    "/api/v2/media",
                    headers=headers,
                    files={"file": ("p.jpg", photos[(job[0] + job[1]) % 16], "image/jpeg")},
                )
            )
            ok(
                await http.post(
                    "/api/v1/statuses",
                    headers=headers,
                    json={"status": f"photo {job[1]} of {reader.username}", "media_ids": [media["id"]]},
                )
            )

        jobs = [(user, n) for n in range(posts) for user in range(users)]
        started = time.perf_counter()
        await each(jobs, clients, post)
        timings["posts_s"] = round(time.perf_counter() - started, 1)
        log(f"{len(jobs)} photo posts in {timings['posts_s']} s")
        return [readers[i] for i in range(users)]


async def read_each_once(base_url: str, readers: list[Reader], limit: int) -> dict[str, Any]:
    """Every reader's home once, one request at a time."""
    latencies = []
    async with httpx.AsyncClient(base_url=base_url, timeout=60) as http:
        for reader in readers:
            started = time.perf_counter()
            ok(
                await http.get(
                    f"/api/v1/timelines/home?limit={limit}", headers={"Authorization": f"Bearer {reader.token}"}
                )
            )
            latencies.append((time.perf_counter() - started) * 1000)
    values = np.asarray(latencies)
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "reads": len(latencies),
        "p50_ms": round(float(p50), 2),
        "p90_ms": round(float(p90), 2),
        "p99_ms": round(float(p99), 2),
        "max_ms": round(float(values.max()), 2),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    from lumigram.seed import load_edges

    users, sources, targets = load_edges(Path(args.edges))
    users = min(users, args.users) if args.users else users
    follows = [(int(s), int(t)) for s, t in zip(sources, targets, strict=True) if s < users and t < users]
    random.Random(args.seed).shuffle(follows)
    workdir = Path(args.reuse) if args.reuse else Path(tempfile.mkdtemp(prefix="lumigram-api-world-"))
    stack = Stack(workdir)
    results: dict[str, Any] = {"cpus": os.cpu_count(), "args": vars(args), "users": users, "follows": len(follows)}
    try:
        base_url = start_embedded(stack)
        if args.reuse:
            readers = [Reader(**r) for r in json.loads((workdir / "readers.json").read_text())]
        else:
            timings: dict[str, float] = {}
            readers = asyncio.run(build(base_url, users, follows, args.posts, args.build_clients, timings))
            results["build"] = timings
            # What the build left for the consumers: reads that follow compete with it.
            results["pending_after_build"] = pending_events(workdir / "data" / "lumigram.db")
            log(f"{results['pending_after_build']} events pending when the build ended")
            (workdir / "readers.json").write_text(json.dumps([vars(r) for r in readers]))
        results["read_each_once"] = asyncio.run(read_each_once(base_url, readers, args.closed_limit))
        log(f"every home once, one at a time: {results['read_each_once']}")
        results["closed"] = run_closed(stack, base_url, readers, args)
    finally:
        stack.close()
        if args.keep or args.reuse:
            log(f"kept {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--edges", required=True, help="an undirected edge list, e.g. socfb-Reed98.edges")
    parser.add_argument("--users", type=int, default=0, help="only the first N users of the graph (0: all)")
    parser.add_argument("--posts", type=int, default=5, help="photo posts per user")
    parser.add_argument("--build-clients", type=int, default=16)
    parser.add_argument("--closed-connections", default="4,64")
    parser.add_argument("--closed-seconds", type=float, default=20)
    parser.add_argument("--closed-limit", type=int, default=20)
    parser.add_argument("--load-processes", type=int, default=2)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    parser.add_argument("--reuse", help="a work folder kept by --keep: serve its world again, no build")
    args = parser.parse_args()
    results = run(args)
    text = json.dumps({k: v for k, v in results.items() if k != "closed"}, indent=2)
    print(text)
    for entry in results["closed"]:
        every = entry["all"]
        print(
            f"{entry['step']:5} {entry['connections']:3} connections: {every['throughput']:.0f}/s "
            f"p50 {every.get('p50_ms')} p90 {every.get('p90_ms')} p99 {every.get('p99_ms')} max {every.get('max_ms')}"
            f" ms, non-2xx {every['non_2xx']}, errors {every['errors']}"
        )
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
