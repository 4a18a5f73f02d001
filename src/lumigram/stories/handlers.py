"""Bus consumers for stories: the accounts a new story mentions hear of it (if they may
see it), and a story's owner hears of each reply and reaction.

Replies are notifications to the owner until direct messages exist; the reply itself is
kept for the owner's replies list. Both go through ``notifications.service.deliver``,
which notifies once per event and drops blocked and muted senders.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from sqlalchemy import exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.events import StoryCreated, StoryReplied
from lumigram.infra.tables import stories
from lumigram.notifications import service as notifications
from lumigram.services import Services
from lumigram.stories import audience as rules
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
