"""Hashtags: looking one up, following and unfollowing it (its posts then enter the home feed)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import delete, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lumigram.errors import NotFound
from lumigram.events import TagFollowed, TagUnfollowed
from lumigram.ids import shard_of
from lumigram.infra.tables import tag_follows, tags, utcnow
from lumigram.paging import Page, PageRequest
from lumigram.posts import text as captions
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work


@dataclass(frozen=True, slots=True)
class Tag:
    id: int | None
    name: str
    following: bool


def _check(name: str) -> str:
    name = name.removeprefix("#")
    if not name or len(name) > captions.MAX_TAG_LENGTH or captions.hashtags(f"#{name}") != [name]:
        raise NotFound("Hashtag not found")
    return name


async def get_tag(services: Services, viewer_id: int | None, name: str) -> Tag:
    """The hashtag (known or not yet used) and whether the viewer follows it."""
    name = _check(name)
    async with services.db.connect() as conn:
        row = (await conn.execute(select(tags).where(tags.c.name_lower == captions.normalise_tag(name)))).first()
        following = False
        if row is not None and viewer_id is not None:
            following = (
                await conn.execute(
                    select(tag_follows.c.id).where(
                        tag_follows.c.account_id == viewer_id, tag_follows.c.tag_id == row.id
                    )
                )
            ).first() is not None
    if row is None:
        return Tag(None, name, False)
    return Tag(row.id, row.name, following)


async def follow_tag(services: Services, account_id: int, name: str) -> Tag:
    name = _check(name)
    lower = captions.normalise_tag(name)
    dialect_insert = pg_insert if services.db.engine.dialect.name == "postgresql" else sqlite_insert
    now = utcnow()
    async with unit_of_work(services) as work:
        conn = work.conn
        await conn.execute(
            dialect_insert(tags)
            .values(id=services.ids.next_id(), name=name, name_lower=lower, created_at=now)
            .on_conflict_do_nothing(index_elements=["name_lower"])
        )
        tag = (await conn.execute(select(tags).where(tags.c.name_lower == lower))).one()
        written = (
            await conn.execute(
                dialect_insert(tag_follows)
                .values(
                    account_id=account_id, tag_id=tag.id, id=services.ids.next_id(shard_of(account_id)), created_at=now
                )
                .on_conflict_do_nothing(index_elements=["account_id", "tag_id"])
                .returning(tag_follows.c.id)
            )
        ).first()
        if written is not None:
            followed = TagFollowed(account_id=account_id, tag_id=tag.id, tag=lower)
            await work.emit(followed, shard=shard_of(account_id))
    return Tag(tag.id, tag.name, True)


async def unfollow_tag(services: Services, account_id: int, name: str) -> Tag:
    name = _check(name)
    lower = captions.normalise_tag(name)
    async with unit_of_work(services) as work:
        conn = work.conn
        tag = (await conn.execute(select(tags).where(tags.c.name_lower == lower))).first()
        if tag is None:
            return Tag(None, name, False)
        result = await conn.execute(
            delete(tag_follows).where(tag_follows.c.account_id == account_id, tag_follows.c.tag_id == tag.id)
        )
        if result.rowcount:
            unfollowed = TagUnfollowed(account_id=account_id, tag_id=tag.id, tag=lower)
            await work.emit(unfollowed, shard=shard_of(account_id))
    return Tag(tag.id, tag.name, False)


async def followed_tags(services: Services, account_id: int, page: PageRequest) -> Page[Tag]:
    """The hashtags the account follows, most recently followed first (paged by the follow)."""
    limit = max(1, min(page.limit, 200))
    query = (
        select(tags.c.id, tags.c.name, tag_follows.c.id.label("follow_id"))
        .join(tag_follows, tag_follows.c.tag_id == tags.c.id)
        .where(tag_follows.c.account_id == account_id)
    )
    if page.max_id is not None:
        query = query.where(tag_follows.c.id < page.max_id)
    if page.since_id is not None:
        query = query.where(tag_follows.c.id > page.since_id)
    if page.min_id is not None:
        query = query.where(tag_follows.c.id > page.min_id)
    async with services.db.connect() as conn:
        rows = (await conn.execute(query.order_by(tag_follows.c.id.desc()).limit(limit))).all()
    return Page(items=[Tag(r.id, r.name, True) for r in rows], cursors=[r.follow_id for r in rows], limit=limit)


async def follower_ids(services: Services, tag_names: Sequence[str]) -> list[int]:
    """Accounts following any of the hashtags ``tag_names`` (case-folded), ascending."""
    if not tag_names:
        return []
    query = (
        select(tag_follows.c.account_id)
        .join(tags, tags.c.id == tag_follows.c.tag_id)
        .where(tags.c.name_lower.in_(list(tag_names)))
        .distinct()
        .order_by(tag_follows.c.account_id)
    )
    async with services.db.connect() as conn:
        return list((await conn.execute(query)).scalars())
