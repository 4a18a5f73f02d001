"""Web Push subscriptions (Mastodon's ``/api/v1/push/subscription``) and what a push says.

A subscription belongs to one access token, as in Mastodon: a phone app and a browser
signed in to the same account each have their own, and signing out (revoking the token)
ends that one. ``alerts`` says which notification types are pushed; ``policy`` whose
notifications are (``all``, ``followed``: accounts the user follows, ``follower``:
accounts that follow the user, ``none``).

No HTTP here: the API layer parses requests, ``lumigram.push.sender`` talks to push
services.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any
from urllib.parse import urlsplit

import orjson
from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import bindparam, delete, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.errors import NotFound, ValidationFailed
from lumigram.events import AccountDeleted
from lumigram.ids import shard_of
from lumigram.infra.sql import Prebuilt
from lumigram.infra.tables import (
    accounts,
    follows,
    notifications,
    oauth_tokens,
    push_subscriptions,
    statuses,
    users,
    utcnow,
)
from lumigram.services import Services
from lumigram.vapid import b64url, b64url_decode

#: Mastodon's notification types a subscription can ask for.
ALERT_TYPES = (
    "mention",
    "status",
    "reblog",
    "follow",
    "follow_request",
    "favourite",
    "poll",
    "update",
    "admin.sign_up",
    "admin.report",
)
POLICIES = ("all", "followed", "follower", "none")
#: Endpoints are URLs a push service hands out (a few hundred characters); this bounds abuse.
MAX_ENDPOINT = 2048
#: Mastodon truncates a push's body to this many characters.
MAX_BODY = 140
DEFAULT_AVATAR = "/static/avatar.png"

_LOOPBACK_NAMES = ("localhost", "localhost.")

TITLES = {
    "mention": "{name} mentioned you",
    "status": "{name} just posted",
    "reblog": "{name} boosted your post",
    "follow": "{name} is now following you",
    "follow_request": "{name} requested to follow you",
    "favourite": "{name} liked your post",
    "poll": "A poll by {name} has ended",
    "update": "{name} edited a post",
    "admin.sign_up": "{name} signed up",
    "admin.report": "New report from {name}",
    # Not a Mastodon notification: a direct message (lumigram.push.messages).
    "message": "{name} sent you a message",
}


@dataclass(frozen=True, slots=True)
class Subscription:
    id: int
    token_id: int
    account_id: int
    endpoint: str
    p256dh: str
    auth: str
    alerts: dict[str, bool]
    policy: str


@dataclass(frozen=True, slots=True)
class PushNotification:
    """A notification row, as far as a push needs it."""

    id: int
    account_id: int
    from_account_id: int
    type: str
    status_id: int | None


@dataclass(frozen=True, slots=True)
class PushMessage:
    """Mastodon's push payload (its ``Web::NotificationSerializer``), minus ``access_token``:
    Mastodon sends the token in plain text, but ours are stored hashed, so we cannot, and a
    client already holds its own token."""

    notification_id: str
    notification_type: str
    preferred_locale: str
    icon: str
    title: str
    body: str

    def encode(self) -> bytes:
        return orjson.dumps(asdict(self))


# --- validation ------------------------------------------------------------------------


def _is_loopback(host: str) -> bool:
    if host.lower() in _LOOPBACK_NAMES:
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def check_endpoint(endpoint: str, allow_loopback: bool) -> str:
    """The endpoint if a push may go there: https, or http to this machine when the
    ``push_loopback_endpoints`` setting allows it (development and tests)."""
    endpoint = endpoint.strip()
    if not endpoint:
        raise ValidationFailed.field("endpoint", "ERR_BLANK", "can't be blank")
    if len(endpoint) > MAX_ENDPOINT:
        raise ValidationFailed.field("endpoint", "ERR_TOO_LONG", f"is too long (at most {MAX_ENDPOINT} characters)")
    try:
        parts = urlsplit(endpoint)
        host = parts.hostname or ""
        _ = parts.port  # raises ValueError for a bad port
    except ValueError:
        raise ValidationFailed.field("endpoint", "ERR_INVALID", "is not a valid URL") from None
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise ValidationFailed.field("endpoint", "ERR_INVALID", "is not a valid https URL")
    if _is_loopback(host):
        if not allow_loopback:
            raise ValidationFailed.field("endpoint", "ERR_INVALID", "may not point at this server")
    elif parts.scheme != "https":
        raise ValidationFailed.field("endpoint", "ERR_INVALID", "must use https")
    return endpoint


def check_keys(p256dh: str, auth: str) -> tuple[str, str]:
    """The client's ECDH public key and auth secret, checked (RFC 8291: a P-256 point and
    16 bytes) and spelled urlsafe without padding; 422 otherwise, so a subscription that
    could never be encrypted for is refused now rather than failing every push later."""
    try:
        point = b64url_decode(p256dh)
        ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
        if len(point) != 65:
            raise ValueError("not an uncompressed point")
    except ValueError:
        raise ValidationFailed.field(
            "keys.p256dh", "ERR_INVALID", "must be a base64 P-256 public key (65 bytes, uncompressed)"
        ) from None
    try:
        secret = b64url_decode(auth)
    except ValueError:
        secret = b""
    if len(secret) != 16:
        raise ValidationFailed.field("keys.auth", "ERR_INVALID", "must be a base64 16-byte secret")
    return b64url(point), b64url(secret)


def normalize_alerts(given: Mapping[str, bool], base: Mapping[str, bool] | None = None) -> dict[str, bool]:
    """Every known type with a flag: ``given`` wins, then ``base``, then off (Mastodon's
    default). Unknown types are dropped, as Mastodon's parameter filter does."""
    return {kind: bool(given.get(kind, (base or {}).get(kind, False))) for kind in ALERT_TYPES}


