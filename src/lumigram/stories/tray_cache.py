"""The viewer's rendered story tray, kept in the cache between reads.

A tray of 50 accounts costs six queries and the rendering of a hundred stories (two
signed media URLs each); it is read far more often than it changes. So its answer is
kept as the exact response bytes, one key per viewer and form (the extension API's tray,
Pixelfed's carousel, the web home's rings), and a repeated read costs one cache round
trip.

A kept tray is valid for two generations, read in the same ``MGET``: the viewer's own
(``stories:traygen:{viewer}``) and a global one. Both are read before the tray is
computed and stored inside it, so a change that replaces a generation while a tray is
being computed keeps that tray from ever being served (as the home pages do,
``pagecache.store``). The viewer's generation is replaced:

* at once, by the viewer's own writes: seen marks, follows and unfollows, blocks and
  mutes either way (``after_commit``), and the viewer's own stories (the carousel shows
  them);
* for every follower of an owner (one statement and one cache write), when the owner
  posts, publishes, changes or deletes a story, changes their profile (name, picture,
  lock) while they have live stories, or changes their lists while they have live
  close-friends stories. An owner with more followers than the fan-out threshold
  replaces the global generation instead, as does a deleted account.

Why a fan-out and not a version per owner checked at read time: the tray's contents
depend on every followed account (one of the 300 may post its first story), so a read
would first need the followed accounts and then one key per account: two round trips and
hundreds of keys on every read, against one statement and one write per story posted.

It is kept gzipped (a tray of 50 accounts is about 218 KB of JSON, and compresses well,
as each story repeats its owner's account): the fast path sends it as
it is to clients that accept gzip, and everything else gets it unpacked.

Its life is bounded three ways, all on the services' clock (``Services.now``), checked
on every read: the earliest ``expires_at`` among its stories (no story is shown a moment
past its 24 hours, and its signed URLs, signed to end with it, never outlive the copy),
the end of the earliest timed mute among the viewer's mutes, and ``MAX_AGE`` (what no
event covers: counts in the account entities, the affinity ranking's ten-minute counts).
"""

from __future__ import annotations

import gzip
import struct
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import func, select

from lumigram import ids
from lumigram.infra.tables import follows, mutes
from lumigram.services import Services

#: Seconds a kept tray is answered at most.
MAX_AGE = 120
#: The forms kept: the extension API's tray, Pixelfed's carousel, the web home's rings.
TRAY, CAROUSEL, HOME = "tray", "carousel", "home"
_GLOBAL_GENERATION = "stories:traygen:all"
_GENERATION_TTL = 3600
_NO_GENERATION = b"0"
#: The first byte of a kept tray; anything else (an older format) is a miss.
_FORMAT = 0xA2
#: gzip's level for a kept tray: paid once per computed tray, a few milliseconds.
_GZIP_LEVEL = 6
_UNTIL = struct.Struct(">Q")


def _generation_key(viewer_id: int) -> str:
    return f"stories:traygen:{viewer_id}"


def _tray_key(viewer_id: int, form: str) -> str:
    return f"stories:tray:{viewer_id}:{form}"


def keys(viewer_id: int, form: str) -> list[str]:
    """What to fetch (in one ``MGET``) to find a viewer's kept tray: see ``from_values``."""
    return [_generation_key(viewer_id), _GLOBAL_GENERATION, _tray_key(viewer_id, form)]


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a viewer's tray is kept, the generations current when it was looked up, and
    the kept body (gzipped) when one was stored for exactly those generations and is still
    valid."""

    key: str
    generations: bytes
    packed: bytes | None = None

    @property
    def body(self) -> bytes | None:
        """The kept body as the route answers it, unpacked."""
        return None if self.packed is None else gzip.decompress(self.packed)


def from_values(key: str, values: list[bytes | None], now: datetime) -> Slot:
    """The slot found by fetching ``keys(...)`` (``key``: the last of them) at ``now``."""
    own, every, raw = values
    generations = (own or _NO_GENERATION) + b"/" + (every or _NO_GENERATION)
    if raw is None or len(raw) < 2 or raw[0] != _FORMAT:
        return Slot(key, generations)
    end = 2 + raw[1]
    if raw[2:end] != generations:
        return Slot(key, generations)
    (until_ms,) = _UNTIL.unpack_from(raw, end)
    if now.timestamp() * 1000 >= until_ms:
        return Slot(key, generations)
    return Slot(key, generations, raw[end + _UNTIL.size :])


async def lookup(services: Services, viewer_id: int, form: str) -> Slot:
    wanted = keys(viewer_id, form)
    return from_values(wanted[-1], await services.cache.get_many(wanted), services.now())


async def keep(services: Services, slot: Slot, body: bytes, until: datetime | None) -> None:
    """Keep a rendered tray until ``until`` (its earliest story's end; None: no story),
    and for at most ``MAX_AGE`` seconds."""
    now = services.now()
    latest = now + timedelta(seconds=MAX_AGE)
    until = latest if until is None else min(until, latest)
    seconds = int((until - now).total_seconds())
    if seconds < 1:
        return
    generations = slot.generations
    header = bytes([_FORMAT, len(generations)]) + generations + _UNTIL.pack(int(until.timestamp() * 1000))
    # mtime 0: the same tray packs to the same bytes.
    packed = gzip.compress(body, compresslevel=_GZIP_LEVEL, mtime=0)
    await services.cache.set(slot.key, header + packed, ttl=seconds)


async def mute_ends(services: Services, viewer_id: int) -> datetime | None:
    """When the earliest of the viewer's timed mutes ends (a muted account comes back)."""
    now = services.now()
    async with services.db.connect() as conn:
        query = select(func.min(mutes.c.expires_at)).where(mutes.c.account_id == viewer_id, mutes.c.expires_at > now)
        ends: datetime | None = (await conn.execute(query)).scalar()
    if ends is not None and ends.tzinfo is None:  # SQLite keeps naive UTC
        ends = ends.replace(tzinfo=now.tzinfo)
    return ends


# --- forgetting ------------------------------------------------------------------------------


async def forget(services: Services, viewer_ids: Iterable[int]) -> None:
    """Make these viewers' kept trays unreachable (one round trip for any number)."""
    fresh = ids.token(4).encode()
    wanted = {_generation_key(viewer): fresh for viewer in set(viewer_ids)}
    if wanted:
        await services.cache.set_many(wanted, ttl=_GENERATION_TTL)


async def forget_all(services: Services) -> None:
    """Every kept tray: for changes whose viewers are too many, or no longer known."""
    await services.cache.set(_GLOBAL_GENERATION, ids.token(4).encode(), ttl=_GENERATION_TTL)


async def forget_audience(services: Services, owner_id: int) -> None:
    """The trays that may show the owner's stories: its followers' (and its own carousel)."""
    threshold = services.settings.fanout_celebrity_threshold
    async with services.db.connect() as conn:
        query = select(follows.c.account_id).where(follows.c.target_account_id == owner_id).limit(threshold + 1)
        followers = list((await conn.execute(query)).scalars())
    if len(followers) > threshold:
        await forget_all(services)
    else:
        await forget(services, [owner_id, *followers])
