"""Turning post ids into everything a client shows, in a fixed number of queries.

A page of 40 posts costs the same queries as a page of one, and nothing here loops over
posts with a query inside:

1. one cache round trip: the pending like counts (``lumigram.posts.counters``)
   and the posts' cached media, hashtags and mentions (``lumigram.posts.parts``);
2. the posts' rows and their authors' rows, fresh on every read (counts, visibility,
   locks), and the parts of any post not cached (two queries, then cached);
3. for comments, the posts above them that the read does not hold, whose audience is
   theirs (one statement, ``lumigram.posts.threads``; none for a page without comments);
4. the viewer's follows, blocks and mutes among the authors (those of the posts above
   comments too), and their pins, likes and bookmarks among the posts, in one query (a
   profile page, whose caller read the viewer's context already, reads only the marks).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import BigInteger, Select, bindparam, func, literal_column, select, union_all
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.models import Account
from lumigram.accounts.service import account_from_row
from lumigram.infra.cache import Cache
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, bookmarks, favourites, filters, reblogs, status_pins, statuses, utcnow
from lumigram.posts import parts, poll_rows, threads
from lumigram.posts.counters import favourites_key, parse_pending, with_pending
from lumigram.posts.models import HydratedPost, Post
from lumigram.posts.visibility import (
    Audience,
    ViewerContext,
    can_see,
    context_from_rows,
    context_selects,
    media_is_private,
)
from lumigram.services import Services

log = logging.getLogger(__name__)

MAX_ID = 2**63 - 1


_POSTS = Prebuilt(lambda dialect: select(statuses).where(among(dialect, statuses.c.id, "ids")))
_AUTHORS = Prebuilt(lambda dialect: select(accounts).where(among(dialect, accounts.c.id, "ids")))


def _mark_selects(dialect: str, first_kind: int) -> list[Select[Any]]:
    """The viewer's pins, likes, bookmarks and reposts among the posts bound as ``ids``,
    as kinds ``first_kind`` to ``first_kind + 3``."""
    return [
        select(literal_column(str(first_kind + offset)).label("kind"), table.c.status_id).where(
            table.c.account_id == bindparam("viewer"), among(dialect, table.c.status_id, "ids")
        )
        for offset, table in enumerate((status_pins, favourites, bookmarks, reblogs))
    ]


_MARKS = Prebuilt(lambda dialect: union_all(*_mark_selects(dialect, 0)))
#: The viewer's context towards the authors (kinds 0-2) and their marks on the posts (3-5):
#: one statement for what would otherwise be two on every page.
_CONTEXT_AND_MARKS = Prebuilt(
    lambda dialect: union_all(*context_selects(dialect), *_mark_selects(dialect, _MARKS_FROM))
)
_MARKS_FROM = 3


def post_from_row(row: Any) -> Post:
    return Post(
        id=row.id,
        account_id=row.account_id,
        in_reply_to_id=row.in_reply_to_id,
        in_reply_to_account_id=row.in_reply_to_account_id,
        text=row.text,
        spoiler_text=row.spoiler_text,
        sensitive=bool(row.sensitive),
        visibility=row.visibility,
        language=row.language,
        kind=row.kind,
        comments_disabled=bool(row.comments_disabled),
        replies_count=row.replies_count,
        favourites_count=row.favourites_count,
        reblogs_count=row.reblogs_count,
        created_at=row.created_at,
        edited_at=row.edited_at,
        # Rows read by callers that name their columns may lack it.
        has_poll=bool(getattr(row, "has_poll", False)),
        plays_count=int(getattr(row, "plays_count", 0) or 0),
    )


async def hydrate_in(
    conn: AsyncConnection,
    viewer_id: int | None,
    post_ids: Sequence[int],
    check_visibility: bool = True,
    cache: Cache | None = None,
    profile: tuple[Account, ViewerContext] | None = None,
    rows: Sequence[Any] | None = None,
) -> list[HydratedPost]:
    """The posts of ``post_ids`` the viewer may see, in the order asked."""
    return (await hydrate_with_context(conn, viewer_id, post_ids, check_visibility, cache, profile, rows))[0]


Marks = tuple[set[int], set[int], set[int], set[int]]


async def viewer_marks(conn: AsyncConnection, viewer_id: int | None, post_ids: list[int]) -> Marks:
    """Which of ``post_ids`` the viewer pinned, liked, bookmarked and reposted, in one query."""
    if viewer_id is None or not post_ids:
        return set(), set(), set(), set()
    found: Marks = (set(), set(), set(), set())
    for kind, status_id in await _MARKS.rows(conn, {"viewer": viewer_id, "ids": post_ids}):
        found[kind].add(status_id)
    return found


#: How many of an author's newest posts ``relation_and_recent_marks`` reads marks on: as
#: many as the largest page, so a profile's newest page is nearly always covered.
RECENT_MARKS = 40
_COVERED_FROM = 6
_HIDDEN_WORDS = 8


def _relation_and_recent_marks(dialect: str) -> Any:
    """The viewer's context towards the author bound as ``author`` (kinds 0-2, as
    ``context_selects``), their likes (4), bookmarks (5) and reposts (7) among the author's
    newest ``RECENT_MARKS`` posts, the oldest of those posts' ids (6; None: no posts), and
    the viewer's hidden words for profiles in force now (8, one row each)."""
    author = bindparam("author", type_=BigInteger)
    recent = (
        select(statuses.c.id).where(statuses.c.account_id == author).order_by(statuses.c.id.desc()).limit(RECENT_MARKS)
    )
    marks = [
        select(literal_column(str(kind)), table.c.status_id).where(
            table.c.account_id == bindparam("viewer"), table.c.status_id.in_(recent.scalar_subquery())
        )
        for kind, table in ((4, favourites), (5, bookmarks), (7, reblogs))
    ]
    oldest: Any = select(literal_column(str(_COVERED_FROM)), func.min(recent.subquery().c.id))
    now = bindparam("now", type_=filters.c.expires_at.type)
    hidden_words = select(literal_column(str(_HIDDEN_WORDS)), filters.c.id).where(
        filters.c.account_id == bindparam("viewer"),
        filters.c.contexts.contains("account"),
        filters.c.expires_at.is_(None) | (filters.c.expires_at > now),
    )
    return union_all(*context_selects(dialect), *marks, oldest, hidden_words)