def check_policy(policy: str) -> str:
    if policy not in POLICIES:
        raise ValidationFailed.field("policy", "ERR_INCLUSION", f"must be one of: {', '.join(POLICIES)}")
    return policy


# --- subscriptions ---------------------------------------------------------------------


def _from_row(row: Any) -> Subscription:
    try:
        stored = orjson.loads(row.alerts or "{}")
    except orjson.JSONDecodeError:
        stored = {}
    return Subscription(
        id=row.id,
        token_id=row.token_id,
        account_id=row.account_id,
        endpoint=row.endpoint,
        p256dh=row.p256dh,
        auth=row.auth,
        alerts=normalize_alerts(stored if isinstance(stored, dict) else {}),
        policy=row.policy if row.policy in POLICIES else "all",
    )


async def subscribe(
    services: Services,
    token_id: int,
    account_id: int,
    endpoint: str,
    p256dh: str,
    auth: str,
    alerts: Mapping[str, bool],
    policy: str,
) -> Subscription:
    """Create the token's subscription, replacing any it had (Mastodon keeps one per token)."""
    endpoint = check_endpoint(endpoint, services.settings.push_loopback_endpoints)
    p256dh, auth = check_keys(p256dh, auth)
    values = {
        "token_id": token_id,
        "account_id": account_id,
        "endpoint": endpoint,
        "p256dh": p256dh,
        "auth": auth,
        "alerts": orjson.dumps(normalize_alerts(alerts)).decode(),
        "policy": check_policy(policy),
    }
    # Two requests racing for one token: the loser's insert hits the unique token_id;
    # trying again replaces the winner's row, as a later request should.
    for attempt in range(3):
        new_id = services.ids.next_id(shard_of(account_id))
        try:
            async with services.db.begin() as conn:
                await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.token_id == token_id))
                await conn.execute(insert(push_subscriptions).values(id=new_id, created_at=utcnow(), **values))
            break
        except IntegrityError:
            if attempt == 2:
                raise
    found = await get(services, token_id)
    if found is None:  # replaced by a concurrent request and then deleted: report what we wrote
        raise NotFound()
    return found


async def get(services: Services, token_id: int) -> Subscription | None:
    async with services.db.connect() as conn:
        row = (await conn.execute(select(push_subscriptions).where(push_subscriptions.c.token_id == token_id))).first()
    return _from_row(row) if row is not None else None


async def change(
    services: Services, token_id: int, alerts: Mapping[str, bool] | None, policy: str | None
) -> Subscription:
    """Change what the token's subscription receives. Alerts not named keep their value
    (Mastodon replaces the whole set; clients send the whole set, so both agree for them,
    and a client sending one switch does not silently turn the others off)."""
    current = await get(services, token_id)
    if current is None:
        raise NotFound()
    values: dict[str, Any] = {}
    if alerts is not None:
        values["alerts"] = orjson.dumps(normalize_alerts(alerts, current.alerts)).decode()
    if policy is not None:
        values["policy"] = check_policy(policy)
    if values:
        async with services.db.begin() as conn:
            await conn.execute(update(push_subscriptions).where(push_subscriptions.c.id == current.id).values(**values))
    found = await get(services, token_id)
    if found is None:
        raise NotFound()
    return found


async def unsubscribe(services: Services, token_id: int) -> None:
    async with services.db.begin() as conn:
        await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.token_id == token_id))


async def remove(services: Services, subscription_id: int) -> None:
    """Forget a subscription the push service says is gone (404/410)."""
    async with services.db.begin() as conn:
        await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.id == subscription_id))


# --- what to push, and to whom ----------------------------------------------------------


_ANY_SUBSCRIPTION = Prebuilt(
    lambda _dialect: (
        select(push_subscriptions.c.id).where(push_subscriptions.c.account_id == bindparam("account")).limit(1)
    )
)


