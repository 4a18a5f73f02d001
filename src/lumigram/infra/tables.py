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

__all__ = [
    "UTCDateTime",
    "accounts",
    "metadata",
    "oauth_apps",
    "oauth_codes",
    "oauth_tokens",
    "outbox",
    "processed_events",
    "users",
    "utcnow",
    "verifications",
]
