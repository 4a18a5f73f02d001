"""Write benchmark for the embedded shape: many clients writing at once against one
``lumigram serve`` on SQLite.

Each of ``--clients`` [64] clients signs a user up through the API, then, until
``--seconds`` [60] have passed, picks one write at random: follow someone, post a photo
(``POST /api/v2/media`` then ``POST /api/v1/statuses``), like a post, comment on a post,
or sign another user up. Every answer's status is counted; a 5xx is a failure. When
the time is up, every write the API accepted (a 200) is looked for in the database
file: an accepted write that is missing is data lost.

Reports writes accepted per second by kind, their latency (p50, p90, p99, max), the
statuses seen, and the count of accepted writes missing afterwards (must be 0).

Usage: .venv/bin/python bench/writes_embedded.py [--clients 64] [--seconds 60] [--json FILE]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import sqlite3
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from embedded_server import solid_jpeg, start_embedded
from feed import Stack, log

PASSWORD = "correct horse battery staple"  # noqa: S105  # the bench users' own


@dataclass
class User:
    id: int
    headers: dict[str, str]


@dataclass
class Tally:
    """What the clients saw, and what the API accepted (to look for afterwards)."""

    latencies: dict[str, list[float]] = field(default_factory=dict)
    statuses: Counter[str] = field(default_factory=Counter)
    failures: list[str] = field(default_factory=list)
    users: list[User] = field(default_factory=list)
    posts: list[int] = field(default_factory=list)
    comments: list[int] = field(default_factory=list)
    follows: set[tuple[int, int]] = field(default_factory=set)
    likes: set[tuple[int, int]] = field(default_factory=set)

    async def call(self, http: httpx.AsyncClient, kind: str, method: str, url: str, **kwargs: Any) -> Any:
        started = time.perf_counter()
        response = await http.request(method, url, **kwargs)
        self.latencies.setdefault(kind, []).append((time.perf_counter() - started) * 1000)
        self.statuses[f"{kind} {response.status_code}"] += 1
        if response.status_code >= 500:
            self.failures.append(f"{kind}: {response.status_code} {response.text[:200]}")
        return response.json() if response.status_code == 200 else None


async def sign_up(http: httpx.AsyncClient, tally: Tally, rng: random.Random) -> User | None:
    app = await tally.call(
        http,
        "app",
        "POST",
        "/api/v1/apps",
        data={"client_name": "bench", "redirect_uris": "urn:ietf:wg:oauth:2.0:oob", "scopes": "read write follow"},
    )
    if app is None:
        return None
    grant = await tally.call(
        http,
        "app_token",
        "POST",
        "/oauth/token",
        data={
            "grant_type": "client_credentials",
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": "read write follow",
        },
    )
    if grant is None:
        return None
    username = f"w{rng.getrandbits(48):x}"
    created = await tally.call(
        http,
        "sign_up",
        "POST",
        "/api/v1/accounts",
        headers={"Authorization": f"Bearer {grant['access_token']}"},
        data={
            "username": username,
            "email": f"{username}@example.org",
            "password": PASSWORD,
            "agreement": "true",
            "locale": "en",
        },
    )
    if created is None:
        return None
    headers = {"Authorization": f"Bearer {created['access_token']}"}
    me = await tally.call(http, "verify", "GET", "/api/v1/accounts/verify_credentials", headers=headers)
    if me is None:
        return None
    user = User(int(me["id"]), headers)
    tally.users.append(user)
    return user


async def one_write(http: httpx.AsyncClient, tally: Tally, rng: random.Random, me: User, photo: bytes) -> None:
    kind = rng.choices(("follow", "post", "like", "comment", "sign_up"), (30, 20, 25, 15, 10))[0]
    if kind == "sign_up" or (kind in ("like", "comment") and not tally.posts):
        await sign_up(http, tally, rng)
    elif kind == "follow":
        target = rng.choice(tally.users)
        if target.id != me.id and await tally.call(
            http, "follow", "POST", f"/api/v1/accounts/{target.id}/follow", headers=me.headers
        ):
            tally.follows.add((me.id, target.id))
    elif kind == "post":
        media = await tally.call(
            http,
            "media",
            "POST",
            "/api/v2/media",
            headers=me.headers,
            files={"file": ("photo.jpg", photo, "image/jpeg")},
        )
        if media is not None:
            status = await tally.call(
                http,
                "post",
                "POST",
                "/api/v1/statuses",
                headers=me.headers,
                json={"status": "a photo", "media_ids": [media["id"]]},
            )
            if status is not None:
                tally.posts.append(int(status["id"]))
    elif kind == "like":
        post_id = rng.choice(tally.posts)
        if await tally.call(http, "like", "POST", f"/api/v1/statuses/{post_id}/favourite", headers=me.headers):
            tally.likes.add((me.id, post_id))
    else:
        parent = rng.choice(tally.posts)
        comment = await tally.call(
            http,
            "comment",
            "POST",
            "/api/v1/statuses",
            headers=me.headers,
            json={"status": "lovely", "in_reply_to_id": str(parent)},
        )
        if comment is not None:
            tally.comments.append(int(comment["id"]))


async def drive(base_url: str, clients: int, seconds: float, seed: int) -> tuple[Tally, float]:
    tally = Tally()
    photos = [solid_jpeg(n, (320, 240)) for n in range(8)]
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base_url, limits=limits, timeout=60) as http:
        started = time.perf_counter()
        deadline = started + seconds

        async def client(index: int) -> None:
            rng = random.Random(seed * 1000 + index)
            me = None
            while me is None and time.perf_counter() < deadline:
                me = await sign_up(http, tally, rng)
            while me is not None and time.perf_counter() < deadline:
                await one_write(http, tally, rng, me, photos[index % len(photos)])

        await asyncio.gather(*(client(n) for n in range(clients)))
        elapsed = time.perf_counter() - started
    return tally, elapsed


def missing_writes(database: Path, tally: Tally) -> dict[str, int]:
    """How many accepted writes of each kind the database file does not hold."""
    with sqlite3.connect(f"file:{database}?mode=ro", uri=True) as db:
        accounts = {row[0] for row in db.execute("SELECT id FROM accounts")}
        statuses = {row[0] for row in db.execute("SELECT id FROM statuses")}
        follows = set(db.execute("SELECT account_id, target_account_id FROM follows"))
        likes = set(db.execute("SELECT account_id, status_id FROM favourites"))
    return {
        "users": sum(user.id not in accounts for user in tally.users),
        "posts": sum(post not in statuses for post in tally.posts),
        "comments": sum(comment not in statuses for comment in tally.comments),
        "follows": len(tally.follows - follows),
        "likes": len(tally.likes - likes),
    }


def percentiles(values: list[float]) -> dict[str, float]:
    p50, p90, p99 = np.percentile(values, [50, 90, 99])
    return {
        "p50_ms": round(float(p50), 1),
        "p90_ms": round(float(p90), 1),
        "p99_ms": round(float(p99), 1),
        "max_ms": round(max(values), 1),
    }


def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-writes-"))
    stack = Stack(workdir)
    data = workdir / "data"
    try:
        base_url = start_embedded(stack)
        log(f"{args.clients} clients writing for {args.seconds:.0f} s")
        tally, elapsed = asyncio.run(drive(base_url, args.clients, args.seconds, args.seed))
        missing = missing_writes(data / "lumigram.db", tally)
    finally:
        stack.close()
        if not args.keep:
            import shutil

            shutil.rmtree(workdir, ignore_errors=True)
    writes = ("sign_up", "follow", "media", "post", "like", "comment")
    accepted = {kind: sum(n for key, n in tally.statuses.items() if key == f"{kind} 200") for kind in writes}
    return {
        "clients": args.clients,
        "seconds": round(elapsed, 1),
        "accepted_writes": sum(accepted.values()),
        "writes_per_second": round(sum(accepted.values()) / elapsed, 1),
        "accepted": accepted,
        "statuses": dict(sorted(tally.statuses.items())),
        "server_errors": len(tally.failures),
        "first_errors": tally.failures[:5],
        "missing_after": missing,
        "latency": {kind: percentiles(values) for kind, values in sorted(tally.latencies.items())},
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=60)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", help="write the results here")
    parser.add_argument("--keep", action="store_true", help="keep the work folder")
    args = parser.parse_args()
    if not 1 <= args.clients <= 256 or not 0 < args.seconds <= 600:
        parser.error("--clients must be 1-256 and --seconds 0-600")
    results = run(args)
    text = json.dumps(results, indent=2)
    print(text)
    if args.json:
        Path(args.json).write_text(text + "\n")
    if results["server_errors"] or any(results["missing_after"].values()):
        sys.exit(1)


if __name__ == "__main__":
    main()
