"""Reading posts: a profile's grid, a post's source and its edit history."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import BigInteger, Select, String, bindparam, exists, select
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.service import account_from_row
from lumigram.errors import NotFound
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import (
    accounts,
    blocks,
    follows,
    media_attachments,
    mutes,
    status_edits,
    status_pins,
    status_tags,
    statuses,
    tags,
    utcnow,
)
from lumigram.paging import MAX_ID, Page, PageRequest, window
from lumigram.posts import text as captions
from lumigram.posts.hydrate import hydrate_in, post_from_row
from lumigram.posts.models import HydratedPost, Version
from lumigram.posts.visibility import ViewerContext
from lumigram.services import Services

#: Mastodon's page size for statuses, and its largest.
DEFAULT_LIMIT = 20
MAX_LIMIT = 40


#: An account's row by id (bound as ``id``); composing a post reads its author with it too.
ACCOUNT_BY_ID = Prebuilt(lambda _dialect: select(accounts).where(accounts.c.id == bindparam("id")))


def _author_with_context(_dialect: str) -> Select[Any]:
    """The profile's account and, in the same row, the viewer's follow, block (either way)
    and live mute of it: one statement instead of two."""
    viewer, author = bindparam("viewer", type_=BigInteger), accounts.c.id
    now = bindparam("now", type_=mutes.c.expires_at.type)
    following = exists().where(follows.c.account_id == viewer, follows.c.target_account_id == author)
    blocking = exists().where(blocks.c.account_id == viewer, blocks.c.target_account_id == author)
    blocked_by = exists().where(blocks.c.account_id == author, blocks.c.target_account_id == viewer)
    muting = exists().where(
        mutes.c.account_id == viewer,
        mutes.c.target_account_id == author,
        mutes.c.expires_at.is_(None) | (mutes.c.expires_at > now),
    )
    return select(
        accounts,
        following.label("viewer_follows"),
        (blocking | blocked_by).label("viewer_blocks"),
        muting.label("viewer_mutes"),
    ).where(author == bindparam("id"))


_AUTHOR_WITH_CONTEXT = Prebuilt(_author_with_context)
#: A profile's posts of some visibilities below ``max_id``, newest first (whole rows:
#: hydration then reads no rows of its own).
_NEWEST = Prebuilt(
    lambda dialect: (
        select(statuses)
        .where(
            statuses.c.account_id == bindparam("author"),
            among(dialect, statuses.c.visibility, "allowed", String()),
            statuses.c.id < bindparam("max_id"),
        )
        .order_by(statuses.c.id.desc())
        .limit(bindparam("limit"))
    )
)


def feed_items(query: Select[Any]) -> Select[Any]:
    """Only posts that belong in feeds: top-level posts, not comments, not direct messages."""
    return query.where(statuses.c.in_reply_to_id.is_(None), statuses.c.visibility != "direct")


async def _author_and_context(
    conn: AsyncConnection, viewer_id: int | None, account_id: int
) -> tuple[Any, ViewerContext]:
    """The profile's account row (None if there is none) and the viewer's context towards it."""
    if viewer_id is None or viewer_id == account_id:
        return await ACCOUNT_BY_ID.first(conn, {"id": account_id}), ViewerContext(viewer_id)
    params = {"id": account_id, "viewer": viewer_id, "now": utcnow()}
    row = await _AUTHOR_WITH_CONTEXT.first(conn, params)
    if row is None:
        return None, ViewerContext(viewer_id)
    related = frozenset({account_id})
    context = ViewerContext(
        viewer_id,
        following=related if row.viewer_follows else frozenset(),
        blocked=related if row.viewer_blocks else frozenset(),
        muted=related if row.viewer_mutes else frozenset(),
    )
    return row, context


def _visible_visibilities(viewer_id: int | None, author: Any, context: ViewerContext) -> tuple[str, ...]:
    """Which visibilities of ``author``'s posts the viewer may list on the profile."""
    if viewer_id == author.id:
        return ("public", "unlisted", "private")
    if author.id in context.blocked:
        return ()
    if author.id in context.following:
        return ("public", "unlisted", "private")
    if author.locked:
        return ()
    return ("public", "unlisted")


