"""server rules, texts, announcements, custom emojis, domain blocks, conversation mutes,
scheduled posts, suggestion dismissals, endorsements, notes, featured tags

Revision ID: 0010
Revises: 0005
Create Date: 2026-12-05 17:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

import lumigram.infra.tables

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None

_TS = lumigram.infra.tables.UTCDateTime(timezone=True)


def _fk(table: str, column: str, target: str) -> sa.ForeignKeyConstraint:
    return sa.ForeignKeyConstraint(
        [column], [f"{target}.id"], name=op.f(f"fk_{table}_{column}_{target}"), ondelete="CASCADE"
    )


def _announcement_marks(name: str, *extra: sa.Column[object], more_keys: tuple[str, ...] = ()) -> None:
    """Dismissals and reactions: rows keyed by (account, announcement, *more_keys)."""
    keys = ["account_id", "announcement_id", *more_keys]
    op.create_table(
        name,
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("announcement_id", sa.BigInteger(), nullable=False),
        *extra,
        _fk(name, "account_id", "accounts"),
        _fk(name, "announcement_id", "announcements"),
        sa.PrimaryKeyConstraint(*keys, name=op.f(f"pk_{name}")),
    )


def upgrade() -> None:
    op.create_table(
        "instance_rules",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("hint", sa.Text(), server_default="", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_instance_rules")),
    )
    op.create_table(
        "instance_texts",
        sa.Column("name", sa.String(length=32), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("name", name=op.f("pk_instance_texts")),
    )
    op.create_table(
        "announcements",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("starts_at", _TS, nullable=True),
        sa.Column("ends_at", _TS, nullable=True),
        sa.Column("all_day", sa.Boolean(), server_default="0", nullable=False),
        sa.Column("published_at", _TS, nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_announcements")),
    )
    _announcement_marks("announcement_dismissals")
    _announcement_marks(
        "announcement_reactions",
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        more_keys=("name",),
    )
    op.create_index(
        "ix_announcement_reactions_announcement_id_name", "announcement_reactions", ["announcement_id", "name"]
    )
    op.create_table(
        "custom_emojis",
        sa.Column("shortcode", sa.String(length=64), nullable=False),
        sa.Column("blob_key", sa.String(length=255), nullable=False),
        sa.Column("category", sa.String(length=64), nullable=True),
        sa.Column("visible_in_picker", sa.Boolean(), server_default="1", nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        sa.PrimaryKeyConstraint("shortcode", name=op.f("pk_custom_emojis")),
    )
    op.create_table(
        "domain_blocks",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("domain", sa.String(length=253), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("domain_blocks", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", "domain", name=op.f("pk_domain_blocks")),
        sa.UniqueConstraint("id", name=op.f("uq_domain_blocks_id")),
    )
    op.create_index("ix_domain_blocks_account_id_id", "domain_blocks", ["account_id", "id"])
    op.create_table(
        "conversation_mutes",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("conversation_mutes", "account_id", "accounts"),
        _fk("conversation_mutes", "status_id", "statuses"),
        sa.PrimaryKeyConstraint("account_id", "status_id", name=op.f("pk_conversation_mutes")),
    )
    op.create_index("ix_conversation_mutes_status_id_account_id", "conversation_mutes", ["status_id", "account_id"])
    op.create_table(
        "scheduled_statuses",
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("scheduled_at", _TS, nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("claimed_at", _TS, nullable=True),
        sa.Column("created_at", _TS, nullable=False),
        _fk("scheduled_statuses", "account_id", "accounts"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_scheduled_statuses")),
    )
    op.create_index("ix_scheduled_statuses_account_id_id", "scheduled_statuses", ["account_id", "id"])
    op.create_index("ix_scheduled_statuses_scheduled_at", "scheduled_statuses", ["scheduled_at"])
    op.create_table(
        "scheduled_media",
        sa.Column("media_id", sa.BigInteger(), nullable=False),
        sa.Column("scheduled_status_id", sa.BigInteger(), nullable=False),
        _fk("scheduled_media", "scheduled_status_id", "scheduled_statuses"),
        sa.PrimaryKeyConstraint("media_id", name=op.f("pk_scheduled_media")),
    )
    op.create_index("ix_scheduled_media_scheduled_status_id", "scheduled_media", ["scheduled_status_id"])
    op.create_table(
        "suggestion_dismissals",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("suggestion_dismissals", "account_id", "accounts"),
        _fk("suggestion_dismissals", "target_account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", "target_account_id", name=op.f("pk_suggestion_dismissals")),
        sa.UniqueConstraint("id", name=op.f("uq_suggestion_dismissals_id")),
    )
    op.create_table(
        "account_pins",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("account_pins", "account_id", "accounts"),
        _fk("account_pins", "target_account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", "target_account_id", name=op.f("pk_account_pins")),
        sa.UniqueConstraint("id", name=op.f("uq_account_pins_id")),
    )
    op.create_index("ix_account_pins_account_id_id", "account_pins", ["account_id", "id"])
    op.create_table(
        "account_notes",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("target_account_id", sa.BigInteger(), nullable=False),
        sa.Column("comment", sa.Text(), nullable=False),
        sa.Column("updated_at", _TS, nullable=False),
        _fk("account_notes", "account_id", "accounts"),
        _fk("account_notes", "target_account_id", "accounts"),
        sa.PrimaryKeyConstraint("account_id", "target_account_id", name=op.f("pk_account_notes")),
    )
    op.create_table(
        "featured_tags",
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("id", sa.BigInteger(), nullable=False),
        sa.Column("created_at", _TS, nullable=False),
        _fk("featured_tags", "account_id", "accounts"),
        _fk("featured_tags", "tag_id", "tags"),
        sa.PrimaryKeyConstraint("account_id", "tag_id", name=op.f("pk_featured_tags")),
        sa.UniqueConstraint("id", name=op.f("uq_featured_tags_id")),
    )


def downgrade() -> None:
    for name in (
        "featured_tags",
        "account_notes",
        "account_pins",
        "suggestion_dismissals",
        "scheduled_media",
        "scheduled_statuses",
        "conversation_mutes",
        "domain_blocks",
        "custom_emojis",
        "announcement_reactions",
        "announcement_dismissals",
        "announcements",
        "instance_texts",
        "instance_rules",
    ):
        op.drop_table(name)
