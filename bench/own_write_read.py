"""A reader's own write, then their next home read: the CPU of each, in one process.

After a like or a follow the writer reads their home again, and that read is answered
from their kept page or rendered whole, depending on what the write did to the page. This
measures both halves in the embedded shape, inside one process, so the figures do not
depend on what else the machine runs: the app and its services on a fresh SQLite file,
each request a bare ASGI call (no sockets), ``time.process_time`` around each phase.

The world: ``--readers`` [100] accounts follow an author with 25 photo posts (so each
reader's newest page of 20 is full and has been read once, hence kept), and as many
other accounts have 3 photo posts each, newer than the author's. For each reader in turn:

* ``like``: the reader likes a post on their page (a different one each time); the
  events are handled (``settle``); the reader reads ``/api/v1/timelines/home?limit=20``;
* ``follow``: the reader follows one of the other accounts, whose posts belong on the
  reader's page; the events are handled; the reader reads their home again.

Reported per write: the request's CPU, the consumers' CPU (a settle with nothing to do
taken off) and the next read's CPU, in ms, the mean over the readers. ``PYTHONPATH``
chooses which copy of the code runs, so two versions run the same script.

Usage: .venv/bin/python bench/own_write_read.py [--readers 100]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import shutil
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import orjson

sys.path.insert(0, str(Path(__file__).resolve().parent))
from census_embedded import jpeg, settle
from request_cpu import in_process_api

PASSWORD = "correct horse battery staple"  # noqa: S105  # the bench users' own
AUTHOR_POSTS = 25
OTHER_POSTS = 3


async def run(args: argparse.Namespace) -> dict[str, Any]:
    workdir, services, api = await in_process_api("bench", PASSWORD)
    send, sign_up = api.send, api.sign_up

    boundary = "lumigrambenchboundary"
    upload_kind = f"multipart/form-data; boundary={boundary}".encode()

    async def post(token: str, n: int) -> None:
        head = (
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="p.jpg"\r\n'
            "Content-Type: image/jpeg\r\n\r\n"
        ).encode()
        upload = head + jpeg(n) + f"\r\n--{boundary}--\r\n".encode()
        media = (await send("POST", "/api/v2/media", token, upload, upload_kind))["id"]
        body = orjson.dumps({"status": f"photo {n}", "media_ids": [media]})
        await send("POST", "/api/v1/statuses", token, body, b"application/json")

    async def home(token: str) -> list[dict[str, Any]]:
        page: list[dict[str, Any]] = await send("GET", "/api/v1/timelines/home", token, query=b"limit=20")
        return page

    try:
        author = await sign_up("author")
        readers = [await sign_up(f"r{n}") for n in range(args.readers)]
        others = [await sign_up(f"o{n}") for n in range(args.readers)]
        for _, token in readers:
            await send("POST", f"/api/v1/accounts/{author[0]}/follow", token)
        for n in range(AUTHOR_POSTS):
            await post(author[1], n)
        for m, (_, token) in enumerate(others):
            for n in range(OTHER_POSTS):
                await post(token, 1000 + m * OTHER_POSTS + n)
        await settle(services)
        pages = [await home(token) for _, token in readers]
        await settle(services)
        await services.relay.stop()
        idle = time.process_time()
        for _ in range(20):
            await settle(services)
        idle_ms = (time.process_time() - idle) * 1000 / 20

        async def like(n: int) -> None:
            await send("POST", f"/api/v1/statuses/{pages[n][n % 20]['id']}/favourite", readers[n][1])

        async def follow(n: int) -> None:
            await send("POST", f"/api/v1/accounts/{others[n][0]}/follow", readers[n][1])

        results: dict[str, Any] = {}
        for kind, write in (("like", like), ("follow", follow)):
            request, consumers, read = [], [], []
            for n in range(args.readers):
                started = time.process_time()
                await write(n)
                written = time.process_time()
                await settle(services)
                settled = time.process_time()
                page = await home(readers[n][1])
                read_done = time.process_time()
                assert len(page) == 20
                request.append((written - started) * 1000)
                consumers.append(max((settled - written) * 1000 - idle_ms, 0.0))
                read.append((read_done - settled) * 1000)
            results[kind] = {
                "request_ms": round(statistics.mean(request), 3),
                "consumers_ms": round(statistics.mean(consumers), 3),
                "next_read_ms": round(statistics.mean(read), 3),
                "next_read_p50_ms": round(statistics.median(read), 3),
                "next_read_max_ms": round(max(read), 3),
                "total_ms": round(statistics.mean(request) + statistics.mean(consumers) + statistics.mean(read), 3),
            }
            print(kind, results[kind], flush=True)
        return results
    finally:
        await services.close()
        shutil.rmtree(workdir, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readers", type=int, default=100)
    parser.add_argument("--json", help="write the results here")
    args = parser.parse_args()
    results = asyncio.run(run(args))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
