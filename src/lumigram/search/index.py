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


#: A walk reads this many rows at most per match it is after before it gives up on the
#: estimate and leaves the rest to the index (a query whose words are each common but
#: seldom together).
WALK_ROWS_PER_MATCH = 50
#: Reading a post's words again costs PostgreSQL about this many times as much as
#: taking a match from the GIN index's bitmap (short captions, measured at 1M posts).
WALK_COST_RATIO = 5.0


class PostgresIndex:
    """PostgreSQL full text: ``to_tsvector('english', body)`` under a GIN index (the
    migration's ``ix_search_posts_body_tsv``), ranked by cover density.

    A GIN index hands over every post holding a word, in no order, so the newest few
    hundred matches of a common word cost a visit to each of its tens of thousands of
    rows. For such a query the statement walks the posts newest first instead, reading
    each one's words, and stops at the window's end: about ``newest / share`` rows. Which
    of the two is cheaper is decided inside the statement, from how common ANALYZE found
    the query's words and how many posts there are; the walk is bounded, and when the
    words turn out to be seldom together the index finds the older rest."""

    async def put(self, conn: AsyncConnection, entries: Sequence[tuple[int, str]]) -> None:
        return None  # the expression index follows search_posts.body

    async def drop(self, conn: AsyncConnection, status_ids: list[int]) -> None:
        return None

    async def clear(self, conn: AsyncConnection) -> None:
        return None

    async def fill(self, conn: AsyncConnection, after: int, upto: int) -> None:
        return None

    def terms(self, query: PostQuery) -> str:
        return query.plain_text()

    def common_words(self) -> Any:
        """A one-row CTE: whether the ``terms`` parameter's words are common enough, among
        as many posts as there are, that walking the newest posts for the ``newest``
        parameter's matches costs less than the GIN index's bitmap of them all. The counts
        are the statistics ANALYZE keeps for ``ix_search_posts_body_tsv``: its most common
        lexemes, with the share of posts holding each."""
        # Common: every word of the query is among the lexemes ANALYZE counted, and the
        # share of posts holding them all, taken as independent (as PostgreSQL's own
        # planner takes them), is at least sqrt(ratio * newest / posts): there walking
        # (newest / share rows, each read again) costs less than the bitmap (share * posts
        # rows). Words not counted are rarer than every counted one: the index is cheap.
        terms = bindparam("terms", type_=String)
        newest = bindparam("newest", type_=Integer)
        return (
            text(
                "SELECT coalesce(count(*) > 0 AND count(*) = cardinality(tsvector_to_array("
                "to_tsvector('english'::regconfig, :terms))) AND exp(sum(ln(e.share))) >= sqrt("
                ":walk_cost_ratio * :newest / greatest(max(c.reltuples), 1.0)), false) AS common "
                "FROM pg_stats s CROSS JOIN unnest(s.most_common_elems::text::text[], s.most_common_elem_freqs) "
                "AS e(lexeme, share) JOIN pg_class c ON c.oid = 'search_posts'::regclass "
                "WHERE s.schemaname = current_schema() AND s.tablename = 'ix_search_posts_body_tsv' "
                "AND e.lexeme = ANY(tsvector_to_array(to_tsvector('english'::regconfig, :terms)))"
            )
            .bindparams(terms, newest, bindparam("walk_cost_ratio", WALK_COST_RATIO, type_=Float))
            .columns(column("common", Boolean))
            .cte("common_words")
            .prefix_with("MATERIALIZED")
        )

    def matching(self, where: Sequence[ColumnElement[bool]]) -> Any:
        config: ColumnElement[Any] = literal_column("'english'::regconfig")
        terms = bindparam("terms", type_=String)
        newest = bindparam("newest", type_=Integer)
        wanted = func.websearch_to_tsquery(config, terms)
        words = func.to_tsvector(config, search_posts.c.body)
        common = self.common_words()
        is_common = select(common.c.common).scalar_subquery()
        cap = newest * WALK_ROWS_PER_MATCH
        window = (
            select(search_posts.c.status_id, search_posts.c.body)
            .where(is_common, *where)
            .order_by(search_posts.c.status_id.desc())
            .limit(cap)
            .subquery("recent")
        )
        walked = (
            select(window.c.status_id, window.c.body)
            .where(func.to_tsvector(config, window.c.body).op("@@")(wanted))
            .order_by(window.c.status_id.desc())
            .limit(newest)
            .cte("walked")
            .prefix_with("MATERIALIZED")
        )
        walked_count = select(func.count()).select_from(walked).scalar_subquery()
        # The oldest row the walk could read: the index finds only what is older.
        window_end = (
            select(func.min(literal_column("edge.status_id")))
            .select_from(
                select(search_posts.c.status_id)
                .where(*where)
                .order_by(search_posts.c.status_id.desc())
                .limit(cap)
                .subquery("edge")
            )
            .scalar_subquery()
        )
        indexed = (
            select(search_posts.c.status_id, search_posts.c.body)
            .where(
                or_(~is_common, walked_count < newest),
                words.op("@@")(wanted),
                or_(~is_common, search_posts.c.status_id < window_end),
                *where,
            )
            # Ordered by an expression the primary key cannot give, so that PostgreSQL
            # never walks backwards here: that is the walk above, unbounded.
            .order_by((search_posts.c.status_id + 0).desc())
            .limit(newest)
        )
        both = union_all(select(walked.c.status_id, walked.c.body), indexed).subquery("both_ways")
        found = select(both.c.status_id, both.c.body).order_by(both.c.status_id.desc()).limit(newest).subquery("found")
        # Ranked after the limit, so cover density is worked out for those rows only.
        vector = func.to_tsvector(config, found.c.body)
        return select(found.c.status_id, func.ts_rank_cd(vector, wanted, 1, type_=Float).label("relevance")).subquery(
            "matches"
        )


def index_for(dialect: str) -> PostIndex:
    return PostgresIndex() if dialect == "postgresql" else Fts5Index()
