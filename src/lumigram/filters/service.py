"""Hidden words: an account's filters and their keywords, and applying them to reads.

* A filter belongs to its owner alone: another account's filter is NotFound.
* Every change emits ``FiltersChanged`` in its own transaction, so the owner's kept home
  pages are forgotten once it commits (``lumigram.pagecache.invalidation``).
* A filter past its ``expires_at`` is ignored by every read, so expiry needs no sweeper.
* Mastodon's v1 filters are the keywords of these filters seen one at a time: a v1 filter
  is one keyword (its id is the keyword's) with its filter's contexts, action and expiry.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Exists, and_, delete, exists, func, literal, or_, select, update
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.errors import NotFound, Problems, ValidationFailed
from lumigram.events import AccountDeleted, FiltersChanged
from lumigram.filters.matching import compile_filters, hides, matches
from lumigram.filters.models import (
    ACTIONS,
    CONTEXTS,
    MAX_FILTERS,
    MAX_KEYWORD,
    MAX_KEYWORDS,
    MAX_TITLE,
    Filter,
    FilterDraft,
    Keyword,
    KeywordChange,
)
from lumigram.ids import shard_of
from lumigram.infra.sql import one_of
from lumigram.infra.tables import filter_keywords, filters, statuses, utcnow
from lumigram.paging import MAX_ID, Page
from lumigram.posts.models import FilterMatch, HydratedPost
from lumigram.services import Services
from lumigram.unit_of_work import Work, unit_of_work

#: Ten years: the longest expiry taken (a larger one is a typo, or an overflow).
MAX_EXPIRES_IN = 10 * 365 * 86400


def _tidy(text: str) -> str:
    """Without surrounding whitespace, unless that is all there is (kept as given)."""
    return text.strip() or text


def _check(draft: FilterDraft, creating: bool) -> None:
    problems = Problems()
    if draft.title is not None and not 0 < len(draft.title) <= MAX_TITLE:
        problems.add("title", "ERR_INVALID", f"must be 1 to {MAX_TITLE} characters")
    elif draft.title is not None and "\x00" in draft.title:
        problems.add("title", "ERR_INVALID", "can't contain the NUL character")
    elif creating and draft.title is None:
        problems.add("title", "ERR_BLANK", "can't be blank")
    if draft.contexts is not None and (not draft.contexts or not set(draft.contexts) <= set(CONTEXTS)):
        problems.add("context", "ERR_INVALID", f"must be one or more of {', '.join(CONTEXTS)}")
    elif creating and draft.contexts is None:
        problems.add("context", "ERR_BLANK", "can't be blank")
    if draft.action is not None and draft.action not in ACTIONS:
        problems.add("filter_action", "ERR_INVALID", f"must be one of {', '.join(ACTIONS)}")
    if draft.expires_in is not None and not 0 <= draft.expires_in <= MAX_EXPIRES_IN:
        problems.add("expires_in", "ERR_INVALID", f"must be 0 to {MAX_EXPIRES_IN} seconds")
    for change in draft.keywords:
        if change.destroy:
            continue
        if change.keyword is not None and not 0 < len(change.keyword) <= MAX_KEYWORD:
            problems.add("keywords_attributes", "ERR_INVALID", f"a keyword must be 1 to {MAX_KEYWORD} characters")
        elif change.keyword is not None and "\x00" in change.keyword:
            problems.add("keywords_attributes", "ERR_INVALID", "a keyword can't contain the NUL character")
        elif change.id is None and change.keyword is None:
            problems.add("keywords_attributes", "ERR_BLANK", "a new keyword can't be blank")
    problems.raise_if_any()


def _expiry(expires_in: int) -> datetime | None:
    return None if expires_in == 0 else utcnow() + timedelta(seconds=expires_in)


async def _changed(work: Work, account_id: int) -> None:
    await work.emit(FiltersChanged(account_id=account_id), shard=shard_of(account_id))


async def _load(conn: AsyncConnection, account_id: int, filter_ids: Sequence[int] | None = None) -> list[Filter]:
    query = select(filters).where(filters.c.account_id == account_id)
    if filter_ids is not None:
        query = query.where(one_of(conn, filters.c.id, filter_ids))
    rows = list((await conn.execute(query.order_by(filters.c.id))).all())
    if not rows:
        return []
    found = await conn.execute(
        select(filter_keywords)
        .where(one_of(conn, filter_keywords.c.filter_id, [row.id for row in rows]))
        .order_by(filter_keywords.c.id)
    )
    keywords: dict[int, list[Keyword]] = {}
    for k in found:
        keywords.setdefault(k.filter_id, []).append(Keyword(k.id, k.filter_id, k.keyword, bool(k.whole_word)))
    return [
        Filter(
            row.id,
            row.account_id,
            row.title,
            tuple(c for c in row.contexts.split(",") if c),
            row.action,
            row.expires_at,
            keywords.get(row.id, []),
        )
        for row in rows
    ]


async def _owned(conn: AsyncConnection, account_id: int, filter_id: int) -> Filter:
    if not 0 < filter_id <= MAX_ID:
        raise NotFound
    found = await _load(conn, account_id, [filter_id])
    if not found:
        raise NotFound
    return found[0]


async def _apply_keywords(
    services: Services, conn: AsyncConnection, account_id: int, filter_id: int, changes: Sequence[KeywordChange]
) -> None:
    for change in changes:
        if change.id is not None:
            owned = filter_keywords.c.id == change.id
            mine = filter_keywords.c.filter_id == filter_id
            if change.destroy:
                await conn.execute(delete(filter_keywords).where(owned, mine))
                continue
            values: dict[str, object] = {}
            if change.keyword is not None:
                values["keyword"] = _tidy(change.keyword)
            if change.whole_word is not None:
                values["whole_word"] = change.whole_word
            if (
                values
                and (await conn.execute(update(filter_keywords).where(owned, mine).values(**values))).rowcount == 0
            ):
                raise ValidationFailed.field("keywords_attributes", "ERR_INVALID", "names a keyword of another filter")
        elif not change.destroy and change.keyword is not None:
            await conn.execute(
                filter_keywords.insert().values(
                    id=services.ids.next_id(shard_of(account_id)),
                    filter_id=filter_id,
                    keyword=_tidy(change.keyword),
                    whole_word=True if change.whole_word is None else change.whole_word,
                )
            )
    count = (
        await conn.execute(
            select(func.count()).select_from(filter_keywords).where(filter_keywords.c.filter_id == filter_id)
        )
    ).scalar_one()
    if count > MAX_KEYWORDS:
        raise ValidationFailed.field("keywords_attributes", "ERR_TOO_LONG", f"at most {MAX_KEYWORDS} keywords")


# --- filters (v2) ------------------------------------------------------------------------


async def list_filters(services: Services, account_id: int) -> list[Filter]:
    async with services.db.connect() as conn:
        return await _load(conn, account_id)


async def get_filter(services: Services, account_id: int, filter_id: int) -> Filter:
    async with services.db.connect() as conn:
        return await _owned(conn, account_id, filter_id)


async def create_filter(services: Services, account_id: int, draft: FilterDraft) -> Filter:
    _check(draft, creating=True)
    assert draft.title is not None  # checked above
    assert draft.contexts is not None
    filter_id = services.ids.next_id(shard_of(account_id))
    async with unit_of_work(services) as work:
        count = (
            await work.conn.execute(select(func.count()).select_from(filters).where(filters.c.account_id == account_id))
        ).scalar_one()
        if count >= MAX_FILTERS:
            raise ValidationFailed(f"Validation failed: at most {MAX_FILTERS} filters")
        await work.conn.execute(
            filters.insert().values(
                id=filter_id,
                account_id=account_id,
                title=_tidy(draft.title),
                contexts=",".join(dict.fromkeys(draft.contexts)),
                action=draft.action or "warn",
                expires_at=_expiry(draft.expires_in or 0),
                created_at=utcnow(),
            )
        )
        new_only = [change for change in draft.keywords if change.id is None]
        await _apply_keywords(services, work.conn, account_id, filter_id, new_only)
        await _changed(work, account_id)
        return await _owned(work.conn, account_id, filter_id)


async def update_filter(services: Services, account_id: int, filter_id: int, draft: FilterDraft) -> Filter:
    _check(draft, creating=False)
    async with unit_of_work(services) as work:
        await _owned(work.conn, account_id, filter_id)
        values: dict[str, object] = {}
        if draft.title is not None:
            values["title"] = _tidy(draft.title)
        if draft.contexts is not None:
            values["contexts"] = ",".join(dict.fromkeys(draft.contexts))
        if draft.action is not None:
            values["action"] = draft.action
        if draft.expires_in is not None:
            values["expires_at"] = _expiry(draft.expires_in)
        if values:
            await work.conn.execute(update(filters).where(filters.c.id == filter_id).values(**values))
        await _apply_keywords(services, work.conn, account_id, filter_id, draft.keywords)
        await _changed(work, account_id)
        return await _owned(work.conn, account_id, filter_id)


async def delete_filter(services: Services, account_id: int, filter_id: int) -> None:
    async with unit_of_work(services) as work:
        await _owned(work.conn, account_id, filter_id)
        await work.conn.execute(delete(filter_keywords).where(filter_keywords.c.filter_id == filter_id))
        await work.conn.execute(delete(filters).where(filters.c.id == filter_id))
        await _changed(work, account_id)


# --- keywords ------------------------------------------------------------------------------


async def _keyword_owner(conn: AsyncConnection, account_id: int, keyword_id: int) -> tuple[Filter, Keyword]:
    if not 0 < keyword_id <= MAX_ID:
        raise NotFound
    row = (
        await conn.execute(
            select(filter_keywords.c.filter_id)
            .join(filters, filters.c.id == filter_keywords.c.filter_id)
            .where(filter_keywords.c.id == keyword_id, filters.c.account_id == account_id)
        )
    ).first()
    if row is None:
        raise NotFound
    owner = await _owned(conn, account_id, row.filter_id)
    return owner, next(k for k in owner.keywords if k.id == keyword_id)


async def add_keyword(services: Services, account_id: int, filter_id: int, keyword: str, whole_word: bool) -> Keyword:
    _check(FilterDraft(keywords=[KeywordChange(keyword=keyword)]), creating=False)
    async with unit_of_work(services) as work:
        before = await _owned(work.conn, account_id, filter_id)
        await _apply_keywords(
            services, work.conn, account_id, filter_id, [KeywordChange(keyword=keyword, whole_word=whole_word)]
        )
        await _changed(work, account_id)
        after = await _owned(work.conn, account_id, filter_id)
    known = {k.id for k in before.keywords}
    return next(k for k in after.keywords if k.id not in known)


async def get_keyword(services: Services, account_id: int, keyword_id: int) -> Keyword:
    async with services.db.connect() as conn:
        return (await _keyword_owner(conn, account_id, keyword_id))[1]


async def update_keyword(
    services: Services, account_id: int, keyword_id: int, keyword: str | None, whole_word: bool | None
) -> Keyword:
    change = KeywordChange(keyword=keyword, whole_word=whole_word, id=keyword_id)
    _check(FilterDraft(keywords=[change]), creating=False)
    async with unit_of_work(services) as work:
        owner, _ = await _keyword_owner(work.conn, account_id, keyword_id)
        await _apply_keywords(services, work.conn, account_id, owner.id, [change])
        await _changed(work, account_id)
        return (await _keyword_owner(work.conn, account_id, keyword_id))[1]


async def delete_keyword(services: Services, account_id: int, keyword_id: int) -> None:
    async with unit_of_work(services) as work:
        await _keyword_owner(work.conn, account_id, keyword_id)
        await work.conn.execute(delete(filter_keywords).where(filter_keywords.c.id == keyword_id))
        await _changed(work, account_id)


# --- v1: one keyword at a time ---------------------------------------------------------------


async def list_v1(services: Services, account_id: int) -> list[tuple[Filter, Keyword]]:
    return [(f, k) for f in await list_filters(services, account_id) for k in f.keywords]


async def get_v1(services: Services, account_id: int, keyword_id: int) -> tuple[Filter, Keyword]:
    async with services.db.connect() as conn:
        return await _keyword_owner(conn, account_id, keyword_id)


async def create_v1(
    services: Services, account_id: int, phrase: str, draft: FilterDraft, whole_word: bool
) -> tuple[Filter, Keyword]:
    """A v1 filter: a filter titled by its phrase, holding that phrase alone."""
    made = await create_filter(
        services,
        account_id,
        FilterDraft(phrase, draft.contexts, draft.action, draft.expires_in, [KeywordChange(phrase, whole_word)]),
    )
    return made, made.keywords[0]


async def update_v1(
    services: Services,
    account_id: int,
    keyword_id: int,
    phrase: str | None,
    draft: FilterDraft,
    whole_word: bool | None,
) -> tuple[Filter, Keyword]:
    async with services.db.connect() as conn:
        owner, _ = await _keyword_owner(conn, account_id, keyword_id)
    change = KeywordChange(phrase, whole_word, keyword_id)
    await update_filter(
        services, account_id, owner.id, FilterDraft(None, draft.contexts, draft.action, draft.expires_in, [change])
    )
    return await get_v1(services, account_id, keyword_id)


async def delete_v1(services: Services, account_id: int, keyword_id: int) -> None:
    """The keyword, and its filter with it when it was the last."""
    owner, _ = await get_v1(services, account_id, keyword_id)
    if len(owner.keywords) <= 1:
        await delete_filter(services, account_id, owner.id)
    else:
        await delete_keyword(services, account_id, keyword_id)


# --- applying them -------------------------------------------------------------------------


def _active(found: Sequence[Filter], context: str) -> list[Filter]:
    now = utcnow()
    return [f for f in found if context in f.contexts and (f.expires_at is None or f.expires_at > now)]


async def active_filters(conn: AsyncConnection, account_id: int | None, context: str) -> list[Filter]:
    """The account's filters that apply in ``context`` now (none for nobody)."""
    if account_id is None:
        return []
    return _active(await _load(conn, account_id), context)


