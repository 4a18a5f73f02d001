"""Where one search's (and one explore page's) CPU goes, embedded, inside one process.

A world is seeded with ``lumigram seed`` into a fresh folder (or ``--data-dir`` reuses
one) and indexed with ``lumigram search reindex``; the API app runs in this process
with the consumers and the relay stopped, and each request is driven as a bare ASGI
call (``bench/request_cpu.py``), one at a time, as a random signed-in reader, with the
same queries as ``bench/search.py``'s mix. Per kind: ``time.process_time`` around a
batch, then cProfile on the loop thread's clock over a second batch, its own time put
in the buckets of ``bench/write_profile.py`` (plus one for search itself).

``--warm-every-reader`` sends each reader one request of the kind before measuring, so
what a reader's first request reads once a minute (its explore affinity, its token's
``last_used_at`` stamp) is left out, and what is measured is the steady state.

Usage: .venv/bin/python bench/search_profile.py [--users 5000 --posts 20]
       [--kinds accounts,hashtags,statuses,explore] [--times 200] [--top 25] [--warm-every-reader]
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from request_cpu import call
from search import CAPTION_WORDS
from write_profile import BUCKETS, report

from lumigram.seed import TAGS

BUCKETS.insert(0, ("search + explore (lumigram.search)", ("lumigram/search/",)))
BUCKETS.insert(1, ("hydration (lumigram.posts)", ("lumigram/posts/", "lumigram/graph/")))


def query(kind: str, rng: random.Random, users: int) -> bytes:
    """The same queries as ``bench/search.py``'s mix."""
    if kind == "accounts":
        q, limit = f"user_{rng.randint(1, users)}"[: rng.randint(6, 9)], 10
    elif kind == "hashtags":
        tag = rng.choice(TAGS)
        q, limit = f"%23{tag[: rng.randint(3, len(tag))]}", 10
    else:
        q, limit = "+".join(rng.sample(CAPTION_WORDS + TAGS, rng.randint(1, 2))), 20
    return f"q={q}&type={kind}&limit={limit}".encode()


def build_world(data_dir: Path, users: int, posts: float) -> None:
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(data_dir), "LUMIGRAM_SECRET_KEY": "profile-" + "x" * 40}
    cli = [sys.executable, "-m", "lumigram.cli"]
    for argv in (["seed", "--users", str(users), "--posts", str(posts)], ["search", "reindex"]):
        started = time.perf_counter()
        subprocess.run([*cli, *argv], env=env, check=True, capture_output=True)
        print(f"{' '.join(argv)}: {time.perf_counter() - started:.1f} s", flush=True)


async def run(args: argparse.Namespace) -> None:
    from sqlalchemy import insert, select

    from lumigram.accounts.oauth import hash_secret, new_secret
    from lumigram.app import create_app
    from lumigram.bootstrap import build_services
    from lumigram.config import Settings
    from lumigram.ids import IdGenerator, shard_of
    from lumigram.infra.tables import accounts, oauth_apps, oauth_tokens, utcnow

    settings = Settings(data_dir=args.data_dir, secret_key="profile-" + "x" * 40, base_url="http://profile.invalid")
    services = build_services(settings)
    app = create_app(services=services)
    rng = random.Random(args.seed)
    generator = IdGenerator()
    tokens: list[str] = []
    async with services.db.begin() as conn:
        rows = (await conn.execute(select(accounts.c.id, accounts.c.user_id))).all()
        app_id = generator.next_id()
        await conn.execute(
            insert(oauth_apps).values(
                id=app_id,
                name="profile",
                client_id=new_secret(),
                client_secret=new_secret(),
                redirect_uris="urn:ietf:wg:oauth:2.0:oob",
                scopes="read",
                created_at=utcnow(),
            )
        )
        for row in rng.sample(list(rows), min(args.readers, len(rows))):
            raw = new_secret()
            tokens.append(raw)
            await conn.execute(
                insert(oauth_tokens).values(
                    id=generator.next_id(shard_of(row.user_id)),
                    token_hash=hash_secret(raw),
                    app_id=app_id,
                    user_id=row.user_id,
                    account_id=row.id,
                    scopes="read",
                    created_at=utcnow(),
                )
            )

    async def one(kind: str, token: str | None = None) -> None:
        token = token or rng.choice(tokens)
        headers = [(b"host", b"profile.invalid"), (b"authorization", b"Bearer " + token.encode())]
        if kind == "explore":
            path, q = "/api/v1/explore", b"limit=20"
        else:
            path, q = "/api/v2/search", query(kind, rng, args.users)
        status, body = await call(app, "GET", path, q, headers)
        if status != 200:
            raise RuntimeError(f"{path}?{q.decode()}: {status} {body[:200]!r}")

    try:
        for kind in args.kinds.split(","):
            for _ in range(args.times // 4):  # warm: kept pools, affinities, statement caches
                await one(kind)
            if args.warm_every_reader:  # each reader's first reads (its affinity, its token's stamp) too
                for token in tokens:
                    await one(kind, token)
            started_cpu, started = time.process_time(), time.perf_counter()
            for _ in range(args.times):
                await one(kind)
            cpu_ms = (time.process_time() - started_cpu) * 1000 / args.times
            wall_ms = (time.perf_counter() - started) * 1000 / args.times
            profile = cProfile.Profile(time.thread_time)
            profile.enable()
            for _ in range(args.times):
                await one(kind)
            profile.disable()
            report(kind, cpu_ms, wall_ms, profile, args.times, args.top)
            if args.dump:
                profile.dump_stats(f"{args.dump}.{kind}.prof")
    finally:
        await services.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--posts", type=float, default=20)
    parser.add_argument("--data-dir", type=Path, help="a seeded, indexed world to reuse (kept)")
    parser.add_argument("--readers", type=int, default=200)
    parser.add_argument("--kinds", default="accounts,hashtags,statuses,explore")
    parser.add_argument("--times", type=int, default=200)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--seed", type=int, default=29)
    parser.add_argument(
        "--warm-every-reader",
        action="store_true",
        help="one request per reader and kind before measuring: the steady state, without each reader's first reads",
    )
    parser.add_argument("--dump", help="write each kind's profile to DUMP.<kind>.prof (for pstats)")
    parser.add_argument("--build-only", action="store_true", help="seed and index --data-dir, then stop")
    args = parser.parse_args()
    made = None
    if args.build_only:
        build_world(args.data_dir, args.users, args.posts)
        return
    if args.data_dir is None:
        made = Path(tempfile.mkdtemp(prefix="lumigram-search-profile-"))
        args.data_dir = made / "data"
        build_world(args.data_dir, args.users, args.posts)
    try:
        asyncio.run(run(args))
    finally:
        if made is not None:
            shutil.rmtree(made, ignore_errors=True)


if __name__ == "__main__":
    main()
