"""Scheduled posts: a draft checked now and published by a worker at its time.

A draft is checked when it is scheduled exactly as it would be when posted (caption,
visibility, a reply's target, each upload the poster's own, ready and free), and again
when it is published: what changed meanwhile (an upload deleted, the post answered gone)
makes the publication fail, and the scheduled post is then dropped with a log line, as
Mastodon drops it. Its uploads are kept from the sweep of uploads never posted.

Publication claims each due post (``claimed_at``) so that two workers never both publish
it; a claim older than ``STALE_CLAIM`` (its worker died) is taken over, and the
publication's idempotency key makes a retry after a crash find the post already made.
A passing refusal (the author's posting rate limit, a backend briefly down) leaves the
post scheduled for the next round.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import orjson
from sqlalchemy import delete, or_, select, update

from lumigram.errors import LumigramError, NotFound, RateLimited, ServiceUnavailable, ValidationFailed
from lumigram.infra.tables import media_attachments, scheduled_media, scheduled_statuses, utcnow
from lumigram.paging import Page, PageRequest, window
from lumigram.posts.models import Draft, HydratedPost, PollDraft
from lumigram.posts.service import check_draft, create_post
from lumigram.services import Services
from lumigram.uploads.models import MediaRecord, media_record

log = logging.getLogger(__name__)

#: Mastodon refuses times closer than this: a post due sooner is simply posted.
MIN_DELAY = timedelta(minutes=5)
#: How many posts one account may have waiting (Mastodon allows 300).
MAX_PENDING = 300
STALE_CLAIM = timedelta(minutes=5)
BATCH = 50


@dataclass(frozen=True, slots=True)
class ScheduledPost:
    id: int
    account_id: int
    scheduled_at: datetime
    draft: Draft
    media: list[MediaRecord]


def _encode(draft: Draft) -> str:
    return orjson.dumps(
        {
            "text": draft.text,
            "media_ids": draft.media_ids,
            "in_reply_to_id": draft.in_reply_to_id,
            "visibility": draft.visibility,
            "sensitive": draft.sensitive,
            "spoiler_text": draft.spoiler_text,
            "language": draft.language,
            "comments_disabled": draft.comments_disabled,
            "poll": None if draft.poll is None else dataclasses.asdict(draft.poll),
        }
    ).decode()


def _decode(raw: str) -> Draft:
    fields: dict[str, Any] = orjson.loads(raw)
    poll = fields.pop("poll", None)
    if poll is not None:
        fields["poll"] = PollDraft(**{**poll, "options": tuple(poll["options"])})
    return Draft(**fields)


def _check_time(scheduled_at: datetime, now: datetime) -> None:
    if scheduled_at < now + MIN_DELAY:
        raise ValidationFailed.field("scheduled_at", "ERR_INVALID", "must be at least 5 minutes in the future")


async def schedule(services: Services, account_id: int, draft: Draft, scheduled_at: datetime) -> ScheduledPost:
    """Keep a checked draft to publish at ``scheduled_at``; ValidationFailed as posting now would."""
    _check_time(scheduled_at, utcnow())
    media = await check_draft(services, account_id, draft)
    scheduled_id = services.ids.next_id()
    async with services.db.begin() as conn:
        pending = await conn.execute(
            select(scheduled_statuses.c.id).where(scheduled_statuses.c.account_id == account_id).limit(MAX_PENDING)
        )
        if len(pending.all()) >= MAX_PENDING:
            raise ValidationFailed.field("scheduled_at", "ERR_LIMIT", f"at most {MAX_PENDING} posts may wait")
        taken = await conn.execute(
            select(scheduled_media.c.media_id).where(scheduled_media.c.media_id.in_(draft.media_ids or [0]))
        )
        if taken.first() is not None:
            raise ValidationFailed.field("media_ids", "ERR_TAKEN", "are already in another scheduled post")
        await conn.execute(
            scheduled_statuses.insert().values(
                id=scheduled_id,
                account_id=account_id,
                scheduled_at=scheduled_at,
                params=_encode(draft),
                created_at=utcnow(),
            )
        )
        if draft.media_ids:
            await conn.execute(
                scheduled_media.insert(),
                [{"media_id": m, "scheduled_status_id": scheduled_id} for m in draft.media_ids],
            )
    return ScheduledPost(scheduled_id, account_id, scheduled_at, draft, media)


async def _media_of(services: Services, drafts: list[Draft]) -> dict[int, MediaRecord]:
    wanted = sorted({m for draft in drafts for m in draft.media_ids})
    if not wanted:
        return {}
    async with services.db.connect() as conn:
        rows = (await conn.execute(select(media_attachments).where(media_attachments.c.id.in_(wanted)))).all()
    return {row.id: media_record(row) for row in rows}


async def _posts(services: Services, rows: list[Any]) -> list[ScheduledPost]:
    drafts = [_decode(row.params) for row in rows]
    media = await _media_of(services, drafts)
    return [
        ScheduledPost(
            row.id, row.account_id, row.scheduled_at, draft, [media[m] for m in draft.media_ids if m in media]
        )
        for row, draft in zip(rows, drafts, strict=True)
    ]


async def list_scheduled(services: Services, account_id: int, page: PageRequest) -> Page[ScheduledPost]:
    """The account's waiting posts, most recently scheduled first."""
    limit = page.clamped_limit()
    column = scheduled_statuses.c.id
    query = select(scheduled_statuses).where(scheduled_statuses.c.account_id == account_id)
    query, ascending = window(query, column, page, limit)
    async with services.db.connect() as conn:
        rows = list((await conn.execute(query)).all())
    if ascending:
        rows.reverse()
    return Page(items=await _posts(services, rows), cursors=[row.id for row in rows], limit=limit)


