"""search index, recent searches, trend exclusions

Revision ID: 0007
Revises: 0005
Create Date: 2026-12-05 17:30:00

The index starts empty on a database that already has posts: ``lumigram search reindex``
fills it from the tables.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "search_posts",
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("body", sa.Text(), server_default="", nullable=False),
        sa.Column("has_media", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("is_reply", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_s", sa.BigInteger(), nullable=False),
        _fk("search_posts", "status_id", "statuses"),
        sa.PrimaryKeyConstraint("status_id", name=op.f("pk_search_posts")),
    )
    op.create_index("ix_search_posts_account_id", "search_posts", ["account_id"])
    op.create_table(
        "search_accounts",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("display_lower", sa.String(64), server_default="", nullable=False),
        sa.Column("grams_count", sa.Integer(), server_default="0", nullable=False),
        _fk("search_accounts", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_search_accounts")),
    )
    op.create_table(
        "search_account_grams",
        sa.Column("gram", sa.String(16), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        _fk("search_account_grams", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("gram", "account_id", name=op.f("pk_search_account_grams")),
    )
    op.create_index("ix_search_account_grams_account_id", "search_account_grams", ["account_id"])
    op.create_table(
        "search_history",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("query", sa.String(200), nullable=False),
        sa.Column("query_lower", sa.String(200), nullable=False),
        sa.Column("opened_kind", sa.String(8), nullable=True),
        sa.Column("opened_id", sa.BigInteger(), nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        _fk("search_history", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_search_history")),
    )
    op.create_index("ix_search_history_account_id_id", "search_history", ["account_id", "id"])
    op.create_table(
        "trend_exclusions",
        sa.Column("kind", sa.String(8), nullable=False),
        sa.Column("target_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("kind", "target_id", name=op.f("pk_trend_exclusions")),
    )
    if op.get_bind().dialect.name == "postgresql":
        # Full text with English stemming; the query side uses the same expression.
        op.execute("CREATE INDEX ix_search_posts_body_tsv ON search_posts USING gin (to_tsvector('english', body))")
    else:
        # FTS5 with the Porter stemmer; rowid is the status id.
        op.execute(
            "CREATE VIRTUAL TABLE search_posts_fts USING fts5(body, tokenize = 'porter unicode61 remove_diacritics 2')"
        )
    # Hashtag prefix search (LIKE 'sun%') on the lowered name: the unique index serves it on
    # SQLite; PostgreSQL needs the pattern operator class unless the collation is C.
    if op.get_bind().dialect.name == "postgresql":
        op.execute("CREATE INDEX ix_tags_name_lower_pattern ON tags (name_lower varchar_pattern_ops)")
        op.execute("CREATE INDEX ix_accounts_username_lower_pattern ON accounts (username_lower varchar_pattern_ops)")


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_accounts_username_lower_pattern")
        op.execute("DROP INDEX ix_tags_name_lower_pattern")
        op.execute("DROP INDEX ix_search_posts_body_tsv")
    else:
        op.execute("DROP TABLE search_posts_fts")
    op.drop_table("trend_exclusions")
    op.drop_index("ix_search_history_account_id_id", table_name="search_history")
    op.drop_table("search_history")
    op.drop_index("ix_search_account_grams_account_id", table_name="search_account_grams")
    op.drop_table("search_account_grams")
    op.drop_table("search_accounts")
    op.drop_index("ix_search_posts_account_id", table_name="search_posts")
    op.drop_table("search_posts")
