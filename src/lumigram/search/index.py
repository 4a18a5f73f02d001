"""The search port: where the words of posts are kept and matched.

Two adapters, chosen by the database's dialect: SQLite's FTS5 (embedded) and PostgreSQL's
full text search (scaled). Both stem English words (Porter's stemmer; PostgreSQL's
``english`` configuration) and match quoted phrases word for word. The rest of a search
(who may see a post, operators, recency, paging) is plain SQL over ``search_posts`` that
both share, in ``lumigram.search.service``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Protocol

from sqlalchemy import (
    BigInteger,
    Boolean,
    ColumnElement,
    Float,
    Integer,
    String,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal_column,
    or_,
    select,
    table,
    text,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.infra.sql import Prebuilt, among
from lumigram.infra.tables import search_posts
from lumigram.search.query import PostQuery


class PostIndex(Protocol):
    async def put(self, conn: AsyncConnection, entries: Sequence[tuple[int, str]]) -> None:
        """Keep each ``(status_id, body)`` as the words of the post, in place of any it had
        (its row in ``search_posts`` is written)."""

    async def drop(self, conn: AsyncConnection, status_ids: list[int]) -> None:
        """Forget the words of these posts (before their rows go)."""

    async def clear(self, conn: AsyncConnection) -> None:
        """Forget every post's words (before a rebuild)."""

    async def fill(self, conn: AsyncConnection, after: int, upto: int) -> None:
        """Keep the words of the posts with ids in (``after``, ``upto``] from their rows in
        ``search_posts``, just written by a rebuild, in one statement."""

    def terms(self, query: PostQuery) -> str:
        """The query's words and phrases as the ``terms`` parameter of ``matching``."""

    def matching(self, where: Sequence[ColumnElement[bool]]) -> Any:
        """A subquery of the newest (by id) posts whose words match the ``terms``
        parameter and whose row in ``search_posts`` meets ``where``, as ``status_id``
        and ``relevance`` (higher is better), at most the ``newest`` parameter of them.
        Only those are ranked: a common word's older matches are left unread. Built once
        per shape of query and reused, its values all bound parameters."""


_FTS = table("search_posts_fts", column("rowid"), column("body"))
_PUT_WORDS = Prebuilt(
    lambda _dialect: insert(_FTS).prefix_with("OR REPLACE").values(rowid=bindparam("rowid"), body=bindparam("body"))
)
_DROP_WORDS = Prebuilt(lambda dialect: delete(_FTS).where(among(dialect, _FTS.c.rowid, "ids")))


class Fts5Index:
    """SQLite FTS5: a table of words keyed by the status id (its rowid), ranked by BM25."""

    async def put(self, conn: AsyncConnection, entries: Sequence[tuple[int, str]]) -> None:
        # FTS5 takes ``OR REPLACE`` on its rowid: one statement where a delete and an
        # insert took two.
        params = [{"rowid": status_id, "body": body} for status_id, body in entries]
        if params:
            await _PUT_WORDS.execute(conn, params[0] if len(params) == 1 else params)

    async def drop(self, conn: AsyncConnection, status_ids: list[int]) -> None:
        if status_ids:
            await _DROP_WORDS.execute(conn, {"ids": status_ids})

    async def clear(self, conn: AsyncConnection) -> None:
        await conn.execute(text("DELETE FROM search_posts_fts"))

    async def fill(self, conn: AsyncConnection, after: int, upto: int) -> None:
        rows = select(search_posts.c.status_id, search_posts.c.body).where(
            search_posts.c.status_id > after, search_posts.c.status_id <= upto
        )
        await conn.execute(insert(_FTS).from_select(["rowid", "body"], rows))

    def terms(self, query: PostQuery) -> str:
        # Every word and phrase quoted (FTS5's own syntax never reaches it): all must match.
        terms = [f'"{word}"' for word in query.words]
        terms += ['"' + " ".join(phrase) + '"' for phrase in query.phrases]
        return " ".join(terms)

    def matching(self, where: Sequence[ColumnElement[bool]]) -> Any:
        statement = select(
            _FTS.c.rowid.label("status_id"),
            (-func.bm25(literal_column("search_posts_fts"), type_=Float)).label("relevance"),
        ).where(literal_column("search_posts_fts").op("MATCH")(bindparam("terms", type_=String)))
        if where:
            statement = statement.join(search_posts, search_posts.c.status_id == _FTS.c.rowid).where(*where)
        # FTS5 walks a word's postings by rowid, newest first here, and stops at the limit;
        # BM25 is worked out for those rows only.
        return statement.order_by(_FTS.c.rowid.desc()).limit(bindparam("newest")).subquery("matches")


#: A walk reads at most this many times the rows it expects (the matches it is after over
#: the words' share together) before it gives up on the estimate and leaves the rest to
#: the index: a query whose words are each common but seldom together.
WALK_MARGIN = 2.0
#: What a row read by the walk costs PostgreSQL against a match taken from the GIN
#: index's bitmap. Measured at 1M posts, the statement's fixed part taken off: 0.08 µs
#: against 1.06 µs (the bitmap visits each match's row, on its own page; the walk reads
#: rows in the order they lie). Rounded up, so a word near the line is left to the index,
#: whose cost is the better known.
WALK_COST_RATIO = 0.1

#: ``search_posts.words``: PostgreSQL's stored ``to_tsvector('english', body)`` (migration
#: 0015). Not in the shared table's columns, which SQLite's table shares without it.
_WORDS: ColumnElement[Any] = literal_column("search_posts.words")