async def has_subscriptions(services: Services, account_id: int) -> bool:
    """Whether the account has any push subscription (most have none: one indexed probe
    then spares loading the notification)."""
    async with services.db.connect() as conn:
        return await _ANY_SUBSCRIPTION.first(conn, {"account": account_id}) is not None


async def load_notification(services: Services, notification_id: int) -> PushNotification | None:
    query = select(
        notifications.c.id,
        notifications.c.account_id,
        notifications.c.from_account_id,
        notifications.c.type,
        notifications.c.status_id,
    ).where(notifications.c.id == notification_id)
    async with services.db.connect() as conn:
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return PushNotification(
        id=row.id,
        account_id=row.account_id,
        from_account_id=row.from_account_id,
        type=row.type,
        status_id=row.status_id,
    )


async def _follows(conn: AsyncConnection, account_id: int, target_id: int) -> bool:
    query = select(follows.c.id).where(follows.c.account_id == account_id, follows.c.target_account_id == target_id)
    return (await conn.execute(query)).first() is not None


async def targets(services: Services, notification: PushNotification) -> list[Subscription]:
    """The recipient's subscriptions that want this notification: the type enabled, the
    policy admitting the sender, the token still valid (a revoked token's subscription is
    deleted here, as Mastodon deletes it when the token is revoked)."""
    now = utcnow()
    query = (
        select(push_subscriptions, oauth_tokens.c.revoked_at, oauth_tokens.c.expires_at, users.c.disabled)
        .join(oauth_tokens, oauth_tokens.c.id == push_subscriptions.c.token_id)
        .join(accounts, accounts.c.id == push_subscriptions.c.account_id)
        .join(users, users.c.id == accounts.c.user_id)
        .where(push_subscriptions.c.account_id == notification.account_id)
    )
    chosen: list[Subscription] = []
    dead: list[int] = []
    async with services.db.connect() as conn:
        rows = (await conn.execute(query)).all()
        relations: dict[str, bool] = {}
        for row in rows:
            if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
                dead.append(row.id)
                continue
            subscription = _from_row(row)
            if row.disabled or not subscription.alerts.get(notification.type, False):
                continue
            if subscription.policy == "none":
                continue
            if subscription.policy in ("followed", "follower") and subscription.policy not in relations:
                if subscription.policy == "followed":
                    found = await _follows(conn, notification.account_id, notification.from_account_id)
                else:
                    found = await _follows(conn, notification.from_account_id, notification.account_id)
                relations[subscription.policy] = found
            if subscription.policy != "all" and not relations[subscription.policy]:
                continue
            chosen.append(subscription)
    if dead:
        async with services.db.begin() as conn:
            await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.id.in_(dead)))
    return chosen


def _truncate(text: str, limit: int = MAX_BODY) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1].rstrip() + "…"


async def message(services: Services, notification: PushNotification) -> PushMessage:
    """Title, body and icon as Mastodon words them: who did what, and the post's text (or
    the sender's bio when there is no post)."""
    settings = services.settings
    async with services.db.connect() as conn:
        sender = (
            await conn.execute(
                select(accounts.c.username, accounts.c.display_name, accounts.c.note, accounts.c.avatar_key).where(
                    accounts.c.id == notification.from_account_id
                )
            )
        ).first()
        locale = (
            await conn.execute(
                select(users.c.locale)
                .join(accounts, accounts.c.user_id == users.c.id)
                .where(accounts.c.id == notification.account_id)
            )
        ).scalar()
        post = None
        if notification.status_id is not None:
            post = (
                await conn.execute(
                    select(statuses.c.text, statuses.c.spoiler_text).where(
                        statuses.c.id == notification.status_id, statuses.c.deleted_at.is_(None)
                    )
                )
            ).first()
    name = (sender.display_name or sender.username) if sender is not None else "Someone"
    body = ""
    if post is not None:
        body = post.spoiler_text or post.text
    elif sender is not None:
        body = sender.note
    # The same address the Account entity shows as ``avatar``, so clients can match it.
    avatar_key = sender.avatar_key if sender is not None else None
    icon = (
        f"{settings.media_base_url or settings.base_url}/{avatar_key}"
        if avatar_key
        else settings.base_url + DEFAULT_AVATAR
    )
    title = TITLES.get(notification.type, "New notification from {name}").format(name=name)
    return PushMessage(
        notification_id=str(notification.id),
        notification_type=notification.type,
        preferred_locale=locale or "en",
        icon=icon,
        title=_truncate(title, 200),
        body=_truncate(body),
    )


async def forget_deleted_account(services: Services, event: AccountDeleted) -> None:
    """A deleted account's Web Push subscriptions: nothing is sent for it again."""
    async with services.db.begin() as conn:
        await conn.execute(delete(push_subscriptions).where(push_subscriptions.c.account_id == event.account_id))
