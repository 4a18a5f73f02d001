"""Synthetic worlds for benchmarks and demos (``lumigram seed``).

A world is planned first, entirely in numpy (``plan_world``: who follows whom, who
posted what and when), then written with bulk inserts (``write_world``): COPY through
asyncpg on PostgreSQL, ``executemany`` in 5,000-row transactions on SQLite. Nothing
goes through the services' one-row-at-a-time paths, and no events are emitted: the
seed describes a past that consumers never saw, so feeds must be built on read.

Shape (docs/benchmarks.md, "Feed"; ``../shared/PERFORMANCE.md`` section 6):

* users ``user_1`` .. ``user_N``, confirmed, all sharing one argon2 hash of
  ``SEED_PASSWORD`` (hashing 100k passwords would take an hour of CPU);
* follows: out-degree log-normal with mean 40 and median 25 (socfb-Reed98's), targets
  drawn with Zipf weights so a few accounts are followed by 5 % of users or more; or an
  undirected edge list (``--edges``) loaded as two follows per edge, as DeathStarBench does;
* posts: Poisson(``posts``) per user, public, spread over the last 30 days, some with a
  hashtag, each with one ready photo whose variants all point at one shared set of
  placeholder blobs, uploaded once.

Ids are made from each row's own ``created_at`` with the layout of ``lumigram.ids``,
so they sort by time exactly as ids made live would.
"""

from __future__ import annotations

import io
import math
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import orjson
from sqlalchemy import Table, delete, func, select, text

from lumigram import ids
from lumigram.accounts import passwords
from lumigram.infra import tables as t
from lumigram.services import Services

#: Every seeded user's password (documented in the README and printed by the command).
SEED_PASSWORD = "lumigram-seed-password"  # noqa: S105 - public by design: a test world's password
#: Rows per SQLite transaction; COPY takes bigger chunks, it has no per-row statement cost.
SQLITE_BATCH = 5_000
COPY_BATCH = 50_000

OUT_DEGREE_MEAN = 40.0
OUT_DEGREE_MEDIAN = 25.0
#: Zipf exponent of the follow targets' popularity. 0.75 puts the top account at about a
#: third of 100k users and a few dozen accounts at 5 % or more (celebrities, which
#: exercise hybrid fan-out), with a median in-degree near 20.
ZIPF_EXPONENT = 0.75
POST_WINDOW_MS = 30 * 86_400_000
TAG_SHARE = 0.3
TAGS = (
    "photography",
    "sunset",
    "travel",
    "food",
    "nature",
    "cats",
    "dogs",
    "streetphotography",
    "portrait",
    "architecture",
    "coffee",
    "beach",
    "mountains",
    "art",
    "flowers",
    "night",
    "city",
    "friends",
    "music",
    "books",
)
_TEXTS = (
    "Another day, another photo",
    "Caught this on the way home",
    "Light was just right",
    "Weekend mood",
    "No filter needed",
    "Throwback",
)

DAY_MS = 86_400_000
IntArray = npt.NDArray[np.int64]


class WorldNotEmpty(Exception):
    """The database already has accounts (and --force was not given)."""


@dataclass(frozen=True, slots=True)
class World:
    """A planned world: rows as numpy arrays indexed by user number (0-based)."""

    user_count: int
    shards: IntArray
    user_ms: IntArray  # account creation, Unix ms
    follow_src: IntArray
    follow_dst: IntArray
    post_author: IntArray  # sorted by post id
    post_ms: IntArray
    post_seq: IntArray  # the post's rank among posts of its (ms, shard); see _ranks_within
    post_tag: IntArray  # index into TAGS, or -1


@dataclass(frozen=True, slots=True)
class SeedSummary:
    users: int
    follows: int
    posts: int
    max_in_degree: int
    max_out_degree: int
    seconds: float
    password: str = SEED_PASSWORD


#: ``report(phase, done, total)``; called as each batch lands.
Reporter = Callable[[str, int, int], None]


