"""Cold start and idle memory of `lumigram serve` (embedded shape).

Measures, over several runs with a fresh data folder each time:
- time from spawning the process until `GET /readyz` answers 200 (migrations already applied,
  as `make run` does them in its own step), and
- resident memory (VmRSS) of the server after it has been idle for two seconds;
and the same, run by run in turn, for the floor: a bare FastAPI app answering `/readyz`
on the same uvicorn (uvloop, httptools), so a figure on a busy machine has its baseline.

Usage: .venv/bin/python bench/startup.py [--runs 7]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import httpx


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


FLOOR_APP = """
import sys
import fastapi, uvicorn
app = fastapi.FastAPI()
@app.get("/readyz")
def ready() -> dict[str, str]:
    return {"status": "ok"}
uvicorn.run(app, host="127.0.0.1", port=int(sys.argv[1]), log_level="warning", loop="uvloop", http="httptools")
"""


def one_run(lumigram: str | None) -> tuple[float, float]:
    """One start of ``lumigram serve`` (or, with None, of the floor app)."""
    data = Path(tempfile.mkdtemp(prefix="lumigram-bench-"))
    port = free_port()
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(data), "LUMIGRAM_PORT": str(port), "LUMIGRAM_LOG_LEVEL": "warning"}
    if lumigram is None:
        command = [sys.executable, "-c", FLOOR_APP, str(port)]
    else:
        subprocess.run([lumigram, "migrate"], env=env, check=True, capture_output=True)
        command = [lumigram, "serve", "--no-migrate"]
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                if httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if process.poll() is not None:
                raise RuntimeError("server exited")
            time.sleep(0.01)
        ready = time.perf_counter() - started
        time.sleep(2)
        memory = rss_mb(process.pid)
    finally:
        process.terminate()
        process.wait(timeout=10)
        shutil.rmtree(data, ignore_errors=True)
    return ready, memory


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    args = parser.parse_args()
    lumigram = shutil.which("lumigram", path=str(Path(sys.executable).parent)) or "lumigram"
    results, floors = [], []
    for _ in range(args.runs):
        results.append(one_run(lumigram))
        floors.append(one_run(None))
    print(f"runs: {args.runs}")
    for name, found in (("lumigram serve", results), ("floor (bare FastAPI app)", floors)):
        readies = [r for r, _ in found]
        memories = [m for _, m in found]
        print(f"{name}: cold start to ready: median {statistics.median(readies):.2f} s, max {max(readies):.2f} s")
        print(f"{name}: idle RSS: median {statistics.median(memories):.1f} MB, max {max(memories):.1f} MB")
    ratio = statistics.median(r for r, _ in results) / statistics.median(r for r, _ in floors)
    print(f"start-up over the floor's: {ratio:.1f}x")


if __name__ == "__main__":
    main()
