"""The first page of each home timeline, kept rendered.

Most home reads ask for the newest page again (an app opened, a pull to refresh). That
page is stored as the exact response bytes, so a repeated read costs one cache round
trip instead of a dozen queries and the rendering (DeathStarBench's social network
answers from memcached the same way).

A page is valid for two generations: the reader's own (``feed:pagegen:{account}``) and a
global one for posts of accounts above the celebrity threshold (merged at read time, so
no fan-out would announce them). Both are read before the page is computed and stored
inside it; a reader fetches the generations and the page in one ``MGET`` and uses the
page only when they still match. ``forget`` replaces a generation, so a page computed
while that happened (even one written after it) is never served again.

What replaces the reader's generation: every feed consumer (through ``store``), and,
synchronously, the reader's own follows, blocks, mutes, hashtag follows, edits,
deletions, likes and bookmarks (their new posts arrive through the fan-out, below).
Where the change is a few Statuses (a like, a bookmark, a repost, a vote, a pin) or
a followed account's posts, the pages are mended in the same step instead (``mend``).
Which posts a page holds is therefore always current. What only changes a post's
numbers or its author's profile (someone else's like, an edit, a new avatar) is
checked on a timer instead: a page is *fresh* for about ``PAGE_FRESH`` seconds (spread
a little, so pages built together do not all expire together); a reader who finds it
older still gets it, and one reader at a time (``claim_refresh``) has it checked. Each
post's Status is stored with a fingerprint of those values (``lumigram.pagecache.fingerprints``);
when every fingerprint is still current the page is kept, fresh again (``confirm``: one
cache round trip and one statement instead of a rendering), when a few changed only
their Statuses are rendered again, and otherwise the whole page is
(``lumigram.pagecache.recheck``). A page is kept that way for at most ``PAGE_RECHECK_FOR``
seconds after its oldest Status was rendered, and one nobody checked is dropped after
``PAGE_MAX_AGE`` seconds. Numbers shown are thus at most about ``PAGE_FRESH`` seconds plus one check
old while someone reads the page, and never older than ``PAGE_MAX_AGE``: eventual
consistency, as the design allows.

A new post fanned out to a reader would otherwise cost a whole rendering at their next
read (in the DeathStarBench mix, most renderings). ``insert`` instead puts the post's
rendered Status into each kept page where it belongs (a page stores its posts' ids and
where each one's JSON starts), and the reader's generation is replaced in the same
atomic step, only if it is still the one the pages were stored for (the cache's
``swap_many``). Only each page's first bytes are read (its header and index); the cache
splices the Status in (``Splice``), sent once for all the readers, and the rest of each
page never leaves it (a page stored again since its head was read is left alone, and
forgotten). A rendering that began before the fan-out therefore still stores a page
nobody will be served, and a reader whose generation moved meanwhile (forgotten, or
mended by a write of their own) has their pages forgotten. The author's own pages take
their post the same way, in its author's form (``own``), so posting costs the author no
rendering either.

Stored value: a format byte, the generations, the freshness deadline, the rendering
and checking times (ms), the ``Link`` value, the post ids with each Status's length and
fingerprint, then the body.
"""

from __future__ import annotations

import random
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

import orjson

from lumigram import ids
from lumigram.infra.cache import Part, Splice, Swap
from lumigram.services import Services

PAGE_FRESH = 30
PAGE_MAX_AGE = 120
#: How long a page may be kept by ``confirm`` after its oldest Status was rendered:
#: bounds what no fingerprint covers (a signed media URL's age, a missed event).
PAGE_RECHECK_FOR = 600
#: How long a reader's claim to refresh a page lasts (a failed refresh is retried after it).
_REFRESH_CLAIM_TTL = 5
#: Page sizes kept rendered: the ones clients use (as sent: ``limit=10``, ``20``, ``40``,
#: or none, which is 20). Others are always computed.
CACHED_LIMITS = (10, 20, 40)
DEFAULT_VARIANT = "default"
_CELEBRITY_GENERATION = "feed:pagegen:celebrities"
_GENERATION_TTL = 3600
_NO_GENERATION = b"0"
#: The first byte of a stored page; anything else (an older format) is a miss.
_FORMAT = 0xF2
#: A post id, the length of its Status, and its fingerprint (``lumigram.pagecache.fingerprints``).
_ENTRY = struct.Struct(">QIQ")
_TIMES = struct.Struct(">QQQHH")


