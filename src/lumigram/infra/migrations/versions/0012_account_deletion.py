"""account deletion: a deleted account's tombstone, what it sent found fast, story replies as messages

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-05 21:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def upgrade() -> None:
    with op.batch_alter_table("accounts") as batch:
        batch.add_column(sa.Column("deleted_at", _TS, nullable=True))
    with op.batch_alter_table("dm_messages") as batch:
        batch.add_column(sa.Column("story_id", sa.BigInteger(), nullable=True))
    op.create_index("ix_notifications_from_account_id", "notifications", ["from_account_id"])


def downgrade() -> None:
    op.drop_index("ix_notifications_from_account_id", table_name="notifications")
    with op.batch_alter_table("dm_messages") as batch:
        batch.drop_column("story_id")
    with op.batch_alter_table("accounts") as batch:
        batch.drop_column("deleted_at")
