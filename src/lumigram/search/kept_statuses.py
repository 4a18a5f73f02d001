"""Statuses of public posts, each rendered once and kept, not hydrated and rendered on
every request: the explore grid's and the post search's.

Every reader's explore grid is drawn from one shared pool of public posts, and searches
find the same popular posts again and again, so the same posts are rendered over and over:
hydrating a page (its posts, their authors, the viewer's relations and marks: three
statements) and building its Statuses were about half of an explore request's CPU. A
Status of a public, top-level post of an open account is the same for every reader but
for their marks: a function of the post's row, its author's row and its kept parts
(media, hashtags, mentions: ``lumigram.posts.parts``). So a request still reads the rows
fresh, in one statement that also takes out the posts that do not qualify (or no longer:
a post deleted, an author gone private, or for explore undiscoverable, since the pool was
read), and the parts and pending like counts from the cache in one round trip, as
hydration does; it uses a kept Status only when these are what it was rendered from. What
changes all the time is set into the kept Status instead of making it stale: the post's
counts (with its pending likes, as hydration adds them), the Account (kept apart, keyed
on its author's whole row, since its numbers move with every follow and post) and the
reader's marks. The caller hydrates whatever is not answered here.

Kept per process, in memory: it is a memo of a pure function keyed on its whole input,
so it is never stale and nothing needs to tell it of a change; several processes each
keep their own. A post with a poll (whose Status turns on the hour and on the reader's
votes) is rendered for each request, as is any whose media would need signed URLs.
"""

from __future__ import annotations

import dataclasses
import logging
import weakref
from collections.abc import Sequence
from operator import itemgetter
from types import SimpleNamespace
from typing import Any

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.service import account_from_row
from lumigram.entities.accounts import account_entity
from lumigram.entities.statuses import status_entity
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, statuses
from lumigram.posts import parts, poll_rows
from lumigram.posts.counters import favourites_key, parse_pending
from lumigram.posts.hydrate import post_from_row
from lumigram.posts.models import HydratedPost
from lumigram.posts.visibility import media_is_private
from lumigram.search.explore import Marks
from lumigram.search.explore_pool import explorable, public_top_level
from lumigram.services import Services

log = logging.getLogger(__name__)

#: How many Statuses (and Accounts) a process keeps: two explore pools' worth. Past it,
#: all are dropped at once and rendered again as they come (simpler than an LRU, and
#: rare). A kept Status with what it was rendered from is about 9 kB, an Account about
#: 2 kB (measured on the seeded world), so at most about 20 MB a process.
KEPT_MAX = 2000

_POST_NAMES = tuple(statuses.c.keys())
_AUTHOR_NAMES = tuple(accounts.c.keys())
_SPLIT = len(_POST_NAMES)
#: The post's columns that are set into a kept Status on each read.
_POST_COUNTS = ("replies_count", "favourites_count", "reblogs_count", "plays_count")
#: The author's columns only its Account shows, which is kept apart.
_AUTHOR_COUNTS = ("followers_count", "following_count", "statuses_count", "last_status_at")
#: What a kept Status was rendered from, out of a row of ``_shown``.
_RENDERED_FROM = itemgetter(
    *(i for i, name in enumerate(_POST_NAMES) if name not in _POST_COUNTS),
    *(_SPLIT + i for i, name in enumerate(_AUTHOR_NAMES) if name not in _AUTHOR_COUNTS),
)
_ID, _AUTHOR, _REPLIES, _LIKES, _REPOSTS, _PLAYS, _HAS_POLL = (
    _POST_NAMES.index(name)
    for name in ("id", "account_id", "replies_count", "favourites_count", "reblogs_count", "plays_count", "has_poll")
)


def _shown(dialect: str, explorable_only: bool) -> Any:
    """The posts of ``ids`` that qualify, each with its author's row: public, top-level
    and live posts of open accounts, the same for every reader; or explorable ones."""
    where = explorable(dialect) if explorable_only else public_top_level(dialect)
    return (
        select(*statuses.c, *accounts.c)
        .join_from(statuses, accounts, accounts.c.id == statuses.c.account_id)
        .where(among(dialect, statuses.c.id, "ids"), *where)
    )


_EXPLORABLE = Prebuilt(lambda dialect: _shown(dialect, True))
_PUBLIC = Prebuilt(lambda dialect: _shown(dialect, False))


class _Kept:
    """One process's rendered Statuses and Accounts for one set of services (their
    settings give the URLs in them)."""

    def __init__(self, services: Services) -> None:
        self.owner = weakref.ref(services)
        #: Post id → (what its Status was rendered from, the Status for no reader).
        self.statuses: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}
        #: Account id → (its row, its Account).
        self.accounts: dict[int, tuple[tuple[Any, ...], dict[str, Any]]] = {}


_kept: dict[int, _Kept] = {}


def _kept_for(services: Services) -> _Kept:
    kept = _kept.get(id(services))
    if kept is None or kept.owner() is not services:  # new services (an id may be reused)
        kept = _kept[id(services)] = _Kept(services)
        # Dropped with the services (a test process makes several), not kept for ever.
        weakref.finalize(services, _kept.pop, id(services), None)
    return kept


def _named(names: Sequence[str], values: Sequence[Any]) -> Any:
    """Values read by column name, as the row builders read them."""
    return SimpleNamespace(**dict(zip(names, values, strict=True)))