async def _tier_newest(
    conn: AsyncConnection, services: Services, author: Any, allowed: tuple[str, ...], limit: int
) -> list[HydratedPost]:
    """The profile's newest posts of ``allowed`` visibilities, hydrated without a
    reader's check (hydration's is per reader, and a tier is none)."""
    params = {"author": author.id, "allowed": list(allowed), "max_id": MAX_ID, "limit": limit}
    rows = await _NEWEST.rows(conn, params)
    return await hydrate_in(
        conn,
        None,
        [row.id for row in rows],
        check_visibility=False,
        cache=services.cache,
        profile=(account_from_row(author), ViewerContext(None)),
        rows=rows,
    )


async def tier_posts(services: Services, account_id: int, follower: bool, limit: int) -> Page[HydratedPost] | None:
    """A profile's newest posts as every reader of one tier may list them: approved
    followers (``follower``) or anyone else, signed in or not. Hydrated for no reader in
    particular (no marks), for ``lumigram.pagecache.profile_store``. None when the page shows
    a comment in a thread of another account's post: who may see that depends on each
    reader's relation to that account too, so no page is the same for a whole tier."""
    limit = max(1, min(limit, MAX_LIMIT))
    async with services.db.connect() as conn:
        author = await ACCOUNT_BY_ID.first(conn, {"id": account_id})
        if author is None:
            raise NotFound
        tier = ViewerContext(None, following=frozenset({account_id}) if follower else frozenset())
        allowed = _visible_visibilities(None, author, tier)
        if not allowed:
            return Page(limit=limit)
        # The visibilities listed are the check (with the comments' threads, below).
        posts = await _tier_newest(conn, services, author, allowed, limit)
    if any(_in_others_thread(item, account_id) for item in posts):
        return None
    # A comment is shown with the narrowest visibility in its thread (all the profile's
    # own here): one stored before replies were bounded may not be listed after all.
    posts = [item for item in posts if item.post.visibility in allowed]
    return Page(items=posts, cursors=[p.post.id for p in posts], limit=limit)


def _in_others_thread(item: HydratedPost, account_id: int) -> bool:
    thread = item.thread
    return thread is not None and (thread.root_id is None or not thread.accounts <= {account_id})


#: Reads of a profile's posts per page at most, when hidden comments leave one short.
_FILL_ROUNDS = 4


async def account_posts(
    services: Services,
    viewer_id: int | None,
    account_id: int,
    page: PageRequest,
    *,
    only_media: bool = False,
    pinned: bool = False,
    exclude_replies: bool = False,
    tagged: str | None = None,
) -> Page[HydratedPost]:
    """A profile's posts newest first, as far as the viewer may see them. Direct messages
    never appear on a profile. A comment is listed when the profile's visibilities allow
    it and the viewer may see the post it answers; where hidden comments leave a page
    short, it is filled from older posts (a page short of ``limit`` ends the listing)."""
    limit = max(1, min(page.limit, MAX_LIMIT))
    if page.is_empty():
        return Page(limit=limit)
    shown: list[HydratedPost] = []
    async with services.db.connect() as conn:
        author, context = await _author_and_context(conn, viewer_id, account_id)
        if author is None:
            raise NotFound
        allowed = _visible_visibilities(viewer_id, author, context)
        if not allowed:
            return Page(limit=limit)
        filters = _Filters(only_media, pinned, exclude_replies, tagged)
        request = page
        for _ in range(_FILL_ROUNDS):
            posts, read = await _profile_window(conn, services, viewer_id, author, context, allowed, request, filters)
            shown += posts
            if len(shown) >= limit or len(read) < limit or request.min_id is not None:
                break  # (walking forwards, a short page is all there is to catch up with)
            request = PageRequest(max_id=min(read), since_id=page.since_id, limit=limit)
    shown = shown[:limit]
    return Page(items=shown, cursors=[p.post.id for p in shown], limit=limit)


