"""Finding posts by their words: caption, content warning and alt texts.

The port (``lumigram.search.index``) finds the posts whose words match and says how well;
this module keeps only those the viewer may see and orders them by relevance decayed by
age. What the viewer may see is decided in SQL first, from the live rows (so a privacy
change or a block counts at once): live posts; never another's direct posts; an unlisted
or private post, or any post of a locked account, only to its followers; nothing of an account that
blocked the viewer or that the viewer blocked or muted; nothing of an account that opted
out of search (``discoverable`` false) unless it is the viewer's own. Hydration then
applies the one visibility rule (``lumigram.posts.visibility``) to what is left, which
also decides comments by the post their thread hangs from.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    FromClause,
    Integer,
    and_,
    bindparam,
    cast,
    exists,
    literal,
    or_,
    select,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.cache import Cache
from lumigram.infra.sql import Prebuilt
from lumigram.infra.tables import accounts, blocks, follows, mutes, search_posts, statuses, utcnow
from lumigram.posts.hydrate import hydrate_with_context
from lumigram.posts.models import HydratedPost
from lumigram.search.index import index_for
from lumigram.search.models import SearchRequest
from lumigram.search.query import PostQuery, parse

#: Matching posts ranked per search, newest first (beyond those asked for): a word in tens
#: of thousands of posts is ranked among its newest matches only, where the recency decay
#: would have put most answers anyway.
CANDIDATES = 400
#: Days after which a post's relevance counts half (it decays as 1 / (1 + age / HALF_LIFE)).
HALF_LIFE_DAYS = 30.0


#: What a follower of a post's author may find of it.
_FOLLOWERS_SEE = ("public", "unlisted", "private")


def _who_may_see(anonymous: bool) -> ColumnElement[bool]:
    # Unlisted posts stay out of discovery, search included, except for followers.
    open_post = and_(statuses.c.visibility == "public", accounts.c.locked.is_(False))
    if anonymous:
        return and_(open_post, accounts.c.discoverable.is_(True))
    viewer = bindparam("viewer", type_=BigInteger)
    followed = exists().where(follows.c.account_id == viewer, follows.c.target_account_id == statuses.c.account_id)
    blocked = or_(
        exists().where(blocks.c.account_id == viewer, blocks.c.target_account_id == statuses.c.account_id),
        exists().where(blocks.c.account_id == statuses.c.account_id, blocks.c.target_account_id == viewer),
    )
    muted = exists().where(
        mutes.c.account_id == viewer,
        mutes.c.target_account_id == statuses.c.account_id,
        or_(mutes.c.expires_at.is_(None), mutes.c.expires_at > bindparam("now")),
    )
    others = and_(
        accounts.c.discoverable.is_(True),
        statuses.c.visibility != "direct",
        # Spelt as equalities, not IN: a statement with a list parameter cannot go to the driver.
        or_(open_post, and_(followed, or_(*(statuses.c.visibility == shown for shown in _FOLLOWERS_SEE)))),
        ~blocked,
        ~muted,
    )
    return or_(statuses.c.account_id == viewer, others)


@dataclass(frozen=True, slots=True)
class _Shape:
    """What decides a search statement's SQL; its values are bound parameters."""

    dialect: str
    anonymous: bool
    has_text: bool
    author: bool
    #: ``account_id`` and ``from:`` name two different accounts: nothing can match.
    clash: bool
    has_media: bool
    is_reply: bool
    min_id: bool
    max_id: bool
    following: bool


def _shape_and_values(
    dialect: str, viewer_id: int | None, query: PostQuery, request: SearchRequest, from_id: int | None
) -> tuple[_Shape, dict[str, Any]]:
    author = request.account_id if request.account_id is not None else from_id
    following = request.following and viewer_id is not None
    shape = _Shape(
        dialect=dialect,
        anonymous=viewer_id is None,
        has_text=query.has_text,
        author=author is not None,
        clash=request.account_id is not None and from_id is not None and from_id != request.account_id,
        has_media=query.has_media is not None,
        is_reply=query.is_reply is not None,
        min_id=request.min_id is not None,
        max_id=request.max_id is not None,
        following=following,
    )
    values: dict[str, Any] = {
        "viewer": viewer_id,
        "now": utcnow(),
        "now_s": time.time(),
        "author": author,
        "has_media": query.has_media,
        "is_reply": query.is_reply,
        "min_id": request.min_id,
        "max_id": request.max_id,
        "newest": CANDIDATES + request.offset + request.limit,
        "page_limit": request.limit,
        "page_offset": request.offset,
    }
    if query.has_text:
        values["terms"] = index_for(dialect).terms(query)
    if shape.anonymous:
        values.pop("viewer")
        values.pop("now")
    return shape, {name: value for name, value in values.items() if value is not None or name == "viewer"}


