"""Cold start and idle memory of `lumigram serve` (embedded shape).

Measures, over several runs with a fresh data folder each time:
- time from spawning the process until `GET /readyz` answers 200 (migrations already applied,
  as `make run` does them in its own step), and
- resident memory (VmRSS) of the server after it has been idle for two seconds.

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


def one_run(lumigram: str) -> tuple[float, float]:
    data = Path(tempfile.mkdtemp(prefix="lumigram-bench-"))
    port = free_port()
    env = {**os.environ, "LUMIGRAM_DATA_DIR": str(data), "LUMIGRAM_PORT": str(port), "LUMIGRAM_LOG_LEVEL": "warning"}
    subprocess.run([lumigram, "migrate"], env=env, check=True, capture_output=True)
    started = time.perf_counter()
    process = subprocess.Popen([lumigram, "serve", "--no-migrate"], env=env, stderr=subprocess.DEVNULL)
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
    results = [one_run(lumigram) for _ in range(args.runs)]
    readies = [r for r, _ in results]
    memories = [m for _, m in results]
    print(f"runs: {args.runs}")
    print(f"cold start to ready: median {statistics.median(readies):.2f} s, max {max(readies):.2f} s")
    print(f"idle RSS: median {statistics.median(memories):.1f} MB, max {max(memories):.1f} MB")


if __name__ == "__main__":
    main()
