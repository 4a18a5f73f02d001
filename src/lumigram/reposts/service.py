"""Reposting a post, taking a repost back, who reposted, and reposts in timelines.

* Only a post its author addressed to everyone (``public`` or ``unlisted``, by an
  account that is not locked) may be reposted: a repost never widens a post's audience.
  A followers-only or direct post, or any post of a locked account, is refused (403, as
  Mastodon refuses it); a post the reposter may not see is NotFound.
* A repost is a row of its own with a time-sortable id on the reposter's shard: its
  place in followers' home feeds and their page cursor. Reposting twice changes nothing.
* The post's ``reblogs_count`` moves in the repost's own transaction (reposts are rare
  next to likes, so they need no pending counter), with a ``ReblogCreated`` or
  ``ReblogRemoved`` event: the fan-out (``lumigram.feed.fanout``) and the notification
  follow from the bus.
* In a timeline a repost is shown only when the viewer may see the original now (the
  one visibility rule, so a later lock or block hides it), with the original nested.
* A repost's own id names it like a status (Mastodon's reblog wrapper): it reads as the
  wrapper for exactly who may see both the original and the reposter (a locked reposter's
  reposts are for their approved followers), and its reposter deletes it as an unreblog.
* Open home streams get a new repost by the same rule the home feed's fan-out applies
  (``home_readers``), so a stream never shows what the timeline would leave out.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

from sqlalchemy import delete, select, union_all, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.errors import Forbidden, NotFound
from lumigram.events import AccountDeleted, ReblogCreated, ReblogRemoved
from lumigram.graph.service import shielded_from
from lumigram.ids import shard_of
from lumigram.infra.cache import Cache
from lumigram.infra.sql import Prebuilt, among, one_of
from lumigram.infra.tables import accounts, follows, reblogs, statuses, utcnow
from lumigram.lists.service import exclusive_owners
from lumigram.paging import MAX_ID, Page, PageRequest
from lumigram.posts.engaged import engaged_accounts
from lumigram.posts.hydrate import hydrate, hydrate_in, hydrate_with_context
from lumigram.posts.models import HydratedPost, Repost
from lumigram.posts.visibility import ViewerContext, can_see, context_from_rows, context_selects
from lumigram.services import Services
from lumigram.unit_of_work import Work, unit_of_work

#: Visibilities a post may be reposted with.
REPOSTABLE = frozenset({"public", "unlisted"})


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


def may_repost(item: HydratedPost) -> bool:
    """Whether the post's audience is everyone (what a repost may pass on)."""
    return item.post.visibility in REPOSTABLE and not item.account.locked and item.post.kind != "message"


async def _target(conn: AsyncConnection, account_id: int, status_id: int) -> HydratedPost:
    if not _valid_id(status_id):
        raise NotFound
    found = await hydrate_in(conn, account_id, [status_id])
    if not found:
        raise NotFound
    if not may_repost(found[0]):
        raise Forbidden("Only posts shared with everyone can be reposted")
    return found[0]


async def _insert_once(services: Services, conn: AsyncConnection, account_id: int, status_id: int) -> int | None:
    """The new repost's id, or None when the account had reposted the post already."""
    dialect_insert = pg_insert if conn.dialect.name == "postgresql" else sqlite_insert
    statement = (
        dialect_insert(reblogs)
        .values(
            account_id=account_id,
            status_id=status_id,
            id=services.ids.next_id(shard_of(account_id)),
            created_at=utcnow(),
        )
        .on_conflict_do_nothing(index_elements=["account_id", "status_id"])
        .returning(reblogs.c.id)
    )
    try:
        row = (await conn.execute(statement)).first()
    except IntegrityError:
        raise NotFound from None  # the post was deleted meanwhile
    return None if row is None else int(row[0])


async def _count(conn: AsyncConnection, status_id: int, delta: int) -> None:
    await conn.execute(
        update(statuses).where(statuses.c.id == status_id).values(reblogs_count=statuses.c.reblogs_count + delta)
    )


