"""Story tray benchmark: ``GET /api/v1/lumigram/stories/tray`` in a closed loop, beside a
bare ASGI app serving the same bytes, in the same run.

Steps (defaults in brackets; every step bounded in time and count):

0. Start the shape's backends on 127.0.0.1 as ``bench/feed.py`` does (*scaled*:
   PostgreSQL, Valkey, NATS JetStream and one ``lumigram worker``; *embedded*: SQLite
   with the in-process cache and bus), ``lumigram seed`` a world [2,000 users, one post
   each] and start ``lumigram serve`` (one uvicorn process).
1. The issue's viewer: [50] viewers get a bearer token each (rows inserted directly);
   each follows exactly [300] accounts, of which [50] have live stories ([2] each, made
   in the last hours from the seed's placeholder photo, rows inserted directly), and has
   seen [a third] of those accounts' stories, so the tray's unseen/seen split and its
   affinity ranking both have work to do. Every viewer's tray is read once (which fills
   the cached affinity counts, as a reader's first look does).
2. Closed loop: for each connection count [1, 16], tray reads of a random viewer each,
   back to back, for [15] s; then the same counts against the bare ASGI app answering
   one tray's bytes: the box's ceiling, and the ratio.
3. Scaled only: the same counts against the *cache floor*, a bare ASGI app that answers
   each viewer's kept tray (``lumigram.stories.tray_cache``) with the one ``MGET`` the
   fast path sends (token grant, login state, two generations, the tray) through
   Lumigram's own cache client: the least a Python server can do for the same answer
   from the same cache.

Reports throughput, p50/p90/p99/max and each server's CPU per read (the bare app's and
the floor's too); the issue's target is 2,000 reads/s at p99 ≤ 50 ms on the scaled shape.

Usage: .venv/bin/python bench/stories_tray.py [--shape scaled|embedded] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import gzip
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent))
from feed import (
    Reader,
    Stack,
    _make_tokens,
    closed_step,
    lumigram,
    seed_world,
    start_backends,
    start_bare,
    start_server,
)
from loadgen import Mix, Request, run_bare_app

TRAY = "/api/v1/lumigram/stories/tray"
TARGET_RATE = 2000
TARGET_P99_MS = 50.0


def log(message: str) -> None:
    print(f"[tray-bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


async def build_trays(env: dict[str, str], viewers: list[Reader], all_ids: list[int], args: argparse.Namespace) -> None:
    """Each viewer's follows, the story authors' live stories and the viewers' seen marks."""
    os.environ.update(env)
    from sqlalchemy import delete, insert, select

    from lumigram.config import load_settings
    from lumigram.ids import IdGenerator
    from lumigram.infra.database import Database
    from lumigram.infra.tables import follows, media_attachments, stories, story_views, utcnow

    rng = random.Random(args.seed)
    viewer_ids = {v.account_id for v in viewers}
    others = [a for a in all_ids if a not in viewer_ids]
    # A pool of authors with live stories, larger than one viewer's share, so trays differ.
    authors = rng.sample(others, min(len(others) // 2, args.live * 4))
    quiet = [a for a in others if a not in set(authors)]
    db = Database(load_settings().database_url)
    ids = IdGenerator()
    now = utcnow()
    try:
        async with db.connect() as conn:
            template = (
                await conn.execute(select(media_attachments).where(media_attachments.c.kind == "image"))
            ).first()
        if template is None:
            raise RuntimeError("the seeded world has no photo to show in stories")
        media_rows, story_rows = [], []
        story_ids: dict[int, list[int]] = {}
        for author in authors:
            for n in range(args.stories_each):
                media_id, story_id = ids.next_id(), ids.next_id()
                made = now - timedelta(hours=rng.uniform(0.5, 20), minutes=n)
                media_rows.append(
                    {
                        "id": media_id,
                        "account_id": author,
                        "kind": "image",
                        "state": "ready",
                        "content_type": "image/jpeg",
                        "variants": template.variants,
                        "meta": template.meta,
                        "blurhash": template.blurhash,
                        "private": True,
                        "created_at": made,
                        "processed_at": made,
                        "story_id": story_id,
                    }
                )
                story_rows.append(
                    {
                        "id": story_id,
                        "account_id": author,
                        "media_id": media_id,
                        "state": "live",
                        "caption": f"story {n} of {author}",
                        "created_at": made,
                        "expires_at": made + timedelta(hours=24),
                    }
                )
                story_ids.setdefault(author, []).append(story_id)
        follow_rows, view_rows = [], []
        for viewer in viewers:
            followed = rng.sample(authors, args.live) + rng.sample(quiet, args.follows - args.live)
            follow_rows += [
                {"account_id": viewer.account_id, "target_account_id": t, "id": ids.next_id(), "created_at": now}
                for t in followed
            ]
            for author in followed[: args.live // 3]:
                view_rows += [
                    {"story_id": s, "account_id": viewer.account_id, "id": ids.next_id(), "created_at": now}
                    for s in story_ids[author]
                ]
        async with db.begin() as conn:
            await conn.execute(delete(follows).where(follows.c.account_id.in_(viewer_ids)))
            for table, rows in (
                (media_attachments, media_rows),
                (stories, story_rows),
                (follows, follow_rows),
                (story_views, view_rows),
            ):
                for start in range(0, len(rows), 2000):
                    await conn.execute(insert(table), rows[start : start + 2000])
        log(f"{len(authors)} authors with {len(story_rows)} live stories; {len(viewers)} viewers follow {args.follows}")
    finally:
        await db.close()


def tray_reads(viewers: list[Reader], gzipped: bool = False) -> Any:
    """Tray reads as random viewers (``gzipped``: as apps that accept gzip)."""
    accept = (("Accept-Encoding", "gzip"),) if gzipped else ()

    def build(_index: int, _count: int) -> Mix:
        def make(rng: random.Random) -> Request:
            viewer = viewers[rng.randrange(len(viewers))]
            return Request("tray", "GET", TRAY, (("Authorization", f"Bearer {viewer.token}"), *accept))

        return [(1.0, make)]

    return build


def fixed(path: str) -> Any:
    def build(_index: int, _count: int) -> Mix:
        request = Request("tray", "GET", path)
        return [(1.0, lambda _rng: request)]

    return build


def warm(base_url: str, viewers: list[Reader], live: int) -> dict[str, Any]:
    sizes, entries = [], []
    with httpx.Client(base_url=base_url, timeout=60) as http:
        for viewer in viewers:
            answer = http.get(TRAY, headers={"Authorization": f"Bearer {viewer.token}"})
            answer.raise_for_status()
            sizes.append(len(answer.content))
            entries.append(len(answer.json()))
    if min(entries) != live:
        raise RuntimeError(f"a tray holds {min(entries)} accounts, not {live}")
    return {"tray_accounts": live, "tray_bytes": sorted(sizes)[len(sizes) // 2]}


async def drop_kept_trays(cache_url: str, viewers: list[Reader]) -> None:
    from lumigram.infra.cache import open_cache
    from lumigram.stories import tray_cache

    cache = open_cache(cache_url)
    try:
        await cache.delete(*(tray_cache.keys(v.account_id, tray_cache.TRAY)[-1] for v in viewers))
    finally:
        await cache.close()


def start_cache_floor(stack: Stack, cache_url: str, gzipped: bool = False) -> tuple[int, dict[str, int]]:
    """Start the cache floor (``serve_cache_floor``) on a free port: its port and pid."""
    from feed import _wait, free_ports

    (port,) = free_ports(1)
    argv = [sys.executable, str(Path(__file__).resolve()), "floor", "--port", str(port), "--cache", cache_url]
    if gzipped:
        argv.append("--gzip")
    process = stack.popen(argv, "floor")
    _wait(lambda: httpx.get(f"http://127.0.0.1:{port}/", timeout=2).status_code in (200, 404), "the cache floor")
    return port, {"floor": process.pid}


def serve_cache_floor(port: int, cache_url: str, gzipped: bool = False) -> None:
    """A raw ASGI app answering a viewer's kept tray with one ``MGET`` of the keys the fast
    path fetches (the token's owner learnt once per token, as the fast path does); kept
    bytes as they are when ``gzipped``, else unpacked."""
    from lumigram.accounts import authcache
    from lumigram.accounts.oauth import hash_secret
    from lumigram.infra.cache import open_cache
    from lumigram.infra.tables import utcnow
    from lumigram.stories import tray_cache

    cache = open_cache(cache_url)
    owners: dict[bytes, list[str]] = {}

    async def keys_of(header: bytes) -> list[str] | None:
        found = owners.get(header)
        if found is None:
            token_key = authcache.token_key(hash_secret(header.decode().partition(" ")[2]))
            entry = await cache.get(token_key)
            if entry is None:
                return None
            data = json.loads(entry)
            found = owners[header] = [
                token_key,
                authcache.user_key(data["user_id"]),
                *tray_cache.keys(data["account_id"], tray_cache.TRAY),
            ]
        return found

    async def app(scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            return
        header = dict(scope["headers"]).get(b"authorization", b"")
        wanted = await keys_of(header) if header else None
        body = None
        if wanted is not None:
            values = await cache.get_many(wanted)
            slot = tray_cache.from_values(wanted[-1], values[2:], utcnow())
            body = slot.packed if gzipped else slot.body
        status, body = (200, body) if body is not None else (404, b"{}")
        headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
        await send({"type": "http.response.start", "status": status, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    run_bare_app(app, port)


def main() -> None:
    if sys.argv[1:2] == ["floor"]:
        floor = argparse.ArgumentParser()
        floor.add_argument("command")
        floor.add_argument("--port", type=int, required=True)
        floor.add_argument("--cache", required=True)
        floor.add_argument("--gzip", action="store_true")
        given = floor.parse_args()
        serve_cache_floor(given.port, given.cache, given.gzip)
        return
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--shape", choices=["scaled", "embedded"], default="scaled")
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--viewers", type=int, default=50)
    parser.add_argument("--follows", type=int, default=300)
    parser.add_argument("--live", type=int, default=50, help="followed accounts with live stories")
    parser.add_argument("--stories-each", type=int, default=2)
    parser.add_argument("--connections", default="1,16")
    parser.add_argument("--seconds", type=float, default=15.0, help="per step (at most 30)")
    parser.add_argument("--load-processes", type=int, default=1)
    parser.add_argument("--seed", type=int, default=20)
    parser.add_argument("--json", type=Path)
    parser.add_argument("--gzip", action="store_true", help="read as apps that accept gzip (Accept-Encoding: gzip)")
    args = parser.parse_args()
    counts = [int(n) for n in args.connections.split(",") if n.strip()]
    if args.seconds > 30 or len(counts) > 3:
        parser.error("keep a run within two minutes: at most 3 connection counts of at most 30 s each")

    started = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix="lumigram-tray-") as workdir:
        stack = Stack(Path(workdir), shape=args.shape)
        try:
            start_backends(stack)
            subprocess.run(lumigram("migrate"), env={**os.environ, **stack.env}, check=True, capture_output=True)
            world = seed_world(stack, args.users, 1, None)
            base_url, _server = start_server(stack, None)
            port = int(base_url.rsplit(":", 1)[1])
            viewers, all_ids, _pairs = asyncio.run(_make_tokens(stack.env, args.viewers, args.seed))
            asyncio.run(build_trays(stack.env, viewers, all_ids, args))
            facts = warm(base_url, viewers, args.live)
            log(f"trays warm: {facts}")
            reads = tray_reads(viewers, args.gzip)
            steps = [closed_step("tray", port, reads, n, args.seconds, args, stack.pids) for n in counts]
            body = httpx.get(f"{base_url}{TRAY}", headers={"Authorization": f"Bearer {viewers[0].token}"}).content
            # With --gzip the bare app sends the tray as gzip packs it, as the server then does.
            bare_port = start_bare(stack, gzip.compress(body, compresslevel=6, mtime=0) if args.gzip else body)
            bare_pid = {"bare": stack.processes["bare"].pid}
            steps += [closed_step("bare", bare_port, fixed(TRAY), n, args.seconds, args, bare_pid) for n in counts]
            if stack.redis_url:
                # Kept trays live two minutes: have them computed again for the floor's steps.
                asyncio.run(drop_kept_trays(stack.redis_url, viewers))
                warm(base_url, viewers, args.live)
                floor_port, floor_pid = start_cache_floor(stack, stack.redis_url, args.gzip)
                steps += [
                    closed_step("floor", floor_port, tray_reads(viewers, args.gzip), n, args.seconds, args, floor_pid)
                    for n in counts
                ]
        finally:
            stack.close()
    by_count = {}
    for n in counts:
        tray = next(s for s in steps if s["step"] == "tray" and s["connections"] == n)["all"]
        bare = next(s for s in steps if s["step"] == "bare" and s["connections"] == n)["all"]
        by_count[n] = {
            "tray_per_s": round(tray["throughput"]),
            "tray_p99_ms": tray.get("p99_ms"),
            "bare_per_s": round(bare["throughput"]),
            "bare_p99_ms": bare.get("p99_ms"),
            "tray_over_bare": round(tray["throughput"] / bare["throughput"], 3) if bare["throughput"] else None,
            "target_met": tray["throughput"] >= TARGET_RATE and (tray.get("p99_ms") or 1e9) <= TARGET_P99_MS,
        }
        floor = next((s for s in steps if s["step"] == "floor" and s["connections"] == n), None)
        if floor is not None:
            by_count[n].update(
                floor_per_s=round(floor["all"]["throughput"]),
                floor_p99_ms=floor["all"].get("p99_ms"),
                tray_over_floor=round(tray["throughput"] / floor["all"]["throughput"], 3),
            )
    results = {
        "shape": args.shape,
        "cpus": os.cpu_count(),
        "args": vars(args) | {"json": str(args.json) if args.json else None},
        "world": world,
        "trays": facts,
        "summary": by_count,
        "steps": steps,
        "seconds": round(time.perf_counter() - started, 1),
        "load_average_1min": round(os.getloadavg()[0], 2),
    }
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        args.json.write_text(text + "\n")


if __name__ == "__main__":
    main()
