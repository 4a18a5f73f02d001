"""reposts, lists (close friends, favourites) and hidden words (filters)

Revision ID: 0009
Revises: 0005
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "reblogs",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("reblogs", "account_id", "accounts"),
        _fk("reblogs", "status_id", "statuses"),
        sa.PrimaryKeyConstraint("account_id", "status_id", name=op.f("pk_reblogs")),
        sa.UniqueConstraint("id", name=op.f("uq_reblogs_id")),
    )
    op.create_index("ix_reblogs_status_id_id", "reblogs", ["status_id", "id"])
    op.create_index("ix_reblogs_account_id_id", "reblogs", ["account_id", "id"])
    op.create_table(
        "lists",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("replies_policy", sa.String(length=16), server_default="list", nullable=False),
        sa.Column("exclusive", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("close_friends", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("lists", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_lists")),
    )
    op.create_index("ix_lists_account_id_id", "lists", ["account_id", "id"])
    op.create_table(
        "list_accounts",
        sa.Column("list_id", sa.BigInteger(), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("list_accounts", "list_id", "lists"),
        _fk("list_accounts", "target_account_id", "accounts"),
        _fk("list_accounts", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("list_id", "target_account_id", name=op.f("pk_list_accounts")),
        sa.UniqueConstraint("id", name=op.f("uq_list_accounts_id")),
    )
    op.create_index(
        "ix_list_accounts_account_id_target_account_id", "list_accounts", ["account_id", "target_account_id"]
    )
    op.create_table(
        "filters",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=200), nullable=False),
        sa.Column("contexts", sa.String(length=100), nullable=False),
        sa.Column("action", sa.String(length=8), server_default="warn", nullable=False),
        sa.Column("expires_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        _fk("filters", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filters")),
    )
    op.create_index("ix_filters_account_id", "filters", ["account_id"])
    op.create_table(
        "filter_keywords",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("filter_id", sa.BigInteger(), nullable=False),
        sa.Column("keyword", sa.String(length=200), nullable=False),
        sa.Column("whole_word", sa.Boolean(), server_default="1", nullable=False),
        _fk("filter_keywords", "filter_id", "filters"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_filter_keywords")),
    )
    op.create_index("ix_filter_keywords_filter_id", "filter_keywords", ["filter_id"])


def downgrade() -> None:
    for name in ("filter_keywords", "filters", "list_accounts", "lists", "reblogs"):
        op.drop_table(name)
