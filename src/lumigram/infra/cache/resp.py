"""A lean Redis client: one connection per process, every command pipelined on it.

redis-py costs about 100 µs of CPU per round trip here (its connection pool, retry
wrapper, command packing and response callbacks), more than Redis spends answering a
small ``MGET``; a page read makes several. This client keeps one TCP connection and
writes each command (or a batch of them) to it at once; Redis answers in order, so each
reply goes to the oldest caller still waiting. Writes made by many requests within one
turn of the event loop leave in one system call, and replies are parsed by hiredis.

It speaks RESP2 and only what the cache adapter needs: plain commands, batches (a
pipeline, or ``MULTI``…``EXEC`` written as one batch, which no other command can come
between) and scripts. Subscriptions keep a connection of their own in redis-py.

Failures are redis-py's exceptions, so callers and the API's error mapping treat them
alike: a refused or lost connection is ``ConnectionError`` (every command waiting on it
fails, and the next command connects again); a reply that does not come within
``REPLY_TIMEOUT`` drops the connection the same way, as redis-py's ``TimeoutError``; an
error reply is ``ResponseError``.
"""

from __future__ import annotations

import asyncio
import hashlib
import ssl
import time
from collections import deque
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import unquote, urlsplit

import hiredis
from redis.exceptions import ConnectionError, InvalidResponse, ResponseError
from redis.exceptions import TimeoutError as ReplyTimeout

#: Seconds to open a connection (and sign in) before the command fails.
CONNECT_TIMEOUT = 3.0
#: Seconds the oldest waiting command may wait for its reply before the connection is
#: dropped: a server that stopped answering without closing the socket.
REPLY_TIMEOUT = 10.0

Arg = bytes | str | int | float


def encode(*args: Arg) -> bytes:
    """One command in RESP: an array of bulk strings."""
    parts = [b"*%d\r\n" % len(args)]
    for arg in args:
        if isinstance(arg, bytes):
            data = arg
        elif isinstance(arg, str):
            data = arg.encode()
        elif isinstance(arg, int):
            data = b"%d" % arg
        else:
            data = repr(float(arg)).encode()
        parts.append(b"$%d\r\n%s\r\n" % (len(data), data))
    return b"".join(parts)


@dataclass(frozen=True, slots=True)
class Address:
    host: str
    port: int
    db: int
    username: str | None
    password: str | None
    tls: bool

    @classmethod
    def parse(cls, url: str) -> Address:
        """``redis://[[user]:password@]host[:port][/db]``; ``valkey://`` alike; ``rediss://`` over TLS."""
        parts = urlsplit(url)
        if parts.scheme not in ("redis", "rediss", "valkey"):
            raise ValueError(f"unsupported cache URL {url!r}")
        path = parts.path.strip("/")
        if path and not path.isdigit():
            raise ValueError(f"the database in cache URL {url!r} must be a number")
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 6379,
            db=int(path or 0),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            tls=parts.scheme == "rediss",
        )


class _Waiter:
    """A caller waiting for ``count`` replies (one command, or a batch)."""

    __slots__ = ("count", "future", "replies", "since")

    def __init__(self, future: asyncio.Future[Any], count: int, since: float) -> None:
        self.future = future
        self.count = count
        self.replies: list[Any] = []
        self.since = since


class _Connection(asyncio.Protocol):
    def __init__(self, loop: asyncio.AbstractEventLoop, reply_timeout: float) -> None:
        self._loop = loop
        self._reply_timeout = reply_timeout
        self._reader = hiredis.Reader(protocolError=InvalidResponse, replyError=ResponseError)
        self._transport: asyncio.Transport | None = None
        self._waiting: deque[_Waiter] = deque()
        self._outgoing: list[bytes] = []
        self._watchdog: asyncio.TimerHandle | None = None
        self.lost: Exception | None = None

    # asyncio.Protocol

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        # uvloop's transports have the stream transport's methods without its base class.
        self._transport = cast(asyncio.Transport, transport)

    def data_received(self, data: bytes) -> None:
        self._reader.feed(data)
        waiting = self._waiting
        while True:
            try:
                reply = self._reader.gets()
            except InvalidResponse as exc:
                self._fail(ConnectionError(f"unreadable reply from Redis: {exc}"))
                return
            if reply is False:
                return
            if not waiting:
                self._fail(ConnectionError("a reply from Redis that nothing asked for"))
                return
            head = waiting[0]
            head.replies.append(reply)
            if len(head.replies) == head.count:
                waiting.popleft()
                if not head.future.done():  # its caller may have been cancelled
                    head.future.set_result(head.replies)

    def connection_lost(self, exc: Exception | None) -> None:
        self._fail(ConnectionError(f"connection to Redis lost: {exc}" if exc else "Redis closed the connection"))

    # the client's side

    @property
    def usable(self) -> bool:
        return self.lost is None and self._transport is not None

    def send(self, data: bytes, count: int) -> asyncio.Future[list[Any]]:
        """Queue ``data`` (``count`` commands) for the next write; its replies, in order."""
        if self.lost is not None:
            raise ConnectionError(str(self.lost))
        future: asyncio.Future[list[Any]] = self._loop.create_future()
        self._waiting.append(_Waiter(future, count, time.monotonic()))
        if not self._outgoing:
            self._loop.call_soon(self._flush)
        self._outgoing.append(data)
        if self._watchdog is None:
            self._watchdog = self._loop.call_later(self._reply_timeout, self._check_replies)
        return future

    @property
    def loop(self) -> asyncio.AbstractEventLoop:
        return self._loop

    def close(self) -> None:
        self._fail(ConnectionError("the Redis client was closed"))

    def forget(self) -> None:
        """Give the connection up: closed if its loop still runs, else just dropped."""
        if self._loop.is_closed():
            self.lost = ConnectionError("the connection's event loop has ended")
        else:
            self.close()

    def _flush(self) -> None:
        if self._transport is None or not self._outgoing:
            return
        data = b"".join(self._outgoing)
        self._outgoing.clear()
        self._transport.write(data)

    def _check_replies(self) -> None:
        self._watchdog = None
        if not self._waiting or self.lost is not None:
            return
        waited = time.monotonic() - self._waiting[0].since
        if waited >= self._reply_timeout:
            self._fail(ReplyTimeout(f"no reply from Redis in {self._reply_timeout:g} s"))
        else:
            self._watchdog = self._loop.call_later(self._reply_timeout - waited, self._check_replies)

    def _fail(self, error: Exception) -> None:
        if self.lost is None:
            self.lost = error
        if self._watchdog is not None:
            self._watchdog.cancel()
            self._watchdog = None
        if self._transport is not None:
            self._transport.abort()
        while self._waiting:
            waiter = self._waiting.popleft()
            if not waiter.future.done():
                waiter.future.set_exception(type(error)(*error.args))  # one per caller
        self._outgoing.clear()


