"""Settings, read once from the environment (``LUMIGRAM_*``) and validated.

Each of the four ports is chosen by the scheme of its URL:

* ``LUMIGRAM_DATABASE_URL``: ``sqlite+aiosqlite:///path`` or ``postgresql+asyncpg://...``
* ``LUMIGRAM_MEDIA_URL``: ``file://folder`` or ``s3://bucket?endpoint=...``
* ``LUMIGRAM_CACHE_URL``: ``memory://`` or ``redis://...``
* ``LUMIGRAM_BUS_URL``: ``memory://`` or ``nats://...``

A wrong value stops start-up with one line naming the setting (see ``describe_error``).
"""

from __future__ import annotations

import secrets
from pathlib import Path
from typing import Annotated
from urllib.parse import urlsplit

from pydantic import Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from lumigram.vapid import check_public_key, parse_private_key

DATABASE_SCHEMES = ("sqlite+aiosqlite", "postgresql+asyncpg")
MEDIA_SCHEMES = ("file", "s3")
CACHE_SCHEMES = ("memory", "redis", "rediss", "valkey")
BUS_SCHEMES = ("memory", "nats")
EMAIL_SCHEMES = ("log", "smtp")
SMS_SCHEMES = ("log",)


def _check_scheme(value: str, allowed: tuple[str, ...]) -> str:
    scheme = urlsplit(value).scheme
    if scheme not in allowed:
        shown = scheme or "(none)"
        raise ValueError(f"unsupported scheme {shown!r} in {value!r}; use one of: {', '.join(allowed)}")
    return value


