"""direct messages (threads, participants, messages, edits, reactions, hidden messages,
settings) and Mastodon conversations over direct posts

Revision ID: 0008
Revises: 0005
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    op.create_table(
        "dm_threads",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("name", sa.String(length=100), server_default="", nullable=False),
        sa.Column("pair_key", sa.String(length=48), nullable=True),
        sa.Column("created_by", sa.BigInteger(), nullable=False),
        sa.Column("last_message_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dm_threads")),
        sa.UniqueConstraint("pair_key", name=op.f("uq_dm_threads_pair_key")),
    )
    op.create_table(
        "dm_participants",
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("admin", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("folder", sa.String(length=8), server_default="inbox", nullable=False),
        sa.Column("muted", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("request_notified", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("last_read_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("sort_id", sa.BigInteger(), server_default="0", nullable=False),
        sa.Column("joined_at", _TS, nullable=False),
        _fk("dm_participants", "thread_id", "dm_threads"),
        _fk("dm_participants", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("thread_id", "account_id", name=op.f("pk_dm_participants")),
    )
    op.create_index("ix_dm_participants_account_id_sort_id", "dm_participants", ["account_id", "sort_id"])
    op.create_table(
        "dm_messages",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("thread_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), server_default="", nullable=False),
        sa.Column("shared_status_id", sa.BigInteger(), nullable=True),
        sa.Column("shared_account_id", sa.BigInteger(), nullable=True),
        sa.Column("media_ids", sa.Text(), server_default="[]", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("edited_at", _TS, nullable=True),
        sa.Column("unsent_at", _TS, nullable=True),
        _fk("dm_messages", "thread_id", "dm_threads"),
        _fk("dm_messages", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dm_messages")),
    )
    op.create_index("ix_dm_messages_thread_id_id", "dm_messages", ["thread_id", "id"])
    op.create_table(
        "dm_message_edits",
        sa.Column("id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("dm_message_edits", "message_id", "dm_messages"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_dm_message_edits")),
    )
    op.create_index("ix_dm_message_edits_message_id", "dm_message_edits", ["message_id"])
    op.create_table(
        "dm_reactions",
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("emoji", sa.String(length=32), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("dm_reactions", "message_id", "dm_messages"),
        _fk("dm_reactions", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("message_id", "account_id", name=op.f("pk_dm_reactions")),
    )
    op.create_table(
        "dm_hidden_messages",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("message_id", sa.BigInteger(), nullable=False),
        _fk("dm_hidden_messages", "account_id", "accounts"),
        _fk("dm_hidden_messages", "message_id", "dm_messages"),
        sa.PrimaryKeyConstraint("account_id", "message_id", name=op.f("pk_dm_hidden_messages")),
    )
    op.create_table(
        "dm_settings",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("accept", sa.String(length=16), server_default="everyone", nullable=False),
        _fk("dm_settings", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_dm_settings")),
    )
    op.create_table(
        "direct_conversations",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.Column("last_status_id", sa.BigInteger(), nullable=False),
        sa.Column("unread", sa.Boolean(), server_default="0", nullable=False),
        _fk("direct_conversations", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", "conversation_id", name=op.f("pk_direct_conversations")),
    )
    op.create_index(
        "ix_direct_conversations_account_id_last_status_id",
        "direct_conversations",
        ["account_id", "last_status_id"],
    )
    op.create_table(
        "direct_post_roots",
        sa.Column("status_id", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("conversation_id", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("status_id", name=op.f("pk_direct_post_roots")),
    )


def downgrade() -> None:
    for name in (
        "direct_post_roots",
        "direct_conversations",
        "dm_settings",
        "dm_hidden_messages",
        "dm_reactions",
        "dm_message_edits",
        "dm_messages",
        "dm_participants",
        "dm_threads",
    ):
        op.drop_table(name)
