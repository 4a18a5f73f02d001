"""A real ``lumigram serve`` (and, scaled out, ``lumigram worker``) process for client tests."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from lumigram.config import Settings
from lumigram.infra.database import Database


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def settings_env(settings: Settings) -> dict[str, str]:
    """The environment that makes a child process read ``settings``."""
    env: dict[str, str] = {}
    for name, value in settings.model_dump().items():
        if value is None:
            continue
        text = str(value).lower() if isinstance(value, bool) else str(value)
        env[f"LUMIGRAM_{name.upper()}"] = text
    return env


def _lumigram_command() -> list[str]:
    script = shutil.which("lumigram", path=str(Path(sys.executable).parent))
    return [script] if script else [sys.executable, "-m", "lumigram.cli"]


@dataclass
class LiveServer:
    base_url: str
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    log_path: Path | None = None

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path and self.log_path.exists() else ""


@contextmanager
def live_server(settings: Settings, workers: int = 0, ready_timeout: float = 90.0) -> Iterator[LiveServer]:
    """Serve ``settings`` on a free loopback port; with ``workers``, also start worker processes."""
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    # A test's open streams would hold each stop for the whole default grace.
    update = {"port": port, "host": "127.0.0.1", "base_url": base_url, "shutdown_grace": 1.0}
    settings = settings.model_copy(update=update)
    env = {**os.environ, **settings_env(settings)}
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    log_path = settings.data_dir / "server.log"
    server = LiveServer(base_url=base_url, log_path=log_path)
    _migrate(settings)
    with log_path.open("wb") as log:
        server.processes.append(
            subprocess.Popen([*_lumigram_command(), "serve", "--no-migrate"], env=env, stdout=log, stderr=log)
        )
        for _ in range(workers):
            server.processes.append(subprocess.Popen([*_lumigram_command(), "worker"], env=env, stdout=log, stderr=log))
        try:
            _wait_ready(server, ready_timeout)
            yield server
        finally:
            for process in server.processes:
                process.terminate()
            for process in server.processes:
                try:
                    process.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    process.kill()
                    process.wait()


def _migrate(settings: Settings) -> None:
    """Migrate in this process, as ``lumigram migrate`` would (the CLI has tests of its own):
    a child process would spend a second or more starting Python and importing the app."""

    async def run() -> None:
        db = Database(settings.database_url)
        try:
            await db.migrate()
        finally:
            await db.close()

    # Callers may be inside a running event loop: run this one in a thread of its own.
    with ThreadPoolExecutor(max_workers=1) as pool:
        pool.submit(asyncio.run, run()).result()


def _wait_ready(server: LiveServer, timeout: float) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        for process in server.processes:
            if process.poll() is not None:
                raise RuntimeError(f"lumigram exited with {process.returncode}:\n{server.log()}")
        try:
            if httpx.get(f"{server.base_url}/readyz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise RuntimeError(f"lumigram was not ready within {timeout}s:\n{server.log()}")


LiveServerFactory = Callable[..., LiveServer]
