"""An open-loop HTTP/1.1 load generator for loopback benchmarks (wrk2 ``-D exp`` style).

Why not httpx or wrk: httpx spends ~300 µs of CPU per request, so on a 2-core box it
would measure itself; wrk2 is not installable here. This one keeps the parts that
matter for honest tail latencies:

* **Open loop.** Send times are drawn up front from a Poisson process (exponential
  gaps) at the target rate. A request's latency runs from its *intended* send time, so
  when the server falls behind, the queueing delay is counted (coordinated omission).
* **Cheap client.** Raw keep-alive connections over asyncio streams (uvloop when
  installed), hand-written request bytes and a minimal response parser.
* **Several processes** (``processes``), each with its own event loop, connections and
  share of the rate; latencies come back as numpy arrays and are merged for the
  percentiles (exact, not bucketed).
* **Or closed loop** (``run_closed_loop``): a fixed number of connections, each sending
  its next request as soon as the last one is answered, latency from the send. This is
  how a fixed set of busy clients sees the server, and what shows a stalled event loop
  plainly: every connection waits out the stall, and p99 and max show it.
* **Bounded.** Every run stops scheduling after ``duration`` seconds or
  ``max_requests``, and waits at most ``drain`` seconds for stragglers, which count as
  timeouts.

Requests come from a weighted mix of factories. The mix is built inside each worker
process by ``mix_builder(process_index, process_count)``, so a factory can own a
disjoint share of a resource (for example media ids that each post consumes once).

Only 127.0.0.1 is accepted: this is a tool for one box, never for someone else's server.

Usage (a single GET): ``.venv/bin/python bench/loadgen.py --port 8000 --path /readyz --rate 1000``
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import gc
import multiprocessing
import random
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass(frozen=True, slots=True)
class Request:
    kind: str
    method: str
    path: str
    headers: tuple[tuple[str, str], ...] = ()
    body: bytes = b""


#: Makes one request; ``rng`` is the worker process's own generator.
Factory = Callable[[random.Random], Request]
#: (weight, factory) pairs; weights need not sum to 1.
Mix = Sequence[tuple[float, Factory]]
MixBuilder = Callable[[int, int], Mix]
#: Called in each worker with the response of a request, for checks (e.g. which ids came back).
Observer = Callable[[Request, int, bytes], None]


@dataclass
class KindStats:
    latencies_ms: np.ndarray[Any, np.dtype[np.float64]]
    statuses: dict[int, int] = field(default_factory=dict)
    errors: int = 0

    def summary(self, seconds: float) -> dict[str, Any]:
        lat = self.latencies_ms
        ok = sum(n for code, n in self.statuses.items() if 200 <= code < 300)
        total = int(lat.size) + self.errors
        result: dict[str, Any] = {
            "requests": total,
            "ok": ok,
            "non_2xx": {str(c): n for c, n in sorted(self.statuses.items()) if not 200 <= c < 300},
            "errors": self.errors,
            "throughput": round(int(lat.size) / seconds, 1) if seconds else 0.0,
        }
        if lat.size:
            p50, p90, p99, p999 = np.percentile(lat, [50, 90, 99, 99.9])
            result.update(
                p50_ms=round(float(p50), 2),
                p90_ms=round(float(p90), 2),
                p99_ms=round(float(p99), 2),
                p999_ms=round(float(p999), 2),
                max_ms=round(float(lat.max()), 2),
                mean_ms=round(float(lat.mean()), 2),
            )
        return result


@dataclass
class LoadResult:
    target_rate: float
    seconds: float
    scheduled: int
    kinds: dict[str, KindStats]
    timeouts: int
    error_types: dict[str, int] = field(default_factory=dict)
    #: (when each answered request was meant to go, seconds from the step's first; its ms)
    timeline: tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.float64]]] | None = None

    def by_second(self) -> list[dict[str, Any]]:
        """Each second of the step: requests meant to go in it, their p99 and slowest."""
        if self.timeline is None or not self.timeline[0].size:
            return []
        sent, took = self.timeline
        seconds = sent.astype(np.int64)
        rows = []
        for second in range(int(seconds.max()) + 1):
            lat = took[seconds == second]
            if lat.size:
                rows.append(
                    {
                        "second": second,
                        "requests": int(lat.size),
                        "p99_ms": round(float(np.percentile(lat, 99)), 1),
                        "max_ms": round(float(lat.max()), 1),
                    }
                )
        return rows

    def summary(self) -> dict[str, Any]:
        every = KindStats(
            np.concatenate([k.latencies_ms for k in self.kinds.values()]) if self.kinds else np.zeros(0),
            errors=sum(k.errors for k in self.kinds.values()) + self.timeouts,
        )
        for stats in self.kinds.values():
            for code, n in stats.statuses.items():
                every.statuses[code] = every.statuses.get(code, 0) + n
        return {
            "target_rate": self.target_rate,
            "seconds": round(self.seconds, 2),
            "scheduled": self.scheduled,
            "timeouts": self.timeouts,
            "error_types": self.error_types,
            "all": every.summary(self.seconds),
            "kinds": {name: stats.summary(self.seconds) for name, stats in sorted(self.kinds.items())},
            "by_second": self.by_second(),
        }


# --- one worker process -------------------------------------------------------------------


class _Connection:
    def __init__(self, host: str, port: int) -> None:
        self.host = host
        self.port = port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def _open(self) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        if self.reader is None or self.writer is None or self.writer.is_closing():
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        return self.reader, self.writer

    def close(self) -> None:
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def send(self, request: bytes) -> tuple[int, bytes]:
        reader, writer = await self._open()
        writer.write(request)
        head = await reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        length = -1
        chunked = False
        closing = False
        for line in head.split(b"\r\n")[1:]:
            name, _, value = line.partition(b":")
            lowered = name.strip().lower()
            if lowered == b"content-length":
                length = int(value)
            elif lowered == b"transfer-encoding" and b"chunked" in value.lower():
                chunked = True
            elif lowered == b"connection" and b"close" in value.lower():
                closing = True
        if chunked:
            parts = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).split(b";")[0], 16)
                if size == 0:
                    await reader.readuntil(b"\r\n")
                    break
                parts.append(await reader.readexactly(size))
                await reader.readexactly(2)
            body = b"".join(parts)
        elif length >= 0:
            body = await reader.readexactly(length)
        else:
            body = await reader.read()
            closing = True
        if closing:
            self.close()
        return status, body


class _Tally:
    """What one worker's connections saw: latencies and status codes by request kind, and
    the failures by kind and by exception; open and closed loops record alike."""

    def __init__(self) -> None:
        self.latencies: dict[str, list[float]] = {}
        self.statuses: dict[str, dict[int, int]] = {}
        self.errors: dict[str, int] = {}
        self.error_types: dict[str, int] = {}
        # When each answered request was meant to go and how long it took, every kind
        # together: where in a step the slow ones came (a cold start's first second, or a
        # stall later on).
        self.sent: list[float] = []
        self.took: list[float] = []

    async def exchange(
        self, conn: _Connection, request: Request, raw: bytes, since: float, observer: Observer | None
    ) -> None:
        """Send ``raw`` and record its answer, timed from ``since`` (when it was meant to go)."""
        try:
            status, body = await conn.send(raw)
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ValueError) as exc:
            conn.close()
            self.errors[request.kind] = self.errors.get(request.kind, 0) + 1
            name = type(exc).__name__
            self.error_types[name] = self.error_types.get(name, 0) + 1
            return
        took = (time.perf_counter() - since) * 1000
        self.latencies.setdefault(request.kind, []).append(took)
        self.sent.append(since)
        self.took.append(took)
        codes = self.statuses.setdefault(request.kind, {})
        codes[status] = codes.get(status, 0) + 1
        if observer is not None:
            observer(request, status, body)

    def result(self) -> dict[str, Any]:
        return {
            "latencies": {k: np.asarray(v, dtype=np.float64) for k, v in self.latencies.items()},
            "statuses": self.statuses,
            "errors": self.errors,
            "error_types": self.error_types,
            "sent": np.asarray(self.sent, dtype=np.float64),
            "took": np.asarray(self.took, dtype=np.float64),
        }


def run_bare_app(app: Any, port: int) -> None:
    """Serve a bare ASGI app on 127.0.0.1 as ``lumigram serve`` serves (uvloop, httptools),
    in this process: the benchmarks' baseline."""
    import uvicorn

    uvicorn.run(
        app,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        loop="uvloop",
        http="httptools",
        server_header=False,
        date_header=False,
    )