@dataclass(frozen=True, slots=True)
class Rendered:
    """A rendered page: its posts' ids, each one's Status as JSON, the ``Link`` value, and
    each post's fingerprint as rendered."""

    ids: list[int]
    entities: list[bytes]
    link: str | None
    versions: list[int]

    @classmethod
    def of(cls, statuses: Mapping[int, tuple[bytes, int]], link: str | None) -> Rendered:
        """The page of ``statuses`` (post id → Status and fingerprint, in page order)."""
        return cls(list(statuses), [e for e, _ in statuses.values()], link, [v for _, v in statuses.values()])

    @property
    def body(self) -> bytes:
        return b"[" + b",".join(self.entities) + b"]"


@dataclass(frozen=True, slots=True)
class CachedPage:
    body: bytes
    link: str | None
    #: False once the page is older than its freshness: serve it, and have it refreshed.
    fresh: bool = True
    #: Each post's id, the length of its Status in ``body`` and its fingerprint, in order.
    entries: tuple[tuple[int, int, int], ...] = ()
    #: When the oldest of its Statuses was rendered (ms since the epoch).
    rendered_at: int = 0

    @property
    def ids(self) -> list[int]:
        return [post_id for post_id, _, _ in self.entries]

    @property
    def versions(self) -> list[int]:
        return [version for _, _, version in self.entries]

    def entities(self) -> list[bytes]:
        """Each post's Status, as stored."""
        found, start = [], 1  # past "["
        for _, length, _ in self.entries:
            found.append(self.body[start : start + length])
            start += length + 1  # and the "," (or the closing "]")
        return found


@dataclass(frozen=True, slots=True)
class Slot:
    """Where a reader's page lives, the generations current when it was looked up, and
    the page itself when one was stored for exactly those generations."""

    key: str | None
    generations: bytes = b""
    cached: CachedPage | None = None


def _generation_key(account_id: int) -> str:
    return f"feed:pagegen:{account_id}"


def variant(limit: str | None) -> str | None:
    """Which kept page answers a request's ``limit`` parameter as sent (None: not kept).
    The parameter's absence is its own variant, because the page's Link header echoes
    the request's parameters."""
    if limit is None:
        return DEFAULT_VARIANT
    return limit if limit in {str(n) for n in CACHED_LIMITS} else None


def keys(account_id: int, page_variant: str) -> list[str]:
    """What to fetch (in one ``MGET``) to find a reader's page: see ``from_values``."""
    return [_generation_key(account_id), _CELEBRITY_GENERATION, _page_key(account_id, page_variant)]


def _page_key(account_id: int, page_variant: str) -> str:
    return f"feed:page:{account_id}:{page_variant}"


def _encode(
    generations: bytes, fresh_until: int, rendered_at: int, checked_at: int, page: Rendered, body: bytes
) -> bytes:
    link = (page.link or "").encode()
    index = b"".join(_ENTRY.pack(i, len(e), v) for i, e, v in zip(page.ids, page.entities, page.versions, strict=True))
    return b"".join(
        (
            bytes([_FORMAT, len(generations)]),
            generations,
            _TIMES.pack(fresh_until, rendered_at, checked_at, len(link), len(page.ids)),
            link,
            index,
            body,
        )
    )


@dataclass(frozen=True, slots=True)
class _Header:
    generations: bytes
    fresh_until: int
    rendered_at: int
    checked_at: int
    link: str | None
    count: int
    #: Where the index of posts starts.
    offset: int