@functools.cache
def _prebuilt(shape: _Shape) -> Prebuilt[Any]:
    """The statement for one shape of search, built once (building it cost more CPU than
    SQLite spent running it), and sent as ``Prebuilt`` sends (by the driver on PostgreSQL)."""
    return Prebuilt(lambda _dialect: _statement(shape))


def _statement(shape: _Shape) -> Any:
    # What a post's own index row decides: applied while the matches are read, so that
    # the window of newest matches holds only posts that can be answers.
    where: list[ColumnElement[bool]] = []
    if shape.author:
        where.append(search_posts.c.account_id == bindparam("author", type_=BigInteger))
    if shape.clash:
        where.append(literal(False))
    if shape.has_media:
        where.append(search_posts.c.has_media == bindparam("has_media", type_=Boolean))
    if shape.is_reply:
        where.append(search_posts.c.is_reply == bindparam("is_reply", type_=Boolean))
    if shape.min_id:
        where.append(search_posts.c.status_id > bindparam("min_id", type_=BigInteger))
    if shape.max_id:
        where.append(search_posts.c.status_id < bindparam("max_id", type_=BigInteger))

    age_days = (bindparam("now_s", type_=Float) - search_posts.c.created_s) / 86400.0
    decay = 1.0 / (1.0 + age_days / HALF_LIFE_DAYS)
    if shape.has_text:
        # The candidates ranked first, then checked for the viewer in the order of their
        # rank until the page is full: the few best of some 400 are looked up in
        # ``statuses`` and ``accounts``, not all of them. The LIMIT keeps the ranked list
        # a subquery of its own, whose order the outer statement keeps.
        matches = index_for(shape.dialect).matching(where)
        score = (cast(matches.c.relevance, Float) * decay).label("score")
        ranked = (
            select(search_posts.c.status_id, search_posts.c.account_id, score)
            .select_from(search_posts.join(matches, matches.c.status_id == search_posts.c.status_id))
            .where(*where)
            .order_by(score.desc(), search_posts.c.status_id.desc())
            .limit(bindparam("newest", type_=Integer))
            .subquery("ranked")
        )
        status_id, account_id = ranked.c.status_id, ranked.c.account_id
        order = (ranked.c.score.desc(), status_id.desc())
        base: FromClause = ranked
    else:
        status_id, account_id = search_posts.c.status_id, search_posts.c.account_id
        order = (decay.desc(), status_id.desc())
        base = search_posts
    statement = (
        select(status_id)
        .select_from(base.join(statuses, statuses.c.id == status_id).join(accounts, accounts.c.id == account_id))
        .where(statuses.c.deleted_at.is_(None), _who_may_see(shape.anonymous))
    )
    if not shape.has_text:
        statement = statement.where(*where)
    if shape.following:
        statement = statement.where(
            exists().where(
                follows.c.account_id == bindparam("viewer", type_=BigInteger),
                follows.c.target_account_id == account_id,
            )
        )
    return statement.order_by(*order).limit(bindparam("page_limit")).offset(bindparam("page_offset"))


async def _author_id(conn: AsyncConnection, username: str) -> int | None:
    found = await conn.execute(select(accounts.c.id).where(accounts.c.username_lower == username.casefold()))
    return found.scalar()


async def found_post_ids(conn: AsyncConnection, viewer_id: int | None, request: SearchRequest) -> list[int]:
    """The ids of one page of posts the search finds for the viewer, best first, decided
    in SQL; hydration still applies the visibility rule to them (``find_posts``)."""
    query = parse(request.q)
    if not query.has_text and not query.has_filter:
        return []
    from_id = None
    if query.from_username is not None:
        from_id = await _author_id(conn, query.from_username)
        if from_id is None:
            return []
    shape, values = _shape_and_values(conn.dialect.name, viewer_id, query, request, from_id)
    # One window of the ranked list, so that ``offset`` pages as the client expects; a
    # comment its thread hides from the viewer leaves the page one shorter.
    return [row[0] for row in await _prebuilt(shape).rows(conn, values)]


async def find_posts(
    conn: AsyncConnection, cache: Cache | None, viewer_id: int | None, request: SearchRequest
) -> list[HydratedPost]:
    ids = await found_post_ids(conn, viewer_id, request)
    items, _context = await hydrate_with_context(conn, viewer_id, ids, cache=cache)
    return items