class PostgresIndex:
    """PostgreSQL full text: each post's words stored beside its text (``search_posts.words``,
    generated from ``body``) under a GIN index, ranked by cover density.

    A GIN index hands over every post holding a word, in no order, so the newest few
    hundred matches of a common word cost a visit to each of its tens of thousands of
    rows. For such a query the statement walks the posts newest first instead, testing
    each one's stored words, and stops at the window's end: about ``newest / share`` rows.
    Which of the two is cheaper is decided inside the statement, from how common ANALYZE
    found the query's words and how many posts there are. The walk is bounded, and when
    the words turn out to be seldom together the index finds the older rest: the answers
    are the same either way."""

    async def put(self, conn: AsyncConnection, entries: Sequence[tuple[int, str]]) -> None:
        return None  # the words column is generated from search_posts.body

    async def drop(self, conn: AsyncConnection, status_ids: list[int]) -> None:
        return None

    async def clear(self, conn: AsyncConnection) -> None:
        return None

    async def fill(self, conn: AsyncConnection, after: int, upto: int) -> None:
        return None

    def terms(self, query: PostQuery) -> str:
        return query.plain_text()

    def common_words(self) -> Any:
        """A one-row CTE: the ``terms`` parameter as a query (``wanted``), and whether its
        words are common enough (``common``), among as many posts as there are, that
        walking the newest posts for the ``newest`` parameter's matches costs less than the
        GIN index's bitmap of them all, and how many of the newest posts a walk may read
        (``walk_rows``: ``WALK_MARGIN`` times the rows it expects). The counts are the
        statistics ANALYZE keeps for ``search_posts.words``: its most common lexemes, with
        the share of posts holding each."""
        # Common: every word of the query is among the lexemes ANALYZE counted, and the
        # words together are in at least sqrt(ratio * newest / posts) of the posts, where
        # walking (newest / share rows) costs less than the bitmap (share * posts rows).
        # Their share together is taken as the product of their shares, as if words came
        # independently: the rarest word's share alone walked "day coffee" for 26 ms where
        # the bitmap of the pair takes 5. Words that come together more often than that
        # are walked less often than they could be; words seldom together are ended by
        # the walk's bound. Words not counted are rarer than every counted one, and the
        # index is cheap for them.
        terms = bindparam("terms", type_=String)
        newest = bindparam("newest", type_=Integer)
        return (
            text(
                "SELECT coalesce(count(*) > 0 AND count(*) = cardinality(tsvector_to_array("
                "to_tsvector('english'::regconfig, :terms))) AND exp(sum(ln(e.share))) >= sqrt("
                ":walk_cost_ratio * :newest / greatest(max(c.reltuples), 1.0)), false) AS common, "
                "coalesce(ceil(:walk_margin * :newest / greatest(exp(sum(ln(e.share))), 1e-9)), 0)::bigint "
                "AS walk_rows, "
                "websearch_to_tsquery('english'::regconfig, :terms) AS wanted "
                "FROM pg_stats s CROSS JOIN unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) "
                "AS e(lexeme, share) JOIN pg_class c ON c.oid = 'search_posts'::regclass "
                "WHERE s.schemaname = current_schema() AND s.tablename = 'search_posts' AND s.attname = 'words' "
                "AND e.lexeme = ANY(tsvector_to_array(to_tsvector('english'::regconfig, :terms)))"
            )
            .bindparams(
                terms,
                newest,
                bindparam("walk_cost_ratio", WALK_COST_RATIO, type_=Float),
                bindparam("walk_margin", WALK_MARGIN, type_=Float),
            )
            .columns(column("common", Boolean), column("walk_rows", BigInteger), column("wanted"))
            .cte("common_words")
            .prefix_with("MATERIALIZED")
        )

    def matching(self, where: Sequence[ColumnElement[bool]]) -> Any:
        newest = bindparam("newest", type_=Integer)
        common = self.common_words()
        is_common = select(common.c.common).scalar_subquery()
        # The query made once: written in place, a prepared statement's plan would make it
        # again for every row the walk tests.
        wanted = select(common.c.wanted).scalar_subquery()
        # The window a walk may read: the newest posts meeting ``where``, bounded.
        window = (
            select(search_posts.c.status_id)
            .where(*where)
            .order_by(search_posts.c.status_id.desc())
            .limit(select(common.c.walk_rows).scalar_subquery())
        )
        recent = window.add_columns(_WORDS.label("words")).where(is_common).subquery("recent")
        walked = (
            select(recent.c.status_id, recent.c.words)
            .where(recent.c.words.op("@@")(wanted))
            .order_by(recent.c.status_id.desc())
            .limit(newest)
            .cte("walked")
            .prefix_with("MATERIALIZED")
        )
        walked_count = select(func.count()).select_from(walked).scalar_subquery()
        # The oldest row the walk could read: the index finds only what is older.
        edge = window.subquery("edge")
        window_end = select(func.min(edge.c.status_id)).scalar_subquery()
        indexed = (
            select(search_posts.c.status_id, _WORDS.label("words"))
            .where(
                or_(~is_common, walked_count < newest),
                _WORDS.op("@@")(wanted),
                or_(~is_common, search_posts.c.status_id < window_end),
                *where,
            )
            # Ordered by an expression the primary key cannot give, so that PostgreSQL
            # never walks backwards here: that is the walk above, unbounded.
            .order_by((search_posts.c.status_id + 0).desc())
            .limit(newest)
        )
        both = union_all(select(walked.c.status_id, walked.c.words), indexed).subquery("both_ways")
        found = select(both.c.status_id, both.c.words).order_by(both.c.status_id.desc()).limit(newest).subquery("found")
        # Ranked after the limit, so cover density is worked out for those rows only.
        relevance = func.ts_rank_cd(found.c.words, wanted, 1, type_=Float).label("relevance")
        return select(found.c.status_id, relevance).subquery("matches")


def index_for(dialect: str) -> PostIndex:
    return PostgresIndex() if dialect == "postgresql" else Fts5Index()