def _header(raw: bytes) -> _Header | None:
    """A stored page's generations, times, link, post count and where its index starts;
    None for anything not in this format."""
    if len(raw) < 2 or raw[0] != _FORMAT or len(raw) < 2 + raw[1] + _TIMES.size:
        return None
    offset = 2 + raw[1]
    fresh_until, rendered_at, checked_at, link_length, count = _TIMES.unpack_from(raw, offset)
    offset += _TIMES.size
    if len(raw) < offset + link_length:  # the first bytes of a page only (``insert``)
        return None
    link = raw[offset : offset + link_length].decode() if link_length else None
    return _Header(raw[2 : 2 + raw[1]], fresh_until, rendered_at, checked_at, link, count, offset + link_length)


def from_values(key: str, values: Sequence[bytes | None], now: float | None = None) -> Slot:
    """The slot found by fetching ``keys(...)``; ``key`` is the last of those keys."""
    own, celebrities, raw = values
    return slot_of(key, _generations(own, celebrities), raw, now)


def slot_of(key: str, generations: bytes, raw: bytes | None, now: float | None = None) -> Slot:
    """The slot of a page stored at ``key`` (``raw``), valid while ``generations`` are current."""
    header = _header(raw) if raw is not None else None
    if raw is None or header is None or header.generations != generations:
        return Slot(key, generations)
    fresh = (time.time() if now is None else now) * 1000 < header.fresh_until
    end = header.offset + header.count * _ENTRY.size
    entries = tuple(_ENTRY.iter_unpack(raw[header.offset : end]))
    return Slot(key, generations, CachedPage(raw[end:], header.link, fresh, entries, header.rendered_at))


def _generations(own: bytes | None, celebrities: bytes | None) -> bytes:
    return (own or _NO_GENERATION) + b"/" + (celebrities or _NO_GENERATION)


def generation(value: bytes | None) -> bytes:
    """A generation as stored in a page, for a key that may not be set."""
    return value or _NO_GENERATION


def profile_generation_key(account_id: int) -> str:
    """The generation of an account's kept profile pages (``lumigram.pagecache.profile_store``)."""
    return f"profile:pagegen:{account_id}"


async def lookup(services: Services, account_id: int, page_variant: str | None) -> Slot:
    if page_variant is None:
        return Slot(None)
    wanted = keys(account_id, page_variant)
    return from_values(wanted[-1], await services.cache.get_many(wanted))


async def put(services: Services, slot: Slot, page: Rendered, fresh_for: float | None = None) -> None:
    """Keep a rendered page, fresh for ``fresh_for`` seconds (by default about PAGE_FRESH)."""
    if slot.key is None:
        return
    now = time.time()
    await _store(services, slot.key, slot.generations, page, int(now * 1000), now, fresh_for)


async def _store(
    services: Services, key: str, generations: bytes, page: Rendered, rendered_at: int, now: float,
    fresh_for: float | None = None,
) -> None:  # fmt: skip
    if fresh_for is None:
        fresh_for = PAGE_FRESH * random.uniform(0.8, 1.2)  # noqa: S311 (a jitter, not a secret)
    value = _encode(generations, int((now + fresh_for) * 1000), rendered_at, int(now * 1000), page, page.body)
    await services.cache.set(key, value, ttl=PAGE_MAX_AGE)


def recheckable(page: CachedPage, now: float | None = None) -> bool:
    """Whether a stale page may be kept once its posts' fingerprints are found unchanged
    (``confirm``): only while its oldest Status is younger than ``PAGE_RECHECK_FOR``."""
    return ((time.time() if now is None else now) * 1000 - page.rendered_at) < PAGE_RECHECK_FOR * 1000


async def confirm(
    services: Services, slot: Slot, replaced: Mapping[int, tuple[bytes, int]] | None = None
) -> CachedPage | None:
    """Keep the slot's page, fresh again, with the Statuses and fingerprints of the posts
    in ``replaced`` rendered anew (nothing else it shows has changed); the page kept."""
    page = slot.cached
    if slot.key is None or page is None:
        return None
    changes = replaced or {}
    entities, versions = [], []
    for post_id, entity, version in zip(page.ids, page.entities(), page.versions, strict=True):
        entity, version = changes.get(post_id, (entity, version))
        entities.append(entity)
        versions.append(version)
    rendered = Rendered(page.ids, entities, page.link, versions)
    await _store(services, slot.key, slot.generations, rendered, page.rendered_at, time.time())
    entries = tuple((i, len(e), v) for i, e, v in zip(rendered.ids, entities, versions, strict=True))
    return CachedPage(rendered.body, page.link, True, entries, page.rendered_at)


