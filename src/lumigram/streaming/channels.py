"""Channel names and the message format of the real-time contract.

Every message on a channel is orjson bytes of ``{"event": ..., "payload": ...}`` where
``payload`` is already the JSON string Mastodon sends in its frames (a Status for
``update``, the id for ``delete``), so the hub never re-serialises per viewer.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson

from lumigram.infra.cache import Cache
from lumigram.posts.text import normalise_tag

PUBLIC = "timeline:public"

#: Streams that need a signed-in account, and the scope each needs (Mastodon's rule).
USER_STREAMS = {
    "user": ("read", "read:statuses"),
    "user:notification": ("read", "read:notifications"),
    "direct": ("read", "read:statuses"),
}
PUBLIC_STREAMS = ("public", "public:local", "hashtag", "hashtag:local")
ALL_STREAMS = (*USER_STREAMS, *PUBLIC_STREAMS)

#: Key set while an account has a stream open somewhere; publishers skip the others.
ONLINE_KEY = "streaming:online:{}"
#: Seconds the marker outlives its last refresh (the hub refreshes every third of it).
ONLINE_TTL = 90
#: Written with every account's marker, after it, so it never expires first: while it is
#: absent nobody has a stream open anywhere, and publishers need not look for followers.
ANYONE_ONLINE_KEY = "streaming:anyone-online"


def home(account_id: int) -> str:
    return f"timeline:{account_id}"


def notifications(account_id: int) -> str:
    return f"timeline:{account_id}:notification"


def direct(account_id: int) -> str:
    return f"timeline:direct:{account_id}"


def hashtag(tag: str) -> str:
    # The same folding as the post service's tag matching, so #Cats and #cats meet.
    return f"timeline:hashtag:{normalise_tag(tag)}"


def online_key(account_id: int) -> str:
    return ONLINE_KEY.format(account_id)


def online_markers(account_ids: Iterable[int]) -> dict[str, bytes]:
    """The keys (and values) that mark ``account_ids`` online, for one ``set_many``."""
    markers = {online_key(a): b"1" for a in account_ids}
    if markers:
        markers[ANYONE_ONLINE_KEY] = b"1"  # last: written after the accounts' markers
    return markers


async def anyone_connected(cache: Cache) -> bool:
    """Whether any account has had a stream open within ``ONLINE_TTL``, in one round trip."""
    return await cache.get(ANYONE_ONLINE_KEY) is not None


async def connected(cache: Cache, account_ids: Sequence[int]) -> list[int]:
    """Those of ``account_ids`` with a stream open somewhere, in one round trip. Rendering
    an event for someone with no stream open is wasted work (pub/sub keeps nothing), so
    publishers ask this first, as Mastodon does before it pushes to a timeline."""
    if not account_ids:
        return []
    found = await cache.get_many([online_key(a) for a in account_ids])
    return [a for a, marker in zip(account_ids, found, strict=True) if marker is not None]


def encode(event: str, payload: Any) -> bytes:
    """A channel message; ``payload`` is a string already or is JSON-encoded here."""
    text = payload if isinstance(payload, str) else orjson.dumps(payload).decode()
    return orjson.dumps({"event": event, "payload": text})


@dataclass(frozen=True, slots=True)
class Subscription:
    """One Mastodon stream a connection listens to: its name as sent back to the client
    (``["hashtag", "cats"]``) and the channels that feed it."""

    name: tuple[str, ...]
    channels: tuple[str, ...]
    #: Filter authors the viewer blocked or muted (public and hashtag streams only: the
    #: user's own channels are already filtered by the publisher).
    filtered: bool


def resolve(stream: str, account_id: int | None, tag: str | None) -> Subscription | None:
    """The subscription for a stream name, or None when the name (or its tag) is invalid.
    Authentication is checked by the caller."""
    if stream == "user" and account_id is not None:
        return Subscription(("user",), (home(account_id), notifications(account_id)), False)
    if stream == "user:notification" and account_id is not None:
        return Subscription(("user:notification",), (notifications(account_id),), False)
    if stream == "direct" and account_id is not None:
        return Subscription(("direct",), (direct(account_id),), False)
    # Every account is local (no federation), so the local variants carry the same posts.
    if stream in ("public", "public:local"):
        return Subscription((stream,), (PUBLIC,), True)
    if stream in ("hashtag", "hashtag:local"):
        cleaned = (tag or "").strip().lstrip("#")
        if not cleaned or len(cleaned) > 100:
            return None
        return Subscription((stream, normalise_tag(cleaned)), (hashtag(cleaned),), True)
    return None