def _encode(request: Request, host_header: bytes) -> bytes:
    lines = [f"{request.method} {request.path} HTTP/1.1".encode(), b"Host: " + host_header]
    lines.extend(f"{name}: {value}".encode() for name, value in request.headers)
    if request.body or request.method in ("POST", "PUT", "PATCH"):
        lines.append(f"Content-Length: {len(request.body)}".encode())
    return b"\r\n".join(lines) + b"\r\n\r\n" + request.body


async def _worker_main(
    host: str,
    port: int,
    mix: Mix,
    rate: float | None,
    duration: float,
    max_requests: int,
    connections: int,
    drain: float,
    seed: int,
    observer: Observer | None,
) -> dict[str, Any]:
    """Open loop at ``rate`` requests/s; with ``rate`` None, closed loop over ``connections``."""
    rng = random.Random(seed)
    weights = [w for w, _ in mix]
    factories = [f for _, f in mix]
    host_header = f"{host}:{port}".encode()
    queue: asyncio.Queue[tuple[float, Request, bytes] | None] = asyncio.Queue()
    tally = _Tally()
    pending = 0

    async def connection_loop() -> None:
        nonlocal pending
        conn = _Connection(host, port)
        try:
            while True:
                item = await queue.get()
                if item is None:
                    return
                intended, request, raw = item
                await tally.exchange(conn, request, raw, intended, observer)
                pending -= 1
        finally:
            conn.close()

    if rate is None:
        return await _closed_loop(host, port, mix, duration, max_requests, connections, drain, rng, observer)
    workers = [asyncio.create_task(connection_loop()) for _ in range(connections)]
    start = time.perf_counter() + 0.05
    intended = start
    scheduled = 0
    end = start + duration
    while scheduled < max_requests:
        intended += rng.expovariate(rate)
        if intended >= end:
            break
        delay = intended - time.perf_counter()
        if delay > 0.0005:
            await asyncio.sleep(delay)
        request = rng.choices(factories, weights)[0](rng)
        pending += 1
        scheduled += 1
        queue.put_nowait((intended, request, _encode(request, host_header)))
    for _ in workers:
        queue.put_nowait(None)  # each connection loop stops once the queue is drained
    await asyncio.wait(workers, timeout=drain)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return {
        "seconds": max(min(time.perf_counter(), end) - start, 1e-9),
        "scheduled": scheduled,
        "timeouts": pending,
        **tally.result(),
    }


