"""Facts about this server for /api/v1/instance, /api/v2/instance and NodeInfo."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, Table, case, func, select

from lumigram import ahead
from lumigram.ids import lowest_id_at
from lumigram.infra.tables import accounts, oauth_tokens, statuses, users, utcnow
from lumigram.posts import reel_rules
from lumigram.posts.models import MAX_MEDIA
from lumigram.posts.service import MAX_PINS
from lumigram.posts.text import MAX_TEXT
from lumigram.services import Services
from lumigram.uploads import filters, images, transcode

#: Kept with the time they were counted (``lumigram.ahead``), hence the version.
STATS_CACHE_KEY = "instance:stats:v2"
STATS_TTL = 60


@dataclass(frozen=True, slots=True)
class InstanceStats:
    user_count: int
    active_month: int
    active_halfyear: int
    status_count: int


#: Limits clients read from the instance configuration; the services enforce the same numbers.
MAX_CAPTION_CHARS = MAX_TEXT
MAX_PINNED_STATUSES = MAX_PINS
MAX_MEDIA_ATTACHMENTS = MAX_MEDIA
MAX_IMAGE_BYTES = images.MAX_BYTES
MAX_IMAGE_PIXELS = images.MAX_PIXELS
MAX_VIDEO_BYTES = transcode.MAX_BYTES
MAX_VIDEO_SECONDS = transcode.MAX_DURATION
#: A post's videos are shorter than an upload may be: the longer ones are for reels.
MAX_POST_VIDEO_SECONDS = reel_rules.MAX_POST_VIDEO_SECONDS
MAX_VIDEO_FPS = transcode.MAX_FPS
MAX_VIDEO_PIXELS = transcode.MAX_LONG_SIDE * transcode.MAX_SHORT_SIDE
#: The photo filters a post's photos may be given, by name ("normal" is none).
PHOTO_FILTERS = filters.NAMES
SUPPORTED_MIME_TYPES = (
    "image/jpeg",
    "image/png",
    "image/webp",
    "image/gif",
    "image/heic",
    "image/heif",
    "video/mp4",
    "video/quicktime",
    "video/webm",
)


async def instance_stats(services: Services) -> InstanceStats:
    """Counts for the instance entities, kept a minute since every client start asks; a due
    count answers while one process counts again (``lumigram.ahead``), so the readers of
    the moment it falls due do not all count at once."""
    raw = await ahead.read(services, STATS_CACHE_KEY, STATS_TTL, lambda: _count_stats(services))
    return InstanceStats(*(int(x) for x in raw.decode().split(",")))


async def _count_stats(services: Services) -> bytes:
    now = utcnow()
    async with services.db.connect() as conn:
        user_count = (await conn.execute(select(func.count()).select_from(accounts))).scalar_one()
        statuses = (await conn.execute(select(func.coalesce(func.sum(accounts.c.statuses_count), 0)))).scalar_one()
        month = await conn.execute(
            select(func.count()).select_from(users).where(users.c.last_sign_in_at >= now - timedelta(days=30))
        )
        active_month = month.scalar_one()
        halfyear = await conn.execute(
            select(func.count()).select_from(users).where(users.c.last_sign_in_at >= now - timedelta(days=180))
        )
        active_halfyear = halfyear.scalar_one()
    return f"{int(user_count)},{int(active_month)},{int(active_halfyear)},{int(statuses)}".encode()


ACTIVITY_CACHE_KEY = "instance:activity:v2"
ACTIVITY_WEEKS = 12


@dataclass(frozen=True, slots=True)
class WeekActivity:
    week: datetime
    statuses: int
    logins: int
    registrations: int


def _week_starts(now: datetime) -> list[datetime]:
    """The Mondays (00:00 UTC) of the last ACTIVITY_WEEKS weeks, this one first."""
    monday = (now - timedelta(days=now.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    return [monday - timedelta(weeks=n) for n in range(ACTIVITY_WEEKS)]


def _bounds(weeks: list[datetime]) -> list[tuple[int, int | None]]:
    """Id ranges of each week: ids are time-sortable, so a week is a range of the primary key."""
    edges = [lowest_id_at(int(week.timestamp() * 1000)) for week in weeks]
    return [(edges[0], None), *zip(edges[1:], edges[:-1], strict=True)]


def _per_week(
    table: Table, bounds: list[tuple[int, int | None]], counted: ColumnElement[Any] | None = None
) -> Select[Any]:
    columns: list[ColumnElement[Any]] = []
    for low, high in bounds:
        inside = table.c.id >= low if high is None else (table.c.id >= low) & (table.c.id < high)
        if counted is None:
            columns.append(func.coalesce(func.sum(case((inside, 1), else_=0)), 0))
        else:
            columns.append(func.count(func.distinct(case((inside, counted)))))
    return select(*columns).where(table.c.id >= bounds[-1][0])


async def weekly_activity(services: Services) -> list[WeekActivity]:
    """Posts, people signing in and sign-ups for each of the last twelve weeks, this week first
    (Mastodon's ``/api/v1/instance/activity``); kept as the counts above are."""
    raw = await ahead.read(services, ACTIVITY_CACHE_KEY, STATS_TTL, lambda: _count_activity(services))
    return [WeekActivity(datetime.fromisoformat(w), s, lo, r) for w, s, lo, r in json.loads(raw)]


async def _count_activity(services: Services) -> bytes:
    weeks = _week_starts(utcnow())
    bounds = _bounds(weeks)
    async with services.db.connect() as conn:
        posted = (await conn.execute(_per_week(statuses, bounds))).one()
        signed_in = (await conn.execute(_per_week(oauth_tokens, bounds, oauth_tokens.c.user_id))).one()
        joined = (await conn.execute(_per_week(accounts, bounds))).one()
    found = [[week.isoformat(), int(posted[n]), int(signed_in[n]), int(joined[n])] for n, week in enumerate(weeks)]
    return json.dumps(found).encode()
