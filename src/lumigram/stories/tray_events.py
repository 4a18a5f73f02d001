"""Forgetting kept story trays (``stories.tray_cache``) when the graph or a profile changes.

Run after commit (``lumigram.consumers.AFTER_COMMIT``), so the person who follows, blocks
or mutes sees the change on their next tray read. Both accounts of an edge have their
trays forgotten: a block hides stories either way, and which side reads next is unknown.
"""

from __future__ import annotations

from sqlalchemy import exists, select

from lumigram.events import (
    AccountUpdated,
    BlockCreated,
    BlockRemoved,
    FollowCreated,
    FollowRemoved,
    FollowRequestAuthorized,
    ListChanged,
    MuteCreated,
    MuteRemoved,
)
from lumigram.infra.tables import stories
from lumigram.services import Services
from lumigram.stories import tray_cache
from lumigram.stories.models import CLOSE_FRIENDS, LIVE


async def _edge(services: Services, account_id: int, target_account_id: int) -> None:
    await tray_cache.forget(services, [account_id, target_account_id])


async def follow_created(services: Services, event: FollowCreated) -> None:
    await _edge(services, event.account_id, event.target_account_id)


async def follow_removed(services: Services, event: FollowRemoved) -> None:
    await _edge(services, event.account_id, event.target_account_id)


async def follow_request_authorized(services: Services, event: FollowRequestAuthorized) -> None:
    await _edge(services, event.account_id, event.target_account_id)


async def block_created(services: Services, event: BlockCreated) -> None:
    await _edge(services, event.account_id, event.target_account_id)


async def block_removed(services: Services, event: BlockRemoved) -> None:
    await _edge(services, event.account_id, event.target_account_id)


async def mute_created(services: Services, event: MuteCreated) -> None:
    await _edge(services, event.account_id, event.target_account_id)


async def mute_removed(services: Services, event: MuteRemoved) -> None:
    await _edge(services, event.account_id, event.target_account_id)


async def _has_live_stories(services: Services, owner_id: int, audience: str | None = None) -> bool:
    now = services.now()
    conditions = [
        stories.c.account_id == owner_id,
        stories.c.state == LIVE,
        stories.c.deleted_at.is_(None),
        stories.c.expires_at > now,
    ]
    if audience is not None:
        conditions.append(stories.c.audience == audience)
    async with services.db.connect() as conn:
        return bool((await conn.execute(select(exists().where(*conditions)))).scalar())


async def account_updated(services: Services, event: AccountUpdated) -> None:
    """The owner's name, picture or lock shows in every tray holding their stories."""
    if await _has_live_stories(services, event.account_id):
        await tray_cache.forget_audience(services, event.account_id)


async def list_changed(services: Services, event: ListChanged) -> None:
    """The owner's close friends may have changed: who sees their close-friends stories."""
    if await _has_live_stories(services, event.account_id, CLOSE_FRIENDS):
        await tray_cache.forget_audience(services, event.account_id)
