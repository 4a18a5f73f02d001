"""Highlights: named collections of an account's stories on its profile, kept after the
stories expire, with a cover; seen by whoever may see the account's posts (and, of a
close-friends story in one, only by the close friends)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.text import clean_text
from lumigram.errors import NotFound, ValidationFailed
from lumigram.ids import shard_of
from lumigram.infra.tables import stories, story_highlight_items, story_highlights
from lumigram.services import Services
from lumigram.stories import audience as rules
from lumigram.stories.loading import stories_from_rows
from lumigram.stories.models import LIVE, MAX_HIGHLIGHT_STORIES, MAX_HIGHLIGHT_TITLE, Highlight, Story


def _title(raw: str) -> str:
    title = clean_text(raw)
    if not title:
        raise ValidationFailed.field("title", "ERR_BLANK", "can't be blank")
    if len(title) > MAX_HIGHLIGHT_TITLE:
        raise ValidationFailed.field("title", "ERR_TOO_LONG", f"is too long (maximum is {MAX_HIGHLIGHT_TITLE})")
    return title


async def _own(conn: AsyncConnection, account_id: int, highlight_id: int) -> Any:
    row = (
        await conn.execute(
            select(story_highlights).where(
                story_highlights.c.id == highlight_id, story_highlights.c.account_id == account_id
            )
        )
    ).first()
    if row is None:
        raise NotFound()
    return row


async def _check_stories(conn: AsyncConnection, account_id: int, story_ids: Sequence[int]) -> None:
    """Each of ``story_ids`` is the owner's, went live once, and still has its media."""
    if len(story_ids) != len(set(story_ids)):
        raise ValidationFailed.field("story_ids", "ERR_INVALID", "has the same story twice")
    if len(story_ids) > MAX_HIGHLIGHT_STORIES:
        raise ValidationFailed.field("story_ids", "ERR_TOO_LONG", f"has more than {MAX_HIGHLIGHT_STORIES} stories")
    if not story_ids:
        return
    found = set(
        (
            await conn.execute(
                select(stories.c.id).where(
                    stories.c.id.in_(list(story_ids)),
                    stories.c.account_id == account_id,
                    stories.c.state == LIVE,
                    stories.c.deleted_at.is_(None),
                    stories.c.blobs_removed_at.is_(None),
                )
            )
        ).scalars()
    )
    missing = [story_id for story_id in story_ids if story_id not in found]
    if missing:
        raise ValidationFailed.field("story_ids", "ERR_INVALID", f"names a story not in your archive ({missing[0]})")


async def _set_items(conn: AsyncConnection, highlight_id: int, story_ids: Sequence[int]) -> None:
    await conn.execute(delete(story_highlight_items).where(story_highlight_items.c.highlight_id == highlight_id))
    if story_ids:
        await conn.execute(
            insert(story_highlight_items),
            [{"highlight_id": highlight_id, "story_id": s, "position": i} for i, s in enumerate(story_ids)],
        )


async def _item_ids(conn: AsyncConnection, highlight_id: int) -> list[int]:
    query = (
        select(story_highlight_items.c.story_id)
        .where(story_highlight_items.c.highlight_id == highlight_id)
        .order_by(story_highlight_items.c.position)
    )
    return list((await conn.execute(query)).scalars())


async def create(
    services: Services, account_id: int, title: str, story_ids: Sequence[int], cover_story_id: int | None
) -> Highlight:
    name = _title(title)
    if cover_story_id is not None and cover_story_id not in story_ids:
        raise ValidationFailed.field("cover_story_id", "ERR_INVALID", "must be one of the highlight's stories")
    highlight_id = services.ids.next_id(shard_of(account_id))
    async with services.db.begin() as conn:
        await _check_stories(conn, account_id, story_ids)
        position = (
            await conn.execute(
                select(func.coalesce(func.max(story_highlights.c.position), -1)).where(
                    story_highlights.c.account_id == account_id
                )
            )
        ).scalar_one()
        await conn.execute(
            insert(story_highlights).values(
                id=highlight_id,
                account_id=account_id,
                title=name,
                cover_story_id=cover_story_id,
                position=int(position) + 1,
                created_at=services.now(),
            )
        )
        await _set_items(conn, highlight_id, story_ids)
    return await get(services, account_id, highlight_id)


