"""The SQL floor of a search: the CPU its database statements cost alone, per kind.

``bench/search.py`` runs this after its load steps, on the same seeded world and the
same database. It makes ``--searches`` searches of each kind in process (the same
queries as the load generator's mix, as random readers), records every statement they
send (through SQLAlchemy or, for PostgreSQL's prebuilt reads, by the driver), then sends
the recorded statements again with the same driver and nothing around them: no HTTP, no
ORM, no hydration, no JSON, one connection. The CPU that replay costs (this process, and
on PostgreSQL the backend serving it) is the least any server issuing those statements
can spend on a search here; the full request's CPU in the load steps is compared with
it.

Usage (inside a stack's environment): python bench/search_floor.py --users 5000
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sqlite3
import sys
import time
from pathlib import Path
from typing import Any

import asyncpg
from sqlalchemy import event, select

from lumigram.bootstrap import build_services
from lumigram.config import load_settings
from lumigram.infra.tables import accounts
from lumigram.search import service
from lumigram.search.models import SearchRequest
from lumigram.seed import TAGS

sys.path.insert(0, str(Path(__file__).resolve().parent))
from search import CAPTION_WORDS, KINDS

Recorded = list[tuple[str, Any]]


def _query(kind: str, rng: random.Random, users: int) -> tuple[str, int]:
    """The same queries as ``search.search_mix``."""
    if kind == "accounts":
        return f"user_{rng.randint(1, users)}"[: rng.randint(6, 9)], 10
    if kind == "hashtags":
        tag = rng.choice(TAGS)
        return f"#{tag[: rng.randint(3, len(tag))]}", 10
    return " ".join(rng.sample(CAPTION_WORDS + TAGS, rng.randint(1, 2))), 20


async def record(users: int, searches: int, seed: int) -> tuple[str, str, dict[str, Recorded], dict[str, float]]:
    """Each kind's statements over ``searches`` searches, and the in-process CPU per search."""
    settings = load_settings()
    services = build_services(settings)
    recorded: dict[str, Recorded] = {kind: [] for kind in KINDS}
    spent: dict[str, float] = {}
    current: list[str] = []

    def keep(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        if current:
            recorded[current[0]].append((statement, parameters))

    try:
        async with services.db.connect() as conn:
            readers = list((await conn.execute(select(accounts.c.id).limit(500))).scalars())
        event.listen(services.db.engine.sync_engine, "before_cursor_execute", keep)
        if services.db.engine.dialect.name == "postgresql":
            # Prebuilt reads go by the driver itself, past SQLAlchemy's events: its own
            # query logger sees them, on every pooled connection as it is handed out.
            logged: set[int] = set()

            def from_driver(query: Any) -> None:
                if current:
                    recorded[current[0]].append((query.query, query.args))

            def checkout(_dbapi_conn: Any, _record: Any, proxy: Any) -> None:
                driver = proxy.driver_connection
                if id(driver) not in logged:
                    logged.add(id(driver))
                    driver.add_query_logger(from_driver)

            event.listen(services.db.engine.sync_engine.pool, "checkout", checkout)
        rng = random.Random(seed)
        for kind in KINDS:
            current[:] = [kind]
            started = time.process_time()
            for _ in range(searches):
                q, limit = _query(kind, rng, users)
                await service.search(services, rng.choice(readers), SearchRequest(q=q, type=kind, limit=limit))
            spent[kind] = (time.process_time() - started) * 1000 / searches
            await asyncio.sleep(0.05)  # the driver's logger is called soon after, not at once
            current.clear()
        dialect = services.db.engine.dialect.name
        url = settings.database_url if dialect == "postgresql" else str(Path(settings.data_dir) / "lumigram.db")
    finally:
        await services.close()
    return dialect, url, recorded, spent


def _backend_cpu(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def replay_postgres(url: str, statements: Recorded, searches: int) -> dict[str, float]:
    dsn = url.replace("postgresql+asyncpg://", "postgresql://")
    conn = await asyncpg.connect(dsn)
    try:
        backend = int(await conn.fetchval("SELECT pg_backend_pid()"))
        for statement, parameters in statements:  # once to warm plans and pages
            await conn.fetch(statement, *parameters)
        mine, theirs = time.process_time(), _backend_cpu(backend)
        for statement, parameters in statements:
            await conn.fetch(statement, *parameters)
        client = (time.process_time() - mine) * 1000 / searches
        server = (_backend_cpu(backend) - theirs) * 1000 / searches
    finally:
        await conn.close()
    return {"driver": round(client, 2), "postgres": round(server, 2), "total": round(client + server, 2)}


def replay_sqlite(path: str, statements: Recorded, searches: int) -> dict[str, float]:
    conn = sqlite3.connect(path)
    try:
        for statement, parameters in statements:
            conn.execute(statement, parameters).fetchall()
        started = time.process_time()
        for statement, parameters in statements:
            conn.execute(statement, parameters).fetchall()
        total = (time.process_time() - started) * 1000 / searches
    finally:
        conn.close()
    return {"sqlite": round(total, 2), "total": round(total, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--users", type=int, default=5000)
    parser.add_argument("--searches", type=int, default=60)
    parser.add_argument("--seed", type=int, default=29)
    args = parser.parse_args()
    dialect, url, recorded, in_process = asyncio.run(record(args.users, args.searches, args.seed))
    floor: dict[str, Any] = {}
    for kind, statements in recorded.items():
        if dialect == "postgresql":
            replayed = asyncio.run(replay_postgres(url, statements, args.searches))
        else:
            replayed = replay_sqlite(url, statements, args.searches)
        floor[kind] = {
            "statements_per_search": round(len(statements) / args.searches, 1),
            "sql_cpu_ms": replayed,
            "in_process_search_cpu_ms": round(in_process[kind], 2),
        }
    print(json.dumps({"dialect": dialect, "searches": args.searches, "floor": floor}))


if __name__ == "__main__":
    main()