async def _repost_of(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """The account's repost of the post, as Mastodon answers a reblog: the wrapper."""
    async with services.db.connect() as conn:
        row = (
            await conn.execute(
                select(reblogs.c.id).where(reblogs.c.account_id == account_id, reblogs.c.status_id == status_id)
            )
        ).first()
    if row is None:
        raise NotFound
    items = await timeline_items(services, account_id, [int(row.id)])
    if not items:
        raise NotFound
    return items[0]


async def reblog(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Repost a post the account may see and that is shared with everyone; idempotent."""
    async with unit_of_work(services) as work:
        target = await _target(work.conn, account_id, status_id)
        reblog_id = await _insert_once(services, work.conn, account_id, status_id)
        if reblog_id is not None:
            await _count(work.conn, status_id, 1)
            event = ReblogCreated(
                reblog_id=reblog_id,
                status_id=status_id,
                account_id=account_id,
                status_account_id=target.post.account_id,
            )
            await work.emit(event, shard=shard_of(account_id))
    return await _repost_of(services, account_id, status_id)


async def _unrepost(work: Work, account_id: int, status_id: int) -> None:
    removed = (
        await work.conn.execute(
            delete(reblogs)
            .where(reblogs.c.account_id == account_id, reblogs.c.status_id == status_id)
            .returning(reblogs.c.id)
        )
    ).first()
    if removed is not None:
        await _count(work.conn, status_id, -1)
        author = (
            await work.conn.execute(select(statuses.c.account_id).where(statuses.c.id == status_id))
        ).scalar_one_or_none()
        event = ReblogRemoved(
            reblog_id=int(removed.id),
            status_id=status_id,
            account_id=account_id,
            status_account_id=int(author) if author is not None else 0,
        )
        await work.emit(event, shard=shard_of(account_id))


async def unreblog(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Take a repost back (idempotent); the original post as the account now sees it."""
    if not _valid_id(status_id):
        raise NotFound
    async with unit_of_work(services) as work:
        await _unrepost(work, account_id, status_id)
    found = await hydrate(services, account_id, [status_id])
    if not found:
        raise NotFound
    return found[0]


async def reblogged_by(services: Services, viewer_id: int | None, status_id: int, page: PageRequest) -> Page[Account]:
    """Who reposted a post the viewer may see, newest repost first, paged by the repost's
    id; accounts blocking the viewer or blocked by them are left out."""
    return await engaged_accounts(services, viewer_id, status_id, page, reblogs)


# --- reposts in timelines ------------------------------------------------------------------

_REPOSTS = Prebuilt(
    lambda dialect: select(reblogs.c.id, reblogs.c.status_id, reblogs.c.account_id, reblogs.c.created_at).where(
        among(dialect, reblogs.c.id, "ids")
    )
)
_CONTEXT = Prebuilt(lambda dialect: union_all(*context_selects(dialect)))


async def timeline_items_in(
    conn: AsyncConnection, viewer_id: int | None, ids: Sequence[int], cache: Cache | None = None
) -> tuple[list[HydratedPost], ViewerContext]:
    """The posts and reposts of ``ids`` (a timeline's entries) the viewer may see, in the
    order asked, and the viewer's follows, blocks and mutes among their authors and
    reposters. A repost is shown only when its original is: each is hydrated for the
    viewer, whatever reposted it."""
    wanted = list(dict.fromkeys(i for i in ids if _valid_id(i)))
    if not wanted:
        return [], ViewerContext(viewer_id)
    found = await _REPOSTS.rows(conn, {"ids": wanted})
    by_id = {int(row.id): row for row in found}
    originals = [by_id[i].status_id if i in by_id else i for i in wanted]
    items, context = await hydrate_with_context(conn, viewer_id, originals, cache=cache)
    if not by_id:
        return items, context
    posts = {item.post.id: item for item in items}
    reposters = {int(row.account_id) for row in found}
    rows = await conn.execute(select(accounts).where(one_of(conn, accounts.c.id, sorted(reposters))))
    people = {int(row.id): account_from_row(row) for row in rows}
    others = sorted(reposters - {viewer_id}) if viewer_id is not None else []
    if viewer_id is not None and others:
        params = {"viewer": viewer_id, "authors": others, "now": utcnow()}
        extra = context_from_rows(viewer_id, [(k, a) for k, a in await _CONTEXT.rows(conn, params)])
        context = ViewerContext(
            viewer_id,
            following=context.following | extra.following,
            blocked=context.blocked | extra.blocked,
            muted=context.muted | extra.muted,
        )
    shown: list[HydratedPost] = []
    for entry in wanted:
        repost = by_id.get(entry)
        original = posts.get(repost.status_id if repost is not None else entry)
        if original is None:
            continue
        if repost is None:
            shown.append(original)
            continue
        reposter = people.get(int(repost.account_id))
        # The reposter's side of the rule: blocks either way, and a locked reposter's
        # reposts are for their approved followers (whom ``following`` holds).
        if reposter is None or not may_repost(original):
            continue
        if not can_see(context, reposter.id, reposter.locked, "public", ()):
            continue
        shown.append(dataclasses.replace(original, repost=Repost(int(repost.id), reposter, repost.created_at)))
    return shown, context


async def timeline_items(services: Services, viewer_id: int | None, ids: Sequence[int]) -> list[HydratedPost]:
    """``timeline_items_in`` on a connection of its own."""
    async with services.db.connect() as conn:
        return (await timeline_items_in(conn, viewer_id, ids, services.cache))[0]


# --- a repost by its own id ----------------------------------------------------------------


async def get_repost(services: Services, viewer_id: int | None, reblog_id: int) -> HydratedPost:
    """The repost ``reblog_id`` as its wrapper, if the viewer may see both the original and
    the reposter (``timeline_items_in``'s rule); NotFound otherwise, never revealing which."""
    if not _valid_id(reblog_id):
        raise NotFound
    async with services.db.connect() as conn:
        items, _ = await timeline_items_in(conn, viewer_id, [reblog_id], services.cache)
    # An id that is a post's, not a repost's, hydrates as the post: not what was asked.
    if not items or items[0].repost is None or items[0].repost.id != reblog_id:
        raise NotFound
    return items[0]


async def undo_repost(services: Services, account_id: int, reblog_id: int) -> HydratedPost:
    """Take back the account's own repost named by the repost's id (Mastodon deletes a
    reblog like any status of one's own): the wrapper as it was, its original as the account
    sees it now. Someone else's repost is NotFound, as a post of theirs would be."""
    if not _valid_id(reblog_id):
        raise NotFound
    async with services.db.connect() as conn:
        row = (
            await conn.execute(
                select(reblogs.c.status_id).where(reblogs.c.id == reblog_id, reblogs.c.account_id == account_id)
            )
        ).first()
    if row is None:
        raise NotFound
    wrapper = await timeline_items(services, account_id, [reblog_id])
    original = await unreblog(services, account_id, int(row.status_id))
    if not wrapper or wrapper[0].repost is None:
        raise NotFound  # taken back, but its original is no longer the account's to see
    return dataclasses.replace(original, repost=wrapper[0].repost)


# --- reposts on open streams ---------------------------------------------------------------


async def repost_for_streams(services: Services, reblog_id: int) -> HydratedPost | None:
    """The repost as its wrapper with no viewer's marks, or None when it was taken back or
    its original is no longer shared with everyone (``home_readers`` then picks its readers)."""
    async with services.db.connect() as conn:
        row = (
            await conn.execute(
                # Labelled: the account's own ``created_at`` must keep its name.
                select(reblogs.c.status_id.label("reposted_id"), reblogs.c.created_at.label("reposted_at"), accounts)
                .join(accounts, accounts.c.id == reblogs.c.account_id)
                .where(reblogs.c.id == reblog_id)
            )
        ).first()
        if row is None:
            return None
        found = await hydrate_in(conn, None, [int(row.reposted_id)], check_visibility=False)
    if not found or not may_repost(found[0]):
        return None
    return dataclasses.replace(found[0], repost=Repost(reblog_id, account_from_row(row), row.reposted_at))


async def home_readers(services: Services, reposter_id: int, author_id: int, followers: Sequence[int]) -> list[int]:
    """Of the reposter's ``followers``, those whose home takes the repost: who show this
    account's reposts, are shielded (mutes, blocks) from neither the reposter nor the
    post's author, are not its author, and do not get the post itself (they follow its
    author and read them at home, not only in an exclusive list): the home feed's rule."""
    readers = set(followers) - {author_id, reposter_id}
    if not readers:
        return []
    readers -= await shielded_from(services, reposter_id, sorted(readers))
    readers -= await shielded_from(services, author_id, sorted(readers))
    if not readers:
        return []
    async with services.db.connect() as conn:
        rows = await conn.execute(
            select(follows.c.account_id, follows.c.target_account_id, follows.c.reblogs).where(
                one_of(conn, follows.c.account_id, sorted(readers)),
                follows.c.target_account_id.in_([reposter_id, author_id]),
            )
        )
        showing: set[int] = set()
        has_original: set[int] = set()
        for row in rows:
            if row.target_account_id == reposter_id and row.reblogs:
                showing.add(int(row.account_id))
            if row.target_account_id == author_id:
                has_original.add(int(row.account_id))
        readers &= showing
        readers -= has_original - await exclusive_owners(conn, author_id, sorted(has_original))
        readers -= await exclusive_owners(conn, reposter_id, sorted(readers))
    return sorted(readers)


#: Reposts taken back per transaction when an account is deleted.
DELETION_BATCH = 100


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """Take back a deleted account's reposts, a batch per transaction, each as an unrepost
    (the post's count, the followers' feeds and the owner's notification follow)."""
    gone = event.account_id
    while True:
        async with unit_of_work(services) as work:
            query = select(reblogs.c.status_id).where(reblogs.c.account_id == gone).limit(DELETION_BATCH)
            reposted = [int(s) for s in (await work.conn.execute(query)).scalars()]
            for status_id in reposted:
                await _unrepost(work, gone, status_id)
        if len(reposted) < DELETION_BATCH:
            break
