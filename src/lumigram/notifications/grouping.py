"""Grouped notifications (Mastodon 4.3's ``/api/v2/notifications``).

Favourites of one post, and follows, made within a few hours of each other share a
``group_key`` (see ``service._group_key``); every other notification is a group of its
own (``ungrouped-{id}``). A page holds up to ``limit`` groups, ordered by each group's
most recent notification inside the requested window, exactly as Mastodon pages them.
The notifications are read in id order in batches until the page has its groups, so
the cost follows what is shown, not the length of the recipient's history; each
group's totals (count, sample accounts) then take two batched queries for the page.
Unlike Mastodon, a page also takes in the older notifications of its groups that come
before the next group, so walking the pages one group at a time shows each group once
where Mastodon would repeat it.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import case, func, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.errors import NotFound
from lumigram.infra.cache import Cache
from lumigram.infra.tables import notifications
from lumigram.notifications.models import DEFAULT_LIMIT, GROUPABLE, Filter, Group, GroupPage
from lumigram.notifications.service import (
    _accounts,
    clamp,
    effective_key,
    key_condition,
    post_still_there,
    read_up_to,
    visible_posts,
    visible_rows,
    window,
)
from lumigram.paging import MAX_ID, PageRequest
from lumigram.services import Services

#: Mastodon shows up to eight accounts' avatars on a group.
SAMPLE_ACCOUNTS = 8
#: Rows read per round while gathering a page's groups, and the most rounds: a page
#: whose first thousands of rows fall into few groups stops early and links onwards.
BATCH = 200
MAX_ROUNDS = 20


async def _build(
    conn: AsyncConnection,
    recipient: int,
    heads: list[Any],
    grouped_types: frozenset[str],
    flt: Filter,
    page_min: int,
    page_max: int,
    cache: Cache | None = None,
) -> list[Group]:
    """Groups for ``heads`` (one row per group), newest first, totals up to ``page_max``."""
    shared = sorted({str(row.group_key) for row in heads if row.type in grouped_types})
    stats: dict[str, tuple[int, int, int]] = {}
    samples: dict[str, list[int]] = {}
    latest_at: dict[int, Any] = {row.id: row.created_at for row in heads}
    if shared:
        where = [
            *visible_rows(recipient, flt),
            notifications.c.group_key.in_(shared),
            notifications.c.type.in_(sorted(grouped_types)),
            notifications.c.id <= page_max,
        ]
        in_page = func.min(case((notifications.c.id >= page_min, notifications.c.id)))
        for key, count, newest, oldest_in_page in (
            await conn.execute(
                select(notifications.c.group_key, func.count(), func.max(notifications.c.id), in_page)
                .where(*where)
                .group_by(notifications.c.group_key)
            )
        ).all():
            stats[key] = (int(count), int(newest), int(oldest_in_page or newest))
        ranked = (
            select(
                notifications.c.group_key,
                notifications.c.from_account_id,
                notifications.c.id,
                func.row_number()
                .over(partition_by=notifications.c.group_key, order_by=notifications.c.id.desc())
                .label("rank"),
            )
            .where(*where)
            .subquery()
        )
        for key, sender, _id in (
            await conn.execute(
                select(ranked.c.group_key, ranked.c.from_account_id, ranked.c.id)
                .where(ranked.c.rank <= SAMPLE_ACCOUNTS)
                .order_by(ranked.c.group_key, ranked.c.id.desc())
            )
        ).all():
            if sender not in samples.setdefault(key, []):
                samples[key].append(sender)
        missing = [newest for _, newest, _ in stats.values() if newest not in latest_at]
        if missing:
            latest_at.update(
                (
                    await conn.execute(
                        select(notifications.c.id, notifications.c.created_at).where(notifications.c.id.in_(missing))
                    )
                ).tuples()
            )
    senders = await _accounts(
        conn, [*(s for ids in samples.values() for s in ids), *(row.from_account_id for row in heads)]
    )
    posts = await visible_posts(conn, recipient, (row.status_id for row in heads if row.status_id is not None), cache)
    groups = []
    for row in heads:
        key = effective_key(row, grouped_types)
        count, newest, oldest_in_page = stats.get(key, (1, row.id, row.id))
        sample = [senders[s] for s in samples.get(key, [row.from_account_id]) if s in senders]
        post = posts.get(row.status_id) if row.status_id is not None else None
        if not sample or (row.status_id is not None and post is None):
            continue
        groups.append(
            Group(
                group_key=key,
                type=row.type,
                notifications_count=count,
                most_recent_notification_id=newest,
                page_min_id=oldest_in_page,
                page_max_id=newest,
                latest_page_notification_at=latest_at[newest],
                sample_accounts=sample,
                status=post,
            )
        )
    groups.sort(key=lambda group: group.most_recent_notification_id, reverse=True)
    return groups


async def grouped_page(
    services: Services,
    recipient: int,
    page: PageRequest,
    flt: Filter = Filter(),
    grouped_types: frozenset[str] = frozenset(GROUPABLE),
) -> GroupPage:
    """Up to ``page.limit`` groups, newest first."""
    limit = clamp(page.limit or DEFAULT_LIMIT)
    if page.is_empty():
        return GroupPage()
    heads: dict[str, Any] = {}
    consumed: list[int] = []
    exhausted = False
    cursor = page
    async with services.db.connect() as conn:
        for _ in range(MAX_ROUNDS):
            query, ascending = window(select(notifications).where(*visible_rows(recipient, flt)), cursor, BATCH)
            rows = (await conn.execute(query)).all()
            fresh = [row for row in rows if effective_key(row, grouped_types) not in heads]
            posts = await visible_posts(
                conn, recipient, (row.status_id for row in fresh if row.status_id is not None), services.cache
            )
            stopped = False
            for row in rows:
                key = effective_key(row, grouped_types)
                hidden = row.status_id is not None and row.status_id not in posts
                if key not in heads and not hidden:
                    if len(heads) == limit:
                        # The first row of a group that does not fit: the next page starts here.
                        stopped = True
                        break
                    heads[key] = row
                # Older rows of the page's groups (and hidden rows) are taken in, so the
                # next page does not show those groups again for them.
                consumed.append(row.id)
            if stopped:
                break
            if len(rows) < BATCH:
                exhausted = True
                break
            last = rows[-1].id
            cursor = PageRequest(
                max_id=cursor.max_id if ascending else last,
                since_id=cursor.since_id,
                min_id=last if ascending else None,
                limit=limit,
            )
        if not heads:
            bounds = (max(consumed), min(consumed)) if consumed else (None, None)
            return GroupPage([], newest_id=bounds[0], oldest_id=bounds[1], more=not exhausted and bool(consumed))
        groups = await _build(
            conn, recipient, list(heads.values()), grouped_types, flt, min(consumed), max(consumed), services.cache
        )
    # Walking on (max_id) resumes below everything read; walking back (min_id) above.
    return GroupPage(groups, newest_id=max(consumed), oldest_id=min(consumed), more=not exhausted)


async def get_group(
    services: Services, recipient: int, group_key: str, grouped_types: frozenset[str] = frozenset(GROUPABLE)
) -> Group:
    condition = key_condition(group_key)
    if condition is None:
        raise NotFound
    async with services.db.connect() as conn:
        head = (
            await conn.execute(
                select(notifications)
                .where(*visible_rows(recipient, Filter()), condition)
                .order_by(notifications.c.id.desc())
                .limit(1)
            )
        ).first()
        if head is None or effective_key(head, grouped_types) != group_key:
            raise NotFound
        groups = await _build(conn, recipient, [head], grouped_types, Filter(), 0, MAX_ID, services.cache)
    if not groups:
        raise NotFound
    return groups[0]


async def group_accounts(
    services: Services, recipient: int, group_key: str, page: PageRequest
) -> tuple[list[Account], list[int], bool]:
    """Who is behind a group, newest notification first (Mastodon's group accounts list):
    the accounts, their notifications' ids (the paging cursors), and whether more may follow."""
    condition = key_condition(group_key)
    if condition is None:
        raise NotFound
    limit = clamp(page.limit or DEFAULT_LIMIT)
    async with services.db.connect() as conn:
        query, ascending = window(
            select(notifications.c.id, notifications.c.from_account_id).where(
                *visible_rows(recipient, Filter()), condition
            ),
            page,
            limit,
        )
        rows = list((await conn.execute(query)).all())
        if ascending:
            rows.reverse()
        senders = await _accounts(conn, (row.from_account_id for row in rows))
    kept = [row for row in rows if row.from_account_id in senders]
    return [senders[row.from_account_id] for row in kept], [row.id for row in kept], len(rows) == limit


async def unread_group_count(
    services: Services,
    recipient: int,
    flt: Filter = Filter(),
    limit: int = 100,
    grouped_types: frozenset[str] = frozenset(GROUPABLE),
) -> int:
    """How many groups have a notification newer than the notifications marker (at most ``limit``)."""
    async with services.db.connect() as conn:
        since = await read_up_to(conn, recipient)
        where = [*visible_rows(recipient, flt), notifications.c.id > since, post_still_there()]
        alone = (
            select(notifications.c.id)
            .where(*where, notifications.c.type.not_in(sorted(grouped_types)))
            .limit(limit)
            .subquery()
        )
        together = (
            select(notifications.c.group_key)
            .where(*where, notifications.c.type.in_(sorted(grouped_types)))
            .distinct()
            .limit(limit)
            .subquery()
        )
        count = (await conn.execute(select(func.count()).select_from(alone))).scalar_one()
        count += (await conn.execute(select(func.count()).select_from(together))).scalar_one()
    return min(int(count), limit)