class Applied:
    """A viewer's filters for one context, compiled once for a read."""

    def __init__(self, found: Sequence[Filter]) -> None:
        self._matchers = compile_filters(found)

    def __bool__(self) -> bool:
        return bool(self._matchers)

    def judge(self, item: HydratedPost) -> HydratedPost | None:
        """The item with its warnings, or None when a ``hide`` filter takes it out."""
        if not self._matchers:
            return item
        found = matches(self._matchers, item)
        if hides(found):
            return None
        return item if not found else _with(item, found)

    def apply(self, items: Sequence[HydratedPost]) -> list[HydratedPost]:
        return [judged for item in items if (judged := self.judge(item)) is not None]


def _with(item: HydratedPost, found: tuple[FilterMatch, ...]) -> HydratedPost:
    return dataclasses.replace(item, filtered=found)


async def applied(services: Services, account_id: int | None, context: str) -> Applied:
    """The viewer's filters for ``context``, ready to judge posts."""
    if account_id is None:
        return Applied([])
    async with services.db.connect() as conn:
        return Applied(await active_filters(conn, account_id, context))


async def with_filters(
    services: Services, account_id: int | None, context: str, items: Sequence[HydratedPost]
) -> list[HydratedPost]:
    """``items`` as the viewer's filters for ``context`` leave them."""
    if account_id is None or not items:
        return list(items)
    return (await applied(services, account_id, context)).apply(items)


