"""follow graph: follows, follow_requests, blocks, mutes

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-25 01:30:00
"""

from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def _edge(name: str, *extra: sa.Column[Any]) -> None:
    """An (account_id -> target_account_id) edge table, as ``tables._edge_columns`` defines it."""
    op.create_table(
        name,
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", lumigram.infra.tables.UTCDateTime(timezone=True), nullable=False),
        *extra,
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f(f"fk_{name}_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(
            ["target_account_id"],
            ["accounts.id"],
            name=op.f(f"fk_{name}_target_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("account_id", "target_account_id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("id", name=op.f(f"uq_{name}_id")),
    )


def upgrade() -> None:
    _edge(
        "follows",
        sa.Column("notify", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("reblogs", sa.Boolean(), server_default="1", nullable=False),
    )
    op.create_index("ix_follows_target_account_id_account_id", "follows", ["target_account_id", "account_id"])
    op.create_index("ix_follows_target_account_id_id", "follows", ["target_account_id", "id"])
    op.create_index("ix_follows_account_id_id", "follows", ["account_id", "id"])

    _edge(
        "follow_requests",
        sa.Column("notify", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("reblogs", sa.Boolean(), server_default="1", nullable=False),
    )
    op.create_index("ix_follow_requests_target_account_id_id", "follow_requests", ["target_account_id", "id"])

    _edge("blocks")
    op.create_index("ix_blocks_target_account_id_account_id", "blocks", ["target_account_id", "account_id"])
    op.create_index("ix_blocks_account_id_id", "blocks", ["account_id", "id"])

    _edge(
        "mutes",
        sa.Column("notifications", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("expires_at", lumigram.infra.tables.UTCDateTime(timezone=True), nullable=True),
    )
    op.create_index("ix_mutes_account_id_id", "mutes", ["account_id", "id"])


def downgrade() -> None:
    op.drop_index("ix_mutes_account_id_id", table_name="mutes")
    op.drop_table("mutes")
    op.drop_index("ix_blocks_account_id_id", table_name="blocks")
    op.drop_index("ix_blocks_target_account_id_account_id", table_name="blocks")
    op.drop_table("blocks")
    op.drop_index("ix_follow_requests_target_account_id_id", table_name="follow_requests")
    op.drop_table("follow_requests")
    op.drop_index("ix_follows_account_id_id", table_name="follows")
    op.drop_index("ix_follows_target_account_id_id", table_name="follows")
    op.drop_index("ix_follows_target_account_id_account_id", table_name="follows")
    op.drop_table("follows")