def _quiet(_phase: str, _done: int, _total: int) -> None:
    return None


# --- planning -----------------------------------------------------------------------------


def synthetic_follows(n: int, rng: np.random.Generator) -> tuple[IntArray, IntArray]:
    """A directed graph on ``n`` users: (follower, followed) pairs, no self-follows, no duplicates."""
    if n < 2:
        empty = np.zeros(0, dtype=np.int64)
        return empty, empty.copy()
    sigma = math.sqrt(2 * math.log(OUT_DEGREE_MEAN / OUT_DEGREE_MEDIAN))
    wanted = np.clip(np.rint(rng.lognormal(math.log(OUT_DEGREE_MEDIAN), sigma, n)), 1, n - 1).astype(np.int64)
    # Popularity by a random rank, so user_1 is not automatically the biggest celebrity.
    ranks = rng.permutation(n).astype(np.float64) + 1
    weights = ranks**-ZIPF_EXPONENT
    weights /= weights.sum()
    keys = np.zeros(0, dtype=np.int64)
    missing = wanted
    for round_ in range(12):
        src = np.repeat(np.arange(n, dtype=np.int64), missing)
        if src.size == 0:
            break
        # Later rounds only fill the gaps left by duplicates; drawing those uniformly
        # converges where re-drawing from the Zipf head would keep hitting the same few.
        dst = rng.choice(n, size=src.size, p=weights) if round_ == 0 else rng.integers(0, n, size=src.size)
        fresh = src * n + dst
        keys = np.unique(np.concatenate([keys, fresh[src != dst]]))
        missing = np.maximum(wanted - np.bincount(keys // n, minlength=n), 0)
    return keys // n, keys % n


def load_edges(path: Path) -> tuple[int, IntArray, IntArray]:
    """An undirected edge list (``u v`` per line, ``%``/``#`` comments) as follows both ways.

    Users are the distinct node ids, numbered in ascending order of id.
    """
    pairs = np.loadtxt(path, dtype=np.int64, comments=("%", "#"), ndmin=2, usecols=(0, 1))
    nodes, index = np.unique(pairs, return_inverse=True)
    index = index.reshape(pairs.shape)
    n = int(nodes.size)
    src = np.concatenate([index[:, 0], index[:, 1]])
    dst = np.concatenate([index[:, 1], index[:, 0]])
    keys = np.unique((src * n + dst)[src != dst])
    return n, keys // n, keys % n


def _ranks_within(keys: IntArray) -> IntArray:
    """For sorted ``keys``, each element's position within its run of equal keys."""
    positions = np.arange(keys.size, dtype=np.int64)
    starts = np.ones(keys.size, dtype=bool)
    starts[1:] = keys[1:] != keys[:-1]
    return positions - np.maximum.accumulate(np.where(starts, positions, 0))


def make_ids(unix_ms: IntArray, shards: IntArray, sequences: IntArray) -> IntArray:
    """``ids.compose`` over arrays: ids that sort by their ``unix_ms``."""
    since = unix_ms - ids.EPOCH_MS
    if since.size and (since.min() < 0 or since.max() > ids.MAX_TIME or sequences.max() > ids.SEQUENCE_MASK):
        raise ValueError("time or sequence out of range for an id")
    return (since << (ids.SHARD_BITS + ids.SEQUENCE_BITS)) | (shards << ids.SEQUENCE_BITS) | sequences


def plan_world(
    users: int, posts_per_user: float, seed: int, edges: Path | None = None, now_ms: int | None = None
) -> World:
    """Everything but the rows themselves; deterministic for a given seed (and ``now_ms``)."""
    rng = np.random.default_rng(seed)
    now_ms = int(time.time() * 1000) if now_ms is None else now_ms
    if edges is not None:
        users, src, dst = load_edges(edges)
    else:
        src, dst = synthetic_follows(users, rng)
    shards = rng.integers(0, ids.SHARD_COUNT, size=users, dtype=np.int64)
    # Accounts were made 60 to 45 days ago, one per distinct millisecond (so their ids
    # need no sequence), in user-number order.
    step = max(1, (15 * DAY_MS) // max(users, 1))
    user_ms = now_ms - 60 * DAY_MS + np.arange(users, dtype=np.int64) * step

    counts = rng.poisson(posts_per_user, size=users) if posts_per_user > 0 else np.zeros(users, dtype=np.int64)
    author = np.repeat(np.arange(users, dtype=np.int64), counts)
    post_ms = rng.integers(now_ms - POST_WINDOW_MS, now_ms - 60_000, size=author.size, dtype=np.int64)
    key = (post_ms << ids.SHARD_BITS) | shards[author]
    order = np.argsort(key, kind="stable")
    author, post_ms, key = author[order], post_ms[order], key[order]
    ranks = _ranks_within(key)
    # Each post and its photo share a millisecond and shard: sequences 2r and 2r+1.
    if ranks.size and ranks.max() >= (ids.SEQUENCE_MASK + 1) // 2:
        raise ValueError("too many posts in one millisecond on one shard")
    tagged = rng.random(author.size) < TAG_SHARE
    tag_weights = 1.0 / np.arange(1, len(TAGS) + 1)
    tag = np.where(tagged, rng.choice(len(TAGS), size=author.size, p=tag_weights / tag_weights.sum()), -1)
    return World(
        user_count=users,
        shards=shards,
        user_ms=user_ms,
        follow_src=src.astype(np.int64),
        follow_dst=dst.astype(np.int64),
        post_author=author,
        post_ms=post_ms,
        post_seq=ranks,
        post_tag=tag.astype(np.int64),
    )


# --- writing ------------------------------------------------------------------------------


def _datetimes(unix_ms: Sequence[int]) -> list[datetime]:
    return [datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in unix_ms]


class _Writer:
    """Bulk inserts of plain tuples, in the fastest way each engine offers."""

    def __init__(self, services: Services, report: Reporter) -> None:
        self.services = services
        self.db = services.db
        self.report = report
        self.postgres = services.db.is_postgres

    async def write(
        self, phase: str, table: Table, columns: Sequence[str], rows: Iterator[list[tuple[Any, ...]]], total: int
    ) -> None:
        done = 0
        self.report(phase, 0, total)
        if self.postgres:
            await self._copy(phase, table, columns, rows, total)
            return
        # SQLite: SQLAlchemy's bind processors turn datetimes into its stored text form
        # (the same the app writes); one transaction per batch keeps the WAL small.
        dialect = self.db.engine.dialect
        processors = [table.c[name].type.dialect_impl(dialect).bind_processor(dialect) for name in columns]
        placeholders = ", ".join("?" for _ in columns)
        # Table and column names come from our own metadata, never from input.
        sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({placeholders})"  # noqa: S608
        converting = [(i, p) for i, p in enumerate(processors) if p is not None and _needs(table, columns[i])]
        # One connection throughout, committing after each batch: the index drops and
        # re-creations must see one schema, which a pooled connection still holding an
        # older read snapshot (the relay's, the janitor's) would not.
        async with self.db.transactional.connect() as conn:
            found = await conn.exec_driver_sql(
                "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = ? AND sql IS NOT NULL",
                (table.name,),
            )
            listed: list[Any] = list(found.all())
            indexes = [(str(row[0]), str(row[1])) for row in listed]
            # Secondary indexes are rebuilt once at the end (a sort) rather than updated
            # row by row; primary keys and unique constraints (sql IS NULL) stay.
            for name, _sql in indexes:
                await conn.exec_driver_sql(f'DROP INDEX "{name}"')
            await conn.commit()
            try:
                for batch in rows:
                    if converting:
                        batch = [_convert(row, converting) for row in batch]
                    await conn.exec_driver_sql(sql, batch)
                    await conn.commit()
                    done += len(batch)
                    self.report(phase, done, total)
            finally:
                await conn.rollback()
                for _name, create in indexes:
                    await conn.exec_driver_sql(create)
                await conn.commit()

    async def _copy(
        self, phase: str, table: Table, columns: Sequence[str], rows: Iterator[list[tuple[Any, ...]]], total: int
    ) -> None:
        """PostgreSQL: COPY in one transaction per table, secondary indexes rebuilt after."""
        done = 0
        async with self.db.begin() as conn:
            raw = await conn.get_raw_connection()
            driver: Any = raw.driver_connection
            await driver.execute("SET LOCAL maintenance_work_mem = '256MB'")
            if await driver.fetchval("SELECT rolsuper FROM pg_roles WHERE rolname = current_user"):
                # Skips the foreign-key triggers: one index probe per reference per row, and
                # the rows are consistent by construction (users before accounts before
                # follows). Only a superuser may; others just pay for the checks.
                await driver.execute("SET LOCAL session_replication_role = replica")
            # Building an index once from sorted data is several times cheaper than
            # maintaining it through millions of inserts. Indexes that back a constraint
            # (primary key, unique) stay: they are what keeps the rows valid. The whole
            # table load is one transaction, so nobody ever sees the table without them.
            indexes = await driver.fetch(
                "SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = current_schema() "
                "AND tablename = $1 AND indexname NOT IN "
                "(SELECT conname FROM pg_constraint WHERE conrelid = $1::regclass)",
                table.name,
            )
            for index in indexes:
                await driver.execute(f'DROP INDEX "{index["indexname"]}"')
            for batch in rows:
                await driver.copy_records_to_table(table.name, records=batch, columns=list(columns))
                done += len(batch)
                self.report(phase, done, total)
            for index in indexes:
                await driver.execute(index["indexdef"])


def _needs(table: Table, column: str) -> bool:
    # Only datetimes need converting; sqlite3 takes ints, strings and bools as they are.
    return isinstance(table.c[column].type, t.UTCDateTime)


def _convert(row: tuple[Any, ...], converting: Sequence[tuple[int, Callable[[Any], Any]]]) -> tuple[Any, ...]:
    values = list(row)
    for index, processor in converting:
        values[index] = processor(values[index])
    return tuple(values)


def _chunks(total: int, size: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, size):
        yield start, min(start + size, total)


def placeholder_jpeg(size: int = 1080) -> bytes:
    """A small, real photo-like JPEG: a colour gradient with a few circles."""
    from PIL import Image, ImageDraw

    y, x = np.mgrid[0:size, 0:size].astype(np.float32) / size
    pixels = np.stack([255 * x, 255 * (1 - y), 128 + 127 * np.sin(6 * x * y)], axis=-1)
    image = Image.fromarray(pixels.clip(0, 255).astype(np.uint8), "RGB")
    draw = ImageDraw.Draw(image)
    for i in range(5):
        r = size // (6 + i)
        cx, cy = size * (0.2 + 0.15 * i), size * (0.3 + 0.1 * i)
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), outline=(255, 255, 255), width=max(2, size // 200))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


async def _upload_placeholders(services: Services, anchor_id: int) -> tuple[str, str, str | None, int, str]:
    """Store one processed photo under the anchor media's id; (variants, meta, blurhash, size, sha256)."""
    import asyncio
    import hashlib

    from lumigram.uploads.images import process_image

    data = placeholder_jpeg()
    processed = await asyncio.to_thread(process_image, data)
    extensions = {"image/jpeg": "jpg", "image/webp": "webp"}
    variants: dict[str, dict[str, dict[str, Any]]] = {}
    for variant in processed.variants:
        digest = hashlib.sha256(variant.data).hexdigest()[:16]
        key = f"media/{anchor_id}/{variant.name}-{digest}.{extensions[variant.content_type]}"
        await services.blobs.put(key, variant.data, variant.content_type)
        variants.setdefault(variant.name, {})[variant.content_type.removeprefix("image/")] = {
            "key": key,
            "width": variant.width,
            "height": variant.height,
            "size": len(variant.data),
        }

    def dims(width: int, height: int) -> dict[str, Any]:
        return {"width": width, "height": height, "size": f"{width}x{height}", "aspect": round(width / height, 4)}

    largest = next(iter(variants.values()))["jpeg"]
    small = variants.get("320", variants.get("150", next(iter(variants.values()))))["jpeg"]
    meta = {
        "original": dims(processed.width, processed.height),
        "focus": {"x": 0.0, "y": 0.0},
        "large": dims(largest["width"], largest["height"]),
        "small": dims(small["width"], small["height"]),
    }
    return (
        orjson.dumps(variants).decode(),
        orjson.dumps(meta).decode(),
        processed.blurhash,
        len(data),
        hashlib.sha256(data).hexdigest(),
    )


async def count_accounts(services: Services) -> int:
    async with services.db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(t.accounts))).scalar_one())


