"""Likes, bookmarks and comment threads.

* A like or bookmark needs the post to be visible to the liker (the one visibility
  rule, ``lumigram.posts.visibility``): a post they may not see, blocks either way
  included, is NotFound, exactly like one that does not exist. Comments are posts, so
  liking a comment is the same call.
* Writes are idempotent: a second like is a no-op (no second event, no second count).
  The row and its event (``FavouriteCreated`` / ``FavouriteRemoved``, ``BookmarkChanged``)
  share one unit of work (``lumigram.unit_of_work``), which forgets the liker's kept
  pages once it has committed; the post's counter is folded in asynchronously
  (``counters``).
* Removing a like or a bookmark works even when the post has since become invisible
  (the author went private, or a block came between), as in Mastodon; the answer is
  then NotFound, because the post itself may not be shown.
* A thread (``context``) is the chain of posts above a post and the tree of comments
  below it, each filtered for the viewer, with muted and blocked authors' comments
  (and the replies under them) left out; it is bounded so one huge thread cannot make
  one request expensive.
"""

from __future__ import annotations

import dataclasses
import functools
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Integer, Table, bindparam, delete, func, literal_column, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.errors import NotFound
from lumigram.events import AccountDeleted, BookmarkChanged, FavouriteCreated, FavouriteRemoved
from lumigram.ids import shard_of
from lumigram.infra.cache import Cache
from lumigram.infra.sql import Prebuilt
from lumigram.infra.tables import bookmarks, favourites, statuses, utcnow
from lumigram.paging import MAX_ID, Page, PageRequest, window
from lumigram.posts import counters
from lumigram.posts.engaged import engaged_accounts
from lumigram.posts.hydrate import hydrate, hydrate_in, hydrate_with_context
from lumigram.posts.models import HydratedPost
from lumigram.services import Services
from lumigram.unit_of_work import Work, unit_of_work

#: Mastodon's page size for statuses lists (favourites, bookmarks), and its largest.
DEFAULT_STATUS_LIMIT = 20
MAX_STATUS_LIMIT = 40
#: Extra reads a saved-posts page may make to fill itself when some saved posts are no
#: longer visible; past that it answers short (the Link header still moves on).
FILL_ROUNDS = 4
#: Bounds of a thread, as in Mastodon: at most 40 posts above, 4096 below.
MAX_ANCESTORS = 40
MAX_DESCENDANTS = 4096
#: Deepest reply level followed below a post.
MAX_DEPTH = 256


@dataclass(frozen=True, slots=True)
class Thread:
    """A post's context: the posts above it oldest first, the comments below in thread order."""

    ancestors: list[HydratedPost] = field(default_factory=list)
    descendants: list[HydratedPost] = field(default_factory=list)


def _valid_id(value: int) -> bool:
    return 0 < value <= MAX_ID


async def _visible(conn: AsyncConnection, viewer_id: int, status_id: int, cache: Cache | None = None) -> HydratedPost:
    if not _valid_id(status_id):
        raise NotFound
    found = await hydrate_in(conn, viewer_id, [status_id], cache=cache)
    if not found:
        raise NotFound
    return found[0]


async def _shown(services: Services, viewer_id: int, status_id: int) -> HydratedPost:
    """The post as the viewer now sees it (their flags, live counts); NotFound if hidden."""
    found = await hydrate(services, viewer_id, [status_id])
    if not found:
        raise NotFound
    async with services.db.connect() as conn:
        exact = await _like_count(conn, status_id)
    item = found[0]
    return dataclasses.replace(item, post=dataclasses.replace(item.post, favourites_count=exact))


def _count_likes(_dialect: str) -> Any:
    return select(func.count()).select_from(favourites).where(favourites.c.status_id == bindparam("status"))


_LIKE_COUNT = Prebuilt(_count_likes)


async def _like_count(conn: AsyncConnection, status_id: int) -> int:
    """The exact like count, for the one who just liked or unliked (one indexed COUNT),
    not column plus pending delta, which may be off by likes in flight while the
    consumer folds them in."""
    return int((await _LIKE_COUNT.rows(conn, {"status": status_id}))[0][0])