async def rendered(
    services: Services,
    conn: AsyncConnection,
    viewer_id: int | None,
    post_ids: Sequence[int],
    marks: Marks,
    explorable_only: bool = False,
) -> dict[int, dict[str, Any]]:
    """The Statuses of those of ``post_ids`` that are public, top-level posts of open
    accounts other than the viewer's (``explorable_only``: explorable), by post id, as the
    viewer sees them (``marks``: its own among them). Whether the viewer may see each
    (blocks, mutes) is the caller's to have decided."""
    if not post_ids:
        return {}
    ids = list(post_ids)
    # The pending like counts before the rows (``lumigram.posts.counters.with_pending``).
    try:
        values = await services.cache.get_many([*map(favourites_key, ids), *map(parts.key, ids)])
    except Exception:
        # The database answers alone (the parts from it, no pending likes), as hydration does.
        log.warning("could not read pending like counts and post parts", exc_info=True)
        values = [None] * (2 * len(ids))
    deltas = parse_pending(ids, values[: len(ids)])
    raw_parts = dict(zip(ids, values[len(ids) :], strict=True))
    read = await (_EXPLORABLE if explorable_only else _PUBLIC).rows(conn, {"ids": ids})
    # Its own post shows whether it pinned it: hydrated, by the caller.
    rows = [row for row in read if row[_AUTHOR] != viewer_id]
    kept = _kept_for(services)
    statuses_of: dict[int, dict[str, Any]] = {}
    unkept: list[Any] = []
    for row in rows:
        entry = kept.statuses.get(row[_ID])
        if entry is not None and entry[0] == (_RENDERED_FROM(row), raw_parts.get(row[_ID])):
            statuses_of[row[_ID]] = entry[1]
        else:
            unkept.append(row)
    if unkept:
        for row, (item, raw) in zip(unkept, await _items(conn, services, unkept, raw_parts), strict=True):
            if item.post.has_poll or any(m.private for m in item.media):
                statuses_of[row[_ID]] = await _whole(services, conn, item, viewer_id)
                continue
            status = statuses_of[row[_ID]] = status_entity(services, item, None, {})
            if len(kept.statuses) >= KEPT_MAX:
                kept.statuses.clear()
            kept.statuses[row[_ID]] = ((_RENDERED_FROM(row), raw), status)
    found: dict[int, dict[str, Any]] = {}
    for row in rows:
        post_id = row[_ID]
        status = statuses_of[post_id]
        entity = dict(status)
        entity["replies_count"] = row[_REPLIES]
        delta = deltas.get(post_id, 0)
        entity["favourites_count"] = max(0, row[_LIKES] + delta) if delta else row[_LIKES]
        entity["reblogs_count"] = row[_REPOSTS]
        entity["lumigram"] = {**status["lumigram"], "plays_count": int(row[_PLAYS] or 0)}
        entity["account"] = _account(services, kept, row)
        if viewer_id is not None:
            # In the order (and with the values) a Status for a signed-in reader has them
            # (``pinned`` is only for the author, whose posts are not answered here).
            entity.update(
                favourited=post_id in marks.liked,
                reblogged=post_id in marks.reposted,
                muted=False,
                bookmarked=post_id in marks.bookmarked,
            )
        found[post_id] = entity
    return found


def _account(services: Services, kept: _Kept, row: Any) -> dict[str, Any]:
    author_row = tuple(row[_SPLIT:])
    entry = kept.accounts.get(row[_AUTHOR])
    if entry is not None and entry[0] == author_row:
        return entry[1]
    entity = account_entity(services.settings, account_from_row(_named(_AUTHOR_NAMES, author_row))).model_dump(
        mode="json"
    )
    if len(kept.accounts) >= KEPT_MAX:
        kept.accounts.clear()
    kept.accounts[row[_AUTHOR]] = (author_row, entity)
    return entity


async def _items(
    conn: AsyncConnection, services: Services, rows: Sequence[Any], raw_parts: dict[int, bytes | None]
) -> list[tuple[HydratedPost, bytes]]:
    """The posts of ``rows`` as hydration makes them for no reader, each with its parts as
    the cache holds them: ``raw_parts``' where they are of the row's version, else read
    from the database for all such posts at once (two statements for a page, not two a
    post) and kept, and then as kept."""
    posts = [post_from_row(_named(_POST_NAMES, row[:_SPLIT])) for row in rows]
    versions = {post.id: parts.version_of(post.edited_at) for post in posts}
    held = {post.id: raw for post in posts if (raw := raw_parts.get(post.id)) is not None}
    cached = parts.from_cached(list(held), list(held.values()))
    found = {i: p for i, p in cached.items() if p.version == versions[i]}
    missing = {i: version for i, version in versions.items() if i not in found}
    raw_of = {i: held[i] for i in found}
    if missing:
        read = await parts.from_database(conn, missing)
        # What the cache now holds for them, so their Statuses are kept against it.
        raw_of.update(await parts.keep(services.cache, read))
        found.update(read)
    made: list[tuple[HydratedPost, bytes]] = []
    for row, post in zip(rows, posts, strict=True):
        author = account_from_row(_named(_AUTHOR_NAMES, row[_SPLIT:]))
        private = media_is_private(author.locked, post.visibility)
        media = [m if m.private == private else dataclasses.replace(m, private=private) for m in found[post.id].media]
        item = HydratedPost(
            post=post, account=author, media=media, tags=found[post.id].tags, mentions=found[post.id].mentions
        )
        made.append((item, raw_of[post.id]))
    return made


async def _whole(
    services: Services, conn: AsyncConnection, item: HydratedPost, viewer_id: int | None
) -> dict[str, Any]:
    """The Status of a post that may not be kept, rendered for the viewer: one with a poll
    (which turns on the hour and on the reader's votes) or with media served through
    signed URLs (which expire)."""
    polls = await poll_rows.poll_views(conn, viewer_id, [item.post.id]) if item.post.has_poll else {}
    return status_entity(services, dataclasses.replace(item, poll=polls.get(item.post.id)), viewer_id, {})
