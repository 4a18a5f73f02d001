"""Facts about this server for /api/v1/instance, /api/v2/instance and NodeInfo."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from sqlalchemy import func, select

from lumigram.infra.tables import accounts, users, utcnow
from lumigram.posts.service import MAX_PINS
from lumigram.posts.text import MAX_TEXT
from lumigram.services import Services

STATS_CACHE_KEY = "instance:stats"
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
MAX_MEDIA_ATTACHMENTS = 10
MAX_IMAGE_BYTES = 30 * 1024 * 1024
MAX_IMAGE_PIXELS = 50_000_000
MAX_VIDEO_BYTES = 200 * 1024 * 1024
MAX_VIDEO_SECONDS = 60
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
    """Counts for the instance entities; cached briefly since every client start asks."""
    cached = await services.cache.get(STATS_CACHE_KEY)
    if cached is not None:
        parts = [int(x) for x in cached.decode().split(",")]
        return InstanceStats(*parts)
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
    stats = InstanceStats(int(user_count), int(active_month), int(active_halfyear), int(statuses))
    encoded = f"{stats.user_count},{stats.active_month},{stats.active_halfyear},{stats.status_count}"
    await services.cache.set(STATS_CACHE_KEY, encoded.encode(), ttl=STATS_TTL)
    return stats