def _insert_row_once(table: Table) -> Prebuilt[Any]:
    """``(account, post)``'s row unless it exists (also under a race), returning its id
    when written: built once per dialect, as every like and bookmark runs it."""

    def build(dialect: str) -> Any:
        dialect_insert = pg_insert if dialect == "postgresql" else sqlite_insert
        names = ("id", "account_id", "status_id", "created_at")
        return (
            dialect_insert(table)
            .values({name: bindparam(name, type_=table.c[name].type) for name in names})
            .on_conflict_do_nothing(index_elements=["account_id", "status_id"])
            .returning(table.c.id)
        )

    return Prebuilt(build)


_INSERT_ONCE = {favourites.name: _insert_row_once(favourites), bookmarks.name: _insert_row_once(bookmarks)}


async def _insert_once(
    services: Services, conn: AsyncConnection, table: Table, account_id: int, status_id: int
) -> bool:
    """Add the (account, post) row unless it exists, also under a race; True when written."""
    params = {
        "id": services.ids.next_id(shard_of(account_id)),
        "account_id": account_id,
        "status_id": status_id,
        "created_at": utcnow(),
    }
    try:
        return bool(await _INSERT_ONCE[table.name].rows(conn, params))
    except IntegrityError:
        # The post was deleted between the visibility check and this insert.
        raise NotFound from None


async def _remove(conn: AsyncConnection, table: Table, account_id: int, status_id: int) -> bool:
    statement = (
        delete(table).where(table.c.account_id == account_id, table.c.status_id == status_id).returning(table.c.id)
    )
    return (await conn.execute(statement)).first() is not None


# --- likes ----------------------------------------------------------------------------


