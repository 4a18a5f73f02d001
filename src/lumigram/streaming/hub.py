"""The per-process hub: one cache subscription shared by every open stream.

A Redis subscription is a connection, so one per client would not scale; the hub holds a
single subscription covering every channel some local stream listens to, and hands each
message to the listeners of its channel through a bounded queue per connection. A client
that does not read fast enough fills its queue and is disconnected: the hub never waits
for a client, so one slow reader cannot delay anybody else.

The cache port's subscriptions have a fixed channel set. When a stream needs a channel the
current subscription lacks, the hub opens a new subscription for the whole set and hands
over without losing or doubling a message: the old subscription keeps delivering the
channels both share until a marker published on the hub's private control channel comes
through (a server delivers messages in the order it receives them, on every connection),
and the new one delivers those channels only after that same marker; channels new to it
are delivered at once. Concurrent arrivals are batched by the lock (whoever holds it
subscribes everything wanted so far). Channels nobody listens to any more are dropped at
the next maintenance round.

A stream opened with a token is bound to it: when the token is revoked, or its login is
disabled, the announcement on ``authcache.REVOKED_CHANNEL`` (which the subscription always
covers) ends the stream within moments, on whichever process it is open. As a safety net
for an announcement lost while the subscription was broken (and for tokens that expire),
each maintenance round checks the open streams' tokens again, in one batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import orjson

from lumigram.accounts.authcache import REVOKED_CHANNEL, Revocation
from lumigram.infra.cache import Cache
from lumigram.infra.cache import Subscription as CacheSubscription
from lumigram.streaming import channels
from lumigram.streaming.channels import Subscription

log = logging.getLogger(__name__)

#: Messages a connection may have waiting before it counts as too slow and is dropped.
QUEUE_SIZE = 256
#: Seconds between maintenance rounds (online markers, hidden sets, stale channels).
MAINTENANCE_EVERY = channels.ONLINE_TTL / 3
#: Seconds a viewer's blocked/muted set is trusted before it is read again.
HIDDEN_TTL = 60.0
#: Seconds to wait for a hand-over marker before giving up on the old subscription.
HANDOVER_TIMEOUT = 5.0
#: Seconds between attempts to resubscribe after the subscription broke.
RETRY_EVERY = 1.0

#: What a listener yields: the stream name, the event, and the payload string.
Frame = tuple[tuple[str, ...], str, str]
HiddenLoader = Callable[[int], Awaitable[set[int]]]
#: For each raw token, whether it is still valid (``lumigram.accounts.oauth.usable_tokens``).
TokenCheck = Callable[[Sequence[str]], Awaitable[list[bool]]]

SLOW = "slow"
CLOSED = "closed"
#: The stream's token was revoked (or its login disabled).
REVOKED = "revoked"


@dataclass(frozen=True, slots=True)
class Credential:
    """The token a stream was opened with, and what a revocation names it by."""

    token: str = field(repr=False)  # kept out of logs and tracebacks
    token_id: int
    user_id: int | None


class _Message:
    """A channel message, decoded once however many listeners receive it."""

    __slots__ = ("_author", "_author_read", "event", "payload")

    def __init__(self, event: str, payload: str) -> None:
        self.event = event
        self.payload = payload
        self._author: int | None = None
        self._author_read = False

    @classmethod
    def decode(cls, raw: bytes) -> _Message | None:
        try:
            data = orjson.loads(raw)
            return cls(str(data["event"]), str(data["payload"]))
        except (orjson.JSONDecodeError, KeyError, TypeError):
            return None

    def author(self) -> int | None:
        """The author of a status payload (for block/mute filtering), None otherwise."""
        if not self._author_read:
            self._author_read = True
            if self.event in ("update", "status.update"):
                with contextlib.suppress(orjson.JSONDecodeError, KeyError, TypeError, ValueError):
                    self._author = int(orjson.loads(self.payload)["account"]["id"])
        return self._author


class Listener:
    """One open stream (a WebSocket or a server-sent events response)."""

    def __init__(
        self, hub: Hub, account_id: int | None, hidden: set[int], queue_size: int, credential: Credential | None = None
    ) -> None:
        self.hub = hub
        self.account_id = account_id
        self.credential = credential
        self.hidden = hidden
        self.hidden_at = time.monotonic()
        self.hidden_loaded = False
        self.by_channel: dict[str, list[Subscription]] = {}
        self.queue: asyncio.Queue[Frame | None] = asyncio.Queue(maxsize=queue_size)
        #: Why the listener ended (``SLOW``, ``CLOSED`` or ``REVOKED``), None while open.
        self.ended: str | None = None
        #: Set when it ends: a connection stuck writing to a client that stopped reading
        #: waits on this to abort the write.
        self.ended_event = asyncio.Event()

    @property
    def subscriptions(self) -> list[Subscription]:
        seen: dict[tuple[str, ...], Subscription] = {}
        for subs in self.by_channel.values():
            for sub in subs:
                seen.setdefault(sub.name, sub)
        return list(seen.values())

    def offer(self, channel: str, message: _Message) -> None:
        for sub in self.by_channel.get(channel, ()):
            if sub.filtered and self.hidden:
                author = message.author()
                if author is not None and author in self.hidden:
                    continue
            try:
                self.queue.put_nowait((sub.name, message.event, message.payload))
            except asyncio.QueueFull:
                self.hub.drop(self, SLOW)
                return

    async def get(self) -> Frame | None:
        """The next frame; None once the listener has ended (see ``ended``)."""
        if self.ended is not None and self.queue.empty():
            return None
        return await self.queue.get()

    def _end(self, reason: str) -> None:
        if self.ended is not None:
            return
        self.ended = reason
        # Queued frames are discarded: the connection is going away either way, and the
        # end marker must fit.
        while not self.queue.empty():
            self.queue.get_nowait()
        self.queue.put_nowait(None)
        self.ended_event.set()


class _Reader:
    """Drains one cache subscription into the hub."""

    def __init__(self, hub: Hub, subscription: CacheSubscription, wanted: frozenset[str], held: frozenset[str]) -> None:
        self.hub = hub
        self.subscription = subscription
        self.channels = wanted
        #: Channels the previous reader still delivers, until ``release`` comes through.
        self.held = held
        self.release: str | None = None
        self.released = asyncio.Event()
        if not held:
            self.released.set()
        #: Set when superseded: the marker after which this reader stops.
        self.stop_at: str | None = None
        self.task: asyncio.Task[None] | None = None

    def start(self) -> None:
        self.task = asyncio.create_task(self._run(), name="streaming-hub-reader")

    async def _run(self) -> None:
        control = self.hub.control
        try:
            async for channel, raw in self.subscription:
                if channel == control:
                    marker = raw.decode(errors="replace")
                    if marker == self.release:
                        self.held = frozenset()
                        self.released.set()
                    if marker == self.stop_at:
                        return
                    continue
                if channel in self.held:
                    continue
                self.hub.dispatch(channel, raw)
            # The subscription ended under us (the cache closed it): count it as broken.
            self.hub.reader_failed(self)
        except asyncio.CancelledError:
            raise
        except Exception:
            log.exception("streaming subscription failed")
            self.hub.reader_failed(self)
        finally:
            with contextlib.suppress(Exception):
                await self.subscription.close()

    async def stop(self) -> None:
        if self.task is not None:
            self.task.cancel()
            with contextlib.suppress(asyncio.CancelledError, Exception):
                await self.task
        with contextlib.suppress(Exception):
            await self.subscription.close()


class Hub:
    def __init__(
        self,
        cache: Cache,
        load_hidden: HiddenLoader,
        queue_size: int = QUEUE_SIZE,
        check_tokens: TokenCheck | None = None,
    ) -> None:
        self.cache = cache
        self.load_hidden = load_hidden
        self.queue_size = queue_size
        self.check_tokens = check_tokens
        #: This process's private channel for hand-over markers.
        self.control = f"streaming:hub:{secrets.token_hex(8)}"
        #: Channels the subscription covers whoever listens.
        self._always = frozenset({self.control, REVOKED_CHANNEL})
        self._listeners: dict[str, set[Listener]] = {}
        #: Open listeners holding a token, by token id and by user id (for revocations).
        self._by_token: dict[int, set[Listener]] = {}
        self._by_user: dict[int, set[Listener]] = {}
        self._online: Counter[int] = Counter()
        self._reader: _Reader | None = None
        self._lock = asyncio.Lock()
        self._tasks: set[asyncio.Task[Any]] = set()
        self._maintenance: asyncio.Task[None] | None = None
        self._retrying = False
        self._closed = False
        #: Subscriptions opened so far (tests check that clients share them).
        self.subscriptions_opened = 0

    # -- listeners ---------------------------------------------------------------------
    async def open(self, account_id: int | None, credential: Credential | None = None) -> Listener:
        """A new listener; a signed-in viewer's marks them online. With ``credential``, the
        listener ends when that token is revoked: it may have ended already on return (the
        token was revoked while the stream was being opened)."""
        listener = Listener(self, account_id, set(), self.queue_size, credential)
        if account_id is not None:
            self._online[account_id] += 1
        if credential is not None:
            self._by_token.setdefault(credential.token_id, set()).add(listener)
            if credential.user_id is not None:
                self._by_user.setdefault(credential.user_id, set()).add(listener)
        if self._maintenance is None and not self._closed:
            self._maintenance = asyncio.create_task(self._maintain(), name="streaming-hub-maintenance")
        try:
            if account_id is not None:
                await self.cache.set_many(channels.online_markers([account_id]), ttl=channels.ONLINE_TTL)
            if credential is not None:
                # Listening for revocations before checking the token once more: one
                # announced before this subscription was live found the token already
                # revoked, so the check sees it; any later one reaches the listener.
                await self._ensure(self._always)
                await self._check([listener])
        except BaseException:
            self.drop(listener, CLOSED)
            raise
        return listener

    async def subscribe(self, listener: Listener, subscription: Subscription) -> None:
        """Start delivering ``subscription`` to ``listener``; returns once it is live."""
        if listener.ended is not None:
            return
        if subscription.filtered and listener.account_id is not None and not listener.hidden_loaded:
            # Only the shared public and hashtag channels need the viewer's blocked/muted
            # set, so a user-streams-only connection never reads it.
            listener.hidden = await self.load_hidden(listener.account_id)
            listener.hidden_at, listener.hidden_loaded = time.monotonic(), True
        for channel in subscription.channels:
            subs = listener.by_channel.setdefault(channel, [])
            if subscription not in subs:
                subs.append(subscription)
            self._listeners.setdefault(channel, set()).add(listener)
        await self._ensure(frozenset(subscription.channels))

    def unsubscribe(self, listener: Listener, name: tuple[str, ...]) -> None:
        for channel, subs in list(listener.by_channel.items()):
            subs[:] = [s for s in subs if s.name != name]
            if not subs:
                del listener.by_channel[channel]
                self._forget(channel, listener)

    def release(self, listener: Listener) -> None:
        """Release everything ``listener`` holds (idempotent)."""
        self.drop(listener, CLOSED)

    def drop(self, listener: Listener, reason: str) -> None:
        if listener.ended is None and reason == SLOW:
            log.info("dropping a streaming client that fell %d messages behind", self.queue_size)
        for channel in list(listener.by_channel):
            self._forget(channel, listener)
        listener.by_channel.clear()
        credential = listener.credential
        if credential is not None:
            _discard(self._by_token, credential.token_id, listener)
            if credential.user_id is not None:
                _discard(self._by_user, credential.user_id, listener)
        if listener.account_id is not None and listener.ended is None:
            self._online[listener.account_id] -= 1
            if self._online[listener.account_id] <= 0:
                del self._online[listener.account_id]
        listener._end(reason)

    def _forget(self, channel: str, listener: Listener) -> None:
        listeners = self._listeners.get(channel)
        if listeners is not None:
            listeners.discard(listener)
            if not listeners:
                del self._listeners[channel]

    def revoke(self, revocation: Revocation) -> None:
        """End the listeners holding a revoked token or one of a revoked login's."""
        ended: set[Listener] = set()
        for token_id in revocation.token_ids:
            ended |= self._by_token.get(token_id, set())
        for user_id in revocation.user_ids:
            ended |= self._by_user.get(user_id, set())
        for listener in ended:
            self.drop(listener, REVOKED)

    async def _check(self, listeners: Sequence[Listener]) -> None:
        """End those of ``listeners`` whose token no longer works (one batched check)."""
        if self.check_tokens is None:
            return
        held = [listener for listener in listeners if listener.credential is not None and listener.ended is None]
        tokens = sorted({listener.credential.token for listener in held if listener.credential is not None})
        if not tokens:
            return
        valid = dict(zip(tokens, await self.check_tokens(tokens), strict=True))
        for listener in held:
            if listener.credential is not None and not valid[listener.credential.token]:
                self.drop(listener, REVOKED)

    async def check_all(self) -> None:
        """Check the token of every open listener again."""
        await self._check([listener for group in list(self._by_token.values()) for listener in group])

    @property
    def listener_count(self) -> int:
        return len({listener for group in self._listeners.values() for listener in group})

    # -- delivery ----------------------------------------------------------------------
    def dispatch(self, channel: str, raw: bytes) -> None:
        if channel == REVOKED_CHANNEL:
            revocation = Revocation.decode(raw)
            if revocation is None:
                log.warning("ignoring a malformed revocation")
            else:
                self.revoke(revocation)
            return
        listeners = self._listeners.get(channel)
        if not listeners:
            return
        message = _Message.decode(raw)
        if message is None:
            log.warning("ignoring a malformed message on %s", channel)
            return
        for listener in list(listeners):
            listener.offer(channel, message)

    # -- the shared subscription -------------------------------------------------------
    async def _ensure(self, wanted: frozenset[str]) -> None:
        if self._reader is not None and wanted <= self._reader.channels:
            return
        await self._resubscribe(wanted)

    async def _resubscribe(self, required: frozenset[str] | None) -> None:
        """Subscribe to every channel listened to now; ``required`` None forces it (compaction)."""
        async with self._lock:
            if self._closed:
                return
            old = self._reader
            if required is not None and old is not None and required <= old.channels:
                return  # a concurrent caller already covered these
            wanted = frozenset(self._listeners) | self._always
            if required is None and old is not None and wanted == old.channels:
                return
            subscription = await self.cache.subscribe(*sorted(wanted))
            self.subscriptions_opened += 1
            held = (old.channels & wanted) - {self.control} if old is not None else frozenset()
            reader = _Reader(self, subscription, wanted, held)
            token = secrets.token_hex(8)
            reader.release = token
            self._reader = reader
            reader.start()
            if old is None:
                return
            old.stop_at = token
            await self.cache.publish(self.control, token.encode())
            self._spawn(self._finish_handover(old, reader))

    async def _finish_handover(self, old: _Reader, new: _Reader) -> None:
        """Bound the hand-over: if the marker never came through on either subscription,
        stop the old reader and release the new one anyway (a message may then be lost or
        repeated, which beats a stream that stays silent)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(HANDOVER_TIMEOUT):
                if old.task is not None:
                    await asyncio.wait([old.task])
                await new.released.wait()
        if not new.released.is_set():
            log.warning("streaming hand-over marker did not arrive; releasing held channels")
            new.held = frozenset()
            new.released.set()
        await old.stop()

    def reader_failed(self, reader: _Reader) -> None:
        if reader is not self._reader or self._closed:
            return
        self._reader = None
        if not self._retrying:
            self._retrying = True
            self._spawn(self._retry())

    async def _retry(self) -> None:
        """Resubscribe after the connection broke; messages published meanwhile are lost,
        as with Mastodon's own streaming server."""
        try:
            while not self._closed and self._reader is None:
                try:
                    await self._resubscribe(None)
                except Exception:
                    log.warning("streaming resubscribe failed; retrying", exc_info=True)
                    await asyncio.sleep(RETRY_EVERY)
        finally:
            self._retrying = False
        # Revocations announced while the subscription was broken were lost: check now
        # rather than at the next maintenance round.
        with contextlib.suppress(Exception):
            await self.check_all()

    def _spawn(self, coro: Awaitable[Any]) -> None:
        task: asyncio.Task[Any] = asyncio.ensure_future(coro)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # -- maintenance -------------------------------------------------------------------
    async def _maintain(self) -> None:
        while not self._closed:
            await asyncio.sleep(MAINTENANCE_EVERY)
            try:
                await self.maintain()
            except Exception:
                log.warning("streaming maintenance failed", exc_info=True)

    async def maintain(self) -> None:
        """Refresh online markers, stale hidden sets and token checks; drop channels nobody
        listens to."""
        if self._online:
            await self.cache.set_many(channels.online_markers(self._online), ttl=channels.ONLINE_TTL)
        now = time.monotonic()
        stale: dict[int, list[Listener]] = {}
        for group in list(self._listeners.values()):
            for listener in group:
                if (
                    listener.hidden_loaded
                    and listener.account_id is not None
                    and now - listener.hidden_at >= HIDDEN_TTL
                ):
                    stale.setdefault(listener.account_id, []).append(listener)
        for account_id, listeners in stale.items():
            hidden = await self.load_hidden(account_id)
            for listener in listeners:
                listener.hidden, listener.hidden_at = hidden, now
        reader = self._reader
        if reader is not None and reader.channels - self._always - set(self._listeners):
            await self._resubscribe(None)
        await self.check_all()

    async def close(self) -> None:
        """End every listener and the subscription (process shutdown)."""
        self._closed = True
        for group in [*self._listeners.values(), *self._by_token.values()]:
            for listener in list(group):
                self.drop(listener, CLOSED)
        if self._maintenance is not None:
            self._maintenance.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._maintenance
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        if self._reader is not None:
            await self._reader.stop()
            self._reader = None


def _discard(index: dict[int, set[Listener]], key: int, listener: Listener) -> None:
    group = index.get(key)
    if group is not None:
        group.discard(listener)
        if not group:
            del index[key]