class Settings(BaseSettings):
    """Everything Lumigram reads from its environment."""

    model_config = SettingsConfigDict(env_prefix="LUMIGRAM_", extra="ignore")

    #: Folder for everything the embedded shape keeps: database, media, secret key.
    data_dir: Path = Path("data")
    #: The database; SQLite in ``data_dir`` unless set.
    database_url: str = ""
    #: Connections each process keeps open to PostgreSQL (a fixed set: see lumigram.infra.database).
    db_pool_size: Annotated[int, Field(ge=1, le=500)] = 20
    #: Seconds a request waits for a free connection before it is answered 503.
    db_pool_timeout: Annotated[float, Field(gt=0, le=300)] = 10.0
    #: Seconds a stop of ``serve`` waits for open requests and streams (which never end by
    #: themselves) before it closes them.
    shutdown_grace: Annotated[float, Field(ge=0, le=600)] = 10.0
    #: Where media blobs go; a folder in ``data_dir`` unless set.
    media_url: str = ""
    #: Public base URL for media (a CDN in front of the blob store), if any.
    media_base_url: str | None = None
    #: Feeds, caches, counters, rate limits and pub/sub.
    cache_url: str = "memory://"
    #: The event bus consumers read from.
    bus_url: str = "memory://"
    #: The URL people and clients reach this server at.
    base_url: str = "http://127.0.0.1:8000"
    #: Signs sessions, CSRF tokens and media URLs. Generated once into ``data_dir`` when unset.
    secret_key: str = ""
    host: str = "127.0.0.1"
    #: ``serve`` processes sharing the port (scaled shape only: the embedded cache and bus
    #: live inside one process). One per core is the usual choice.
    serve_processes: Annotated[int, Field(ge=1, le=64)] = 1
    port: Annotated[int, Field(ge=1, le=65535)] = 8000
    #: Instance name shown to clients.
    instance_title: str = "Lumigram"
    instance_description: str = "A Lumigram photo and video sharing server."
    #: Contact address shown in /api/v1/instance.
    contact_email: str = ""
    #: Whether anyone may sign up.
    registrations_open: bool = True
    #: Refuse sign-in until the e-mail address or phone number is confirmed.
    require_verification: bool = False
    #: ``log://`` prints e-mails to the log; ``smtp://user:pass@host:port?from=...&starttls=1`` sends them.
    email_url: str = "log://"
    #: ``log://`` prints one-time codes to the log; other senders plug in here.
    sms_url: str = "log://"
    #: Run bus consumers inside ``serve`` (default: yes on the in-process bus, no on NATS).
    inline_worker: bool | None = None
    #: Sign-in attempts allowed per client address and per account in ``rate_limit_window`` seconds.
    login_rate_limit: Annotated[int, Field(ge=1)] = 10
    #: Sign-ups allowed per client address in ``rate_limit_window`` seconds.
    signup_rate_limit: Annotated[int, Field(ge=1)] = 5
    rate_limit_window: Annotated[int, Field(ge=1)] = 300
    #: Follows (and follow requests) one account may send per day, Mastodon's default.
    follow_rate_limit: Annotated[int, Field(ge=1)] = 400
    #: Posts, comments and messages one account may make in three hours (Mastodon's 300).
    post_rate_limit: Annotated[int, Field(ge=1)] = 300
    #: Seconds a deleted post's media blobs are kept (for delete-and-redraft) before removal.
    media_deletion_grace: Annotated[int, Field(ge=0)] = 3600
    #: Authors with more followers than this are not fanned out on write; their posts are
    #: merged into followers' home feeds when read (hybrid fan-out).
    fanout_celebrity_threshold: Annotated[int, Field(ge=0)] = 10_000
    #: A home feed is kept warm in the cache while its owner has read it within this many days.
    feed_active_days: Annotated[int, Field(ge=1)] = 14
    #: Seconds an upload may stay unattached to any post before it is removed.
    orphan_media_lifetime: Annotated[int, Field(ge=60)] = 86400
    #: Access tokens live this long (seconds); 0 means until revoked, as in Mastodon.
    token_lifetime: Annotated[int, Field(ge=0)] = 0
    #: Log level for ``serve`` and ``worker``.
    log_level: str = "info"
    #: The Web Push (VAPID) key pair, urlsafe base64 as Mastodon writes it. Unset, it is kept
    #: in ``data_dir`` (SQLite) or derived from the secret key (PostgreSQL): see lumigram.push.keys.
    vapid_private_key: str = ""
    #: Optional; when given it must be the private key's public half (a typo fails at start).
    vapid_public_key: str = ""
    #: Accept push endpoints on this machine (``http://127.0.0.1``, ``localhost``) for development
    #: and tests. Off by default: any user could otherwise make the server POST to local services.
    push_loopback_endpoints: bool = False

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: str) -> str:
        return _check_scheme(value, DATABASE_SCHEMES) if value else value

    @field_validator("media_url")
    @classmethod
    def _media_url(cls, value: str) -> str:
        if value and urlsplit(value).scheme == "s3" and not urlsplit(value).netloc:
            raise ValueError(f"s3 URL {value!r} names no bucket (s3://bucket?endpoint=...)")
        return _check_scheme(value, MEDIA_SCHEMES) if value else value

    @field_validator("cache_url")
    @classmethod
    def _cache_url(cls, value: str) -> str:
        return _check_scheme(value, CACHE_SCHEMES)

    @field_validator("bus_url")
    @classmethod
    def _bus_url(cls, value: str) -> str:
        return _check_scheme(value, BUS_SCHEMES)

    @field_validator("email_url")
    @classmethod
    def _email_url(cls, value: str) -> str:
        return _check_scheme(value, EMAIL_SCHEMES)

    @field_validator("sms_url")
    @classmethod
    def _sms_url(cls, value: str) -> str:
        return _check_scheme(value, SMS_SCHEMES)

    @field_validator("vapid_private_key")
    @classmethod
    def _vapid_private_key(cls, value: str) -> str:
        value = value.strip()
        if value:
            parse_private_key(value)
        return value

    @field_validator("vapid_public_key")
    @classmethod
    def _vapid_public_key(cls, value: str, info: ValidationInfo) -> str:
        value = value.strip()
        if value and "vapid_private_key" in info.data:  # absent: its own error is reported
            if not info.data["vapid_private_key"]:
                raise ValueError("is set without LUMIGRAM_VAPID_PRIVATE_KEY")
            check_public_key(value, info.data["vapid_private_key"])
        return value

    @field_validator("base_url", "media_base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        if value is None:
            return value
        _check_scheme(value, ("http", "https"))
        return value.rstrip("/")

    @model_validator(mode="after")
    def _fill_defaults(self) -> Settings:
        if not self.database_url:
            self.database_url = f"sqlite+aiosqlite:///{self.data_dir / 'lumigram.db'}"
        if not self.media_url:
            self.media_url = f"file://{self.data_dir / 'media'}"
        if self.secret_key and len(self.secret_key) < 32:
            raise ValueError("LUMIGRAM_SECRET_KEY must be at least 32 characters")
        return self

    @property
    def embedded_bus(self) -> bool:
        return self.bus_url.startswith("memory:")

    @property
    def run_inline_worker(self) -> bool:
        return self.embedded_bus if self.inline_worker is None else self.inline_worker

    @property
    def domain(self) -> str:
        return urlsplit(self.base_url).netloc

    def ensure_secret_key(self) -> str:
        """The secret key; generated once and kept in ``data_dir`` when not configured."""
        if self.secret_key:
            return self.secret_key
        path = self.data_dir / "secret_key"
        if path.exists():
            self.secret_key = path.read_text().strip()
        else:
            self.data_dir.mkdir(parents=True, exist_ok=True)
            self.secret_key = secrets.token_urlsafe(48)
            path.write_text(self.secret_key)
            path.chmod(0o600)
        return self.secret_key


def describe_error(error: ValidationError) -> str:
    """One line per bad setting, naming its environment variable."""
    lines = []
    for item in error.errors():
        field = ".".join(str(part) for part in item["loc"]) or "settings"
        name = f"LUMIGRAM_{field.upper()}"
        message = str(item["msg"]).removeprefix("Value error, ")
        lines.append(f"{name}: {message}")
    return "\n".join(lines)


def load_settings(**overrides: object) -> Settings:
    """Read settings from the environment, with explicit overrides winning."""
    return Settings(**overrides)  # type: ignore[arg-type]
