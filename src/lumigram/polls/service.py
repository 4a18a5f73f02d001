"""Reading a poll, voting in it, and closing the polls whose time is up.

A poll is readable by exactly those who may see its post: every read goes through the
post's own visibility (``posts.service.get_post``), and a post one may not see answers
404 as if it did not exist.

Voting writes one voter row, whose primary key makes a second vote fail even when two
arrive at once, and one row per chosen option; counts are counted from those rows on
read (``lumigram.posts.poll_rows``), so concurrent votes are each counted once.

Closing: the worker's periodic sweep claims each expired poll (``ended_at``, set only
where it is still empty) in the transaction that writes its ``poll.ended`` event, so
with several workers sweeping at once each poll ends, and notifies, exactly once.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert

from lumigram.errors import NotFound, ValidationFailed
from lumigram.events import PollEnded, PollVoted
from lumigram.ids import shard_of
from lumigram.infra.tables import poll_voters, poll_votes, polls
from lumigram.posts.models import HydratedPost, PollView
from lumigram.posts.service import get_post
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work

#: How many expired polls one sweep closes; the next round takes the rest.
BATCH = 100


def is_expired(services: Services, poll: PollView) -> bool:
    return services.now() >= poll.expires_at


async def get_poll(services: Services, viewer_id: int | None, poll_id: int) -> HydratedPost:
    """The post holding the poll ``poll_id`` (a poll shares its post's id), if the viewer
    may see it; NotFound otherwise."""
    item = await get_post(services, viewer_id, poll_id)
    if item.poll is None:
        raise NotFound
    return item


def _check_choices(poll: PollView, choices: Sequence[int]) -> list[int]:
    chosen = sorted(set(choices))
    if not chosen:
        raise ValidationFailed.field("choices", "ERR_BLANK", "can't be blank")
    if len(chosen) != len(choices):
        raise ValidationFailed.field("choices", "ERR_INVALID", "must not name an option twice")
    if any(not 0 <= c < len(poll.options) for c in chosen):
        raise ValidationFailed.field("choices", "ERR_INVALID", f"must be between 0 and {len(poll.options) - 1}")
    if len(chosen) > 1 and not poll.multiple:
        raise ValidationFailed.field("choices", "ERR_INVALID", "must be one option: this poll allows one choice")
    return chosen


async def vote(services: Services, account_id: int, poll_id: int, choices: Sequence[int]) -> HydratedPost:
    """Vote once in a poll one may see; the post as the voter now sees it."""
    item = await get_poll(services, account_id, poll_id)
    poll = item.poll
    assert poll is not None  # get_poll answers only posts with a poll
    if poll.account_id == account_id:
        raise ValidationFailed("Validation failed: You cannot vote in your own poll")
    if is_expired(services, poll):
        raise ValidationFailed("Validation failed: The poll has already ended")
    chosen = _check_choices(poll, choices)
    async with unit_of_work(services) as work:
        conn = work.conn
        dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
        claimed = await conn.execute(
            dialect_insert(poll_voters)
            .values(poll_id=poll_id, account_id=account_id, created_at=services.now())
            .on_conflict_do_nothing()
        )
        if claimed.rowcount != 1:
            raise ValidationFailed("Validation failed: You have already voted on this poll")
        await conn.execute(
            poll_votes.insert(), [{"poll_id": poll_id, "account_id": account_id, "choice": c} for c in chosen]
        )
        voted = PollVoted(status_id=poll_id, account_id=account_id, status_account_id=poll.account_id)
        await work.emit(voted, shard=shard_of(poll.account_id))
    return await get_poll(services, account_id, poll_id)


async def end_due_polls(services: Services, now: datetime | None = None) -> list[int]:
    """Close the polls whose time is up (each claimed by one sweep only); their ids."""
    when = now or services.now()
    async with services.db.connect() as conn:
        due = (
            await conn.execute(
                select(polls.c.status_id, polls.c.account_id)
                .where(polls.c.ended_at.is_(None), polls.c.expires_at <= when)
                .order_by(polls.c.expires_at)
                .limit(BATCH)
            )
        ).all()
    ended = []
    for status_id, owner in due:
        async with unit_of_work(services) as work:
            claim = await work.conn.execute(
                update(polls).where(polls.c.status_id == status_id, polls.c.ended_at.is_(None)).values(ended_at=when)
            )
            if claim.rowcount != 1:
                continue  # another worker closed it first
            await work.emit(PollEnded(status_id=status_id, account_id=owner), shard=shard_of(owner))
        ended.append(status_id)
    return ended


async def voters_of(services: Services, poll_id: int) -> list[int]:
    async with services.db.connect() as conn:
        found = await conn.execute(select(poll_voters.c.account_id).where(poll_voters.c.poll_id == poll_id))
        return sorted(found.scalars())
