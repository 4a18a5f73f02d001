"""What follows a poll's end: its owner and every voter get Mastodon's ``poll`` notification."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.events import PollEnded
from lumigram.infra.tables import statuses
from lumigram.notifications import service as notifications
from lumigram.notifications.models import POLL
from lumigram.polls.service import voters_of
from lumigram.services import Services


async def notify_of_poll_end(services: Services, event: PollEnded) -> list[notifications.Created]:
    """Once per ended poll (the event is the one claim; ``deliver`` dedupes a redelivery),
    unless its post was deleted meanwhile."""
    owner, status_id = event.account_id, event.status_id

    async def post_still_there(conn: AsyncConnection) -> bool:
        found = await conn.execute(select(statuses.c.id).where(statuses.c.id == status_id))
        return found.first() is not None

    wanted = [(owner, POLL), *((voter, POLL) for voter in await voters_of(services, status_id))]
    return await notifications.deliver(
        services, event.id, owner, wanted, status_id, post_still_there, notify_actor=True
    )
