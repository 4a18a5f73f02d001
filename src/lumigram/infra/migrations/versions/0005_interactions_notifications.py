"""likes, bookmarks, notifications, markers, push subscriptions

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-25 18:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def _saved(name: str) -> None:
    """favourites and bookmarks: an (account, status) pair with a time-sortable id."""
    op.create_table(
        name,
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk(name, "account_id", "accounts"),
        _fk(name, "status_id", "statuses"),
        sa.PrimaryKeyConstraint("account_id", "status_id", name=op.f(f"pk_{name}")),
        sa.UniqueConstraint("id", name=op.f(f"uq_{name}_id")),
    )
    op.create_index(f"ix_{name}_account_id_id", name, ["account_id", "id"])


def upgrade() -> None:
    _saved("favourites")
    op.create_index("ix_favourites_status_id_id", "favourites", ["status_id", "id"])
    _saved("bookmarks")
    op.create_table(
        "notifications",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("from_account_id", sa.BigInteger(), nullable=False),
        sa.Column("type", sa.String(length=32), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=True),
        sa.Column("group_key", sa.String(length=128), nullable=False),
        sa.Column("dedupe_key", sa.String(length=128), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("notifications", "account_id", "accounts"),
        sa.ForeignKeyConstraint(
            ["from_account_id"],
            ["accounts.id"],
            name=op.f("fk_notifications_from_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_notifications")),
        sa.UniqueConstraint("dedupe_key", name=op.f("uq_notifications_dedupe_key")),
    )
    op.create_index("ix_notifications_account_id_id", "notifications", ["account_id", "id"])
    op.create_index("ix_notifications_account_id_group_key_id", "notifications", ["account_id", "group_key", "id"])
    op.create_table(
        "markers",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("timeline", sa.String(length=32), nullable=False),
        sa.Column("last_read_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), server_default="1", nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        _fk("markers", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", "timeline", name=op.f("pk_markers")),
    )
    op.create_table(
        "push_subscriptions",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("token_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("endpoint", sa.Text(), nullable=False),
        sa.Column("p256dh", sa.String(length=255), nullable=False),
        sa.Column("auth", sa.String(length=255), nullable=False),
        sa.Column("alerts", sa.Text(), server_default="{}", nullable=False),
        sa.Column("policy", sa.String(length=16), server_default="all", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("push_subscriptions", "token_id", "oauth_tokens"),
        _fk("push_subscriptions", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_push_subscriptions")),
        sa.UniqueConstraint("token_id", name=op.f("uq_push_subscriptions_token_id")),
    )
    op.create_index("ix_push_subscriptions_account_id", "push_subscriptions", ["account_id"])


def downgrade() -> None:
    for name in ("push_subscriptions", "markers", "notifications", "bookmarks", "favourites"):
        op.drop_table(name)
