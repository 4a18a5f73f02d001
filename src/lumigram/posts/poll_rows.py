"""The rows of a post's poll: written with the post, read with it by hydration.

Here rather than in ``lumigram.polls`` because a poll is made in the post's own
transaction and shown wherever the post is, and the polls package (voting, the end of a
poll) builds on the posts package. Counts are counted from the vote rows on each read,
so concurrent votes can never leave a count wrong.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

import orjson
from sqlalchemy import func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.tables import poll_voters, poll_votes, polls
from lumigram.posts.models import PollDraft, PollView


async def insert_poll(conn: AsyncConnection, status_id: int, account_id: int, draft: PollDraft, now: datetime) -> None:
    await conn.execute(
        polls.insert().values(
            status_id=status_id,
            account_id=account_id,
            options=orjson.dumps(list(draft.options)).decode(),
            multiple=draft.multiple,
            hide_totals=draft.hide_totals,
            expires_at=now + timedelta(seconds=draft.expires_in),
            created_at=now,
        )
    )


def view_of_new(status_id: int, account_id: int, draft: PollDraft, now: datetime) -> PollView:
    """The poll just written, as a read would show it (nobody has voted yet)."""
    return PollView(
        id=status_id,
        account_id=account_id,
        options=draft.options,
        counts=tuple(0 for _ in draft.options),
        votes_count=0,
        voters_count=0,
        multiple=draft.multiple,
        hide_totals=draft.hide_totals,
        expires_at=now + timedelta(seconds=draft.expires_in),
        own_votes=(),
    )


_CHOICE_COUNTS, _VOTERS, _OWN = 0, 1, 2


async def poll_views(conn: AsyncConnection, viewer_id: int | None, post_ids: Sequence[int]) -> dict[int, PollView]:
    """The polls of ``post_ids`` (those that have one) as ``viewer_id`` sees them: two
    statements, whatever the number of polls."""
    if not post_ids:
        return {}
    ids = list(post_ids)
    rows = (await conn.execute(select(polls).where(polls.c.status_id.in_(ids)))).all()
    if not rows:
        return {}
    found = [row.status_id for row in rows]
    parts = [
        select(
            literal_column(str(_CHOICE_COUNTS)).label("kind"),
            poll_votes.c.poll_id,
            poll_votes.c.choice,
            func.count().label("n"),
        )
        .where(poll_votes.c.poll_id.in_(found))
        .group_by(poll_votes.c.poll_id, poll_votes.c.choice),
        select(literal_column(str(_VOTERS)), poll_voters.c.poll_id, literal_column("0"), func.count())
        .where(poll_voters.c.poll_id.in_(found))
        .group_by(poll_voters.c.poll_id),
    ]
    if viewer_id is not None:
        parts.append(
            select(literal_column(str(_OWN)), poll_votes.c.poll_id, poll_votes.c.choice, literal_column("0")).where(
                poll_votes.c.poll_id.in_(found), poll_votes.c.account_id == viewer_id
            )
        )
    choices: dict[int, dict[int, int]] = {}
    voters: dict[int, int] = {}
    own: dict[int, list[int]] = {}
    for kind, poll_id, choice, n in (await conn.execute(union_all(*parts))).all():
        if kind == _CHOICE_COUNTS:
            choices.setdefault(poll_id, {})[choice] = n
        elif kind == _VOTERS:
            voters[poll_id] = n
        else:
            own.setdefault(poll_id, []).append(choice)
    views = {}
    for row in rows:
        options = tuple(orjson.loads(row.options))
        counted = choices.get(row.status_id, {})
        counts = tuple(counted.get(i, 0) for i in range(len(options)))
        views[row.status_id] = PollView(
            id=row.status_id,
            account_id=row.account_id,
            options=options,
            counts=counts,
            votes_count=sum(counts),
            voters_count=voters.get(row.status_id, 0),
            multiple=bool(row.multiple),
            hide_totals=bool(row.hide_totals),
            expires_at=row.expires_at,
            own_votes=None if viewer_id is None else tuple(sorted(own.get(row.status_id, []))),
        )
    return views
