"""What one load step asks of the engines: SQL statements, Valkey commands, NATS messages.

CPU per request (``bench/feed.py``) says how much a step cost; this says why, in counts
that do not depend on the box's speed that day: how many statements PostgreSQL ran (by
statement text), how many commands Valkey ran (by command), and how many messages NATS
moved, each per answered request. Two commits compared this way differ only where their
code differs, which CPU figures on a shared, noisy box cannot show for small changes.

How: PostgreSQL logs every statement it runs while the step lasts
(``log_min_duration_statement = 0``, set with ``ALTER SYSTEM`` and a reload, reset after);
the statements are read back from its log. Logging costs PostgreSQL CPU, so a step with a
census has inflated ``postgres`` CPU figures. Valkey's ``INFO commandstats`` and NATS's
``/varz`` are read before and after.
"""

from __future__ import annotations

import asyncio
import re
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import asyncpg
import httpx
from redis import Redis

#: One logged statement: ``duration: 0.123 ms  execute <name>: SELECT ...`` (a prepared
#: statement's bind and execute are logged apart; only executions and simple queries count).
_LOGGED = re.compile(r"duration: [\d.]+ ms\s+(execute [^:]*|statement): (.*)", re.S)
#: The start of a log entry; a statement's further lines follow without it.
_ENTRY = re.compile(r"^\d{4}-\d\d-\d\d ", re.M)


@dataclass
class Engines:
    """Where to find the engines of a scaled stack."""

    pg_socket_dir: str
    pg_log: Path
    redis_url: str
    nats_monitor_port: int


@dataclass
class _Before:
    log_offset: int
    valkey: dict[str, int]
    nats: dict[str, int]
    extra: dict[str, Any] = field(default_factory=dict)


async def _set_statement_logging(engines: Engines, on: bool) -> None:
    conn = await asyncpg.connect(host=engines.pg_socket_dir, user="postgres", database="postgres")
    try:
        if on:
            await conn.execute("ALTER SYSTEM SET log_min_duration_statement = 0")
        else:
            await conn.execute("ALTER SYSTEM RESET log_min_duration_statement")
        await conn.execute("SELECT pg_reload_conf()")
    finally:
        await conn.close()


def _valkey_calls(engines: Engines) -> dict[str, int]:
    client = Redis.from_url(engines.redis_url)
    try:
        stats: dict[str, Any] = client.info("commandstats")
    finally:
        client.close()
    return {name.removeprefix("cmdstat_"): int(entry["calls"]) for name, entry in stats.items()}


def _nats_messages(engines: Engines) -> dict[str, int]:
    varz = httpx.get(f"http://127.0.0.1:{engines.nats_monitor_port}/varz", timeout=5).json()
    return {"in": int(varz["in_msgs"]), "out": int(varz["out_msgs"])}


def start(engines: Engines) -> _Before:
    asyncio.run(_set_statement_logging(engines, True))
    return _Before(engines.pg_log.stat().st_size, _valkey_calls(engines), _nats_messages(engines))


def _shorten(sql: str) -> str:
    """A statement's first words, enough to tell statements apart in a table."""
    text = " ".join(sql.split())
    text = re.sub(r"\$\d+(::\w+(\[\])?)?", "?", text)
    return text[:140]


def finish(engines: Engines, before: _Before, answered: int, top: int = 30) -> dict[str, Any]:
    """Counts since ``start``, per answered request (``answered``)."""
    asyncio.run(_set_statement_logging(engines, False))
    statements: Counter[str] = Counter()
    with engines.pg_log.open("rb") as logged:
        logged.seek(before.log_offset)
        written = logged.read().decode(errors="replace")
        for entry in _ENTRY.split(written):
            found = _LOGGED.search(entry)
            if found and not found.group(2).startswith(("ALTER SYSTEM", "SELECT pg_reload_conf")):
                statements[_shorten(found.group(2))] += 1
    valkey_after, nats_after = _valkey_calls(engines), _nats_messages(engines)
    valkey = Counter({n: c - before.valkey.get(n, 0) for n, c in valkey_after.items()})
    valkey = +valkey  # drop the commands not called during the step
    for ours in ("info", "client|setinfo", "hello"):  # this module's own
        valkey.pop(ours, None)
    n = max(answered, 1)

    def per(count: int) -> float:
        return round(count / n, 3)

    return {
        "answered": answered,
        "sql_per_request": per(sum(statements.values())),
        "valkey_per_request": per(sum(valkey.values())),
        "nats_messages_per_request": {k: per(nats_after[k] - before.nats[k]) for k in nats_after},
        "sql": [{"per_request": per(c), "statement": s} for s, c in statements.most_common(top)],
        "valkey": {name: per(c) for name, c in valkey.most_common()},
    }


def text(census: dict[str, Any]) -> str:
    """A census for the log: totals, then the statements and commands, most frequent first."""
    lines = [
        f"census over {census['answered']} requests: {census['sql_per_request']} SQL statements, "
        f"{census['valkey_per_request']} Valkey commands, NATS messages {census['nats_messages_per_request']} "
        "per request"
    ]
    lines += [f"  {row['per_request']:6.3f}  {row['statement']}" for row in census["sql"]]
    lines.append("  Valkey: " + ", ".join(f"{k} {v}" for k, v in census["valkey"].items()))
    return "\n".join(lines)