async def claim_refresh(services: Services, slot: Slot) -> bool:
    """True for the one reader (across processes) who should render a stale page again."""
    if slot.key is None:
        return False
    return await services.cache.incr(f"{slot.key}:refresh", 1, ttl=_REFRESH_CLAIM_TTL) == 1


async def forget(services: Services, account_ids: Iterable[int], authors: Iterable[int] = ()) -> None:
    """Make these readers' rendered pages unreachable (one round trip for any number), and
    the kept profile pages of ``authors`` (their posts or profile changed)."""
    fresh = ids.token(4).encode()
    wanted = {_generation_key(account): fresh for account in set(account_ids)}
    wanted.update({profile_generation_key(author): fresh for author in set(authors)})
    if wanted:
        await services.cache.set_many(wanted, ttl=_GENERATION_TTL)


async def forget_celebrity_posts(services: Services) -> None:
    """A post by an account above the fan-out threshold: every rendered page may miss it."""
    await services.cache.set(_CELEBRITY_GENERATION, ids.token(4).encode(), ttl=_GENERATION_TTL)


def dumps(entity: object) -> bytes:
    return orjson.dumps(entity)


#: The ``Link`` value of a page of a variant holding these post ids (whether it is full
#: decides the "next" link): the API layer's rule, handed in.
LinkFor = Callable[[str, list[int]], str | None]


def _post_splice(
    head: bytes,
    header: _Header,
    stamped: bytes,
    post_id: int,
    entity_length: int,
    version: int,
    limit: int,
    link: Callable[[list[int]], str | None],
    entity: int = 0,
) -> Splice | None:
    """How the store makes a kept page, of which ``head`` holds the first bytes, into the
    page stamped with the generations ``stamped``, with the post's Status (``swap_many``'s
    shared value ``entity``, ``entity_length`` bytes) and fingerprint where its id belongs
    (newest first), cut to ``limit``. The page's other Statuses stay in the store, copied
    there as one slice, never sent back and forth: a fan-out does this for every kept page
    of every reader. None when ``head`` does not hold the page's whole index."""
    index_end = header.offset + header.count * _ENTRY.size
    if len(head) < index_end:
        return None
    entries = list(_ENTRY.iter_unpack(head[header.offset : index_end]))
    ids = [entry[0] for entry in entries]
    # ``[``, each Status followed by one byte (a comma, the last ``]``); ``[]`` when empty.
    body_length = 1 + sum(length + 1 for _, length, _ in entries) if entries else 2
    total = index_end + body_length
    times = head[2 + head[1] : 2 + head[1] + _TIMES.size]
    stamp = bytes([_FORMAT, len(stamped)]) + stamped
    held = head[:index_end]
    # Newest first: a new post, the usual case, goes before them all.
    position = 0 if not ids or post_id > max(ids) else sum(1 for i in ids if i > post_id)
    if post_id in ids or position >= limit:  # a redelivered event, or older than a full page
        return Splice(held, total, (stamp, (2 + head[1], total)))
    kept_after = min(len(entries) - position, limit - position - 1)
    new_ids = [*ids[:position], post_id, *ids[position : position + kept_after]]
    # The Statuses from ``position`` on take ``body_length - start`` bytes of the body:
    # what is kept of them is that less the few a full page drops.
    start = 1 + sum(length + 1 for _, length, _ in entries[:position])  # where the post goes
    dropped = sum(length + 1 for _, length, _ in entries[position + kept_after :])
    after = body_length - start - dropped
    index = b"".join(
        (
            head[header.offset : header.offset + position * _ENTRY.size],
            _ENTRY.pack(post_id, entity_length, version),
            head[header.offset + position * _ENTRY.size : header.offset + (position + kept_after) * _ENTRY.size],
        )
    )
    new_link = (link(new_ids) or "").encode()
    fresh_until, rendered_at, checked_at, _, _ = _TIMES.unpack(times)
    times = _TIMES.pack(fresh_until, rendered_at, checked_at, len(new_link), len(new_ids))
    parts: list[Part] = [b"".join((stamp, times, new_link, index))]
    parts += [(index_end, index_end + start - 1), b","] if position else [b"["]
    parts.append(entity)
    if kept_after:
        parts += [b",", (index_end + start, index_end + start + after - 1)]
    parts.append(b"]")
    return Splice(held, total, tuple(parts))