async def _closed_loop(
    host: str,
    port: int,
    mix: Mix,
    duration: float,
    max_requests: int,
    connections: int,
    drain: float,
    rng: random.Random,
    observer: Observer | None,
) -> dict[str, Any]:
    weights = [w for w, _ in mix]
    factories = [f for _, f in mix]
    host_header = f"{host}:{port}".encode()
    tally = _Tally()
    sent = 0
    in_flight = 0
    start = time.perf_counter()
    end = start + duration

    async def connection_loop() -> None:
        nonlocal sent, in_flight
        conn = _Connection(host, port)
        try:
            while time.perf_counter() < end and sent < max_requests:
                request = rng.choices(factories, weights)[0](rng)
                raw = _encode(request, host_header)
                sent += 1
                in_flight += 1
                await tally.exchange(conn, request, raw, time.perf_counter(), observer)
                in_flight -= 1
        finally:
            conn.close()

    workers = [asyncio.create_task(connection_loop()) for _ in range(connections)]
    await asyncio.wait(workers, timeout=duration + drain)
    for task in workers:
        task.cancel()
    await asyncio.gather(*workers, return_exceptions=True)
    return {
        "seconds": max(min(time.perf_counter(), end) - start, 1e-9),
        "scheduled": sent,
        "timeouts": in_flight,
        **tally.result(),
    }


def _worker_process(
    out: Any,
    index: int,
    count: int,
    host: str,
    port: int,
    builder: MixBuilder,
    rate: float | None,
    duration: float,
    max_requests: int,
    connections: int,
    drain: float,
    seed: int,
    observer: Observer | None,
) -> None:
    with contextlib.suppress(ImportError):
        import uvloop

        uvloop.install()
    mix = builder(index, count)
    # What the fork inherited (tokens, ids, the parent's modules) is alive throughout: kept
    # out of full collections, whose pauses would otherwise be measured as server latency.
    gc.collect()
    gc.freeze()
    result = asyncio.run(
        _worker_main(host, port, mix, rate, duration, max_requests, connections, drain, seed + index, observer)
    )
    out.send(result)
    out.close()


def run_load(
    port: int,
    mix_builder: MixBuilder,
    rate: float,
    duration: float = 10.0,
    *,
    host: str = "127.0.0.1",
    processes: int = 2,
    connections: int = 32,
    max_requests: int = 1_000_000,
    drain: float = 5.0,
    seed: int = 1,
    observer: Observer | None = None,
) -> LoadResult:
    """Offer ``rate`` requests/s for ``duration`` s, split over ``processes`` worker processes."""
    if rate <= 0:
        raise ValueError("rate must be positive")
    return _run(port, mix_builder, rate, duration, host, processes, connections, max_requests, drain, seed, observer)