def applies_in(context: str, now: Any) -> ColumnElement[bool]:
    """A filter row's condition: in force at ``now`` and applying in ``context`` (its
    contexts are stored comma-separated)."""
    in_context = (literal(",") + filters.c.contexts + literal(",")).contains(f",{context},", autoescape=True)
    return and_(in_context, or_(filters.c.expires_at.is_(None), filters.c.expires_at > now))


def hides_words_in(account: Any, context: str, now: Any) -> Exists:
    """Whether ``account`` (a column or a parameter) has a filter for ``context`` in force at
    ``now``: for statements that read it beside other things (the fan-out)."""
    return exists().where(filters.c.account_id == account, applies_in(context, now))


async def accounts_with_filters(services: Services, account_ids: Sequence[int], context: str) -> set[int]:
    """Those of ``account_ids`` with a filter that applies in ``context`` now."""
    if not account_ids:
        return set()
    async with services.db.connect() as conn:
        rows = await conn.execute(
            select(filters.c.account_id).where(
                one_of(conn, filters.c.account_id, account_ids), applies_in(context, utcnow())
            )
        )
        return {row.account_id for row in rows}


def _root(item: HydratedPost) -> int | None:
    """The post a comment's thread hangs from (its parent when that is not known)."""
    if item.thread is not None and item.thread.root_id is not None:
        return item.thread.root_id
    return item.post.in_reply_to_id


