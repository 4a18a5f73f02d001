"""Keeping the index current: one post or account at a time (the bus consumers), or all
of them from the tables (``lumigram search reindex``).

Each step reads the row as it is now and writes what the index should hold, so running
one twice, or out of order with another, leaves the same index: the consumers need no
record of what they applied.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

from sqlalchemy import Select, and_, bindparam, case, delete, exists, func, insert, literal, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import (
    accounts,
    media_attachments,
    search_account_grams,
    search_account_words,
    search_accounts,
    search_posts,
    search_tag_days,
    search_tags,
    statuses,
)
from lumigram.search import tag_counts
from lumigram.search.grams import trigrams
from lumigram.search.index import index_for
from lumigram.services import Services

#: Accounts read and written per transaction while rebuilding (each one's trigrams are cut here).
BATCH = 500
#: Posts per transaction while rebuilding: a few statements each, whatever its size.
POST_BATCH = 5000


def _body(row: Any, descriptions: Sequence[str]) -> str:
    """What a post is found by: its caption, content warning and photos' alt texts."""
    return "\n".join(part for part in (row.text, row.spoiler_text, *descriptions) if part)


def _build_post_rows(dialect: str) -> Select[Any]:
    """The posts' rows with their photos' alt texts, one row per photo (or one without),
    in one read where the post and its photos took one each."""
    return (
        select(
            statuses.c.id,
            statuses.c.account_id,
            statuses.c.text,
            statuses.c.spoiler_text,
            statuses.c.in_reply_to_id,
            statuses.c.created_at,
            media_attachments.c.id.label("media_id"),
            media_attachments.c.description,
        )
        .select_from(statuses.outerjoin(media_attachments, media_attachments.c.status_id == statuses.c.id))
        .where(among(dialect, statuses.c.id, "ids"), statuses.c.deleted_at.is_(None))
        .order_by(statuses.c.id, media_attachments.c.position)
    )


_POST_COLUMNS = ("status_id", "account_id", "body", "has_media", "is_reply", "created_s")


def _build_put_posts(dialect: str) -> Any:
    """Write a post's row, or replace it (an edit, a redelivered event): one statement."""
    upsert = (pg_insert if dialect == "postgresql" else sqlite_insert)(search_posts).values(
        {name: bindparam(name) for name in _POST_COLUMNS}
    )
    return upsert.on_conflict_do_update(
        index_elements=["status_id"], set_={name: upsert.excluded[name] for name in _POST_COLUMNS[1:]}
    )


_POST_ROWS = Prebuilt(_build_post_rows)
_PUT_POSTS = Prebuilt(_build_put_posts)
_DROP_POSTS = Prebuilt(lambda dialect: delete(search_posts).where(among(dialect, search_posts.c.status_id, "ids")))


async def _index_posts(conn: AsyncConnection, status_ids: Sequence[int], *, tag_uses: bool = True) -> None:
    """Index these posts as they are now, and forget those that are gone. ``tag_uses``
    False leaves the kept hashtag counts alone (a new post that is not a use)."""
    index = index_for(conn.dialect.name)
    ids = sorted(set(status_ids))
    found: dict[int, Any] = {}
    described: dict[int, list[str]] = {}
    media: set[int] = set()
    for row in await _POST_ROWS.rows(conn, {"ids": ids}):
        found.setdefault(row.id, row)
        if row.media_id is not None:
            media.add(row.id)
            if row.description:
                described.setdefault(row.id, []).append(row.description)
    gone = [status_id for status_id in ids if status_id not in found]
    if gone:
        await index.drop(conn, gone)
        await _DROP_POSTS.execute(conn, {"ids": gone})
    entries = [
        {
            "status_id": row.id,
            "account_id": row.account_id,
            "body": _body(row, described.get(row.id, [])),
            "has_media": row.id in media,
            "is_reply": row.in_reply_to_id is not None,
            "created_s": int(row.created_at.timestamp()),
        }
        for row in found.values()
    ]
    if entries:
        await _PUT_POSTS.execute(conn, entries[0] if len(entries) == 1 else entries)
        await index.put(conn, [(entry["status_id"], entry["body"]) for entry in entries])
    if tag_uses:
        await tag_counts.keep_posts(conn, ids)