async def change(
    services: Services,
    account_id: int,
    highlight_id: int,
    title: str | None = None,
    story_ids: Sequence[int] | None = None,
    cover_story_id: int | None = None,
    position: int | None = None,
) -> Highlight:
    """Rename, set the stories (their order is the list's: add, remove and reorder in one),
    pick the cover, or move the highlight among the owner's."""
    async with services.db.begin() as conn:
        row = await _own(conn, account_id, highlight_id)
        values: dict[str, Any] = {}
        if title is not None:
            values["title"] = _title(title)
        if story_ids is not None:
            await _check_stories(conn, account_id, story_ids)
            await _set_items(conn, highlight_id, story_ids)
        items = list(story_ids) if story_ids is not None else await _item_ids(conn, highlight_id)
        if cover_story_id is not None:
            if cover_story_id not in items:
                raise ValidationFailed.field("cover_story_id", "ERR_INVALID", "must be one of the highlight's stories")
            values["cover_story_id"] = cover_story_id
        elif row.cover_story_id is not None and row.cover_story_id not in items:
            values["cover_story_id"] = None
        if position is not None:
            values["position"] = max(0, position)
        if values:
            await conn.execute(update(story_highlights).where(story_highlights.c.id == highlight_id).values(**values))
    return await get(services, account_id, highlight_id)


async def add_story(services: Services, account_id: int, highlight_id: int, story_id: int) -> Highlight:
    async with services.db.connect() as conn:
        items = await _item_ids(conn, highlight_id)
    if story_id in items:
        return await get(services, account_id, highlight_id)
    return await change(services, account_id, highlight_id, story_ids=[*items, story_id])


async def remove_story(services: Services, account_id: int, highlight_id: int, story_id: int) -> Highlight:
    async with services.db.connect() as conn:
        items = await _item_ids(conn, highlight_id)
    return await change(services, account_id, highlight_id, story_ids=[s for s in items if s != story_id])


async def remove(services: Services, account_id: int, highlight_id: int) -> None:
    async with services.db.begin() as conn:
        await _own(conn, account_id, highlight_id)
        await conn.execute(delete(story_highlights).where(story_highlights.c.id == highlight_id))


def _story_rows_query(story_ids: Sequence[int]) -> Any:
    return select(stories).where(
        stories.c.id.in_(list(story_ids)), stories.c.deleted_at.is_(None), stories.c.blobs_removed_at.is_(None)
    )


async def _visible_stories(
    conn: AsyncConnection, viewer_id: int, story_ids: Sequence[int], known: rules.Relations
) -> list[Story]:
    if not story_ids:
        return []
    rows = {row.id: row for row in (await conn.execute(_story_rows_query(story_ids))).all()}
    ordered = [rows[s] for s in story_ids if s in rows and known.may_see(rows[s].account_id, rows[s].audience)]
    return await stories_from_rows(conn, viewer_id, ordered)


async def get(services: Services, viewer_id: int, highlight_id: int) -> Highlight:
    """One highlight with the stories the viewer may see; NotFound for those who may not
    see the owner's posts."""
    async with services.db.connect() as conn:
        row = (await conn.execute(select(story_highlights).where(story_highlights.c.id == highlight_id))).first()
        if row is None:
            raise NotFound()
        known = await rules.relations(conn, viewer_id, [row.account_id], services.now())
        if not known.may_see_profile(row.account_id):
            raise NotFound()
        shown = await _visible_stories(conn, viewer_id, await _item_ids(conn, highlight_id), known)
    cover = next((s for s in shown if s.id == row.cover_story_id), shown[0] if shown else None)
    return Highlight(
        row.id, row.account_id, row.title, row.cover_story_id, row.position, row.created_at, shown, len(shown), cover
    )


async def of_account(services: Services, viewer_id: int, account_id: int) -> list[Highlight]:
    """The account's highlights in their order, each with its cover and count, for a viewer
    who may see its posts; NotFound otherwise."""
    async with services.db.connect() as conn:
        known = await rules.relations(conn, viewer_id, [account_id], services.now())
        if not known.may_see_profile(account_id):
            raise NotFound()
        rows = (
            await conn.execute(
                select(story_highlights)
                .where(story_highlights.c.account_id == account_id)
                .order_by(story_highlights.c.position, story_highlights.c.id)
            )
        ).all()
        found = []
        for row in rows:
            shown = await _visible_stories(conn, viewer_id, await _item_ids(conn, row.id), known)
            cover = next((s for s in shown if s.id == row.cover_story_id), shown[0] if shown else None)
            found.append(
                Highlight(
                    row.id,
                    row.account_id,
                    row.title,
                    row.cover_story_id,
                    row.position,
                    row.created_at,
                    [],
                    len(shown),
                    cover,
                )
            )
    return found
