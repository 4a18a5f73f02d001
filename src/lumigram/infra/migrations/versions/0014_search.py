"""kept hashtag counts for search: per-tag uses, per-day uses and accounts

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-06 03:20:00

The counts are filled here from the posts already there, and the words of display names
from the names already indexed, so hashtag and account search keep answering after an
upgrade; from then on the search consumers keep them.
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "search_tags",
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("name_lower", sa.String(100), nullable=False),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.ForeignKeyConstraint(["tag_id"], ["tags.id"], name=op.f("fk_search_tags_tag_id_tags"), ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("tag_id", name=op.f("pk_search_tags")),
    )
    if postgres:
        # Prefix search (LIKE 'sun%') needs the pattern operator class unless the collation is C.
        op.execute("CREATE INDEX ix_search_tags_name_lower ON search_tags (name_lower varchar_pattern_ops)")
    else:
        op.create_index("ix_search_tags_name_lower", "search_tags", ["name_lower"])
    op.create_table(
        "search_tag_uses",
        sa.Column("status_id", sa.BigInteger(), nullable=False),
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("status_id", "tag_id", name=op.f("pk_search_tag_uses")),
    )
    op.create_index("ix_search_tag_uses_tag_id_day_account_id", "search_tag_uses", ["tag_id", "day", "account_id"])
    op.create_index("ix_search_tag_uses_account_id", "search_tag_uses", ["account_id"])
    op.create_table(
        "search_tag_days",
        sa.Column("tag_id", sa.BigInteger(), nullable=False),
        sa.Column("day", sa.Integer(), nullable=False),
        sa.Column("uses", sa.Integer(), server_default="0", nullable=False),
        sa.Column("accounts", sa.Integer(), server_default="0", nullable=False),
        sa.PrimaryKeyConstraint("tag_id", "day", name=op.f("pk_search_tag_days")),
    )
    op.create_table(
        "search_account_words",
        sa.Column("word", sa.String(64), nullable=False),
        sa.Column("account_id", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(
            ["account_id"],
            ["accounts.id"],
            name=op.f("fk_search_account_words_account_id_accounts"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("word", "account_id", name=op.f("pk_search_account_words")),
    )
    op.create_index("ix_search_account_words_account_id", "search_account_words", ["account_id"])
    if postgres:
        op.execute("CREATE INDEX ix_search_account_words_pattern ON search_account_words (word varchar_pattern_ops)")
    _fill_account_words()
    seconds = (
        "CAST(floor(extract(epoch FROM s.created_at)) AS BIGINT)"
        if postgres
        else "CAST(strftime('%s', s.created_at) AS BIGINT)"
    )
    op.execute(
        "INSERT INTO search_tag_uses (status_id, tag_id, account_id, day) "
        f"SELECT st.status_id, st.tag_id, s.account_id, CAST({seconds} / 86400 AS INTEGER) "
        "FROM status_tags st JOIN statuses s ON s.id = st.status_id JOIN accounts a ON a.id = s.account_id "
        "WHERE s.deleted_at IS NULL AND s.visibility = 'public' AND a.locked = false"
    )
    op.execute(
        "INSERT INTO search_tags (tag_id, name_lower, uses) "
        "SELECT t.id, t.name_lower, count(*) FROM tags t JOIN search_tag_uses u ON u.tag_id = t.id "
        "GROUP BY t.id, t.name_lower"
    )
    op.execute(
        "INSERT INTO search_tag_days (tag_id, day, uses, accounts) "
        "SELECT tag_id, day, count(*), count(DISTINCT account_id) FROM search_tag_uses GROUP BY tag_id, day"
    )


#: Rows written per statement while filling the words of display names.
_WORDS_BATCH = 5000


def _fill_account_words() -> None:
    """Each indexed display name's words, split as the indexer splits them (after a space,
    or at the start, of the casefolded name it keeps)."""
    bind = op.get_bind()
    insert = sa.text("INSERT INTO search_account_words (word, account_id) VALUES (:word, :account_id)")
    batch: list[dict[str, object]] = []
    names = bind.execute(sa.text("SELECT account_id, display_lower FROM search_accounts")).all()
    for account_id, display in names:
        batch += [{"word": word, "account_id": account_id} for word in sorted(set(display.split(" ")) - {""})]
        if len(batch) >= _WORDS_BATCH:
            bind.execute(insert, batch)
            batch = []
    if batch:
        bind.execute(insert, batch)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP INDEX ix_search_account_words_pattern")
    op.drop_index("ix_search_account_words_account_id", table_name="search_account_words")
    op.drop_table("search_account_words")
    op.drop_table("search_tag_days")
    op.drop_index("ix_search_tag_uses_account_id", table_name="search_tag_uses")
    op.drop_index("ix_search_tag_uses_tag_id_day_account_id", table_name="search_tag_uses")
    op.drop_table("search_tag_uses")
    op.drop_index("ix_search_tags_name_lower", table_name="search_tags")
    op.drop_table("search_tags")
