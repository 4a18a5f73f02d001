"""Hashtags an account features on its profile, each with how many of its posts carry it.

The counts are read from the account's public and unlisted posts when asked, so they
follow new posts and deletions without bookkeeping.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError

from lumigram.errors import NotFound, ValidationFailed
from lumigram.infra.tables import featured_tags, status_tags, statuses, tags, utcnow
from lumigram.posts import text as captions
from lumigram.services import Services

MAX_FEATURED = 10
#: Posts shown on a profile to anyone the profile shows posts to.
_COUNTED = ("public", "unlisted")


@dataclass(frozen=True, slots=True)
class FeaturedTag:
    id: int
    name: str
    statuses_count: int
    last_status_at: datetime | None


def _valid_name(raw: str) -> str:
    name = raw.strip().removeprefix("#")
    if not name or len(name) > captions.MAX_TAG_LENGTH or captions.hashtags(f"#{name}") != [name]:
        raise ValidationFailed.field("name", "ERR_INVALID", "is not a valid hashtag")
    return name


async def list_featured(services: Services, account_id: int) -> list[FeaturedTag]:
    """The account's featured hashtags, in the order they were featured."""
    used = (
        select(
            status_tags.c.tag_id,
            func.count().label("total"),
            func.max(statuses.c.created_at).label("last"),
        )
        .join(statuses, statuses.c.id == status_tags.c.status_id)
        .where(statuses.c.account_id == account_id, statuses.c.visibility.in_(_COUNTED))
        .group_by(status_tags.c.tag_id)
        .subquery()
    )
    query = (
        select(featured_tags.c.id, tags.c.name, used.c.total, used.c.last)
        .join(tags, tags.c.id == featured_tags.c.tag_id)
        .outerjoin(used, used.c.tag_id == featured_tags.c.tag_id)
        .where(featured_tags.c.account_id == account_id)
        .order_by(featured_tags.c.id)
    )
    async with services.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    return [FeaturedTag(row.id, row.name, int(row.total or 0), row.last) for row in rows]


async def feature(services: Services, account_id: int, raw_name: str) -> FeaturedTag:
    """Feature a hashtag (made known if it never was); at most MAX_FEATURED, each once."""
    name = _valid_name(raw_name)
    lower = captions.normalise_tag(name)
    now = utcnow()
    try:
        async with services.db.begin() as conn:
            count = await conn.execute(
                select(func.count()).select_from(featured_tags).where(featured_tags.c.account_id == account_id)
            )
            if int(count.scalar_one()) >= MAX_FEATURED:
                raise ValidationFailed.field("name", "ERR_LIMIT", f"at most {MAX_FEATURED} hashtags may be featured")
            dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
            await conn.execute(
                dialect_insert(tags)
                .values(id=services.ids.next_id(), name=name, name_lower=lower, created_at=now)
                .on_conflict_do_nothing(index_elements=["name_lower"])
            )
            tag_id = (await conn.execute(select(tags.c.id).where(tags.c.name_lower == lower))).scalar_one()
            await conn.execute(
                featured_tags.insert().values(
                    account_id=account_id, tag_id=tag_id, id=services.ids.next_id(), created_at=now
                )
            )
    except IntegrityError:
        raise ValidationFailed.field("name", "ERR_TAKEN", "is already featured") from None
    return next(tag for tag in await list_featured(services, account_id) if tag.name.casefold() == lower)


async def unfeature(services: Services, account_id: int, featured_id: int) -> None:
    async with services.db.begin() as conn:
        gone = await conn.execute(
            delete(featured_tags).where(featured_tags.c.account_id == account_id, featured_tags.c.id == featured_id)
        )
    if not gone.rowcount:
        raise NotFound()


async def suggested_tags(services: Services, account_id: int, limit: int = MAX_FEATURED) -> list[str]:
    """The hashtags the account used most in its posts, not featured yet."""
    featured = select(featured_tags.c.tag_id).where(featured_tags.c.account_id == account_id)
    total = func.count().label("total")
    query = (
        select(tags.c.name, total)
        .join(status_tags, status_tags.c.tag_id == tags.c.id)
        .join(statuses, statuses.c.id == status_tags.c.status_id)
        .where(statuses.c.account_id == account_id, tags.c.id.not_in(featured))
        .group_by(tags.c.id, tags.c.name)
        .order_by(total.desc(), tags.c.name)
        .limit(limit)
    )
    async with services.db.connect() as conn:
        return [row.name for row in (await conn.execute(query)).all()]