async def favourite(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Like a post or comment the caller may see; a repeated like changes nothing."""
    async with unit_of_work(services) as work:
        target = await _visible(work.conn, account_id, status_id, services.cache)
        if await _insert_once(services, work.conn, favourites, account_id, status_id):
            # Counted before the commit makes the event visible, so no consumer
            # (the notification's rendering, the counter's fold-in) can run first.
            tag = await counters.bump(services, status_id, 1)
            work.on_rollback(functools.partial(counters.cancel, services, status_id, -1, tag))
            liked = FavouriteCreated(
                status_id=status_id, account_id=account_id, status_account_id=target.post.account_id, count_tag=tag
            )
            await work.emit(liked, shard=shard_of(account_id))
        exact = await _like_count(work.conn, status_id)
    # The post as just read for the check, with the like: reading it all again after the
    # commit doubled the request's statements, and nothing else of it changed.
    return dataclasses.replace(target, favourited=True, post=dataclasses.replace(target.post, favourites_count=exact))


async def unfavourite(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Take a like back; fine when there was none."""
    if not _valid_id(status_id):
        raise NotFound
    async with unit_of_work(services) as work:
        await _unlike(services, work, account_id, status_id)
    return await _shown(services, account_id, status_id)


async def _unlike(services: Services, work: Work, account_id: int, status_id: int) -> None:
    if await _remove(work.conn, favourites, account_id, status_id):
        author_id = (
            await work.conn.execute(select(statuses.c.account_id).where(statuses.c.id == status_id))
        ).scalar_one()
        tag = await counters.bump(services, status_id, -1)  # before the commit, as in favourite()
        work.on_rollback(functools.partial(counters.cancel, services, status_id, 1, tag))
        unliked = FavouriteRemoved(
            status_id=status_id, account_id=account_id, status_account_id=author_id, count_tag=tag
        )
        await work.emit(unliked, shard=shard_of(account_id))


async def favourited_by(services: Services, viewer_id: int | None, status_id: int, page: PageRequest) -> Page[Account]:
    """Who liked a post the viewer may see, newest like first, paged by the like's id.
    Accounts that block the viewer or that the viewer blocks are left out."""
    return await engaged_accounts(services, viewer_id, status_id, page, favourites)


# --- bookmarks ------------------------------------------------------------------------


async def bookmark(services: Services, account_id: int, status_id: int) -> HydratedPost:
    """Save a post the caller may see; private to them: no counter, and only their own
    kept pages change."""
    async with unit_of_work(services) as work:
        await _visible(work.conn, account_id, status_id)
        if await _insert_once(services, work.conn, bookmarks, account_id, status_id):
            saved = BookmarkChanged(status_id=status_id, account_id=account_id, bookmarked=True)
            await work.emit(saved, shard=shard_of(account_id))
    return await _shown(services, account_id, status_id)


async def unbookmark(services: Services, account_id: int, status_id: int) -> HydratedPost:
    if not _valid_id(status_id):
        raise NotFound
    async with unit_of_work(services) as work:
        if await _remove(work.conn, bookmarks, account_id, status_id):
            unsaved = BookmarkChanged(status_id=status_id, account_id=account_id, bookmarked=False)
            await work.emit(unsaved, shard=shard_of(account_id))
    return await _shown(services, account_id, status_id)


# --- the viewer's saved lists ------------------------------------------------------------


def status_page_limit(page: PageRequest) -> int:
    return max(1, min(page.limit, MAX_STATUS_LIMIT))


async def _saved_page(services: Services, table: Table, viewer_id: int, page: PageRequest) -> Page[HydratedPost]:
    """The viewer's rows of ``table`` newest first as posts, paged by the row's id.

    Posts the viewer may no longer see are skipped, and the page is filled from further
    rows, so a hidden post neither shows nor ends the list early.
    """
    limit = status_page_limit(page)
    if page.is_empty():
        return Page(limit=limit)
    found: list[tuple[int, HydratedPost]] = []
    request = page
    ascending = False
    async with services.db.connect() as conn:
        for _ in range(FILL_ROUNDS):
            query = select(table.c.id, table.c.status_id).where(table.c.account_id == viewer_id)
            query, ascending = window(query, table.c.id, request, limit)
            rows = list((await conn.execute(query)).all())
            shown = await hydrate_in(conn, viewer_id, [r.status_id for r in rows], cache=services.cache)
            posts = {item.post.id: item for item in shown}
            found.extend((row.id, posts[row.status_id]) for row in rows if row.status_id in posts)
            if len(found) >= limit or len(rows) < limit:
                break
            last = rows[-1].id
            request = (
                dataclasses.replace(request, min_id=last) if ascending else dataclasses.replace(request, max_id=last)
            )
    found = found[:limit]
    if ascending:
        found.reverse()
    return Page(items=[item for _, item in found], cursors=[cursor for cursor, _ in found], limit=limit)


async def list_favourites(services: Services, viewer_id: int, page: PageRequest) -> Page[HydratedPost]:
    """The posts the viewer liked, most recent like first."""
    return await _saved_page(services, favourites, viewer_id, page)


async def list_bookmarks(services: Services, viewer_id: int, page: PageRequest) -> Page[HydratedPost]:
    """The posts the viewer saved, most recently saved first."""
    return await _saved_page(services, bookmarks, viewer_id, page)


# --- threads ------------------------------------------------------------------------------


async def _ancestor_ids(conn: AsyncConnection, parent_id: int) -> list[int]:
    """The chain above a post, oldest first (at most MAX_ANCESTORS)."""
    depth = literal_column("1", Integer).label("depth")
    up = select(statuses.c.id, statuses.c.in_reply_to_id, depth).where(statuses.c.id == parent_id)
    chain = up.cte("ancestors", recursive=True)
    above = statuses.alias("above")
    chain = chain.union_all(
        select(above.c.id, above.c.in_reply_to_id, chain.c.depth + 1).where(
            above.c.id == chain.c.in_reply_to_id, chain.c.depth < MAX_ANCESTORS
        )
    )
    rows = (await conn.execute(select(chain.c.id).order_by(chain.c.depth.desc()))).scalars()
    return list(rows)


async def _descendant_edges(conn: AsyncConnection, status_id: int) -> list[tuple[int, int]]:
    """(comment, the post it answers) for the tree below a post, shallowest first, bounded."""
    depth = literal_column("1", Integer).label("depth")
    first = select(statuses.c.id, statuses.c.in_reply_to_id, depth).where(statuses.c.in_reply_to_id == status_id)
    tree = first.cte("descendants", recursive=True)
    below = statuses.alias("below")
    tree = tree.union_all(
        select(below.c.id, below.c.in_reply_to_id, tree.c.depth + 1).where(
            below.c.in_reply_to_id == tree.c.id, tree.c.depth < MAX_DEPTH
        )
    )
    # No ORDER BY: both engines produce a recursive UNION ALL level by level, so the
    # bound cuts the deepest replies, and without a sort the engine can stop at the
    # bound instead of walking a huge thread to the end first.
    query = select(tree.c.id, tree.c.in_reply_to_id).limit(MAX_DESCENDANTS)
    return [(row.id, row.in_reply_to_id) for row in (await conn.execute(query)).all()]


def _thread_order(root_id: int, edges: list[tuple[int, int]]) -> list[tuple[int, int]]:
    """Depth first, each comment followed by its replies, siblings oldest first."""
    children: dict[int, list[int]] = {}
    parent_of: dict[int, int] = {}
    for child, parent in edges:
        children.setdefault(parent, []).append(child)
        parent_of[child] = parent
    ordered: list[tuple[int, int]] = []
    stack = sorted(children.get(root_id, []), reverse=True)
    while stack:
        current = stack.pop()
        ordered.append((current, parent_of[current]))
        stack.extend(sorted(children.get(current, []), reverse=True))
    return ordered


async def context(services: Services, viewer_id: int | None, status_id: int) -> Thread:
    """The thread around a post the viewer may see (NotFound otherwise)."""
    if not _valid_id(status_id):
        raise NotFound
    async with services.db.connect() as conn:
        found = await hydrate_in(conn, viewer_id, [status_id])
        if not found:
            raise NotFound
        focus = found[0].post
        above = await _ancestor_ids(conn, focus.in_reply_to_id) if focus.in_reply_to_id else []
        below = _thread_order(status_id, await _descendant_edges(conn, status_id))
        # The focus is read again with them: a comment's visibility is decided by the
        # posts above it, and this way they are all in one read.
        items, viewer = await hydrate_with_context(
            conn, viewer_id, [*above, status_id, *(child for child, _ in below)], cache=services.cache
        )
    # Visibility (blocks included) is already applied; mutes hide comments in threads too,
    # though a muted account's post is still shown when asked for directly.
    by_id = {item.post.id: item for item in items if item.post.account_id not in viewer.muted}
    ancestors = [by_id[i] for i in above if i in by_id]
    shown = {status_id}
    descendants = []
    for child, parent in below:
        # A reply under a hidden comment goes with it: shown alone it would answer nothing.
        if parent in shown and child in by_id:
            shown.add(child)
            descendants.append(by_id[child])
    return Thread(ancestors=ancestors, descendants=descendants)


# --- a deleted account -----------------------------------------------------------------------

#: Likes taken back per transaction when an account is deleted.
DELETION_BATCH = 100


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """Take back a deleted account's likes, a batch per transaction, each as an unlike (so
    the post's count and the owner's notification follow), and drop its bookmarks."""
    gone = event.account_id
    while True:
        async with unit_of_work(services) as work:
            query = select(favourites.c.status_id).where(favourites.c.account_id == gone).limit(DELETION_BATCH)
            liked = [int(s) for s in (await work.conn.execute(query)).scalars()]
            for status_id in liked:
                await _unlike(services, work, gone, status_id)
        if len(liked) < DELETION_BATCH:
            break
    async with services.db.begin() as conn:
        await conn.execute(delete(bookmarks).where(bookmarks.c.account_id == gone))