#: What ``mend`` does to one kept page (its variant, the page): the page as it should
#: now be, the same page when nothing on it changed, or None when it cannot be mended
#: exactly (every page of the reader is then forgotten).
Change = Callable[[str, CachedPage], Awaitable[Rendered | CachedPage | None]]


async def mend(services: Services, reader: int, change: Change) -> None:
    """A write of the reader's own changed a few things their kept pages show: rewrite
    each page through ``change`` rather than forget it, so their next read is answered
    from it.

    As for ``insert``, the reader's generation is replaced in the same atomic step as
    the pages are written (``swap_many``), and only if it is still the one they were
    stored for: a rendering that began before the write stores a page nobody is served,
    and a mended page never overwrites one changed meanwhile. When the generation moved
    meanwhile (the fan-out put a post in, or the same write is mended twice at once: once
    after its commit and once by its consumer), the pages are read again and mended
    again; when that keeps failing, or a page cannot be mended, they are forgotten, as
    before mending existed. Each page keeps its times: what ``change`` left alone is as
    old as it was."""
    for _ in range(_MEND_TRIES):
        mended = await _mend_once(services, reader, change)
        if mended is not None:
            if not mended:
                await forget(services, [reader])
            return
    await forget(services, [reader])


#: How many times ``mend`` reads the pages again when their generation moved meanwhile.
_MEND_TRIES = 3


async def _mend_once(services: Services, reader: int, change: Change) -> bool | None:
    """One attempt of ``mend``: True when the pages were written, False when they must be
    forgotten instead, None when the generation moved before they could be written."""
    variants = [DEFAULT_VARIANT, *(str(n) for n in CACHED_LIMITS)]
    names = [_generation_key(reader), *(_page_key(reader, v) for v in variants)]
    celebrities, own, *raws = await services.cache.get_many([_CELEBRITY_GENERATION, *names])
    current = _generations(own, celebrities)
    fresh = ids.token(4).encode()
    stamped = _generations(fresh, celebrities)
    now_ms = int(time.time() * 1000)
    writes: dict[str, tuple[bytes, int]] = {}
    for page_variant, raw in zip(variants, raws, strict=True):
        header = _header(raw) if raw is not None else None
        slot = slot_of(_page_key(reader, page_variant), current, raw)
        if raw is None or header is None or slot.cached is None:
            continue  # not servable now anyway
        ttl = PAGE_MAX_AGE - (now_ms - header.checked_at) // 1000
        if ttl < 1:
            continue
        changed = await change(page_variant, slot.cached)
        if changed is None:
            return False
        if isinstance(changed, CachedPage):  # as it was: only the stamp is new
            value = bytes([_FORMAT, len(stamped)]) + stamped + raw[2 + raw[1] :]
        else:
            value = _encode(stamped, header.fresh_until, header.rendered_at, header.checked_at, changed, changed.body)
        writes[_page_key(reader, page_variant)] = (value, int(ttl))
    if not writes:
        return False  # no page to keep; the generation still changes
    (swapped,) = await services.cache.swap_many([Swap(_generation_key(reader), own, fresh, _GENERATION_TTL, writes)])
    return True if swapped else None


def limit_of(page_variant: str, default: int) -> int:
    return default if page_variant == DEFAULT_VARIANT else int(page_variant)


