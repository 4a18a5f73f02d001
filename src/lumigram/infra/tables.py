"""The relational schema, as SQLAlchemy Core tables (the single source for migrations).

Every table is keyed by its owner where it has one (``user_id``/``account_id``), so
that rows can later be routed to a shard by the owner's id (see ``lumigram.ids``).
Ids are 64-bit integers from ``IdGenerator``; times are timezone-aware UTC.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

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
        if value is None or value.tzinfo is UTC:
            return value  # PostgreSQL's driver hands over UTC already: nothing to convert
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)

    # SQLite keeps a datetime as text. SQLAlchemy's processors for it, with the zone set
    # after, cost 4.4 µs a value written and 2–3 µs a value read on this machine (its
    # formatting through a dict, ``datetime.replace`` with a keyword); a search reads a
    # few hundred. The same text is written and read here in a tenth of that: written
    # as SQLAlchemy writes it (``tests/unit/test_utc_datetime.py`` holds the two equal),
    # read with the zone parsed along, and anything else read SQLAlchemy's way.

    def bind_processor(self, dialect: Dialect) -> Callable[[datetime | None], str | None] | None:
        if dialect.name != "sqlite":
            return super().bind_processor(dialect)
        return _sqlite_text

    def result_processor(self, dialect: Dialect, coltype: object) -> Callable[[Any], datetime | None] | None:
        general = super().result_processor(dialect, coltype)
        if dialect.name != "sqlite" or general is None:
            return general
        return functools.partial(_from_sqlite_text, general)


def _sqlite_text(value: datetime | None) -> str | None:
    """``value`` as SQLAlchemy's SQLite dialect stores it: UTC, a space between day and
    time, always six digits of microseconds, no zone."""
    if value is None:
        return None
    if value.tzinfo is None:
        raise ValueError("naive datetime given to a UTC column")
    return value.astimezone(UTC).isoformat(" ", "microseconds")[:-6]  # less "+00:00"


_parse = datetime.fromisoformat


def _from_sqlite_text(general: Callable[[Any], datetime | None], value: Any) -> datetime | None:
    if value is None:
        return None
    try:
        return _parse(value + "+00:00")  # UTC's own tzinfo, as SQLAlchemy's way sets
    except (TypeError, ValueError):
        return general(value)  # text with a zone of its own, or not text


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
    # Set when the account was deleted: the row stays, emptied, so its username stays taken.
    _ts("deleted_at"),
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
    # The story showing it, if one does: such an upload is neither an orphan nor free to post.
    Column("story_id", BigInteger, nullable=True),
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
    # Whether a poll hangs from the post: hydration reads polls only for pages holding one.
    Column("has_poll", Boolean, nullable=False, server_default="0"),
    # Plays of a reel, folded in from the cache's pending view counts (``lumigram.reels.views``).
    Column("plays_count", Integer, nullable=False, server_default="0"),
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
    # Finds what an account sent when it is deleted.
    Index("ix_notifications_from_account_id", "from_account_id"),
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

# --- stories -----------------------------------------------------------------------------
# A photo or video shown for 24 hours. A draft (Pixelfed's ``add`` before ``publish``) is
# seen by no one; ``created_at``/``expires_at`` are set when it goes live. Deleting it
# keeps the row (``deleted_at``) until the sweeper has removed its blobs.
stories = Table(
    "stories",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("media_id", BigInteger, nullable=False),
    Column("state", String(16), nullable=False),  # draft | live
    Column("caption", Text, nullable=False, server_default=""),
    Column("link", String(2048), nullable=True),
    Column("audience", String(16), nullable=False, server_default="followers"),  # followers | close_friends
    Column("replies_enabled", Boolean, nullable=False, server_default="1"),
    Column("reactions_enabled", Boolean, nullable=False, server_default="1"),
    Column("duration", Integer, nullable=False, server_default="10"),
    Column("views_count", Integer, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
    _ts("expires_at", nullable=False),
    _ts("deleted_at"),
    _ts("blobs_removed_at"),
    Index("ix_stories_account_id_expires_at", "account_id", "expires_at"),
    Index("ix_stories_expires_at", "expires_at"),
)

story_mentions = Table(
    "story_mentions",
    metadata,
    Column("story_id", BigInteger, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
)

# Who saw a story, once each; ``id`` is the cursor of the owner's viewer list.
story_views = Table(
    "story_views",
    metadata,
    Column("story_id", BigInteger, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_story_views_story_id_id", "story_id", "id"),
    Index("ix_story_views_account_id_story_id", "account_id", "story_id"),
)

# A reply (text) or a reaction (one emoji) sent to a story's owner.
story_replies = Table(
    "story_replies",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("story_id", BigInteger, ForeignKey("stories.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("kind", String(16), nullable=False),  # reply | reaction
    Column("content", Text, nullable=False),
    _ts("created_at", nullable=False),
    Index("ix_story_replies_story_id_id", "story_id", "id"),
)

# A named collection of an account's stories on its profile, kept after they expire.
story_highlights = Table(
    "story_highlights",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("title", String(100), nullable=False),
    Column("cover_story_id", BigInteger, nullable=True),
    Column("position", Integer, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
    Index("ix_story_highlights_account_id_position", "account_id", "position"),
)

story_highlight_items = Table(
    "story_highlight_items",
    metadata,
    Column("highlight_id", BigInteger, ForeignKey("story_highlights.id", ondelete="CASCADE"), primary_key=True),
    Column("story_id", BigInteger, ForeignKey("stories.id", ondelete="CASCADE"), primary_key=True),
    Column("position", Integer, nullable=False, server_default="0"),
    Index("ix_story_highlight_items_story_id", "story_id"),
)

# An account's story settings; no row means the defaults (archive on).
story_settings = Table(
    "story_settings",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("archive", Boolean, nullable=False, server_default="1"),
)

# --- search and explore ---------------------------------------------------------------
# What search reads, kept current by the search package's bus consumers and rebuilt by
# ``lumigram search reindex``. Who may see a post is decided at read time from the live
# rows (statuses, accounts, follows, blocks), so a privacy change or a block needs no
# reindexing. Embedded, the words of ``body`` also live in the FTS5 table
# ``search_posts_fts`` (rowid = status_id), which the migration creates; on PostgreSQL a
# GIN index over ``to_tsvector('english', body)`` serves the same queries.
search_posts = Table(
    "search_posts",
    metadata,
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("body", Text, nullable=False, server_default=""),
    Column("has_media", Boolean, nullable=False, server_default="0"),
    Column("is_reply", Boolean, nullable=False, server_default="0"),
    Column("created_s", BigInteger, nullable=False),  # epoch seconds, for the recency decay
    Index("ix_search_posts_account_id", "account_id"),
)

# An account's names cut into trigrams, for typo-tolerant account search on every engine
# (the same measure as pg_trgm's similarity, which not every PostgreSQL ships).
search_accounts = Table(
    "search_accounts",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("display_lower", String(64), nullable=False, server_default=""),
    Column("grams_count", Integer, nullable=False, server_default="0"),
)

search_account_grams = Table(
    "search_account_grams",
    metadata,
    Column("gram", String(16), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_search_account_grams_account_id", "account_id"),
)

# Hashtag use counts kept by the search consumers (and rebuilt by reindex), so that a
# hashtag search is a prefix lookup ordered by a kept count rather than a count of
# status_tags on each request. A use is a public post of an open account carrying the
# tag; ``search_tag_uses`` holds one row per such (post, tag), which is what makes
# reindexing a post idempotent: the counts move by the difference against it. No foreign
# key to statuses, since a deleted post's rows must go through the consumer (which moves
# the counts), not by a cascade.
search_tags = Table(
    "search_tags",
    metadata,
    Column("tag_id", BigInteger, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column("name_lower", String(100), nullable=False),
    Column("uses", Integer, nullable=False, server_default="0"),
    Index("ix_search_tags_name_lower", "name_lower"),
)

search_tag_uses = Table(
    "search_tag_uses",
    metadata,
    Column("status_id", BigInteger, primary_key=True),
    Column("tag_id", BigInteger, primary_key=True),
    Column("account_id", BigInteger, nullable=False),
    Column("day", Integer, nullable=False),  # UTC days since 1970-01-01
    Index("ix_search_tag_uses_tag_id_day_account_id", "tag_id", "day", "account_id"),
    Index("ix_search_tag_uses_account_id", "account_id"),
)

# Each tag's uses and distinct accounts per UTC day, for the Tag entity's ``history``.
search_tag_days = Table(
    "search_tag_days",
    metadata,
    Column("tag_id", BigInteger, primary_key=True),
    Column("day", Integer, primary_key=True),
    Column("uses", Integer, nullable=False, server_default="0"),
    Column("accounts", Integer, nullable=False, server_default="0"),
)

# Each word of an account's lowered display name (as in ``search_accounts.display_lower``),
# so that a display name's word prefix is an indexed range read, not a scan of every name.
search_account_words = Table(
    "search_account_words",
    metadata,
    Column("word", String(64), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Index("ix_search_account_words_account_id", "account_id"),
)

# A signed-in account's recent searches (an extension): the query, and the result opened.
search_history = Table(
    "search_history",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("query", String(200), nullable=False),
    Column("query_lower", String(200), nullable=False),
    # The result opened from it, if any: "account", "hashtag" or "status", and its id.
    Column("opened_kind", String(8), nullable=True),
    Column("opened_id", BigInteger, nullable=True),
    _ts("created_at", nullable=False),
    Index("ix_search_history_account_id_id", "account_id", "id"),
)

# Hashtags and posts an admin keeps out of trends: ``kind`` is "tag" (target = tags.id)
# or "status" (target = statuses.id).
trend_exclusions = Table(
    "trend_exclusions",
    metadata,
    Column("kind", String(8), primary_key=True),
    Column("target_id", BigInteger, primary_key=True, autoincrement=False),
    _ts("created_at", nullable=False),
)

# --- the server's own texts and the people's client settings -------------------------
# Rules of this server, in the order the admin added them.
instance_rules = Table(
    "instance_rules",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
    Column("hint", Text, nullable=False, server_default=""),
    _ts("created_at", nullable=False),
)

# The admin's long texts: about (extended description), privacy policy, terms of service.
instance_texts = Table(
    "instance_texts",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("text", Text, nullable=False),
    _ts("updated_at", nullable=False),
)

# Server-wide notices shown in clients until each person dismisses them.
announcements = Table(
    "announcements",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("text", Text, nullable=False),
    _ts("starts_at"),
    _ts("ends_at"),
    Column("all_day", Boolean, nullable=False, server_default="0"),
    _ts("published_at", nullable=False),
    _ts("updated_at", nullable=False),
)

announcement_dismissals = Table(
    "announcement_dismissals",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("announcement_id", BigInteger, ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True),
)

# One row per (person, announcement, emoji): a reaction given twice counts once.
announcement_reactions = Table(
    "announcement_reactions",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("announcement_id", BigInteger, ForeignKey("announcements.id", ondelete="CASCADE"), primary_key=True),
    Column("name", String(64), primary_key=True),
    _ts("created_at", nullable=False),
    Index("ix_announcement_reactions_announcement_id_name", "announcement_id", "name"),
)

# Emoji images the admin added; the image lives in the blob store under ``blob_key``.
custom_emojis = Table(
    "custom_emojis",
    metadata,
    Column("shortcode", String(64), primary_key=True),
    Column("blob_key", String(255), nullable=False),
    Column("category", String(64), nullable=True),
    Column("visible_in_picker", Boolean, nullable=False, server_default="1"),
    _ts("created_at", nullable=False),
)

# A person's own block of a whole domain. With no federation yet nothing comes from other
# domains, so the list is only kept (and shown in relationships) until there is.
domain_blocks = Table(
    "domain_blocks",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("domain", String(253), primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
    Index("ix_domain_blocks_account_id_id", "account_id", "id"),
)

# A person's mute of a conversation: no notifications about any post of the thread that
# hangs from ``status_id`` (the thread's post; a comment's mute is stored on it).
conversation_mutes = Table(
    "conversation_mutes",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    _ts("created_at", nullable=False),
    Index("ix_conversation_mutes_status_id_account_id", "status_id", "account_id"),
)

# A post to publish at ``scheduled_at``: ``params`` holds the draft as JSON, checked when
# it was scheduled; ``claimed_at`` marks the worker publishing it (taken over if stale).
scheduled_statuses = Table(
    "scheduled_statuses",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    _ts("scheduled_at", nullable=False),
    Column("params", Text, nullable=False),
    _ts("claimed_at"),
    _ts("created_at", nullable=False),
    Index("ix_scheduled_statuses_account_id_id", "account_id", "id"),
    Index("ix_scheduled_statuses_scheduled_at", "scheduled_at"),
)

# The uploads a scheduled post will carry: kept from the sweep of uploads never posted.
scheduled_media = Table(
    "scheduled_media",
    metadata,
    Column("media_id", BigInteger, primary_key=True, autoincrement=False),
    Column(
        "scheduled_status_id",
        BigInteger,
        ForeignKey("scheduled_statuses.id", ondelete="CASCADE"),
        nullable=False,
        index=True,
    ),
)

# Someone a person does not want suggested to them again ("Suggested for you" → dismiss).
suggestion_dismissals = Table(
    "suggestion_dismissals",
    metadata,
    *_edge_columns(),
    _ts("created_at", nullable=False),
)

# Accounts a person features on their profile (Mastodon's endorsements, "pin").
account_pins = Table(
    "account_pins",
    metadata,
    *_edge_columns(),
    _ts("created_at", nullable=False),
    Index("ix_account_pins_account_id_id", "account_id", "id"),
)

# A person's private note about another account, seen only by its writer.
account_notes = Table(
    "account_notes",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("target_account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("comment", Text, nullable=False),
    _ts("updated_at", nullable=False),
)

# Hashtags an account features on its profile, with counts read from its posts.
featured_tags = Table(
    "featured_tags",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("tag_id", BigInteger, ForeignKey("tags.id", ondelete="CASCADE"), primary_key=True),
    Column("id", BigInteger, nullable=False, unique=True),
    _ts("created_at", nullable=False),
)

# --- direct messages ---------------------------------------------------------------------

# A message thread: 1:1 (``pair_key`` is "smaller id:larger id", so two people share one)
# or a named group. ``last_message_id`` orders the inbox.
dm_threads = Table(
    "dm_threads",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("kind", String(8), nullable=False),  # direct | group
    Column("name", String(100), nullable=False, server_default=""),
    Column("pair_key", String(48), nullable=True, unique=True),
    Column("created_by", BigInteger, nullable=False),
    Column("last_message_id", BigInteger, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
)

# A current member of a thread (a removed or departed member has no row). ``folder``
# is where the thread shows for them: inbox, requests (not accepted yet) or declined.
dm_participants = Table(
    "dm_participants",
    metadata,
    Column("thread_id", BigInteger, ForeignKey("dm_threads.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("admin", Boolean, nullable=False, server_default="0"),
    Column("folder", String(8), nullable=False, server_default="inbox"),
    Column("muted", Boolean, nullable=False, server_default="0"),
    Column("request_notified", Boolean, nullable=False, server_default="0"),
    Column("last_read_id", BigInteger, nullable=False, server_default="0"),
    Column("sort_id", BigInteger, nullable=False, server_default="0"),
    _ts("joined_at", nullable=False),
    Index("ix_dm_participants_account_id_sort_id", "account_id", "sort_id"),
)

# A message: its text, a shared post, a shared profile (any of them);
# its photos and video are media_attachments claimed by it (status_id = the message id).
# Unsent: the content is wiped and unsent_at set, so paging around it stays stable.
dm_messages = Table(
    "dm_messages",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("thread_id", BigInteger, ForeignKey("dm_threads.id", ondelete="CASCADE"), nullable=False),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("text", Text, nullable=False, server_default=""),
    Column("shared_status_id", BigInteger, nullable=True),
    Column("shared_account_id", BigInteger, nullable=True),
    Column("media_ids", Text, nullable=False, server_default="[]"),
    # The story this message answers (a story reply); not a foreign key: the story's row
    # may go while the message stays, showing the story is no longer available.
    Column("story_id", BigInteger, nullable=True),
    _ts("created_at", nullable=False),
    _ts("edited_at"),
    _ts("unsent_at"),
    Index("ix_dm_messages_thread_id_id", "thread_id", "id"),
)

# Earlier texts of an edited message.
dm_message_edits = Table(
    "dm_message_edits",
    metadata,
    Column("id", BigInteger, primary_key=True, autoincrement=False),
    Column("message_id", BigInteger, ForeignKey("dm_messages.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("text", Text, nullable=False),
    _ts("created_at", nullable=False),
)

# One emoji reaction per member per message.
dm_reactions = Table(
    "dm_reactions",
    metadata,
    Column("message_id", BigInteger, ForeignKey("dm_messages.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("emoji", String(32), nullable=False),
    _ts("created_at", nullable=False),
)

# Messages a member deleted for themselves only.
dm_hidden_messages = Table(
    "dm_hidden_messages",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("message_id", BigInteger, ForeignKey("dm_messages.id", ondelete="CASCADE"), primary_key=True),
)

# Who may start a thread with an account: everyone, followed (accounts it follows) or nobody.
dm_settings = Table(
    "dm_settings",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("accept", String(16), nullable=False, server_default="everyone"),
)

# Mastodon's conversations over direct posts: one row per participant and thread of
# direct posts (named by its first post), with the latest post and whether it is unread.
direct_conversations = Table(
    "direct_conversations",
    metadata,
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("conversation_id", BigInteger, primary_key=True),
    Column("last_status_id", BigInteger, nullable=False),
    Column("unread", Boolean, nullable=False, server_default="0"),
    Index("ix_direct_conversations_account_id_last_status_id", "account_id", "last_status_id"),
)

# The thread of direct posts each direct post belongs to (its first post's id).
direct_post_roots = Table(
    "direct_post_roots",
    metadata,
    Column("status_id", BigInteger, primary_key=True, autoincrement=False),
    Column("conversation_id", BigInteger, nullable=False),
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
    "account_notes",
    "account_pins",
    "accounts",
    "announcement_dismissals",
    "announcement_reactions",
    "announcements",
    "blob_deletions",
    "blocks",
    "bookmarks",
    "conversation_mutes",
    "custom_emojis",
    "direct_conversations",
    "direct_post_roots",
    "dm_hidden_messages",
    "dm_message_edits",
    "dm_messages",
    "dm_participants",
    "dm_reactions",
    "dm_settings",
    "dm_threads",
    "domain_blocks",
    "favourites",
    "featured_tags",
    "filter_keywords",
    "filters",
    "follow_requests",
    "follows",
    "instance_rules",
    "instance_texts",
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
    "scheduled_media",
    "scheduled_statuses",
    "search_account_grams",
    "search_account_words",
    "search_accounts",
    "search_history",
    "search_posts",
    "search_tag_days",
    "search_tag_uses",
    "search_tags",
    "status_edits",
    "status_pins",
    "status_tags",
    "statuses",
    "stories",
    "story_highlight_items",
    "story_highlights",
    "story_mentions",
    "story_replies",
    "story_settings",
    "story_views",
    "suggestion_dismissals",
    "tag_follows",
    "tags",
    "trend_exclusions",
    "users",
    "utcnow",
    "verifications",
]


# --- polls -------------------------------------------------------------------------------
# A poll hangs from one post and shares its id. ``options`` is a JSON list of titles.
# ``ended_at`` is set by the one sweep that claimed the poll once it expired (its
# end-of-poll notifications are then sent exactly once).
polls = Table(
    "polls",
    metadata,
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False),
    Column("options", Text, nullable=False),
    Column("multiple", Boolean, nullable=False, server_default="0"),
    Column("hide_totals", Boolean, nullable=False, server_default="0"),
    _ts("expires_at", nullable=False),
    _ts("ended_at"),
    _ts("created_at", nullable=False),
    Index("ix_polls_ended_at_expires_at", "ended_at", "expires_at"),
)

# One row per voter: its primary key is what makes a second vote fail, even concurrently.
poll_voters = Table(
    "poll_voters",
    metadata,
    Column("poll_id", BigInteger, ForeignKey("polls.status_id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    _ts("created_at", nullable=False),
)

# The options each voter chose (several in a multiple-choice poll); counts are counted
# from these rows, so they are right however votes interleave.
poll_votes = Table(
    "poll_votes",
    metadata,
    Column("poll_id", BigInteger, ForeignKey("polls.status_id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), primary_key=True),
    Column("choice", Integer, primary_key=True, autoincrement=False),
)


# --- reels -------------------------------------------------------------------------------
# One row per reel (a post of kind "reel"), sharing its post's id: the recent-reels index
# the reels feed reads its candidates from, and the watching counters that rank them
# (plays are on the post itself, as ``statuses.plays_count``). Counters are folded in from
# the cache by the janitor (``lumigram.reels.views``).
reels = Table(
    "reels",
    metadata,
    Column("status_id", BigInteger, ForeignKey("statuses.id", ondelete="CASCADE"), primary_key=True),
    Column("account_id", BigInteger, ForeignKey("accounts.id", ondelete="CASCADE"), nullable=False, index=True),
    Column("duration", Float, nullable=False),
    Column("completes_count", Integer, nullable=False, server_default="0"),
    Column("loops_count", Integer, nullable=False, server_default="0"),
    Column("watch_ms", BigInteger, nullable=False, server_default="0"),
    _ts("created_at", nullable=False),
)