async def _index_accounts(conn: AsyncConnection, account_ids: Sequence[int]) -> None:
    ids = list(account_ids)
    # A deleted account's entries go, and none are written for it.
    rows = (await conn.execute(select(accounts).where(accounts.c.id.in_(ids), accounts.c.deleted_at.is_(None)))).all()
    await conn.execute(delete(search_account_grams).where(search_account_grams.c.account_id.in_(ids)))
    await conn.execute(delete(search_accounts).where(search_accounts.c.account_id.in_(ids)))
    await conn.execute(delete(search_account_words).where(search_account_words.c.account_id.in_(ids)))
    names: list[dict[str, Any]] = []
    grams_of: list[dict[str, Any]] = []
    words_of: list[dict[str, Any]] = []
    for row in rows:
        grams = trigrams(row.username) | trigrams(row.display_name)
        display = row.display_name.casefold()[:64]
        names.append({"account_id": row.id, "display_lower": display, "grams_count": len(grams)})
        grams_of += [{"gram": gram, "account_id": row.id} for gram in sorted(grams)]
        # Words as ``accounts.find_accounts`` matches them: after a space, or at the start.
        words_of += [{"word": word, "account_id": row.id} for word in sorted(set(display.split(" ")) - {""})]
    # One statement per table for the whole batch, not two per account.
    for table, values in ((search_accounts, names), (search_account_grams, grams_of), (search_account_words, words_of)):
        if values:
            await conn.execute(insert(table), values)


async def index_post(services: Services, status_id: int, *, tag_uses: bool = True) -> None:
    """Index the post as it is now, or forget it if it is gone (and, unless ``tag_uses``
    is False, bring its hashtag uses in line)."""
    async with services.db.begin() as conn:
        await _index_posts(conn, [status_id], tag_uses=tag_uses)


async def index_account(services: Services, account_id: int) -> None:
    """Index the account's names as they are now, and its posts' hashtag uses (which a
    locked account's posts are not)."""
    async with services.db.begin() as conn:
        await _index_accounts(conn, [account_id])
        await tag_counts.keep_account(conn, account_id)


async def _count(services: Services) -> int:
    async with services.db.connect() as conn:
        posts = (await conn.execute(select(func.count()).select_from(statuses))).scalar_one()
        people = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
    return int(posts) + int(people)


def _bulk_body() -> Any:
    """``_body`` in SQL for a post without alt texts: caption and content warning, the
    empty ones left out, joined by a newline (posts with alt texts are put right after)."""
    newline = literal("\n")
    caption = case((statuses.c.text != "", newline + statuses.c.text), else_="")
    warning = case((statuses.c.spoiler_text != "", newline + statuses.c.spoiler_text), else_="")
    return func.substr(caption + warning, 2)


