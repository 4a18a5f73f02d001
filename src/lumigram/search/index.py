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
    ColumnElement,
    Float,
    String,
    bindparam,
    column,
    delete,
    func,
    insert,
    literal_column,
    select,
    table,
    text,
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


class PostgresIndex:
    """PostgreSQL full text: ``to_tsvector('english', body)`` under a GIN index (the
    migration's ``ix_search_posts_body_tsv``), ranked by cover density."""

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

    def matching(self, where: Sequence[ColumnElement[bool]]) -> Any:
        config: ColumnElement[Any] = literal_column("'english'::regconfig")
        wanted = func.websearch_to_tsquery(config, bindparam("terms", type_=String))
        found = (
            select(search_posts.c.status_id, search_posts.c.body)
            .where(func.to_tsvector(config, search_posts.c.body).op("@@")(wanted), *where)
            .order_by(search_posts.c.status_id.desc())
            .limit(bindparam("newest"))
            .subquery("found")
        )
        # Ranked after the limit, so cover density is worked out for those rows only.
        vector = func.to_tsvector(config, found.c.body)
        return select(found.c.status_id, func.ts_rank_cd(vector, wanted, 1, type_=Float).label("relevance")).subquery(
            "matches"
        )


def index_for(dialect: str) -> PostIndex:
    return PostgresIndex() if dialect == "postgresql" else Fts5Index()