@dataclass(frozen=True, slots=True)
class _Filters:
    only_media: bool = False
    pinned: bool = False
    exclude_replies: bool = False
    tagged: str | None = None

    def __bool__(self) -> bool:
        return self.only_media or self.pinned or self.exclude_replies or bool(self.tagged)


async def _profile_window(
    conn: AsyncConnection,
    services: Services,
    viewer_id: int | None,
    author: Any,
    context: ViewerContext,
    allowed: tuple[str, ...],
    page: PageRequest,
    filters: _Filters,
) -> tuple[list[HydratedPost], list[int]]:
    """One read of the profile's posts in the window: those the viewer may see, newest
    first, and the ids of every row read."""
    limit = max(1, min(page.limit, MAX_LIMIT))
    if not filters and page.min_id is None and page.since_id is None:
        below = MAX_ID if page.max_id is None else page.max_id
        params = {"author": author.id, "allowed": list(allowed), "max_id": below, "limit": limit}
        rows = await _NEWEST.rows(conn, params)
        ids = [row.id for row in rows]
    else:
        rows = None
        query = select(statuses.c.id).where(statuses.c.account_id == author.id, statuses.c.visibility.in_(allowed))
        if filters.exclude_replies or filters.only_media or filters.pinned:
            query = query.where(statuses.c.in_reply_to_id.is_(None))
        if filters.only_media:
            query = query.where(exists().where(media_attachments.c.status_id == statuses.c.id))
        if filters.pinned:
            query = query.join(
                status_pins,
                (status_pins.c.status_id == statuses.c.id) & (status_pins.c.account_id == author.id),
            )
        if filters.tagged:
            wanted_tag = captions.normalise_tag(filters.tagged)
            query = query.join(status_tags, status_tags.c.status_id == statuses.c.id).join(
                tags, (tags.c.id == status_tags.c.tag_id) & (tags.c.name_lower == wanted_tag)
            )
        query, ascending = window(query, statuses.c.id, page, limit)
        ids = list((await conn.execute(query)).scalars())
        if ascending:
            ids.reverse()
    profile = (account_from_row(author), context)
    posts = await hydrate_in(conn, viewer_id, ids, cache=services.cache, profile=profile, rows=rows)
    return posts, ids


async def source(services: Services, account_id: int, status_id: int) -> tuple[int, str, str]:
    """The plain text of one's own post, for editing (Mastodon's StatusSource)."""
    async with services.db.connect() as conn:
        row = (await conn.execute(select(statuses).where(statuses.c.id == status_id))).first()
    if row is None or row.account_id != account_id:
        raise NotFound
    return row.id, row.text, row.spoiler_text


async def history(services: Services, viewer_id: int | None, status_id: int) -> list[Version]:
    """Every version of a post, oldest first; a post never edited has one version."""
    async with services.db.connect() as conn:
        found = await hydrate_in(conn, viewer_id, [status_id])
        if not found:
            raise NotFound
        current = found[0]
        rows = (
            await conn.execute(
                select(status_edits).where(status_edits.c.status_id == status_id).order_by(status_edits.c.id)
            )
        ).all()
        author = (await conn.execute(select(accounts).where(accounts.c.id == current.post.account_id))).one()
    account = account_from_row(author)
    if not rows:
        post = current.post
        media = [{"id": str(m.id), "description": m.description} for m in current.media]
        return [Version(post.text, post.spoiler_text, post.sensitive, media, post.created_at, account)]
    return [
        Version(row.text, row.spoiler_text, bool(row.sensitive), orjson.loads(row.media), row.created_at, account)
        for row in rows
    ]


__all__ = ["account_posts", "history", "post_from_row", "source"]
