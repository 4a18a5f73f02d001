"""Announcements: the admin's notices to everyone, each person's dismissals and reactions.

An announcement shows from ``starts_at`` (or its publication) until ``ends_at`` (or for
good); dismissing marks it read for that person only, as Mastodon does. A reaction is a
Unicode emoji or one of this server's custom emojis, counted once per person.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, Table, and_, case, delete, func, or_, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection
from sqlalchemy.sql import Executable

from lumigram.community.models import Announcement, Reaction
from lumigram.errors import NotFound, Problems, ValidationFailed
from lumigram.infra.tables import (
    announcement_dismissals,
    announcement_reactions,
    announcements,
    custom_emojis,
    utcnow,
)
from lumigram.services import Services

MAX_TEXT_CHARS = 5000
MAX_REACTION_CHARS = 32
#: Distinct reactions one announcement may gather; Mastodon allows the same.
MAX_REACTIONS = 8

# Zero-width joiner, variation selectors and the keycap mark: the glue of composed emojis.
_EMOJI_GLUE = {"\u200d", "\ufe0e", "\ufe0f", "\u20e3"}


async def publish(
    services: Services,
    text: str,
    starts_at: datetime | None = None,
    ends_at: datetime | None = None,
    all_day: bool = False,
) -> Announcement:
    """Publish an announcement; ValidationFailed when the text is blank or the times are backwards."""
    text = text.strip()
    problems = Problems()
    if not text:
        problems.add("text", "ERR_BLANK", "can't be blank")
    elif len(text) > MAX_TEXT_CHARS:
        problems.add("text", "ERR_TOO_LONG", f"is too long (maximum is {MAX_TEXT_CHARS} characters)")
    if starts_at is not None and ends_at is not None and ends_at <= starts_at:
        problems.add("ends_at", "ERR_INVALID", "must be after starts_at")
    problems.raise_if_any()
    now = utcnow()
    announcement_id = services.ids.next_id()
    async with services.db.begin() as conn:
        await conn.execute(
            announcements.insert().values(
                id=announcement_id,
                text=text,
                starts_at=starts_at,
                ends_at=ends_at,
                all_day=all_day,
                published_at=now,
                updated_at=now,
            )
        )
    return Announcement(announcement_id, text, starts_at, ends_at, all_day, now, now, False, ())


def _showing(now: datetime) -> ColumnElement[bool]:
    return and_(
        or_(announcements.c.starts_at.is_(None), announcements.c.starts_at <= now),
        or_(announcements.c.ends_at.is_(None), announcements.c.ends_at > now),
    )


async def _reactions(conn: AsyncConnection, account_id: int, ids: list[int]) -> dict[int, tuple[Reaction, ...]]:
    if not ids:
        return {}
    counted = (
        select(
            announcement_reactions.c.announcement_id,
            announcement_reactions.c.name,
            func.count().label("total"),
            func.max(case((announcement_reactions.c.account_id == account_id, 1), else_=0)).label("me"),
            func.min(announcement_reactions.c.created_at).label("first"),
        )
        .where(announcement_reactions.c.announcement_id.in_(ids))
        .group_by(announcement_reactions.c.announcement_id, announcement_reactions.c.name)
    )
    found: dict[int, list[tuple[datetime, Reaction]]] = defaultdict(list)
    for row in (await conn.execute(counted)).all():
        found[row.announcement_id].append((row.first, Reaction(row.name, int(row.total), bool(row.me))))
    # In the order each reaction was first given, as Mastodon lists them.
    return {key: tuple(r for _, r in sorted(items, key=lambda pair: pair[0])) for key, items in found.items()}


async def showing(services: Services, account_id: int, with_dismissed: bool = False) -> list[Announcement]:
    """The announcements showing now, newest first; the dismissed ones only when asked."""
    now = utcnow()
    dismissed = select(announcement_dismissals.c.announcement_id).where(
        announcement_dismissals.c.account_id == account_id
    )
    query = select(announcements, announcements.c.id.in_(dismissed).label("read")).where(_showing(now))
    if not with_dismissed:
        query = query.where(announcements.c.id.not_in(dismissed))
    async with services.db.connect() as conn:
        rows = (await conn.execute(query.order_by(announcements.c.id.desc()))).all()
        reactions = await _reactions(conn, account_id, [row.id for row in rows])
    return [
        Announcement(
            row.id,
            row.text,
            row.starts_at,
            row.ends_at,
            row.all_day,
            row.published_at,
            row.updated_at,
            bool(row.read),
            reactions.get(row.id, ()),
        )
        for row in rows
    ]


def _insert(conn: AsyncConnection, table: Table, row: Mapping[str, object]) -> Executable:
    """An insert that leaves an existing row as it is (a repeated tap, or two at once)."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    return dialect_insert(table).values(**row).on_conflict_do_nothing()


async def _require_showing(conn: AsyncConnection, announcement_id: int) -> None:
    found = await conn.execute(
        select(announcements.c.id).where(announcements.c.id == announcement_id, _showing(utcnow()))
    )
    if found.first() is None:
        raise NotFound()


async def dismiss(services: Services, account_id: int, announcement_id: int) -> None:
    """Mark an announcement read for this person; doing it again changes nothing."""
    async with services.db.begin() as conn:
        await _require_showing(conn, announcement_id)
        row = {"account_id": account_id, "announcement_id": announcement_id}
        await conn.execute(_insert(conn, announcement_dismissals, row))


def is_unicode_emoji(name: str) -> bool:
    """Whether ``name`` is made of emoji characters only (symbols, modifiers and their glue)."""
    if not name or len(name) > MAX_REACTION_CHARS:
        return False
    pictures = 0
    for char in name:
        if char in _EMOJI_GLUE or unicodedata.category(char) == "Sk":  # skin tones are Sk
            continue
        if unicodedata.category(char) != "So" and not ("0" <= char <= "9" or char in "#*"):
            return False
        pictures += unicodedata.category(char) == "So"
    return pictures > 0


async def _check_reaction(conn: AsyncConnection, name: str) -> None:
    if is_unicode_emoji(name):
        return
    known = await conn.execute(select(custom_emojis.c.shortcode).where(custom_emojis.c.shortcode == name))
    if known.first() is None:
        raise ValidationFailed.field("name", "ERR_INVALID", "is not a recognized emoji")


async def react(services: Services, account_id: int, announcement_id: int, name: str) -> None:
    """Add this person's reaction; the same one twice counts once."""
    async with services.db.begin() as conn:
        await _require_showing(conn, announcement_id)
        await _check_reaction(conn, name)
        mine = announcement_reactions.c
        names = await conn.execute(select(mine.name).distinct().where(mine.announcement_id == announcement_id))
        given = {found for (found,) in names.all()}
        if name not in given and len(given) >= MAX_REACTIONS:
            raise ValidationFailed.field(
                "name", "ERR_LIMIT_REACHED", f"may be one of at most {MAX_REACTIONS} reactions"
            )
        row = {"account_id": account_id, "announcement_id": announcement_id, "name": name, "created_at": utcnow()}
        await conn.execute(_insert(conn, announcement_reactions, row))


async def unreact(services: Services, account_id: int, announcement_id: int, name: str) -> None:
    """Take this person's reaction back; taking back one never given changes nothing."""
    async with services.db.begin() as conn:
        await _require_showing(conn, announcement_id)
        await conn.execute(
            delete(announcement_reactions).where(
                announcement_reactions.c.account_id == account_id,
                announcement_reactions.c.announcement_id == announcement_id,
                announcement_reactions.c.name == name,
            )
        )