async def hidden_by_owner(services: Services, comments: Sequence[HydratedPost], viewer_id: int | None) -> set[int]:
    """The comments among ``comments`` that the owner of the post each answers hides with
    a ``hide`` filter for threads (Instagram's hidden words on one's own posts): hidden
    from everyone but their author."""
    parents = {_root(item) for item in comments} - {None}
    if not parents:
        return set()
    async with services.db.connect() as conn:
        rows = await conn.execute(
            select(statuses.c.id, statuses.c.account_id).where(
                one_of(conn, statuses.c.id, sorted(p for p in parents if p is not None))
            )
        )
        owner_of = {row.id: row.account_id for row in rows}
        owners = set(owner_of.values())
        matchers = {}
        for owner in owners:
            hiding = [f for f in await active_filters(conn, owner, "thread") if f.action == "hide"]
            if hiding:
                matchers[owner] = Applied(hiding)
    hidden = set()
    for item in comments:
        owner = owner_of.get(_root(item) or 0)
        if owner is None or owner not in matchers or item.post.account_id in (owner, viewer_id):
            continue
        if matchers[owner].judge(item) is None:
            hidden.add(item.post.id)
    return hidden


async def filtered_page(
    services: Services, account_id: int | None, context: str, page: Page[HydratedPost]
) -> Page[HydratedPost]:
    """A page as the viewer's filters for ``context`` leave it. Its cursors stay those of
    the page read, so a hidden post neither ends the listing nor moves the links back: a
    page that was full still links to the next one."""
    if account_id is None or not page.items:
        return page
    kept = await with_filters(services, account_id, context, page.items)
    if len(kept) == len(page.items):
        # Nothing hidden, but a ``warn`` filter's matches ride on the kept items.
        return dataclasses.replace(page, items=kept)
    limit = len(kept) if page.full else page.limit
    return Page(items=kept, cursors=page.cursors, limit=max(limit, 1) if kept else page.limit)


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """A deleted account's filters (their keywords go with them)."""
    async with services.db.begin() as conn:
        await conn.execute(delete(filters).where(filters.c.account_id == event.account_id))