class RespClient:
    """Commands on one shared, pipelined connection (made on first use, made again after
    it is lost)."""

    def __init__(self, url: str, reply_timeout: float = REPLY_TIMEOUT) -> None:
        self.address = Address.parse(url)
        self._reply_timeout = reply_timeout
        self._connection: _Connection | None = None
        self._connecting: asyncio.Lock | None = None
        self._connecting_loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, bytes] = {}

    async def execute(self, *args: Arg) -> Any:
        """One command's reply (an error reply raises ``ResponseError``)."""
        replies = await self._send(encode(*args), 1)
        return _raise_error(replies[0])

    async def batch(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """The replies of ``commands``, written together (raises the first error reply,
        after every command has run, as redis-py's pipelines do)."""
        if not commands:
            return []
        replies = await self._send(b"".join(encode(*command) for command in commands), len(commands))
        for reply in replies:
            _raise_error(reply)
        return replies

    async def transaction(self, commands: Sequence[Sequence[Arg]]) -> list[Any]:
        """``commands`` between ``MULTI`` and ``EXEC``: their replies, run atomically."""
        replies = await self.batch([("MULTI",), *commands, ("EXEC",)])
        result = replies[-1]
        if result is None:
            raise ResponseError("the transaction was aborted")
        return [_raise_error(reply) for reply in result]

    async def script(self, source: str, keys: Sequence[Arg], args: Sequence[Arg]) -> Any:
        """Run a Lua script by its digest, sending its text once per server when unknown."""
        digest = self._scripts.get(source)
        if digest is None:
            # Redis names a script by its SHA-1.
            digest = self._scripts[source] = hashlib.sha1(source.encode(), usedforsecurity=False).hexdigest().encode()
        try:
            return await self.execute("EVALSHA", digest, len(keys), *keys, *args)
        except ResponseError as exc:
            if not str(exc).startswith("NOSCRIPT"):
                raise
        return await self.execute("EVAL", source, len(keys), *keys, *args)

    async def close(self) -> None:
        if self._connection is not None:
            self._connection.forget()
            self._connection = None

    async def __aenter__(self) -> RespClient:
        return self

    async def __aexit__(self, *_exc: object) -> None:
        await self.close()

    async def _send(self, data: bytes, count: int) -> list[Any]:
        connection = self._connection
        if connection is None or not connection.usable or connection.loop is not asyncio.get_running_loop():
            connection = await self._connect()
        return await connection.send(data, count)

    async def _connect(self) -> _Connection:
        loop = asyncio.get_running_loop()
        if self._connecting is None or self._connecting_loop is not loop:
            # A connection and a lock belong to one event loop; a command run by an
            # earlier loop (a command-line step before serving) leaves both behind.
            self._connecting, self._connecting_loop = asyncio.Lock(), loop
        async with self._connecting:
            connection = self._connection
            if connection is not None and connection.usable and connection.loop is loop:
                return connection  # another caller connected meanwhile
            if connection is not None:
                self._connection = None
                connection.forget()
            try:
                async with asyncio.timeout(CONNECT_TIMEOUT):
                    connection = await self._open()
            except (OSError, TimeoutError) as exc:  # the built-in one, from asyncio.timeout
                raise ConnectionError(
                    f"cannot reach Redis at {self.address.host}:{self.address.port}: {exc or 'timed out'}"
                ) from exc
            self._connection = connection
            return connection

    async def _open(self) -> _Connection:
        loop = asyncio.get_running_loop()
        address = self.address
        context = ssl.create_default_context() if address.tls else None
        _, connection = await loop.create_connection(
            lambda: _Connection(loop, self._reply_timeout), address.host, address.port, ssl=context
        )
        greeting: list[tuple[Arg, ...]] = []
        if address.password is not None:
            auth: tuple[Arg, ...] = ("AUTH", address.password)
            greeting.append(auth if address.username is None else ("AUTH", address.username, address.password))
        if address.db:
            greeting.append(("SELECT", address.db))
        if greeting:
            replies = await connection.send(b"".join(encode(*command) for command in greeting), len(greeting))
            for reply in replies:
                if isinstance(reply, ResponseError):
                    connection.close()
                    raise ConnectionError(f"Redis refused the connection: {reply}")
        return connection


def _raise_error(reply: Any) -> Any:
    if isinstance(reply, ResponseError):
        raise reply
    return reply
