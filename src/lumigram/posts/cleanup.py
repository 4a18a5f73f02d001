"""Removing media nobody will see again: a deleted post's blobs after the grace period,
and uploads never attached to a post.

Run by the worker's janitor loop (and ``lumigram admin sweep-media``). Safe to run in
several processes at once: deleting a blob twice is harmless, and a row is removed only
after its blob is.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta

from sqlalchemy import delete, select, update

from lumigram.infra.tables import blob_deletions, media_attachments, scheduled_media, utcnow
from lumigram.media_access.service import forget_privacy, media_id_of
from lumigram.posts.service import blob_keys
from lumigram.services import Services

log = logging.getLogger(__name__)

BATCH = 500


async def sweep_blob_deletions(services: Services, now: datetime | None = None) -> int:
    """Delete blobs whose grace period is over; returns how many were removed. A blob
    whose media was attached to a post again in the meantime (redraft) is kept."""
    now = now or utcnow()
    removed = 0
    async with services.db.connect() as conn:
        keys = list(
            (
                await conn.execute(
                    select(blob_deletions.c.key).where(blob_deletions.c.delete_after <= now).limit(BATCH)
                )
            ).scalars()
        )
        media_ids = {m for m in (media_id_of(k) for k in keys) if m is not None}
        reattached = (
            set(
                (
                    await conn.execute(
                        select(media_attachments.c.id).where(
                            media_attachments.c.id.in_(media_ids), media_attachments.c.status_id.is_not(None)
                        )
                    )
                ).scalars()
            )
            if media_ids
            else set()
        )
    for key in keys:
        if media_id_of(key) not in reattached:
            await services.blobs.delete(key)
            removed += 1
    if keys:
        async with services.db.begin() as conn:
            await conn.execute(delete(blob_deletions).where(blob_deletions.c.key.in_(keys)))
            gone = sorted(media_ids - reattached)
            if gone:
                await conn.execute(
                    delete(media_attachments).where(
                        media_attachments.c.id.in_(gone), media_attachments.c.status_id.is_(None)
                    )
                )
        await forget_privacy(services, *media_ids)
    return removed


async def sweep_orphan_media(services: Services, now: datetime | None = None) -> int:
    """Remove uploads that were never posted within ``orphan_media_lifetime``, blobs first."""
    now = now or utcnow()
    cutoff = now - timedelta(seconds=services.settings.orphan_media_lifetime)
    async with services.db.connect() as conn:
        rows = (
            await conn.execute(
                select(media_attachments)
                .where(
                    media_attachments.c.status_id.is_(None),
                    # A story's media is its sweeper's (lumigram.stories.sweeper).
                    media_attachments.c.story_id.is_(None),
                    media_attachments.c.created_at < cutoff,
                    # Waiting in a scheduled post: posted later, not abandoned.
                    media_attachments.c.id.not_in(select(scheduled_media.c.media_id)),
                )
                .limit(BATCH)
            )
        ).all()
    candidates = [row.id for row in rows if row.state != "processing"]  # the media worker still owns those
    if not candidates:
        return 0
    # Claim them first, so a post made right now cannot attach media whose blobs we are
    # about to delete: a claimed row is no longer "ready" and posting it is refused.
    async with services.db.begin() as conn:
        await conn.execute(
            update(media_attachments)
            .where(
                media_attachments.c.id.in_(candidates),
                media_attachments.c.status_id.is_(None),
                media_attachments.c.id.not_in(select(scheduled_media.c.media_id)),
            )
            .values(state="expired")
        )
        claimed = (
            await conn.execute(
                select(media_attachments).where(
                    media_attachments.c.id.in_(candidates), media_attachments.c.state == "expired"
                )
            )
        ).all()
    for row in claimed:
        for key in blob_keys(row):
            await services.blobs.delete(key)
    done = [row.id for row in claimed]
    async with services.db.begin() as conn:
        await conn.execute(delete(media_attachments).where(media_attachments.c.id.in_(done)))
    await forget_privacy(services, *done)
    return len(done)