async def _rebuild_posts(conn: AsyncConnection, after: int, upto: int) -> None:
    """Index the posts with ids in (``after``, ``upto``] with one ``INSERT … SELECT`` (and
    one more for FTS5's table on SQLite), where one post at a time took a statement each."""
    dialect = conn.dialect.name
    in_range = and_(statuses.c.id > after, statuses.c.id <= upto)
    with_media = exists().where(media_attachments.c.status_id == statuses.c.id)
    rows = select(
        statuses.c.id,
        statuses.c.account_id,
        _bulk_body(),
        with_media,
        statuses.c.in_reply_to_id.is_not(None),
        tag_counts.epoch_seconds(dialect, statuses.c.created_at),
    ).where(in_range, statuses.c.deleted_at.is_(None))
    columns = ["status_id", "account_id", "body", "has_media", "is_reply", "created_s"]
    await conn.execute(insert(search_posts).from_select(columns, rows))
    described: dict[int, list[str]] = {}
    for status_id, description in await conn.execute(
        select(media_attachments.c.status_id, media_attachments.c.description)
        .where(
            media_attachments.c.status_id > after,
            media_attachments.c.status_id <= upto,
            media_attachments.c.description.is_not(None),
            media_attachments.c.description != "",
        )
        .order_by(media_attachments.c.status_id, media_attachments.c.position)
    ):
        described.setdefault(int(status_id), []).append(description)
    if described:
        posts = await conn.execute(
            select(statuses.c.id, statuses.c.text, statuses.c.spoiler_text).where(
                statuses.c.id.in_(sorted(described)), statuses.c.deleted_at.is_(None)
            )
        )
        for row in posts:
            await conn.execute(
                update(search_posts)
                .where(search_posts.c.status_id == row.id)
                .values(body=_body(row, described[row.id]))
            )
    await index_for(dialect).fill(conn, after, upto)
    await tag_counts.rebuild_uses(conn, after, upto)


async def _batch_end(conn: AsyncConnection, after: int, size: int) -> int | None:
    """The id ending the next batch of ``size`` posts after ``after``; None when none are left."""
    ids = select(statuses.c.id).where(statuses.c.id > after).order_by(statuses.c.id).limit(size).subquery()
    found = (await conn.execute(select(func.max(ids.c.id)))).scalar()
    return None if found is None else int(found)


async def reindex(services: Services, progress: Callable[[int, int], None] | None = None) -> tuple[int, int]:
    """Rebuild the whole index from the tables, in batches; ``progress(done, total)``
    after each. Returns how many posts and accounts it indexed."""
    total = await _count(services)
    done = 0
    async with services.db.begin() as conn:
        await index_for(conn.dialect.name).clear(conn)
        await conn.execute(delete(search_posts))
        await conn.execute(delete(search_account_grams))
        await conn.execute(delete(search_accounts))
        await conn.execute(delete(search_account_words))
        await tag_counts.clear(conn)
    people = 0
    after = 0
    while True:
        async with services.db.begin() as conn:
            ids = list(
                (
                    await conn.execute(
                        select(accounts.c.id).where(accounts.c.id > after).order_by(accounts.c.id).limit(BATCH)
                    )
                ).scalars()
            )
            if not ids:
                break
            await _index_accounts(conn, ids)
        after = ids[-1]
        done += len(ids)
        people += len(ids)
        if progress is not None:
            progress(done, total)
    after = 0
    while True:
        async with services.db.begin() as conn:
            upto = await _batch_end(conn, after, POST_BATCH)
            if upto is None:
                break
            await _rebuild_posts(conn, after, upto)
            counted = (
                await conn.execute(
                    select(func.count()).select_from(statuses).where(statuses.c.id > after, statuses.c.id <= upto)
                )
            ).scalar_one()
        after = upto
        done += int(counted)
        if progress is not None:
            progress(done, total)
    async with services.db.begin() as conn:
        await tag_counts.rebuild_counts(conn)
    if services.db.is_postgres:
        # The word counts that decide how a post search reads (``PostgresIndex``), fresh
        # for the rebuilt index rather than whenever autovacuum comes by; and the rebuilt
        # tables vacuumed now, not by autovacuum beside the first searches (outside a
        # transaction: the reads' connection autocommits).
        async with services.db.connect() as conn:
            rebuilt = (
                search_posts,
                search_accounts,
                search_account_grams,
                search_account_words,
                search_tags,
                search_tag_days,
            )
            await conn.execute(text(f"VACUUM (ANALYZE) {', '.join(table.name for table in rebuilt)}"))
    async with services.db.connect() as conn:
        posts = (await conn.execute(select(func.count()).select_from(search_posts))).scalar_one()
    return int(posts), people
