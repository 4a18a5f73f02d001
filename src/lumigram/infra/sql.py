"""Small SQL building blocks the hot read paths share."""

from __future__ import annotations

from collections.abc import Collection

from sqlalchemy import BigInteger, ColumnElement, any_, bindparam
from sqlalchemy.dialects.postgresql import ARRAY
from sqlalchemy.ext.asyncio import AsyncConnection


def one_of(conn: AsyncConnection, column: ColumnElement[int], ids: Collection[int]) -> ColumnElement[bool]:
    """``column IN (ids)``, written so that PostgreSQL sees one statement whatever the count.

    ``IN`` expands to one placeholder per id, so every list length is a different
    statement: SQLAlchemy renders it anew on each execution and asyncpg prepares it again
    on each pooled connection (a round trip and a parse in the server). ``= ANY($1)``
    with the ids as one array parameter is prepared once. SQLite has no arrays and no
    prepare round trip, so it keeps ``IN``.
    """
    if conn.dialect.name == "postgresql":
        return column == any_(bindparam(None, list(ids), type_=ARRAY(BigInteger), unique=True))
    return column.in_(list(ids))
