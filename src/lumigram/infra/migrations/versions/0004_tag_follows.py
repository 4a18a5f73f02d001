"""followed hashtags

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-25 17:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tag_follows",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", lumigram.infra.tables.UTCDateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"], ["accounts.id"], name=op.f("fk_tag_follows_account_id_accounts"), ondelete="CASCADE"
        ),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_tag_follows_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("account_id", "tag_id", name=op.f("pk_tag_follows")),
        sa.UniqueConstraint("id", name=op.f("uq_tag_follows_id")),
    )
    op.create_index("ix_tag_follows_tag_id_account_id", "tag_follows", ["tag_id", "account_id"])


def downgrade() -> None:
    op.drop_index("ix_tag_follows_tag_id_account_id", table_name="tag_follows")
    op.drop_table("tag_follows")
