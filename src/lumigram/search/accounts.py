"""Finding accounts by name: username or display-name prefix, or names alike (typos).

Candidates come from indexed reads (username prefix, display-name word prefix), and from
shared trigrams when those do not fill the page; each is then scored here: how well a
name matches, whether the viewer follows the account, and how many followers it has.
Accounts the viewer blocked, or that blocked the viewer, are never found; accounts that
opted out of discovery are found only by their exact username or by those who follow them.
"""

from __future__ import annotations

import functools
import math
from typing import Any

from sqlalchemy import (
    BigInteger,
    ColumnElement,
    Integer,
    String,
    and_,
    bindparam,
    exists,
    false,
    func,
    or_,
    select,
    true,
    union,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts.service import account_from_row
from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import accounts, blocks, follows, search_account_grams, search_account_words, search_accounts
from lumigram.search.grams import THRESHOLD, similarity, trigrams
from lumigram.search.models import AccountHit

#: Candidates read per kind of match before scoring: names alike, followed accounts.
CANDIDATES = 200
#: Accounts read per trigram of the query when looking for names alike, and the most
#: trigrams read that way (a longer query counts every account sharing one, as before).
PER_GRAM = CANDIDATES
BOUNDED_GRAMS = 32
#: Prefix matches read beyond the page, for those the viewer may not find (blocked, hidden).
WINDOW_MARGIN = 20
#: What following an account, and each tenfold of its followers, adds to a name's match.
FOLLOWING_WEIGHT = 0.5
FOLLOWERS_WEIGHT = 0.1


def _name_score(query: str, grams: set[str], username: str, display_name: str) -> float:
    username, display = username.casefold(), display_name.casefold()
    if username == query:
        return 1.2
    if username.startswith(query) or display.startswith(query) or f" {query}" in f" {display}":
        return 1.0
    best = max(similarity(grams, name_grams) for name_grams in _grams_of_names(username, display))
    return best if best >= THRESHOLD else 0.0


@functools.lru_cache(maxsize=65536)
def _grams_of_names(username: str, display: str) -> tuple[frozenset[str], ...]:
    """The trigrams of an account's names (lowered), kept: the same accounts come back as
    candidates search after search, and one look-up per account is cheaper than one per
    name. Each name is measured whole and each word of the display name alone, as a typo
    in "Marigold" should not be drowned by the surname after it."""
    names = dict.fromkeys([username, display, *display.split()])  # each distinct name once, in order
    return tuple(frozenset(trigrams(name)) for name in names)


#: What scoring a candidate reads. A search reads a few hundred candidates for a page of
#: ten or so; their whole rows (four timestamps each, parsed from text on SQLite) took a
#: quarter of an account search's CPU, so whole rows are read for the page only.
_SCORED_COLUMNS = (
    accounts.c.id,
    accounts.c.username,
    accounts.c.username_lower,
    accounts.c.display_name,
    accounts.c.discoverable,
    accounts.c.followers_count,
)
_PAGE = Prebuilt(
    lambda dialect: select(accounts).where(among(dialect, accounts.c.id, "ids"), accounts.c.deleted_at.is_(None))
)


def _starting(dialect: str, column: Any) -> ColumnElement[bool]:
    """``column`` starts with the ``text`` parameter (as the ``like`` one). SQLite reads an
    index for a ``LIKE`` only against a literal, so there the same prefix is also given as
    a range of the (binary) index."""
    match: ColumnElement[bool] = column.like(bindparam("like", type_=String), escape="/")
    if dialect == "postgresql":
        return match  # the migrations' varchar_pattern_ops indexes serve the LIKE
    return and_(column >= bindparam("text", type_=String), column < bindparam("upper", type_=String), match)


def _escaped(text: str) -> str:
    """``text`` matched literally by a ``LIKE … ESCAPE '/'``."""
    return text.replace("/", "//").replace("%", "/%").replace("_", "/_")


def _values(text: str, grams: set[str], viewer_id: int | None, window: int) -> dict[str, Any]:
    values: dict[str, Any] = {
        "text": text,
        "like": f"{_escaped(text)}%",
        "inner_like": f"% {_escaped(text)}%",
        "upper": text + "\U0010ffff",
        "window": window,
        "grams": sorted(grams),
        "grams_count": len(grams),
        "alike": CANDIDATES,
        "per_gram": PER_GRAM,
        **{f"gram_{index}": gram for index, gram in enumerate(sorted(grams))},
    }
    if viewer_id is not None:
        values["viewer"] = viewer_id
    return values


@functools.cache
def _prebuilt(spaced: bool, fuzzy: int, signed_in: bool, following_only: bool) -> Prebuilt[Any]:
    """``_candidates`` of one shape, built once per dialect and sent as ``Prebuilt`` sends
    (by the driver itself on PostgreSQL). ``fuzzy`` is 0 for no names alike, else the
    query's count of trigrams when each is read apart (``_alike``), or -1 for all at once."""
    return Prebuilt(lambda dialect: _candidates(dialect, spaced, fuzzy, signed_in, following_only))


def _candidates(dialect: str, spaced: bool, fuzzy: int, signed_in: bool, following_only: bool) -> Any:
    """Names starting with the ``text`` parameter (and alike, when ``fuzzy``). A prefix
    match scores 1 (1.2 exact), plus 0.5 if followed, plus a tenth of its followers'
    tenfolds: so the page's ``window`` best are among the exact one, the followed ones and
    the ``window`` most followed, and no more than those are read. Built once per shape,
    its values bound (``_values``)."""
    viewer = bindparam("viewer", type_=BigInteger)
    by_username = select(accounts.c.id.label("id")).where(_starting(dialect, accounts.c.username_lower))
    if spaced:  # a run of words: the display name's start, or after a space in it
        by_display = select(search_accounts.c.account_id).where(_display_runs())
    else:  # one word: the same match, as an indexed prefix read of the names' words
        by_display = (
            select(search_account_words.c.account_id)
            .join(accounts, accounts.c.id == search_account_words.c.account_id)
            .where(_starting(dialect, search_account_words.c.word))
            .order_by(accounts.c.followers_count.desc())
        )
    window = bindparam("window", type_=Integer)
    parts = [
        by_username.order_by(accounts.c.followers_count.desc()).limit(window),
        select(accounts.c.id).where(accounts.c.username_lower == bindparam("text", type_=String)),
        by_display.limit(window),
    ]
    if signed_in:
        # Read from the viewer's follows, each account's names tested by its own rows: as
        # an ``IN`` of every display-name match, PostgreSQL scanned all accounts for it.
        named = or_(_starting(dialect, accounts.c.username_lower), _display_of_account(dialect, spaced))
        parts.append(
            select(follows.c.target_account_id)
            .join(accounts, accounts.c.id == follows.c.target_account_id)
            .where(follows.c.account_id == viewer, named)
            .limit(CANDIDATES)
        )
    if fuzzy:
        # The shared trigrams counted per account first, then each account's own count
        # looked up once: joining every trigram row before grouping looked it up once per
        # shared trigram (about five times as often), and took twice the time on SQLite.
        if fuzzy > 0 and dialect == "postgresql":
            counted = _counted_each(dialect, fuzzy)
        else:
            sharing = select(search_account_grams.c.account_id, func.count().label("shared")).where(
                among(dialect, search_account_grams.c.gram, "grams", String())
            )
            if fuzzy > 0:  # SQLite reads the bounded accounts' rows by the account-id index
                sharing = sharing.where(search_account_grams.c.account_id.in_(_alike(fuzzy)))
            counted = sharing.group_by(search_account_grams.c.account_id).subquery("counted")
        union = bindparam("grams_count", type_=Integer) + search_accounts.c.grams_count - counted.c.shared
        parts.append(
            select(counted.c.account_id)
            .join(search_accounts, search_accounts.c.account_id == counted.c.account_id)
            .order_by((counted.c.shared * 1.0 / union).desc())
            .limit(bindparam("alike", type_=Integer))
        )
    subqueries = [part.subquery() for part in parts]
    ids = union_all(*(select(sub.c[0].label("id")) for sub in subqueries)).subquery()
    query = select(*_SCORED_COLUMNS).where(accounts.c.id.in_(select(ids.c.id)), accounts.c.deleted_at.is_(None))
    if signed_in:
        # Whom the viewer follows and who blocks whom, by primary key per candidate here:
        # asked apart, for a few hundred candidates bound four times over, it cost a
        # fifth of an account search.
        query = query.add_columns(
            exists()
            .where(follows.c.account_id == viewer, follows.c.target_account_id == accounts.c.id)
            .label("following")
        ).where(
            ~exists().where(blocks.c.account_id == viewer, blocks.c.target_account_id == accounts.c.id),
            ~exists().where(blocks.c.account_id == accounts.c.id, blocks.c.target_account_id == viewer),
        )
    else:
        query = query.add_columns(false().label("following"))
    if following_only and signed_in:
        query = query.where(
            accounts.c.id.in_(select(follows.c.target_account_id).where(follows.c.account_id == viewer))
        )
    return query


def _display_runs() -> ColumnElement[bool]:
    """A display name holding the query's run of words: at its start, or after a space."""
    return or_(
        search_accounts.c.display_lower.like(bindparam("like", type_=String), escape="/"),
        search_accounts.c.display_lower.like(bindparam("inner_like", type_=String), escape="/"),
    )


def _display_of_account(dialect: str, spaced: bool) -> ColumnElement[bool]:
    """The candidate account's display name matches the query (as ``by_display``), read
    by the account's own id."""
    if spaced:
        return exists().where(search_accounts.c.account_id == accounts.c.id, _display_runs())
    return exists().where(
        search_account_words.c.account_id == accounts.c.id, _starting(dialect, search_account_words.c.word)
    )


def _alike(gram_count: int) -> Any:
    """The accounts counted for names alike: at most ``PER_GRAM`` of those holding each
    trigram (``gram_0`` …), whose shared trigrams are then counted in full.

    A trigram most names hold ("  j", "son") would otherwise bring every one of them to
    the count: on a world of ``user_N`` names, a full username counted all of them, five
    trigrams each, for 70 % of account search's CPU. A name alike enough to rank holds
    the query's rarer trigrams too, and every holder of a trigram held by no more than
    ``PER_GRAM`` accounts is read; what is left out are accounts sharing only common
    trigrams beyond the first ``PER_GRAM`` of each (in id order), which rank on such a
    trigram only against as many others alike as well."""
    reads = [
        select(search_account_grams.c.account_id)
        .where(search_account_grams.c.gram == bindparam(f"gram_{index}", type_=String))
        .limit(bindparam("per_gram", type_=Integer))
        .subquery()
        for index in range(gram_count)
    ]
    return union(*(select(read.c.account_id) for read in reads))


def _counted_each(dialect: str, gram_count: int) -> Any:
    """``_alike``'s accounts with their shared trigrams, counted account by account: given
    the same ``IN`` as SQLite, PostgreSQL still read every row of the query's trigrams
    and hash-joined them to the bounded set, at about twice the time of this."""
    bounded = _alike(gram_count).subquery("bounded")
    shared = (
        select(func.count().label("shared"))
        .where(
            search_account_grams.c.account_id == bounded.c.account_id,
            among(dialect, search_account_grams.c.gram, "grams", String()),
        )
        .lateral("shared_grams")
    )
    return select(bounded.c.account_id, shared.c.shared).select_from(bounded.join(shared, true())).subquery("counted")


async def find_accounts(
    conn: AsyncConnection, viewer_id: int | None, text: str, limit: int, offset: int, following_only: bool
) -> list[AccountHit]:
    query = text.strip().removeprefix("@").split("@")[0].casefold()
    if not query:
        return []
    grams = trigrams(query)
    # Names that start with the query first (indexed reads); names alike (shared trigrams
    # counted, ``_alike``) only when those do not fill the page.
    values = _values(query, grams, viewer_id, offset + limit + WINDOW_MARGIN)
    shape = (" " in query, 0, viewer_id is not None, following_only)
    hits = await _scored(conn, viewer_id, query, grams, _prebuilt(*shape), values)
    if len(hits) < offset + limit and grams:
        alike = len(grams) if len(grams) <= BOUNDED_GRAMS else -1
        fuzzy = (" " in query, alike, viewer_id is not None, following_only)
        hits = await _scored(conn, viewer_id, query, grams, _prebuilt(*fuzzy), values)
    page = hits[offset : offset + limit]
    if not page:
        return []
    # Whole rows, and accounts made, for the page only (one gone since is left out).
    rows = {row.id: row for row in await _PAGE.rows(conn, {"ids": [row.id for _score, _name, row, _f in page]})}
    return [
        AccountHit(account_from_row(rows[candidate.id]), following, score)
        for score, _name, candidate, following in page
        if candidate.id in rows
    ]


#: A scored candidate: its score, lowered username (the tie-break), its row of
#: ``_SCORED_COLUMNS``, and whether followed.
Scored = tuple[float, str, Any, bool]


async def _scored(
    conn: AsyncConnection,
    viewer_id: int | None,
    query: str,
    grams: set[str],
    candidates: Prebuilt[Any],
    values: dict[str, Any],
) -> list[Scored]:
    """The candidates the viewer may find, scored and in rank order."""
    rows = await candidates.rows(conn, values)
    hits: list[Scored] = []
    for row in rows:
        following = bool(row.following)
        matched = _name_score(query, grams, row.username, row.display_name)
        if matched <= 0:
            continue
        mine = row.id == viewer_id
        if not row.discoverable and not (following or mine or row.username_lower == query):
            continue
        score = matched + FOLLOWING_WEIGHT * following + FOLLOWERS_WEIGHT * math.log10(1 + row.followers_count)
        hits.append((score, row.username.casefold(), row, following))
    hits.sort(key=lambda hit: (-hit[0], hit[1]))
    return hits
