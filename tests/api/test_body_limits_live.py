"""Body limits on a real ``lumigram serve``, spoken to over a raw socket.

A raw socket shows what an HTTP client library hides: whether the answer comes before
the body was sent, and whether the server process grew while a large body streamed in.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest

from lumigram.config import Settings
from tests.live import LiveServer, live_server

pytestmark = pytest.mark.live

#: Generous: each answer comes as soon as the server looks at the headers or the first MiB.
ANSWER_TIMEOUT = 30.0
CHUNK = b"x" * 65_536


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    data: Path = tmp_path_factory.mktemp("body-limits") / "data"
    with live_server(Settings(data_dir=data, secret_key="body-limits-" + "x" * 32)) as running:
        yield running


def _address(server: LiveServer) -> tuple[str, int]:
    host, port = server.base_url.removeprefix("http://").split(":")
    return host, int(port)


def _peak_memory_kib(server: LiveServer) -> int:
    """The serve process's peak resident set (VmHWM) so far."""
    status = Path(f"/proc/{server.processes[0].pid}/status").read_text()
    line = next(line for line in status.splitlines() if line.startswith("VmHWM:"))
    return int(line.split()[1])


async def _read_answer(reader: asyncio.StreamReader) -> tuple[int, bytes]:
    head = await reader.readuntil(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    status = int(lines[0].split()[1])
    length = next(int(line.split(":", 1)[1]) for line in lines if line.lower().startswith("content-length:"))
    return status, await reader.readexactly(length)


async def test_a_declared_length_over_the_limit_is_answered_before_the_body_is_sent(server: LiveServer) -> None:
    reader, writer = await asyncio.open_connection(*_address(server))
    try:
        writer.write(
            b"POST /api/v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Content-Length: 314572800\r\n\r\n{"
        )
        await writer.drain()
        # Not one more byte is sent: only a server that answers unread can answer at all.
        status, body = await asyncio.wait_for(_read_answer(reader), ANSWER_TIMEOUT)
    finally:
        writer.close()
    assert status == 413
    assert b"too large" in body


async def test_a_long_chunked_body_is_cut_off_without_the_server_holding_it(server: LiveServer) -> None:
    total = 50 * 1024 * 1024
    peak_before = _peak_memory_kib(server)
    reader, writer = await asyncio.open_connection(*_address(server))
    answer = asyncio.ensure_future(_read_answer(reader))
    sent = 0
    try:
        writer.write(
            b"POST /api/v1/apps HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n"
        )
        chunk = b"%x\r\n" % len(CHUNK) + CHUNK + b"\r\n"
        # Stream until the server answers; a server that buffers answers only after the end.
        while sent < total and not answer.done():
            writer.write(chunk)
            await writer.drain()
            sent += len(CHUNK)
        if not answer.done():
            writer.write(b"0\r\n\r\n")
            await writer.drain()
        status, body = await asyncio.wait_for(answer, ANSWER_TIMEOUT)
    finally:
        answer.cancel()
        writer.close()
    assert status == 413, body
    assert b"too large" in body
    assert sent < total, "the answer came only after the whole body was sent"
    # The process did not grow by anything like the body it was sent.
    assert _peak_memory_kib(server) - peak_before < 20 * 1024