async def insert(
    services: Services,
    readers: Sequence[int],
    post_id: int,
    entity: bytes,
    version: int,
    link_for: LinkFor,
    default_limit: int,
    own: Mapping[int, bytes] | None = None,
) -> None:
    """A post just added to these readers' feeds: put its Status (``entity``, the form any
    reader but its author sees; ``own``: the readers who see another form, the author)
    and its fingerprint (``version``) into their kept pages, or make the pages
    unreachable where that cannot be done safely. See the module's documentation."""
    forms = own or {}
    wanted = list(dict.fromkeys([*readers, *forms]))
    for start in range(0, len(wanted), _INSERT_BATCH):
        batch = wanted[start : start + _INSERT_BATCH]
        forms_of_batch = [forms.get(r, entity) for r in batch]
        await _insert_batch(services, batch, post_id, forms_of_batch, version, link_for, default_limit)


#: Readers per round trip (and per script run, which holds Valkey for its duration).
_INSERT_BATCH = 1000
#: The bytes read of a kept page to put a post into it: its header and index (a page of
#: 40 posts has 800 bytes of index; its Link a few hundred more).
_HEAD_BYTES = 4096


async def _insert_batch(
    services: Services,
    wanted: list[int],
    post_id: int,
    entities: list[bytes],
    version: int,
    link_for: LinkFor,
    default_limit: int,
) -> None:
    variants = [DEFAULT_VARIANT, *(str(n) for n in CACHED_LIMITS)]
    # Each page's first bytes only: its header and index say where the post goes, and the
    # store splices it in (a page is tens of kilobytes; the post's Status about one). The
    # generations, far shorter, come whole in the same round trip.
    pages = [_page_key(reader, page_variant) for reader in wanted for page_variant in variants]
    values = await services.cache.get_prefixes(
        [_CELEBRITY_GENERATION, *map(_generation_key, wanted), *pages], _HEAD_BYTES
    )
    celebrities, generations, heads = values[0], values[1 : 1 + len(wanted)], values[1 + len(wanted) :]
    shared = list(dict.fromkeys(entities))  # the Statuses sent, once each
    part_of = {entity: n for n, entity in enumerate(shared)}
    now_ms = int(time.time() * 1000)
    swaps: list[Swap] = []
    swapping: list[int] = []  # whose generation each swap is for
    plain: list[int] = []
    for n, (reader, entity) in enumerate(zip(wanted, entities, strict=True)):
        own = generations[n]
        current = _generations(own, celebrities)
        fresh = ids.token(4).encode()
        stamped = _generations(fresh, celebrities)
        writes: dict[str, tuple[bytes | Splice, int]] = {}
        for page_variant, head in zip(variants, heads[n * len(variants) : (n + 1) * len(variants)], strict=True):
            header = _header(head) if head is not None else None
            if head is None or header is None or header.generations != current:
                continue  # not servable now anyway
            ttl = PAGE_MAX_AGE - (now_ms - header.checked_at) // 1000
            if ttl < 1:
                continue
            limit = limit_of(page_variant, default_limit)
            link = partial(link_for, page_variant)
            splice = _post_splice(head, header, stamped, post_id, len(entity), version, limit, link, part_of[entity])
            if splice is not None:  # else not servable once the generation moves
                writes[_page_key(reader, page_variant)] = (splice, int(ttl))
        # The generation changes either way: a rendering under way (of any page size) may
        # have read the feed before the post arrived.
        if writes:
            swaps.append(Swap(_generation_key(reader), own, fresh, _GENERATION_TTL, writes))
            swapping.append(reader)
        else:
            plain.append(reader)
    if swaps:
        done = await services.cache.swap_many(swaps, shared)
        # A reader whose generation moved meanwhile, or whose page was stored again since
        # its head was read: forgotten (nothing to do), or their pages mended by a write
        # of their own (``mend``) from pages without this post.
        plain += [reader for reader, taken in zip(swapping, done, strict=True) if not taken]
    await forget(services, plain)