async def _own_row(services: Services, account_id: int, scheduled_id: int) -> Any:
    async with services.db.connect() as conn:
        row = (
            await conn.execute(
                select(scheduled_statuses).where(
                    scheduled_statuses.c.id == scheduled_id, scheduled_statuses.c.account_id == account_id
                )
            )
        ).first()
    if row is None:
        raise NotFound()
    return row


async def get_scheduled(services: Services, account_id: int, scheduled_id: int) -> ScheduledPost:
    return (await _posts(services, [await _own_row(services, account_id, scheduled_id)]))[0]


async def reschedule(services: Services, account_id: int, scheduled_id: int, scheduled_at: datetime) -> ScheduledPost:
    """Move a waiting post to another time (at least five minutes away)."""
    _check_time(scheduled_at, utcnow())
    await _own_row(services, account_id, scheduled_id)
    async with services.db.begin() as conn:
        await conn.execute(
            update(scheduled_statuses)
            .where(scheduled_statuses.c.id == scheduled_id, scheduled_statuses.c.claimed_at.is_(None))
            .values(scheduled_at=scheduled_at)
        )
    return await get_scheduled(services, account_id, scheduled_id)


async def cancel(services: Services, account_id: int, scheduled_id: int) -> None:
    """Drop a waiting post; its uploads go back to being unposted uploads."""
    async with services.db.begin() as conn:
        gone = await conn.execute(
            delete(scheduled_statuses).where(
                scheduled_statuses.c.id == scheduled_id, scheduled_statuses.c.account_id == account_id
            )
        )
        await conn.execute(delete(scheduled_media).where(scheduled_media.c.scheduled_status_id == scheduled_id))
    if not gone.rowcount:
        raise NotFound()


async def _claim(services: Services, scheduled_id: int, now: datetime) -> bool:
    async with services.db.begin() as conn:
        claimed = await conn.execute(
            update(scheduled_statuses)
            .where(
                scheduled_statuses.c.id == scheduled_id,
                or_(scheduled_statuses.c.claimed_at.is_(None), scheduled_statuses.c.claimed_at < now - STALE_CLAIM),
            )
            .values(claimed_at=now)
        )
    return bool(claimed.rowcount)


async def _release(services: Services, scheduled_id: int) -> None:
    async with services.db.begin() as conn:
        await conn.execute(
            update(scheduled_statuses).where(scheduled_statuses.c.id == scheduled_id).values(claimed_at=None)
        )


async def _forget(services: Services, scheduled_id: int) -> None:
    async with services.db.begin() as conn:
        await conn.execute(delete(scheduled_media).where(scheduled_media.c.scheduled_status_id == scheduled_id))
        await conn.execute(delete(scheduled_statuses).where(scheduled_statuses.c.id == scheduled_id))


async def publish_due(services: Services, now: datetime | None = None) -> list[HydratedPost]:
    """Publish every scheduled post whose time has come; the posts made."""
    now = now or utcnow()
    async with services.db.connect() as conn:
        due = (
            await conn.execute(
                select(scheduled_statuses.c.id, scheduled_statuses.c.account_id, scheduled_statuses.c.params)
                .where(scheduled_statuses.c.scheduled_at <= now)
                .order_by(scheduled_statuses.c.scheduled_at)
                .limit(BATCH)
            )
        ).all()
    made: list[HydratedPost] = []
    for row in due:
        if not await _claim(services, row.id, now):
            continue  # another worker has it
        # The media of a scheduled post are not free for the sweep until it is published.
        try:
            made.append(
                await create_post(services, row.account_id, _decode(row.params), idempotency_key=f"scheduled:{row.id}")
            )
        except (RateLimited, ServiceUnavailable):
            # Passing: the post stays scheduled and the next round tries again.
            await _release(services, row.id)
            continue
        except LumigramError as exc:
            log.warning("scheduled post %d could not be published and is dropped: %s", row.id, exc.message)
        await _forget(services, row.id)
    return made
