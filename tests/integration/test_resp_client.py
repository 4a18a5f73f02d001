"""The lean Redis client under the cache adapter (``lumigram.infra.cache.resp``), against
a real Valkey: replies reach their own callers, errors are redis-py's, a lost or silent
connection fails what waits on it and the next command connects again."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import ConnectionError, ResponseError, TimeoutError

from lumigram.infra.cache.resp import Address, RespClient, encode

_names = itertools.count()


def _key(name: str) -> str:
    return f"resp-test:{name}:{next(_names)}"


@pytest.fixture
async def client(redis_url: str) -> AsyncIterator[RespClient]:
    opened = RespClient(redis_url)
    try:
        yield opened
    finally:
        await opened.close()


def test_commands_are_written_as_resp_arrays() -> None:
    expected = b"*5\r\n$3\r\nSET\r\n$1\r\nk\r\n$3\r\nv\r\n\r\n$1\r\n5\r\n$3\r\n1.5\r\n"
    assert encode("SET", "k", b"v\r\n", 5, 1.5) == expected


def test_addresses() -> None:
    assert Address.parse("redis://127.0.0.1:6400/3") == Address("127.0.0.1", 6400, 3, None, None, False)
    assert Address.parse("rediss://me:p%40ss@cache.internal") == Address("cache.internal", 6379, 0, "me", "p@ss", True)
    assert Address.parse("valkey://:secret@h:1/").password == "secret"
    with pytest.raises(ValueError, match="must be a number"):
        Address.parse("redis://h/zero")
    with pytest.raises(ValueError, match="unsupported"):
        Address.parse("memcached://h")


async def test_concurrent_callers_each_get_their_own_reply(client: RespClient) -> None:
    keys = [_key("many") for _ in range(300)]

    async def write_then_read(index: int, key: str) -> tuple[bytes | None, list[object]]:
        await client.execute("SET", key, f"value-{index}")
        batch = await client.batch([("GET", key), ("STRLEN", key), ("GET", keys[0])])
        return await client.execute("GET", key), batch

    results = await asyncio.gather(*(write_then_read(i, key) for i, key in enumerate(keys)))
    for index, (value, (again, length, first)) in enumerate(results):
        assert value == again == f"value-{index}".encode()
        assert length == len(f"value-{index}")
        assert first == b"value-0"
    await client.execute("DEL", *keys)


async def test_an_error_reply_raises_and_the_connection_goes_on(client: RespClient) -> None:
    key = _key("error")
    await client.execute("SET", key, "not a number")
    with pytest.raises(ResponseError, match="not an integer"):
        await client.execute("INCR", key)
    # A batch runs every command, then raises the first error.
    other = _key("after")
    with pytest.raises(ResponseError):
        await client.batch([("INCR", key), ("SET", other, "1")])
    assert await client.execute("GET", other) == b"1"
    assert await client.transaction([("INCR", other), ("INCR", other)]) == [2, 3]
    await client.execute("DEL", key, other)


async def test_scripts_are_sent_again_when_the_server_forgot_them(client: RespClient) -> None:
    source = "return tonumber(ARGV[1]) + 1"
    assert await client.script(source, [], [41]) == 42
    await client.execute("SCRIPT", "FLUSH")
    assert await client.script(source, [], [1]) == 2
    assert await client.script(source, [], [2]) == 3


async def test_a_killed_connection_fails_what_waits_and_the_next_command_reconnects(
    client: RespClient, redis_url: str
) -> None:
    key = _key("kill")
    await client.execute("SET", key, "kept")
    own_id = await client.execute("CLIENT", "ID")
    async with RespClient(redis_url) as killer:
        assert await killer.execute("CLIENT", "KILL", "ID", own_id) == 1
    await asyncio.sleep(0.05)  # the close reaches the client
    assert await client.execute("GET", key) == b"kept"
    assert await client.execute("CLIENT", "ID") != own_id
    await client.execute("DEL", key)


async def test_a_server_that_stops_answering_is_dropped_after_the_reply_timeout() -> None:
    accepted: list[asyncio.StreamWriter] = []

    async def silent(_reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        accepted.append(writer)

    server = await asyncio.start_server(silent, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    silent_client = RespClient(f"redis://127.0.0.1:{port}", reply_timeout=0.3)
    try:
        waiting = [asyncio.create_task(silent_client.execute("PING")) for _ in range(3)]
        done = await asyncio.gather(*waiting, return_exceptions=True)
        assert all(isinstance(outcome, TimeoutError) for outcome in done), done
    finally:
        await silent_client.close()
        for writer in accepted:
            writer.close()
        server.close()
        await server.wait_closed()


async def test_an_unreachable_server_is_a_connection_error() -> None:
    listener = await asyncio.start_server(lambda _r, _w: None, "127.0.0.1", 0)
    port = listener.sockets[0].getsockname()[1]
    listener.close()
    await listener.wait_closed()
    nowhere = RespClient(f"redis://127.0.0.1:{port}")
    with pytest.raises(ConnectionError, match="cannot reach Redis"):
        await nowhere.execute("PING")


async def test_a_refused_sign_in_is_a_connection_error(redis_url: str) -> None:
    # The test server has no password, so any AUTH is refused.
    with_password = RespClient(redis_url.replace("redis://", "redis://:wrong@"))
    with pytest.raises(ConnectionError, match="refused"):
        await with_password.execute("PING")


async def test_the_database_number_is_selected(client: RespClient, redis_url: str) -> None:
    key = _key("db")
    async with RespClient(redis_url.rsplit("/", 1)[0] + "/5") as fifth:
        await fifth.execute("SET", key, "in five")
        assert await client.execute("GET", key) is None
        assert await fifth.execute("GET", key) == b"in five"
        await fifth.execute("DEL", key)


def test_a_client_used_by_an_earlier_event_loop_connects_again_in_the_next(redis_url: str) -> None:
    # The command line runs steps (migrations, checks) on loops of their own before serving.
    shared = RespClient(redis_url)
    key = _key("loops")

    async def write() -> None:
        await shared.execute("SET", key, "first loop")

    async def read_and_clean() -> bytes | None:
        try:
            value: bytes | None = await asyncio.wait_for(shared.execute("GET", key), timeout=5)
            return value
        finally:
            await shared.execute("DEL", key)
            await shared.close()

    asyncio.run(write())
    assert asyncio.run(read_and_clean()) == b"first loop"


def test_the_client_runs_on_uvloop(redis_url: str) -> None:
    # ``lumigram serve`` and the worker run on uvloop, whose transports are its own classes.
    import uvloop

    async def round_trip() -> list[object]:
        async with RespClient(redis_url) as client:
            key = _key("uvloop")
            replies = await client.batch([("SET", key, "on uvloop"), ("GET", key), ("DEL", key)])
            return [await client.execute("PING"), *replies]

    assert uvloop.run(asyncio.wait_for(round_trip(), timeout=5)) == [b"PONG", b"OK", b"on uvloop", 1]
