"""Removing the media of stories nobody will see again.

A story's blobs go once it has expired, unless its owner keeps it: in the archive (on
by default) or in a highlight. A story its owner deleted goes at once, highlights and
archive notwithstanding (deleting took it out of them), and so does a draft never
published within a day. Run by the janitor; safe in
several processes at once (deleting a blob twice is harmless, and the row is marked
only after its blobs are gone).
"""

from __future__ import annotations

from sqlalchemy import and_, delete, exists, or_, select, update

from lumigram.infra.tables import media_attachments, stories, story_highlight_items, story_settings
from lumigram.media_access.service import forget_privacy
from lumigram.posts.service import blob_keys
from lumigram.services import Services
from lumigram.stories.models import DRAFT, LIVE

BATCH = 200


async def sweep_expired_stories(services: Services) -> int:
    """Remove the blobs of stories no one keeps; how many stories were cleared."""
    now = services.now()
    archive_off = exists().where(
        story_settings.c.account_id == stories.c.account_id, story_settings.c.archive.is_(False)
    )
    highlighted = exists().where(story_highlight_items.c.story_id == stories.c.id)
    expired = stories.c.expires_at <= now
    unkept = and_(stories.c.state == LIVE, expired, archive_off, ~highlighted)
    # A draft never published (Pixelfed's add without publish) goes after the same day.
    abandoned = and_(stories.c.state == DRAFT, expired)
    query = (
        select(stories.c.id, stories.c.media_id)
        .where(stories.c.blobs_removed_at.is_(None), or_(stories.c.deleted_at.is_not(None), unkept, abandoned))
        .limit(BATCH)
    )
    async with services.db.connect() as conn:
        due = (await conn.execute(query)).all()
        if not due:
            return 0
        media_rows = (
            await conn.execute(
                select(media_attachments).where(media_attachments.c.id.in_([row.media_id for row in due]))
            )
        ).all()
    for row in media_rows:
        for key in blob_keys(row):
            await services.blobs.delete(key)
    async with services.db.begin() as conn:
        await conn.execute(delete(media_attachments).where(media_attachments.c.id.in_([row.id for row in media_rows])))
        await conn.execute(
            update(stories).where(stories.c.id.in_([row.id for row in due])).values(blobs_removed_at=now)
        )
    await forget_privacy(services, *(row.media_id for row in due))
    return len(due)
