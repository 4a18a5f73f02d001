"""Immutable records the accounts service hands out; rows become these at the service edge."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class User:
    """A login. Its password hash never leaves the service."""

    id: int
    email: str | None
    email_verified_at: datetime | None
    phone: str | None
    phone_verified_at: datetime | None
    locale: str
    is_admin: bool
    disabled: bool
    created_at: datetime
    last_sign_in_at: datetime | None

    @property
    def verified(self) -> bool:
        """Whether at least one contact (e-mail or phone) is confirmed."""
        return self.email_verified_at is not None or self.phone_verified_at is not None


@dataclass(frozen=True, slots=True)
class Account:
    """A public profile (Mastodon's Account). A login may own several."""

    id: int
    user_id: int
    username: str
    display_name: str
    note: str
    avatar_key: str | None
    header_key: str | None
    locked: bool
    bot: bool
    discoverable: bool
    kind: str
    followers_count: int
    following_count: int
    statuses_count: int
    last_status_at: datetime | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class App:
    """A registered OAuth client."""

    id: int
    name: str
    website: str | None
    redirect_uris: tuple[str, ...]
    scopes: tuple[str, ...]
    client_id: str
    client_secret: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class TokenGrant:
    """What a valid access token allows: who (if anyone) and which scopes.

    ``user_id``/``account_id`` are None for app-only tokens (client_credentials).
    ``user_verified``/``user_disabled`` describe the login at lookup time, and
    ``user_has_email``/``user_has_phone`` which contacts it could confirm.
    """

    token_id: int
    app_id: int | None
    user_id: int | None
    account_id: int | None
    scopes: frozenset[str]
    created_at: datetime
    expires_at: datetime | None
    user_verified: bool = False
    user_disabled: bool = False
    user_has_email: bool = False
    user_has_phone: bool = False

    def allows(self, *alternatives: str) -> bool:
        """True when the token's scopes cover at least one of ``alternatives``."""
        from lumigram.accounts.scopes import grants_any

        return grants_any(self.scopes, alternatives)


@dataclass(frozen=True, slots=True)
class Viewer:
    """The signed-in profile behind a user token: what most routes need to know about the caller."""

    account_id: int
    user_id: int
    token_id: int
    app_id: int | None
    scopes: frozenset[str]

    def allows(self, *alternatives: str) -> bool:
        from lumigram.accounts.scopes import grants_any

        return grants_any(self.scopes, alternatives)


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A freshly made token; the only moment the raw secrets exist outside the client."""

    access_token: str
    refresh_token: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    expires_in: int | None
    account_id: int | None = None
