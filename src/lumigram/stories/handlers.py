"""Bus consumers for stories: the accounts a new story mentions hear of it (if they may
see it), and a story's owner hears of each reply and reaction.

A reply is also a message to the owner (``messages.service.reply_to_story``) and is kept
for the owner's replies list. Both notifications go through
``notifications.service.deliver``, which notifies once per event and drops blocked and
muted senders. A deleted account's stories are taken down here too.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import delete, exists, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.events import AccountDeleted, StoryCreated, StoryReplied
from lumigram.infra.tables import (
    stories,
    story_highlights,
    story_mentions,
    story_replies,
    story_settings,
    story_views,
)
from lumigram.notifications import service as notifications
from lumigram.services import Services
from lumigram.stories import audience as rules
from lumigram.stories import tray_cache
from lumigram.stories.models import REACTION, STORY_MENTION, STORY_REACTION, STORY_REPLY


def _story_stands(story_id: int) -> Callable[[AsyncConnection], Awaitable[bool]]:
    async def check(conn: AsyncConnection) -> bool:
        query = select(exists().where(stories.c.id == story_id, stories.c.deleted_at.is_(None)))
        return bool((await conn.execute(query)).scalar())

    return check


async def notify_of_story_mentions(services: Services, event: StoryCreated) -> list[notifications.Created]:
    wanted = [account for account in event.mentions if account != event.account_id]
    if not wanted:
        return []
    allowed = []
    async with services.db.connect() as conn:
        for account in wanted:
            known = await rules.relations(conn, account, [event.account_id], services.now())
            if known.may_see(event.account_id, event.audience):
                allowed.append((account, STORY_MENTION))
    if not allowed:
        return []
    return await notifications.deliver(
        services, event.id, event.account_id, allowed, None, _story_stands(event.story_id)
    )


async def notify_of_story_reply(services: Services, event: StoryReplied) -> list[notifications.Created]:
    kind = STORY_REACTION if event.kind == REACTION else STORY_REPLY
    return await notifications.deliver(
        services, event.id, event.account_id, [(event.owner_id, kind)], None, _story_stands(event.story_id)
    )


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """Take a deleted account's stories down (the sweeper then removes their blobs at once,
    archive and highlights notwithstanding), delete its highlights and settings, and its
    views of, replies to and mentions in others' stories. Idempotent."""
    gone = event.account_id
    async with services.db.begin() as conn:
        await conn.execute(
            update(stories)
            .where(stories.c.account_id == gone, stories.c.deleted_at.is_(None))
            .values(deleted_at=services.now())
        )
        for table in (story_highlights, story_settings, story_views, story_replies, story_mentions):
            await conn.execute(delete(table).where(table.c.account_id == gone))
    # Its followers may no longer be known (the graph forgets them on its own): every tray.
    await tray_cache.forget_all(services)