def run_closed_loop(
    port: int,
    mix_builder: MixBuilder,
    connections: int,
    duration: float = 10.0,
    *,
    host: str = "127.0.0.1",
    processes: int = 2,
    max_requests: int = 10_000_000,
    drain: float = 5.0,
    seed: int = 1,
    observer: Observer | None = None,
) -> LoadResult:
    """Keep ``connections`` connections busy for ``duration`` s (closed loop), spread over
    ``processes`` worker processes (never more processes than connections); the result's
    ``target_rate`` is 0."""
    processes = max(1, min(processes, connections))
    # Each process gets its share; the first ones one more when it does not divide evenly.
    shares = [connections // processes + (1 if i < connections % processes else 0) for i in range(processes)]
    return _run(port, mix_builder, None, duration, host, processes, shares, max_requests, drain, seed, observer)


def _run(
    port: int,
    mix_builder: MixBuilder,
    rate: float | None,
    duration: float,
    host: str,
    processes: int,
    connections: int | list[int],
    max_requests: int,
    drain: float,
    seed: int,
    observer: Observer | None,
) -> LoadResult:
    if host != "127.0.0.1":
        raise ValueError("the load generator only targets 127.0.0.1")
    per_process = connections if isinstance(connections, list) else [connections] * processes
    if duration <= 0 or processes < 1 or min(per_process) < 1:
        raise ValueError("duration, processes and connections must be positive")
    # Fork, not spawn: the mix builder is usually a closure over tokens and ids.
    context = multiprocessing.get_context("fork")
    pipes = []
    children = []
    for index in range(processes):
        parent_end, child_end = context.Pipe(duplex=False)
        child = context.Process(
            target=_worker_process,
            args=(
                child_end,
                index,
                processes,
                host,
                port,
                mix_builder,
                None if rate is None else rate / processes,
                duration,
                max(1, max_requests // processes),
                per_process[index],
                drain,
                seed,
                observer,
            ),
            daemon=True,
        )
        child.start()
        child_end.close()
        pipes.append(parent_end)
        children.append(child)
    results = []
    for pipe, child in zip(pipes, children, strict=True):
        if not pipe.poll(duration + drain + 30):
            child.kill()
            raise RuntimeError("a load generator process did not report back")
        results.append(pipe.recv())
        child.join(timeout=10)
    kinds: dict[str, KindStats] = {}
    names = {k for r in results for k in (*r["latencies"], *r["errors"])}
    for name in names:
        arrays = [r["latencies"][name] for r in results if name in r["latencies"]]
        stats = KindStats(np.concatenate(arrays) if arrays else np.zeros(0))
        for r in results:
            for code, n in r["statuses"].get(name, {}).items():
                stats.statuses[code] = stats.statuses.get(code, 0) + n
            stats.errors += r["errors"].get(name, 0)
        kinds[name] = stats
    sent = np.concatenate([r["sent"] for r in results])
    took = np.concatenate([r["took"] for r in results])
    return LoadResult(
        target_rate=rate or 0.0,
        seconds=max(r["seconds"] for r in results),
        scheduled=sum(r["scheduled"] for r in results),
        kinds=kinds,
        timeouts=sum(r["timeouts"] for r in results),
        error_types={
            name: sum(r["error_types"].get(name, 0) for r in results)
            for name in {n for r in results for n in r["error_types"]}
        },
        timeline=(sent - sent.min(), took) if sent.size else None,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description="Open-loop (or --closed) GET load against one 127.0.0.1 path.")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--path", default="/")
    parser.add_argument("--rate", type=float, default=1000)
    parser.add_argument("--duration", type=float, default=10)
    parser.add_argument("--processes", type=int, default=2)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--header", action="append", default=[], help="Name: value")
    parser.add_argument("--closed", action="store_true", help="closed loop: --connections in all, no --rate")
    args = parser.parse_args()
    headers = tuple((h.split(":", 1)[0].strip(), h.split(":", 1)[1].strip()) for h in args.header)
    request = Request("get", "GET", args.path, headers)

    def build(_index: int, _count: int) -> Mix:
        return [(1.0, lambda _rng: request)]

    if args.closed:
        result = run_closed_loop(args.port, build, args.connections, args.duration, processes=args.processes)
    else:
        result = run_load(
            args.port, build, args.rate, args.duration, processes=args.processes, connections=args.connections
        )
    import json

    print(json.dumps(result.summary(), indent=2))


if __name__ == "__main__":
    main()
