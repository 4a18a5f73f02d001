"""The relational schema, as SQLAlchemy Core tables (the single source for migrations).

Every table is keyed by its owner where it has one (``user_id``/``account_id``), so
that rows can later be routed to a shard by the owner's id (see ``lumigram.ids``).
Ids are 64-bit integers from ``IdGenerator``; times are timezone-aware UTC.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import (
    BigInteger,
    Boolean,
    Column,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
)
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator

NAMING = {
    "ix": "ix_%(table_name)s_%(column_0_N_name)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING)


class UTCDateTime(TypeDecorator[datetime]):
    """Timezone-aware UTC datetimes on every engine (SQLite keeps no zone of its own)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime given to a UTC column")
        return value.astimezone(UTC)

    def process_result_value(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


def _ts(name: str, nullable: bool = True) -> Column[datetime]:
    return Column(name, UTCDateTime(), nullable=nullable)


# A login: how a person signs in. One login may own several profiles (accounts),
# the seed's multi-profile management.
users = Table(
    "users",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("email", String(320), nullable=True),
    Column("email_lower", String(320), nullable=True, unique=True),
    _ts("email_verified_at"),
    Column("phone", String(32), nullable=True, unique=True),
    _ts("phone_verified_at"),
    Column("password_hash", String(255), nullable=False),
    Column("locale", String(16), nullable=False, server_default="en"),
    Column("is_admin", Boolean, nullable=False, server_default="0"),
    Column("disabled", Boolean, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
    _ts("last_sign_in_at"),
)

# A public profile, Mastodon's Account entity.
accounts = Table(
    "accounts",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("username", String(30), nullable=False),
    Column("username_lower", String(30), nullable=False, unique=True),
    Column("display_name", String(64), nullable=False, server_default=""),
    Column("note", Text, nullable=False, server_default=""),
    Column("avatar_key", String(255), nullable=True),
    Column("header_key", String(255), nullable=True),
    Column("locked", Boolean, nullable=False, server_default="0"),
    Column("bot", Boolean, nullable=False, server_default="0"),
    Column("discoverable", Boolean, nullable=False, server_default="1"),
    Column("kind", String(16), nullable=False, server_default="personal"),
    Column("followers_count", Integer, nullable=False, server_default="0"),
    Column("following_count", Integer, nullable=False, server_default="0"),
    Column("statuses_count", Integer, nullable=False, server_default="0"),
    _ts("last_status_at"),
    _ts("created_at", nullable=False),
    _ts("updated_at", nullable=False),
)

# OAuth client applications (Mastodon's POST /api/v1/apps).
oauth_apps = Table(
    "oauth_apps",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(255), nullable=False),
    Column("website", String(2048), nullable=True),
    Column("redirect_uris", Text, nullable=False),
    Column("scopes", String(1024), nullable=False),
    Column("client_id", String(64), nullable=False, unique=True),
    Column("client_secret", String(128), nullable=False),
    _ts("created_at", nullable=False),
)

# Authorization codes; short-lived, single use. Only the code's hash is kept.
oauth_codes = Table(
    "oauth_codes",
    metadata,
    Column("code_hash", String(64), primary_key=True),
    Column("app_id", BigInteger, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("redirect_uri", String(2048), nullable=False),
    Column("scopes", String(1024), nullable=False),
    Column("code_challenge", String(128), nullable=True),
    Column("code_challenge_method", String(16), nullable=True),
    _ts("expires_at", nullable=False),
    _ts("used_at"),
)

# Access tokens; the bearer token and the refresh token are stored as SHA-256 hashes.
oauth_tokens = Table(
    "oauth_tokens",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("refresh_hash", String(64), nullable=True, unique=True),
    Column("app_id", BigInteger, ForeignKey("oauth_apps.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=True, index=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=True),
    Column("scopes", String(1024), nullable=False),
    _ts("created_at", nullable=False),
    _ts("expires_at"),
    _ts("revoked_at"),
    _ts("last_used_at"),
)

# One-time codes that confirm an e-mail address (link) or phone number (SMS code).
verifications = Table(
    "verifications",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("user_id", BigInteger, ForeignKey("users.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("channel", String(8), nullable=False),  # "email" | "phone"
    Column("target", String(320), nullable=False),
    Column("code_hash", String(64), nullable=False, unique=True),
    Column("attempts", Integer, nullable=False, server_default="0"),
    _ts("expires_at", nullable=False),
    _ts("used_at"),
    _ts("created_at", nullable=False),
)

# The transactional outbox: written in the same transaction as the change it reports.
outbox = Table(
    "outbox",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("type", String(64), nullable=False),
    Column("payload", Text, nullable=False),
    _ts("created_at", nullable=False),
    _ts("published_at"),
    Column("attempts", Integer, nullable=False, server_default="0"),
    Index("ix_outbox_pending", "published_at", "id"),
)

# Which consumer has already applied which event: the consumers' idempotency record.
processed_events = Table(
    "processed_events",
    metadata,
    Column("consumer", String(64), primary_key=True),
    Column("event_id", BigInteger, primary_key=True, autoincrement=False),
    _ts("processed_at", nullable=False),
)

# --- posts and media (the seed's Post Service and Media Storage) ---------------

# An uploaded photo or video. It belongs to its uploader until a post claims it
# (status_id); variants and meta are JSON written by the media worker.
media_attachments = Table(
    "media_attachments",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("status_id", BigInteger, nullable=True, index=True),
    Column("position", Integer, nullable=False, server_default="0"),
    Column("kind", String(16), nullable=False),  # image | video | gifv
    Column("state", String(16), nullable=False),  # processing | ready | failed
    Column("original_key", String(255), nullable=True),
    Column("content_type", String(64), nullable=False),
    Column("size", BigInteger, nullable=False, server_default="0"),
    Column("sha256", String(64), nullable=True),
    Column("variants", Text, nullable=False, server_default="{}"),
    Column("meta", Text, nullable=False, server_default="{}"),
    Column("blurhash", String(64), nullable=True),
    Column("description", Text, nullable=True),
    Column("focus_x", Float, nullable=False, server_default="0"),
    Column("focus_y", Float, nullable=False, server_default="0"),
    Column("filter", String(32), nullable=True),
    Column("adjustments", Text, nullable=True),
    Column("error", Text, nullable=True),
    Column("private", Boolean, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
    _ts("processed_at"),
    Index("ix_media_attachments_account_id_id", "account_id", "id"),
)

# A post (Mastodon's Status). Comments are statuses with in_reply_to_id; direct
# messages are statuses with visibility "direct". Counters are denormalised.
statuses = Table(
    "statuses",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("in_reply_to_id", BigInteger, nullable=True, index=True),
    Column("in_reply_to_account_id", BigInteger, nullable=True),
    Column("text", Text, nullable=False, server_default=""),
    Column("spoiler_text", Text, nullable=False, server_default=""),
    Column("sensitive", Boolean, nullable=False, server_default="0"),
    Column("visibility", String(16), nullable=False),  # public | unlisted | private | direct
    Column("language", String(16), nullable=True),
    Column("kind", String(16), nullable=False, server_default="post"),  # post | reel | comment | message
    Column("comments_disabled", Boolean, nullable=False, server_default="0"),
    Column("replies_count", Integer, nullable=False, server_default="0"),
    Column("favourites_count", Integer, nullable=False, server_default="0"),
    Column("reblogs_count", Integer, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
    _ts("edited_at"),
    _ts("deleted_at"),
    Index("ix_statuses_account_id_id", "account_id", "id"),
)

# Hashtags, stored once, matched case-insensitively through name_lower.
tags = Table(
    "tags",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("name_lower", String(100), nullable=False, unique=True),
    _ts("created_at", nullable=False),
)

status_tags = Table(
    "status_tags",
    metadata,
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", BigInteger, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_status_tags_tag_id_status_id", "tag_id", "status_id"),
)

# Accounts a status mentions, resolved at posting time.
mentions = Table(
    "mentions",
    metadata,
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_mentions_account_id_status_id", "account_id", "status_id"),
)

# Earlier versions of an edited status, for GET /api/v1/statuses/:id/history.
status_edits = Table(
    "status_edits",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("account_id", BigInteger, nullable=False),
    Column("text", Text, nullable=False),
    Column("spoiler_text", Text, nullable=False),
    Column("sensitive", Boolean, nullable=False),
    Column("media", Text, nullable=False, server_default="[]"),  # [{id, description}] as they were
    _ts("created_at", nullable=False),
)

# Posts an account pinned to the top of its profile.
status_pins = Table(
    "status_pins",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    _ts("created_at", nullable=False),
)

# Blobs to delete once a grace period has passed (a deleted post's media).
blob_deletions = Table(
    "blob_deletions",
    metadata,
    Column("key", String(255), primary_key=True),
    _ts("delete_after", nullable=False),
    Index("ix_blob_deletions_delete_after", "delete_after"),
)

# --- the follow graph (follows, follow requests, blocks, mutes) ------------------
# Each edge is keyed by (account_id, target_account_id): one edge per pair, so a
# repeated follow/block/mute is a no-op. ``id`` is a time-sortable IdGenerator id
# used only as the pagination cursor of the lists (followers, blocks, ...), which
# Mastodon pages by the edge, not by the account.


def _edge_columns() -> list[Column[int]]:
    return [
        Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        Column("target_account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
        Column("id", BigInteger, nullable=False, unique=True),
    ]


# ``account_id`` follows ``target_account_id``; notify/reblogs are the follower's options.
follows = Table(
    "follows",
    metadata,
    *_edge_columns(),
    _ts("created_at", nullable=False),
    Column("notify", Boolean, nullable=False, server_default="0"),
    Column("reblogs", Boolean, nullable=False, server_default="1"),
    # The PK serves "whom does X follow"; these serve "who follows X" and both lists' pages.
    Index("ix_follows_target_account_id_account_id", "target_account_id", "account_id"),
    Index("ix_follows_target_account_id_id", "target_account_id", "id"),
    Index("ix_follows_account_id_id", "account_id", "id"),
)

# A pending follow of a locked account, until its owner authorizes or rejects it.
follow_requests = Table(
    "follow_requests",
    metadata,
    *_edge_columns(),
    _ts("created_at", nullable=False),
    Column("notify", Boolean, nullable=False, server_default="0"),
    Column("reblogs", Boolean, nullable=False, server_default="1"),
    Index("ix_follow_requests_target_account_id_id", "target_account_id", "id"),
)

blocks = Table(
    "blocks",
    metadata,
    *_edge_columns(),
    _ts("created_at", nullable=False),
    Index("ix_blocks_target_account_id_account_id", "target_account_id", "account_id"),
    Index("ix_blocks_account_id_id", "account_id", "id"),
)

# A mute with ``expires_at`` in the past is ignored by every read (and replaced by the
# next mute), so expiry needs no sweeper to be correct.
mutes = Table(
    "mutes",
    metadata,
    *_edge_columns(),
    _ts("created_at", nullable=False),
    Column("notifications", Boolean, nullable=False, server_default="1"),
    _ts("expires_at"),
    Index("ix_mutes_account_id_id", "account_id", "id"),
)

# Hashtags an account follows: their posts enter its home feed (Mastodon's followed tags).
tag_follows = Table(
    "tag_follows",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", BigInteger, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_tag_follows_tag_id_account_id", "tag_id", "account_id"),
)

# --- interactions and notifications ---------------------------------------------------
# A like. ``id`` is a time-sortable IdGenerator id: the cursor of GET /api/v1/favourites
# and of a post's favourited_by list.
favourites = Table(
    "favourites",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_favourites_status_id_id", "status_id", "id"),
    Index("ix_favourites_account_id_id", "account_id", "id"),
)

# A saved post (Mastodon's bookmark), private to its owner.
bookmarks = Table(
    "bookmarks",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_bookmarks_account_id_id", "account_id", "id"),
)

# One notification for ``account_id``. ``dedupe_key`` (derived from the causing event)
# makes a redelivered event produce no second row; ``group_key`` gathers notifications
# shown as one ("alice and 12 others liked your post").
notifications = Table(
    "notifications",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("from_account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("type", String(32), nullable=False),
    Column("status_id", BigInteger, nullable=True),
    Column("group_key", String(128), nullable=False),
    Column("dedupe_key", String(128), nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_notifications_account_id_id", "account_id", "id"),
    Index("ix_notifications_account_id_group_key_id", "account_id", "group_key", "id"),
)

# Where a user stopped reading a timeline (Mastodon's markers: home, notifications).
markers = Table(
    "markers",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("timeline", String(32), primary_key=True),
    Column("last_read_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False, server_default="1"),
    _ts("updated_at", nullable=False),
)

# A Web Push subscription; Mastodon allows one per access token.
push_subscriptions = Table(
    "push_subscriptions",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("token_id", BigInteger, ForeignKey("oauth_tokens.id", ondelete="CASCADE"), nullable=False, unique=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("endpoint", Text, nullable=False),
    Column("p256dh", String(255), nullable=False),
    Column("auth", String(255), nullable=False),
    Column("alerts", Text, nullable=False, server_default="{}"),
    Column("policy", String(16), nullable=False, server_default="all"),
    _ts("created_at", nullable=False),
)

# --- reposts, lists and hidden words ---------------------------------------------------
# A repost (Mastodon's reblog) of a post by ``account_id``. ``id`` is a time-sortable
# IdGenerator id on the reposter's shard: the repost's own place in home feeds (a feed
# entry and a page cursor), distinct from every post id.
reblogs = Table(
    "reblogs",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_reblogs_status_id_id", "status_id", "id"),
    Index("ix_reblogs_account_id_id", "account_id", "id"),
)

# A list of followed accounts (Mastodon's lists; Instagram's Favorites and Close Friends).
lists = Table(
    "lists",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(100), nullable=False),
    Column("replies_policy", String(16), nullable=False, server_default="list"),
    Column("exclusive", Boolean, nullable=False, server_default="0"),
    Column("close_friends", Boolean, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
    Index("ix_lists_account_id_id", "account_id", "id"),
)

# A list's members. ``account_id`` is the list owner's (the shard key), repeated here so
# "is X in one of my lists" needs no join.
list_accounts = Table(
    "list_accounts",
    metadata,
    Column("list_id", BigInteger, ForeignKey("lists.id", ondelete="CASCADE"), primary_key=True),
    Column("target_account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_list_accounts_account_id_target_account_id", "account_id", "target_account_id"),
)

# Hidden words (Mastodon's filters v2): where they apply (``contexts``, comma-separated),
# what happens (``action``: warn or hide), until when (``expires_at``; None: always).
filters = Table(
    "filters",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("title", String(200), nullable=False),
    Column("contexts", String(100), nullable=False),
    Column("action", String(8), nullable=False, server_default="warn"),
    _ts("expires_at"),
    _ts("created_at", nullable=False),
)

filter_keywords = Table(
    "filter_keywords",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("filter_id", BigInteger, ForeignKey("filters.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("keyword", String(200), nullable=False),
    Column("whole_word", Boolean, nullable=False, server_default="1"),
)

__all__ = [
    "UTCDateTime",
    "accounts",
    "blob_deletions",
    "blocks",
    "bookmarks",
    "favourites",
    "filter_keywords",
    "filters",
    "follow_requests",
    "follows",
    "list_accounts",
    "lists",
    "markers",
    "media_attachments",
    "mentions",
    "metadata",
    "mutes",
    "notifications",
    "oauth_apps",
    "oauth_codes",
    "oauth_tokens",
    "outbox",
    "processed_events",
    "push_subscriptions",
    "reblogs",
    "status_edits",
    "status_pins",
    "status_tags",
    "statuses",
    "tag_follows",
    "tags",
    "users",
    "utcnow",
    "verifications",
]
