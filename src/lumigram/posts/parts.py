"""The parts of a post that only an edit changes: its media, hashtags and mentions.

Hydrating a page read them with three queries (now two) every time, though they almost never
change. They are kept in the cache as one small document per post (``post:parts:{id}``)
for ``PARTS_TTL`` seconds, so a page whose posts were shown before needs none of those
queries. Each document names the edit it was read after (the post's ``edited_at``), and
a reader, who has the post's row fresh anyway, uses it only when that still matches: an
edit therefore can never be hidden by a document read just before it, whatever the
timing. A change to an attached photo's alt text or focus point (which is not an edit)
deletes the document instead.

What may change without an edit is never kept here: counts, visibility, the author and
the viewer's own marks come from their rows on every read, so a like, a block or an
account going private shows at once. The one stored field that can lag is a photo's
``private`` flag when its author's lock changes; ``lumigram.posts.hydrate`` therefore sets
it from the author's row and the post's visibility, the same rule the database applies.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import orjson
from sqlalchemy import BigInteger, cast, literal_column, null, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.cache import Cache
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, media_attachments, mentions, status_tags, tags
from lumigram.posts.models import Mention
from lumigram.services import Services
from lumigram.uploads.models import MediaRecord, media_record

log = logging.getLogger(__name__)

#: Long enough that a page read again finds its posts' parts; short enough that a
#: missed invalidation (the cache was unreachable at the edit) does not last.
PARTS_TTL = 600


@dataclass(frozen=True, slots=True)
class Parts:
    media: list[MediaRecord]
    tags: list[str]
    mentions: list[Mention]
    #: The post's ``edited_at`` when these were read (``version_of``).
    version: str | None = None


EMPTY = Parts([], [], [])


def version_of(edited_at: datetime | None) -> str | None:
    return edited_at.isoformat() if edited_at is not None else None


def key(status_id: int) -> str:
    return f"post:parts:{status_id}"


def encode(parts: Parts) -> bytes:
    # orjson writes dataclasses as objects natively; the mentions go as pairs.
    mentioned = [[m.id, m.username] for m in parts.mentions]
    return orjson.dumps({"m": parts.media, "t": parts.tags, "n": mentioned, "v": parts.version})


def decode(raw: bytes) -> Parts:
    data: dict[str, Any] = orjson.loads(raw)
    return Parts(
        media=[MediaRecord(**item) for item in data["m"]],
        tags=list(data["t"]),
        mentions=[Mention(int(mention_id), str(username)) for mention_id, username in data["n"]],
        version=data["v"],
    )


_MEDIA = Prebuilt(
    lambda dialect: (
        select(media_attachments)
        .where(among(dialect, media_attachments.c.status_id, "ids"))
        .order_by(media_attachments.c.status_id, media_attachments.c.position)
    )
)


def _tags_and_mentions(dialect: str) -> Any:
    """A post's hashtags (kind 0, by name) and mentioned accounts (kind 1) in one statement."""
    tagged = select(
        literal_column("0").label("kind"),
        status_tags.c.status_id,
        cast(null(), BigInteger).label("account_id"),
        tags.c.name.label("name"),
        tags.c.name_lower.label("sort_key"),
    ).join(tags, tags.c.id == status_tags.c.tag_id)
    mentioned = select(
        literal_column("1"), mentions.c.status_id, accounts.c.id, accounts.c.username, literal_column("''")
    ).join(accounts, accounts.c.id == mentions.c.account_id)
    return union_all(
        tagged.where(among(dialect, status_tags.c.status_id, "ids")),
        mentioned.where(among(dialect, mentions.c.status_id, "ids")),
    ).order_by(literal_column("kind"), literal_column("sort_key"))


_TAGS_AND_MENTIONS = Prebuilt(_tags_and_mentions)


async def from_database(conn: AsyncConnection, versions: Mapping[int, str | None]) -> dict[int, Parts]:
    """The parts of the posts in ``versions`` (post id → the version of its row just read),
    every one of them, empty parts included; two queries."""
    status_ids = list(versions)
    params = {"ids": status_ids}
    media: dict[int, list[MediaRecord]] = {}
    for row in await _MEDIA.rows(conn, params):
        media.setdefault(row.status_id, []).append(media_record(row))
    tag_names: dict[int, list[str]] = {}
    mentioned: dict[int, list[Mention]] = {}
    for kind, status_id, account_id, name, _sort_key in await _TAGS_AND_MENTIONS.rows(conn, params):
        if kind == 0:
            tag_names.setdefault(status_id, []).append(name)
        else:
            mentioned.setdefault(status_id, []).append(Mention(account_id, name))
    return {i: Parts(media.get(i, []), tag_names.get(i, []), mentioned.get(i, []), versions[i]) for i in status_ids}


def from_cached(status_ids: Sequence[int], values: Sequence[bytes | None]) -> dict[int, Parts]:
    """The parts found among fetched ``key(i)`` values; an unreadable document is a miss."""
    found: dict[int, Parts] = {}
    for status_id, raw in zip(status_ids, values, strict=True):
        if raw is None:
            continue
        try:
            found[status_id] = decode(raw)
        except (ValueError, TypeError, KeyError):
            log.warning("unreadable cached parts of post %s", status_id)
    return found


async def keep(cache: Cache, parts: dict[int, Parts]) -> dict[int, bytes]:
    """Store freshly read parts, and say what was stored for each post (its ``encode``).
    Best effort: the database stays the source."""
    encoded = {i: encode(p) for i, p in parts.items()}
    if not encoded:
        return encoded
    try:
        await cache.set_many({key(i): raw for i, raw in encoded.items()}, ttl=PARTS_TTL)
    except Exception:
        log.warning("could not cache post parts", exc_info=True)
    return encoded


async def forget(services: Services, *status_ids: int) -> None:
    """Call after an edit, a media change or a deletion has committed."""
    if not status_ids:
        return
    try:
        await services.cache.delete(*(key(i) for i in status_ids))
    except Exception:
        # The change is committed; the stale document lasts at most PARTS_TTL.
        log.warning("could not drop cached parts of %s", status_ids, exc_info=True)
