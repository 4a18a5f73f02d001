"""polls: the poll of a post, its voters and their choices

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05 18:40:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str, target_column: str = "id") -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.{target_column}"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("statuses") as batch:
        batch.add_column(sa.Column("has_poll", sa.Boolean(), server_default="0", nullable=False))
    op.create_table(
        "polls",
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("options", sa.Text(), nullable=False),
        sa.Column("multiple", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("hide_totals", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("ended_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        _fk("polls", "status_id", "statuses"),
        _fk("polls", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("status_id", name=op.f("pk_polls")),
    )
    op.create_index("ix_polls_ended_at_expires_at", "polls", ["ended_at", "expires_at"])
    op.create_table(
        "poll_voters",
        sa.Column("poll_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("poll_voters", "poll_id", "polls", "status_id"),
        _fk("poll_voters", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("poll_id", "account_id", name=op.f("pk_poll_voters")),
    )
    op.create_table(
        "poll_votes",
        sa.Column("poll_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("choice", sa.Integer(), autoincrement=False, nullable=False),
        _fk("poll_votes", "poll_id", "polls", "status_id"),
        _fk("poll_votes", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("poll_id", "account_id", "choice", name=op.f("pk_poll_votes")),
    )


def downgrade() -> None:
    for name in ("poll_votes", "poll_voters", "polls"):
        op.drop_table(name)
    with op.batch_alter_table("statuses") as batch:
        batch.drop_column("has_poll")
