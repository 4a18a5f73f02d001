"""reels: the recent-reels index with its watching counters, and plays on posts

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-05 21:10:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("statuses") as batch:
        batch.add_column(sa.Column("plays_count", sa.Integer(), server_default="0", nullable=False))
    op.create_table(
        "reels",
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("duration", sa.Float(), nullable=False),
        sa.Column("completes_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("loops_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("watch_ms", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("reels", "status_id", "statuses"),
        _fk("reels", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("status_id", name=op.f("pk_reels")),
    )
    op.create_index(op.f("ix_reels_account_id"), "reels", ["account_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_reels_account_id"), table_name="reels")
    op.drop_table("reels")
    with op.batch_alter_table("statuses") as batch:
        batch.drop_column("plays_count")