_RELATION_AND_RECENT_MARKS = Prebuilt(_relation_and_recent_marks)


@dataclass(frozen=True, slots=True)
class Relation:
    """A viewer's relation to one author, and their marks on the author's newest posts."""

    context: ViewerContext
    liked: set[int]
    saved: set[int]
    reposted: set[int]
    #: Whether the viewer has hidden words for profiles: their pages are then their own.
    filters_profiles: bool
    #: The marks cover the author's posts from this id on (None: they have no posts).
    covered_from: int | None

    def covers(self, post_ids: Sequence[int]) -> bool:
        return not post_ids or (self.covered_from is not None and min(post_ids) >= self.covered_from)


async def relation_and_recent_marks(services: Services, viewer_id: int, author_id: int) -> Relation:
    """``Relation`` in one statement: with a kept profile page, the only one a read needs."""
    params = {"viewer": viewer_id, "author": author_id, "authors": [author_id], "now": utcnow()}
    async with services.db.connect() as conn:
        related = await _RELATION_AND_RECENT_MARKS.rows(conn, params)
    liked: set[int] = set()
    saved: set[int] = set()
    reposted: set[int] = set()
    filtering = False
    covered_from: int | None = None
    for kind, found_id in related:
        if kind == 4:
            liked.add(found_id)
        elif kind == 5:
            saved.add(found_id)
        elif kind == 7:
            reposted.add(found_id)
        elif kind == _HIDDEN_WORDS:
            filtering = True
        elif kind == _COVERED_FROM:
            covered_from = found_id
    context = context_from_rows(viewer_id, ((kind, i) for kind, i in related if kind < 3))
    return Relation(context, liked, saved, reposted, filtering, covered_from)