async def _erase(services: Services) -> None:
    """Remove every row of every table (``--force``), children first, and a previous
    seed's placeholder blobs (other blobs stay: the janitor only sweeps what rows name)."""
    from lumigram.posts.service import blob_keys

    async with services.db.connect() as conn:
        anchors = (
            await conn.execute(
                select(t.media_attachments).where(t.media_attachments.c.status_id == t.media_attachments.c.id)
            )
        ).all()
    for anchor in anchors:
        for key in blob_keys(anchor):
            await services.blobs.delete(key)
    names = [table.name for table in reversed(t.metadata.sorted_tables)]
    async with services.db.begin() as conn:
        if services.db.is_postgres:
            await conn.execute(text(f"TRUNCATE {', '.join(names)}"))
        else:
            for table in reversed(t.metadata.sorted_tables):
                await conn.execute(delete(table))
    await services.cache.flush()


async def write_world(services: Services, world: World, force: bool = False, report: Reporter = _quiet) -> SeedSummary:
    """Insert ``world`` into the configured database and blob store."""
    started = time.perf_counter()
    if await count_accounts(services):
        if not force:
            raise WorldNotEmpty("the database already has accounts; pass --force to erase them and seed anyway")
        await _erase(services)
    writer = _Writer(services, report)
    n = world.user_count
    shards = world.shards
    account_ids = make_ids(world.user_ms, shards, np.zeros(n, dtype=np.int64))
    user_ids = make_ids(world.user_ms, shards, np.ones(n, dtype=np.int64))
    followers = np.bincount(world.follow_dst, minlength=n)
    following = np.bincount(world.follow_src, minlength=n)
    statuses_count = np.bincount(world.post_author, minlength=n)
    last_status = np.full(n, -1, dtype=np.int64)
    np.maximum.at(last_status, world.post_author, world.post_ms)
    # One hash for everyone: argon2 is deliberately slow (tens of ms each).
    password_hash = await passwords.hash_password(SEED_PASSWORD)
    now = datetime.now(UTC)
    # Half the users signed in within the last week, the rest within two: Mastodon's
    # "active" cut-off (7 days) then splits them about evenly.
    sign_in_ms = int(now.timestamp() * 1000) - np.random.default_rng(n).integers(0, 14 * DAY_MS, size=n)

    def user_rows() -> Iterator[list[tuple[Any, ...]]]:
        for a, b in _chunks(n, COPY_BATCH if writer.postgres else SQLITE_BATCH):
            created = _datetimes(world.user_ms[a:b].tolist())
            signed = _datetimes(sign_in_ms[a:b].tolist())
            yield [
                (
                    uid,
                    f"user_{i + 1}@seed.example",
                    f"user_{i + 1}@seed.example",
                    c,
                    password_hash,
                    "en",
                    False,
                    False,
                    c,
                    s,
                )
                for i, uid, c, s in zip(range(a, b), user_ids[a:b].tolist(), created, signed, strict=True)
            ]

    await writer.write(
        "users",
        t.users,
        (
            "id",
            "email",
            "email_lower",
            "email_verified_at",
            "password_hash",
            "locale",
            "is_admin",
            "disabled",
            "created_at",
            "last_sign_in_at",
        ),
        user_rows(),
        n,
    )

    def account_rows() -> Iterator[list[tuple[Any, ...]]]:
        for a, b in _chunks(n, COPY_BATCH if writer.postgres else SQLITE_BATCH):
            created = _datetimes(world.user_ms[a:b].tolist())
            last = [None if ms < 0 else datetime.fromtimestamp(ms / 1000, tz=UTC) for ms in last_status[a:b].tolist()]
            yield [
                (
                    aid,
                    uid,
                    f"user_{i + 1}",
                    f"user_{i + 1}",
                    f"User {i + 1}",
                    "",
                    False,
                    False,
                    True,
                    "personal",
                    fo,
                    fi,
                    sc,
                    ls,
                    c,
                    c,
                )
                for i, aid, uid, fo, fi, sc, ls, c in zip(
                    range(a, b),
                    account_ids[a:b].tolist(),
                    user_ids[a:b].tolist(),
                    followers[a:b].tolist(),
                    following[a:b].tolist(),
                    statuses_count[a:b].tolist(),
                    last,
                    created,
                    strict=True,
                )
            ]

    await writer.write(
        "accounts",
        t.accounts,
        (
            "id",
            "user_id",
            "username",
            "username_lower",
            "display_name",
            "note",
            "locked",
            "bot",
            "discoverable",
            "kind",
            "followers_count",
            "following_count",
            "statuses_count",
            "last_status_at",
            "created_at",
            "updated_at",
        ),
        account_rows(),
        n,
    )

    edges = world.follow_src.size
    # Follows were made 45 to 30 days ago, in a random order, one per distinct millisecond.
    follow_order = np.random.default_rng(edges).permutation(edges)
    follow_ms = np.empty(edges, dtype=np.int64)
    follow_ms[follow_order] = (
        int(world.user_ms.max(initial=0))
        + DAY_MS
        + np.arange(edges, dtype=np.int64) * max(1, (15 * DAY_MS) // max(edges, 1))
    )
    follow_ids = make_ids(follow_ms, shards[world.follow_src], np.zeros(edges, dtype=np.int64))

    def follow_rows() -> Iterator[list[tuple[Any, ...]]]:
        for a, b in _chunks(edges, COPY_BATCH if writer.postgres else SQLITE_BATCH):
            yield list(
                zip(
                    account_ids[world.follow_src[a:b]].tolist(),
                    account_ids[world.follow_dst[a:b]].tolist(),
                    follow_ids[a:b].tolist(),
                    _datetimes(follow_ms[a:b].tolist()),
                    strict=True,
                )
            )

    await writer.write(
        "follows", t.follows, ("account_id", "target_account_id", "id", "created_at"), follow_rows(), edges
    )

    posts = world.post_author.size
    post_shards = shards[world.post_author]
    status_ids = make_ids(world.post_ms, post_shards, 2 * world.post_seq)
    media_ids = make_ids(world.post_ms, post_shards, 2 * world.post_seq + 1)
    texts = [f"{line} #{tag}" for line in _TEXTS for tag in TAGS]
    plain = list(_TEXTS)
    text_pick = np.random.default_rng(posts).integers(0, len(_TEXTS), size=posts)

    account_ids_list = account_ids.tolist()

    def status_rows() -> Iterator[list[tuple[Any, ...]]]:
        for a, b in _chunks(posts, COPY_BATCH if writer.postgres else SQLITE_BATCH):
            yield [
                (
                    sid,
                    account_ids_list[author],
                    plain[pick] if tag < 0 else texts[pick * len(TAGS) + tag],
                    "public",
                    "post",
                    created,
                )
                for sid, author, pick, tag, created in zip(
                    status_ids[a:b].tolist(),
                    world.post_author[a:b].tolist(),
                    text_pick[a:b].tolist(),
                    world.post_tag[a:b].tolist(),
                    _datetimes(world.post_ms[a:b].tolist()),
                    strict=True,
                )
            ]

    await writer.write(
        "posts", t.statuses, ("id", "account_id", "text", "visibility", "kind", "created_at"), status_rows(), posts
    )

    anchor_id = services.ids.next_id(int(shards[0]) if n else None)
    variants, meta, blurhash, size, sha256 = await _upload_placeholders(services, anchor_id)

    def media_rows() -> Iterator[list[tuple[Any, ...]]]:
        if n:
            created = datetime.now(UTC)
            # The anchor owns the shared blobs. It claims a post id no post has (its own
            # id), so the janitor never sweeps it as an orphan, and deleting any seeded
            # post leaves the blobs alone: they belong to a media row still "attached".
            yield [
                (
                    anchor_id,
                    account_ids_list[0],
                    anchor_id,
                    0,
                    "image",
                    "ready",
                    "image/jpeg",
                    size,
                    sha256,
                    variants,
                    meta,
                    blurhash,
                    False,
                    created,
                    created,
                )
            ]
        for a, b in _chunks(posts, COPY_BATCH if writer.postgres else SQLITE_BATCH):
            created_list = _datetimes(world.post_ms[a:b].tolist())
            yield [
                (
                    mid,
                    account_ids_list[author],
                    sid,
                    0,
                    "image",
                    "ready",
                    "image/jpeg",
                    size,
                    sha256,
                    variants,
                    meta,
                    blurhash,
                    False,
                    c,
                    c,
                )
                for mid, author, sid, c in zip(
                    media_ids[a:b].tolist(),
                    world.post_author[a:b].tolist(),
                    status_ids[a:b].tolist(),
                    created_list,
                    strict=True,
                )
            ]

    await writer.write(
        "media",
        t.media_attachments,
        (
            "id",
            "account_id",
            "status_id",
            "position",
            "kind",
            "state",
            "content_type",
            "size",
            "sha256",
            "variants",
            "meta",
            "blurhash",
            "private",
            "created_at",
            "processed_at",
        ),
        media_rows(),
        posts + (1 if n else 0),
    )

    tagged = np.flatnonzero(world.post_tag >= 0)
    used_tags = sorted({int(x) for x in np.unique(world.post_tag[tagged])})
    tag_ids = {index: services.ids.next_id() for index in used_tags}
    await writer.write(
        "tags",
        t.tags,
        ("id", "name", "name_lower", "created_at"),
        iter([[(tag_ids[i], TAGS[i], TAGS[i].lower(), now) for i in used_tags]] if used_tags else []),
        len(used_tags),
    )
    tag_id_of = np.zeros(len(TAGS), dtype=np.int64)
    for index, tag_id in tag_ids.items():
        tag_id_of[index] = tag_id

    def status_tag_rows() -> Iterator[list[tuple[Any, ...]]]:
        for a, b in _chunks(tagged.size, COPY_BATCH if writer.postgres else SQLITE_BATCH):
            chosen = tagged[a:b]
            yield list(zip(status_ids[chosen].tolist(), tag_id_of[world.post_tag[chosen]].tolist(), strict=True))

    await writer.write("hashtags", t.status_tags, ("status_id", "tag_id"), status_tag_rows(), int(tagged.size))
    if services.db.is_postgres:
        # Fresh statistics, so the planner's first queries on the new world use the indexes;
        # and the vacuum a bulk load calls for, done now rather than by autovacuum in the
        # first minute of serving (it would read every new table, a million posts' worth,
        # beside the first readers), which also sets the rows' hint bits and the visibility
        # map that index-only scans need. VACUUM runs outside a transaction: the reads'
        # connection autocommits.
        async with services.db.connect() as conn:
            await conn.execute(text("VACUUM (ANALYZE)"))
    return SeedSummary(
        users=n,
        follows=edges,
        posts=posts,
        max_in_degree=int(followers.max(initial=0)),
        max_out_degree=int(following.max(initial=0)),
        seconds=time.perf_counter() - started,
    )
