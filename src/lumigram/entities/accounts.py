"""Mastodon's JSON entities for accounts and OAuth (Account, CredentialAccount, Application, Token).

The models are the routes' ``response_model`` so ``/docs`` shows the real shapes; the
``*_entity`` builders turn service records into them. Ids are strings, times are
ISO 8601 in UTC with milliseconds, as Mastodon writes them.
"""

from __future__ import annotations

import html
from datetime import UTC, datetime

from pydantic import BaseModel

from lumigram.accounts import models
from lumigram.config import Settings

DEFAULT_AVATAR = "/static/avatar.png"
DEFAULT_HEADER = "/static/header.png"


def iso(value: datetime) -> str:
    """``2024-05-01T12:30:00.123Z``: Mastodon's timestamp format."""
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def iso_day(value: datetime) -> str:
    """The UTC day at midnight: Mastodon rounds an account's ``created_at`` to the day."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT00:00:00.000Z")


def note_html(note: str) -> str:
    """The bio as Mastodon serves it: escaped text, paragraphs in ``<p>``, line breaks as ``<br />``."""
    if not note:
        return ""
    paragraphs = [part for part in note.replace("\r\n", "\n").split("\n\n") if part.strip()]
    return "".join(
        f"<p>{'<br />'.join(html.escape(line) for line in part.strip().split(chr(10)))}</p>" for part in paragraphs
    )


def media_url(settings: Settings, key: str | None, default: str) -> str:
    """Absolute URL of a stored blob (through the CDN when configured), or of a default image."""
    if key is None:
        return settings.base_url + default
    return f"{settings.media_base_url or settings.base_url}/{key}"


class CustomEmoji(BaseModel):
    shortcode: str
    url: str
    static_url: str
    visible_in_picker: bool
    category: str | None = None


class AccountField(BaseModel):
    name: str
    value: str
    verified_at: str | None = None


class Role(BaseModel):
    id: str
    name: str
    permissions: str
    color: str
    highlighted: bool


class Account(BaseModel):
    """Mastodon's Account entity: a profile as anyone may see it."""

    id: str
    username: str
    acct: str
    display_name: str
    locked: bool
    bot: bool
    discoverable: bool
    indexable: bool
    group: bool
    noindex: bool
    hide_collections: bool
    created_at: str
    note: str
    url: str
    uri: str
    avatar: str
    avatar_static: str
    header: str
    header_static: str
    followers_count: int
    following_count: int
    statuses_count: int
    last_status_at: str | None
    emojis: list[CustomEmoji]
    fields: list[AccountField]
    roles: list[Role]


class Source(BaseModel):
    privacy: str
    sensitive: bool
    language: str
    note: str
    fields: list[AccountField]
    follow_requests_count: int
    discoverable: bool
    indexable: bool
    hide_collections: bool
    attribution_domains: list[str]


class CredentialAccount(Account):
    """The signed-in profile: Account plus its editable ``source`` and the login's ``role``."""

    source: Source
    role: Role


class Application(BaseModel):
    id: str
    name: str
    website: str | None
    scopes: list[str]
    redirect_uri: str
    redirect_uris: list[str]
    vapid_key: str


class CredentialApplication(Application):
    """Returned once, at registration: the only time the secret is shown."""

    client_id: str
    client_secret: str
    client_secret_expires_at: int


class Token(BaseModel):
    access_token: str
    token_type: str
    scope: str
    created_at: int
    refresh_token: str | None = None
    expires_in: int | None = None


_USER_ROLE = Role(id="-99", name="", permissions="0", color="", highlighted=False)
# Mastodon's "Owner" role carries the administrator bit (1).
_ADMIN_ROLE = Role(id="3", name="Admin", permissions="1", color="", highlighted=True)


def account_entity(settings: Settings, account: models.Account) -> Account:
    profile_url = f"{settings.base_url}/@{account.username}"
    avatar = media_url(settings, account.avatar_key, DEFAULT_AVATAR)
    header = media_url(settings, account.header_key, DEFAULT_HEADER)
    return Account(
        id=str(account.id),
        username=account.username,
        acct=account.username,
        display_name=account.display_name,
        locked=account.locked,
        bot=account.bot,
        discoverable=account.discoverable,
        indexable=account.discoverable,
        group=False,
        noindex=not account.discoverable,
        hide_collections=False,
        created_at=iso_day(account.created_at),
        note=note_html(account.note),
        url=profile_url,
        uri=f"{settings.base_url}/users/{account.username}",
        avatar=avatar,
        avatar_static=avatar,
        header=header,
        header_static=header,
        followers_count=account.followers_count,
        following_count=account.following_count,
        statuses_count=account.statuses_count,
        last_status_at=account.last_status_at.astimezone(UTC).date().isoformat() if account.last_status_at else None,
        emojis=[],
        fields=[],
        roles=[],
    )


def credential_account_entity(
    settings: Settings, account: models.Account, user: models.User, follow_requests_count: int = 0
) -> CredentialAccount:
    public = account_entity(settings, account)
    source = Source(
        privacy="public",
        sensitive=False,
        language=user.locale,
        note=account.note,
        fields=[],
        follow_requests_count=follow_requests_count,
        discoverable=account.discoverable,
        indexable=account.discoverable,
        hide_collections=False,
        attribution_domains=[],
    )
    role = _ADMIN_ROLE if user.is_admin else _USER_ROLE
    return CredentialAccount(**public.model_dump(), source=source, role=role)


def application_entity(app: models.App, vapid_key: str = "") -> Application:
    """``vapid_key``: the server's Web Push public key, as Mastodon sends it with every app."""
    return Application(
        id=str(app.id),
        name=app.name,
        website=app.website,
        scopes=list(app.scopes),
        redirect_uri="\n".join(app.redirect_uris),
        redirect_uris=list(app.redirect_uris),
        vapid_key=vapid_key,
    )


def credential_application_entity(app: models.App, vapid_key: str = "") -> CredentialApplication:
    return CredentialApplication(
        **application_entity(app, vapid_key).model_dump(),
        client_id=app.client_id,
        client_secret=app.client_secret,
        client_secret_expires_at=0,
    )


def token_entity(issued: models.IssuedToken) -> Token:
    return Token(
        access_token=issued.access_token,
        token_type="Bearer",  # noqa: S106 (the scheme's name, not a secret)
        scope=" ".join(issued.scopes),
        created_at=int(issued.created_at.timestamp()),
        refresh_token=issued.refresh_token,
        expires_in=issued.expires_in,
    )
