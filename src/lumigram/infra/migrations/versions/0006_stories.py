"""stories: stories, their mentions, views, replies, highlights, settings

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def upgrade() -> None:
    with op.batch_alter_table("media_attachments") as batch:
        batch.add_column(sa.Column("story_id", sa.BigInteger(), nullable=True))
    op.create_table(
        "stories",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("media_id", sa.BigInteger(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("caption", sa.Text(), server_default="", nullable=False),
        sa.Column("link", sa.String(length=2048), nullable=True),
        sa.Column("audience", sa.String(length=16), server_default="followers", nullable=False),
        sa.Column("replies_enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("reactions_enabled", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("duration", sa.Integer(), server_default="10", nullable=False),
        sa.Column("views_count", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.Column("expires_at", _TS, nullable=False),
        sa.Column("deleted_at", _TS, nullable=True),
        sa.Column("blobs_removed_at", _TS, nullable=True),
        _fk("stories", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_stories")),
    )
    op.create_index("ix_stories_account_id_expires_at", "stories", ["account_id", "expires_at"])
    op.create_index("ix_stories_expires_at", "stories", ["expires_at"])
    op.create_table(
        "story_mentions",
        sa.Column("story_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        _fk("story_mentions", "story_id", "stories"),
        _fk("story_mentions", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("story_id", "account_id", name=op.f("pk_story_mentions")),
    )
    op.create_table(
        "story_views",
        sa.Column("story_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("story_views", "story_id", "stories"),
        _fk("story_views", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("story_id", "account_id", name=op.f("pk_story_views")),
        sa.UniqueConstraint("id", name=op.f("uq_story_views_id")),
    )
    op.create_index("ix_story_views_story_id_id", "story_views", ["story_id", "id"])
    op.create_index("ix_story_views_account_id_story_id", "story_views", ["account_id", "story_id"])
    op.create_table(
        "story_replies",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("story_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("content", sa.Text(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("story_replies", "story_id", "stories"),
        _fk("story_replies", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_replies")),
    )
    op.create_index("ix_story_replies_story_id_id", "story_replies", ["story_id", "id"])
    op.create_table(
        "story_highlights",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("title", sa.String(length=100), nullable=False),
        sa.Column("cover_story_id", sa.BigInteger(), nullable=True),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("story_highlights", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_story_highlights")),
    )
    op.create_index("ix_story_highlights_account_id_position", "story_highlights", ["account_id", "position"])
    op.create_table(
        "story_highlight_items",
        sa.Column("highlight_id", sa.BigInteger(), nullable=False),
        sa.Column("story_id", sa.BigInteger(), nullable=False),
        sa.Column("position", sa.Integer(), server_default="0", nullable=False),
        _fk("story_highlight_items", "highlight_id", "story_highlights"),
        _fk("story_highlight_items", "story_id", "stories"),
        sa.PrimaryKeyConstraint("highlight_id", "story_id", name=op.f("pk_story_highlight_items")),
    )
    op.create_index("ix_story_highlight_items_story_id", "story_highlight_items", ["story_id"])
    op.create_table(
        "story_settings",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("archive", sa.Boolean(), server_default="1", nullable=False),
        _fk("story_settings", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", name=op.f("pk_story_settings")),
    )


def downgrade() -> None:
    for name in (
        "story_settings",
        "story_highlight_items",
        "story_highlights",
        "story_replies",
        "story_views",
        "story_mentions",
        "stories",
    ):
        op.drop_table(name)
    with op.batch_alter_table("media_attachments") as batch:
        batch.drop_column("story_id")