async def marks_of(services: Services, viewer_id: int, post_ids: list[int]) -> Marks:
    """``viewer_marks`` on a connection of its own."""
    async with services.db.connect() as conn:
        return await viewer_marks(conn, viewer_id, post_ids)


async def _fetch_cached(cache: Cache | None, post_ids: list[int]) -> tuple[dict[int, int], dict[int, parts.Parts]]:
    """Pending like counts and cached parts of ``post_ids``, in one round trip ({} for
    both when there is no cache or it is down: the database then answers alone)."""
    if cache is None:
        return {}, {}
    try:
        values = await cache.get_many([*map(favourites_key, post_ids), *map(parts.key, post_ids)])
    except Exception:
        log.warning("could not read pending like counts and post parts", exc_info=True)
        return {}, {}
    count = len(post_ids)
    return parse_pending(post_ids, values[:count]), parts.from_cached(post_ids, values[count:])


async def hydrate_with_context(
    conn: AsyncConnection,
    viewer_id: int | None,
    post_ids: Sequence[int],
    check_visibility: bool = True,
    cache: Cache | None = None,
    profile: tuple[Account, ViewerContext] | None = None,
    rows: Sequence[Any] | None = None,
) -> tuple[list[HydratedPost], ViewerContext]:
    """``hydrate_in``, plus the viewer's follows, blocks and mutes among the authors
    (feeds filter on them without another query). ``profile``: an author's account and the
    viewer's context towards them, just read by the caller (a profile page), used instead
    of reading them again when every post is that author's. ``rows``: the posts' rows,
    when the caller's query read them whole (the statuses table's columns)."""
    wanted = list(dict.fromkeys(i for i in post_ids if 0 < i <= MAX_ID))
    if not wanted:
        return [], ViewerContext(viewer_id)
    # Pending like counts first, rows second (see ``with_pending`` for why the order matters).
    deltas, known = await _fetch_cached(cache, wanted)
    if rows is None:
        rows = await _POSTS.rows(conn, {"ids": wanted})
    if not rows:
        return [], ViewerContext(viewer_id)
    posts = {row.id: post_from_row(row) for row in rows}
    versions = {i: parts.version_of(post.edited_at) for i, post in posts.items()}
    known = {i: found for i, found in known.items() if i in posts and found.version == versions[i]}
    missing = {i: version for i, version in versions.items() if i not in known}
    if missing:
        fresh = await parts.from_database(conn, missing)
        if cache is not None:
            await parts.keep(cache, fresh)
        known.update(fresh)

    # Comments: the posts above them that this read lacks (one statement; none for a
    # page of posts, or a thread's context, which holds its whole chain).
    parents = {i: post.in_reply_to_id for i, post in posts.items()}
    has_comments = any(parent is not None for parent in parents.values())
    above = await _links_above(conn, viewer_id, parents) if has_comments else {}
    thread_authors = {link.audience.author_id for link in above.values()}

    author_ids = {post.account_id for post in posts.values()}
    marks: Marks | None = None
    if (
        profile is not None
        and author_ids == {profile[0].id}
        and thread_authors <= author_ids
        and profile[1].viewer_id == viewer_id
    ):
        authors, context = {profile[0].id: profile[0]}, profile[1]
    else:
        authors = {row.id: account_from_row(row) for row in await _AUTHORS.rows(conn, {"ids": list(author_ids)})}
        if viewer_id is None:
            context = ViewerContext(None)
        else:
            # The marks of every post read, visible or not: a superset costs nothing here.
            params = {
                "viewer": viewer_id,
                "authors": sorted(a for a in author_ids | thread_authors if a != viewer_id),
                "now": utcnow(),
                "ids": list(posts),
            }
            related = [(kind, i) for kind, i in await _CONTEXT_AND_MARKS.rows(conn, params)]
            context = context_from_rows(viewer_id, related)
            marks = (set(), set(), set(), set())
            for kind, found_id in related:
                if kind >= _MARKS_FROM:
                    marks[kind - _MARKS_FROM].add(found_id)
    links: dict[int, threads.Link] = {}
    chains: dict[int, list[threads.Link] | None] = {}
    if has_comments:
        links = {**above, **_links_of(posts, authors, known)}
        chains = {i: threads.chain_above(links[i], links) for i, parent in parents.items() if parent and i in links}
    visible = {
        post_id
        for post_id, post in posts.items()
        if post.account_id in authors
        and (
            not check_visibility
            or (
                can_see(
                    context,
                    post.account_id,
                    authors[post.account_id].locked,
                    post.visibility,
                    (m.id for m in known.get(post_id, parts.EMPTY).mentions),
                )
                if post.in_reply_to_id is None
                else post_id in links and threads.may_see(context, links[post_id], chains[post_id])
            )
        )
    }
    if not visible:
        return [], context
    pinned, liked, saved, reposted = (
        marks if marks is not None else await viewer_marks(conn, viewer_id, sorted(visible))
    )
    # Only pages holding a poll pay for reading polls.
    with_polls = sorted(i for i in visible if posts[i].has_poll)
    polls = await poll_rows.poll_views(conn, viewer_id, with_polls) if with_polls else {}
    items = []
    for post_id in wanted:
        if post_id not in visible:
            continue
        post = posts[post_id]
        author = authors[post.account_id]
        found = known.get(post_id, parts.EMPTY)
        media = found.media
        thread = None
        if post_id in chains:
            chain = chains[post_id]
            thread = threads.thread_of(chain)
            shown = threads.shown_visibility(links[post_id], chain)
            if shown != post.visibility:
                post = dataclasses.replace(post, visibility=shown)
        private = media_is_private(author.locked or (thread is not None and thread.locked), post.visibility)
        if any(m.private != private for m in media):
            # A posted photo is private exactly when this says so (the rule the database
            # applies when the author's lock changes); cached parts may predate a change.
            media = [dataclasses.replace(m, private=private) for m in media]
        items.append(
            HydratedPost(
                post=post,
                account=author,
                media=media,
                tags=found.tags,
                mentions=found.mentions,
                pinned=post_id in pinned,
                favourited=post_id in liked,
                bookmarked=post_id in saved,
                reblogged=post_id in reposted,
                thread=thread,
                poll=polls.get(post_id),
            )
        )
    return with_pending(items, deltas), context


async def _links_above(
    conn: AsyncConnection, viewer_id: int | None, parents: dict[int, int | None]
) -> dict[int, threads.Link]:
    """The posts above the comments among ``parents`` that are not among them."""
    missing = threads.missing_above(parents)
    if not missing:
        return {}
    return await threads.read_links(conn, missing, [] if viewer_id is None else [viewer_id])


def _links_of(
    posts: dict[int, Post], authors: dict[int, Account], known: dict[int, parts.Parts]
) -> dict[int, threads.Link]:
    """The posts just read as the visibility rule sees them (those whose author is known)."""
    return {
        post_id: threads.Link(
            post_id,
            post.in_reply_to_id,
            Audience(
                post.account_id,
                authors[post.account_id].locked,
                post.visibility,
                frozenset(m.id for m in known.get(post_id, parts.EMPTY).mentions),
            ),
        )
        for post_id, post in posts.items()
        if post.account_id in authors
    }


async def hydrate(
    services: Services, viewer_id: int | None, post_ids: Sequence[int], check_visibility: bool = True
) -> list[HydratedPost]:
    async with services.db.connect() as conn:
        return await hydrate_in(conn, viewer_id, post_ids, check_visibility, services.cache)
