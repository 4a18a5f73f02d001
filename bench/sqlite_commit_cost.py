"""What a commit costs SQLite in the embedded shape's settings, against a savepoint.

Group commit (many requests' writes in one transaction) replaces each request's
``BEGIN IMMEDIATE`` … ``COMMIT`` with ``SAVEPOINT`` … ``RELEASE`` inside a shared
transaction, so that a failing request can still be undone alone. This measures both
on a WAL file with ``synchronous=NORMAL`` (the embedded shape's pragmas): the difference
is all group commit could save per write.

Usage: .venv/bin/python bench/sqlite_commit_cost.py [--writes 3000]
"""

from __future__ import annotations

import argparse
import sqlite3
import tempfile
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--writes", type=int, default=3000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        conn = sqlite3.connect(Path(folder) / "commits.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode=WAL")
        conn.execute("PRAGMA synchronous=NORMAL")
        conn.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, v TEXT)")
        row = ("x" * 100,)
        started = time.perf_counter()
        for _ in range(args.writes):
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("INSERT INTO t (v) VALUES (?)", row)
            conn.execute("COMMIT")
        alone = (time.perf_counter() - started) / args.writes
        conn.execute("BEGIN IMMEDIATE")
        started = time.perf_counter()
        for _ in range(args.writes):
            conn.execute("SAVEPOINT w")
            conn.execute("INSERT INTO t (v) VALUES (?)", row)
            conn.execute("RELEASE w")
        grouped = (time.perf_counter() - started) / args.writes
        conn.execute("COMMIT")
        conn.close()
    print(
        f"a transaction per write: {alone * 1e6:.0f} µs; "
        f"a savepoint per write in one transaction: {grouped * 1e6:.0f} µs"
    )
    print(f"what group commit could save per write: {(alone - grouped) * 1e6:.0f} µs")


if __name__ == "__main__":
    main()
