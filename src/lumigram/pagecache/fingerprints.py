"""A fingerprint of what a post's rendered Status shows that may change while nobody
tells the pages that hold it.

Kept pages (``lumigram.pagecache.store``) learn at once of what changes *which* posts they
hold; a post's numbers (likes, comments), its author's profile and numbers, and its
photos' alt text change without telling them. Rather than rendering a page again on a
timer to catch those, its refresh compares each post's fingerprint with the one stored
beside its Status, and renders only when one differs (``lumigram.pagecache.recheck``).

Both sides read the same values: ``version_of`` from the hydrated post a Status was
rendered from, ``current`` from the database and the cache in the order hydration reads
them (pending like counts first, rows second), so a page rendered from rows that were
already out of date when the rendering finished still compares unequal afterwards.
``current`` reads the photos' alt text from their rows rather than from the cached
parts hydration uses: decoding those cost more than the whole query.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import func, select

from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, media_attachments, poll_voters, statuses
from lumigram.posts.counters import favourites_key, parse_pending
from lumigram.posts.models import HydratedPost
from lumigram.services import Services

log = logging.getLogger(__name__)

#: The post's and its author's columns a Status shows that change without an event to
#: the pages (an author's profile edit moves ``updated_at``; an edit, ``edited_at``),
#: and its photos' alt text and focus (changeable after posting), one row per photo in
#: the order a Status lists them.
_ROWS = Prebuilt(
    lambda dialect: (
        select(
            statuses.c.id,
            statuses.c.replies_count,
            statuses.c.reblogs_count,
            statuses.c.favourites_count,
            statuses.c.edited_at,
            statuses.c.visibility,
            accounts.c.followers_count,
            accounts.c.following_count,
            accounts.c.statuses_count,
            accounts.c.last_status_at,
            accounts.c.updated_at,
            accounts.c.locked,
            media_attachments.c.id.label("media_id"),
            media_attachments.c.description,
            media_attachments.c.focus_x,
            media_attachments.c.focus_y,
            # A poll's votes (each voter's choices are cast at once, so voters count them).
            select(func.count()).where(poll_voters.c.poll_id == statuses.c.id).scalar_subquery().label("poll_voters"),
        )
        .select_from(
            statuses.join(accounts, accounts.c.id == statuses.c.account_id).outerjoin(
                media_attachments, media_attachments.c.status_id == statuses.c.id
            )
        )
        .where(among(dialect, statuses.c.id, "ids"))
        .order_by(statuses.c.id, media_attachments.c.position)
    )
)

#: A photo as the fingerprint sees it: id, alt text, focus.
_Photo = tuple[int, str | None, float, float]


def _stamp(value: datetime | None) -> int:
    return -1 if value is None else int(value.timestamp() * 1_000_000)


def _fingerprint(post: Any, favourites: int, author: Any, photos: Sequence[_Photo], voters: int) -> int:
    """The one place both sides compute it: ``post`` and ``author`` are a hydrated post's
    records or one row of ``_ROWS`` (which names its columns as they do)."""
    shown = (
        post.replies_count, post.reblogs_count, favourites, _stamp(post.edited_at), post.visibility,
        author.followers_count, author.following_count, author.statuses_count,
        _stamp(author.last_status_at), _stamp(author.updated_at), bool(author.locked), tuple(photos), voters,
    )  # fmt: skip
    return int.from_bytes(hashlib.blake2b(repr(shown).encode(), digest_size=8).digest(), "big")


def version_of(item: HydratedPost) -> int:
    """The fingerprint of the post as it was hydrated (for the Status rendered from it)."""
    photos = [(m.id, m.description, m.focus_x, m.focus_y) for m in item.media]
    voters = item.poll.voters_count if item.poll is not None else 0
    return _fingerprint(item.post, item.post.favourites_count, item.account, photos, voters)


async def current(services: Services, post_ids: Sequence[int]) -> dict[int, int]:
    """Each post's fingerprint now: one cache round trip and one statement. A post that
    is gone has none; so has every post when the pending like counts cannot be read
    (all then compare unequal, and the page is rendered, as hydration would manage)."""
    wanted = list(dict.fromkeys(post_ids))
    if not wanted:
        return {}
    try:
        deltas = parse_pending(wanted, await services.cache.get_many([favourites_key(i) for i in wanted]))
    except Exception:
        log.warning("could not read pending like counts", exc_info=True)
        return {}
    async with services.db.connect() as conn:
        rows = await _ROWS.rows(conn, {"ids": wanted})
    first: dict[int, Any] = {}  # each post's first row (its photos follow in the others)
    photos: dict[int, list[_Photo]] = {}
    for row in rows:
        first.setdefault(row.id, row)
        found = photos.setdefault(row.id, [])
        if row.media_id is not None:
            found.append((row.media_id, row.description, row.focus_x, row.focus_y))
    fingerprints = {}
    for post_id, row in first.items():
        favourites = row.favourites_count
        delta = deltas.get(post_id, 0)
        if delta:  # as ``with_pending`` shows it
            favourites = max(0, favourites + delta)
        fingerprints[post_id] = _fingerprint(row, favourites, row, photos[post_id], row.poll_voters)
    return fingerprints
