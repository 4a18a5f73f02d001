"""How long the serving loop stalls while the S3 blob store makes its first client.

A ticker on the event loop wakes every millisecond and records the longest gap between
two of its wake-ups while ``S3BlobStore.ping`` runs for the first time in a fresh
process. Nothing needs to answer at the endpoint: the client is built before the first
request is sent, and the request's refused connection ends the ping at once. Run it
once per code version (``PYTHONPATH`` pointing at the one to measure); each run is a
fresh process, so botocore's caches start cold as they do in a server.

Usage: .venv/bin/python bench/s3_first_call.py [--runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import subprocess
import sys
import time

from lumigram.infra.blobstore.s3 import S3BlobStore


async def _one() -> tuple[float, float]:
    """(longest loop stall, whole first call), in milliseconds."""
    longest = 0.0
    stop = False

    async def ticker() -> None:
        nonlocal longest
        last = time.perf_counter()
        while not stop:
            await asyncio.sleep(0.001)
            now = time.perf_counter()
            longest = max(longest, now - last)
            last = now

    ticking = asyncio.create_task(ticker())
    await asyncio.sleep(0.01)
    store = S3BlobStore("bench", "http://127.0.0.1:9", "us-east-1", "key", "secret")
    started = time.perf_counter()
    with contextlib.suppress(Exception):
        await store.ping()
    took = time.perf_counter() - started
    stop = True
    await ticking
    await store.close()
    return longest * 1000, took * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--one", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        stall, took = asyncio.run(_one())
        print(f"{stall:.1f} {took:.1f}")
        return
    for run in range(args.runs):
        out = subprocess.run([sys.executable, __file__, "--one"], capture_output=True, text=True, check=True)
        stall, took = out.stdout.split()
        print(f"run {run + 1}: longest loop stall {stall} ms, first call {took} ms")


if __name__ == "__main__":
    main()
