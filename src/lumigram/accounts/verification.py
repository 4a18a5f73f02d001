"""Confirming contact addresses: e-mail links and SMS one-time codes.

Each request for a confirmation is an event (``user.registered``,
``user.verification_requested``); its consumer makes the secret and sends it. The secret
is derived from the event id with the server's key (HMAC), so a redelivered event
re-sends the *same* link or code: a duplicate message is harmless, never confusing.
The verification row takes the event's id, which makes creating it idempotent too.
Only a hash of the secret is stored.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from dataclasses import dataclass
from datetime import timedelta
from typing import Literal

from sqlalchemy import insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts import authcache
from lumigram.accounts.models import User
from lumigram.accounts.service import USER_COLUMNS, normalize_email, user_from_row
from lumigram.errors import Forbidden, NotFound, RateLimited, ValidationFailed
from lumigram.events import VerificationRequested
from lumigram.ids import shard_of
from lumigram.infra.tables import processed_events, users, utcnow, verifications
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work

Channel = Literal["email", "phone"]

EMAIL_LIFETIME = timedelta(hours=24)
PHONE_LIFETIME = timedelta(minutes=10)
PHONE_MAX_ATTEMPTS = 5
#: Confirmation messages one login may ask for per rate-limit window.
RESEND_LIMIT = 5


@dataclass(frozen=True, slots=True)
class Outgoing:
    """A message to send: where, and the secret to put in it."""

    channel: Channel
    target: str
    secret: str


def _derive(secret_key: str, purpose: str, event_id: int) -> bytes:
    return hmac.new(secret_key.encode(), f"lumigram.verify.{purpose}:{event_id}".encode(), hashlib.sha256).digest()


def email_token(secret_key: str, event_id: int) -> str:
    return base64.urlsafe_b64encode(_derive(secret_key, "email", event_id)).rstrip(b"=").decode()


def phone_code(secret_key: str, event_id: int) -> str:
    return f"{int.from_bytes(_derive(secret_key, 'phone', event_id)[:8], 'big') % 1_000_000:06d}"


def _email_hash(token: str) -> str:
    return hashlib.sha256(f"email:{token}".encode("utf-8", "surrogatepass")).hexdigest()


def _phone_hash(verification_id: int, code: str) -> str:
    # Six digits repeat across users, so the row id goes into the hash to keep it unique.
    return hashlib.sha256(f"phone:{verification_id}:{code}".encode()).hexdigest()


async def already_handled(services: Services, consumer: str, event_id: int) -> bool:
    async with services.db.connect() as conn:
        query = select(processed_events.c.event_id).where(
            processed_events.c.consumer == consumer, processed_events.c.event_id == event_id
        )
        return (await conn.execute(query)).first() is not None


async def _user(conn: AsyncConnection, user_id: int) -> User | None:
    row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
    return user_from_row(row) if row is not None else None


async def prepare(services: Services, event_id: int, user_id: int, channel: Channel | None) -> list[Outgoing]:
    """Make (or find again) the verification rows for an event; what to send for each.

    ``channel`` None means every unconfirmed contact of the login (at sign-up).
    """
    secret_key = services.settings.ensure_secret_key()
    outgoing: list[Outgoing] = []
    async with services.db.begin() as conn:
        user = await _user(conn, user_id)
        if user is None or user.disabled:
            return []
        now = utcnow()
        wanted: list[Channel] = [channel] if channel is not None else ["email", "phone"]
        for kind in wanted:
            if kind == "email" and user.email and user.email_verified_at is None:
                secret = email_token(secret_key, event_id)
                code_hash, target, lifetime = _email_hash(secret), user.email, EMAIL_LIFETIME
            elif kind == "phone" and user.phone and user.phone_verified_at is None:
                secret = phone_code(secret_key, event_id)
                code_hash, target, lifetime = _phone_hash(event_id, secret), user.phone, PHONE_LIFETIME
            else:
                continue
            row_id = _row_id(event_id, kind)
            exists = await conn.execute(select(verifications.c.id).where(verifications.c.id == row_id))
            if exists.first() is None:
                await conn.execute(
                    insert(verifications).values(
                        id=row_id,
                        user_id=user.id,
                        channel=kind,
                        target=target,
                        code_hash=code_hash,
                        attempts=0,
                        expires_at=now + lifetime,
                        created_at=now,
                    )
                )
            outgoing.append(Outgoing(kind, target, secret))
    return outgoing


def _row_id(event_id: int, channel: Channel) -> int:
    """The verification row's id, derived from the event so a redelivery finds the row it made.

    A sign-up may need two rows (e-mail and phone) for one event; the phone row takes the
    negated id, which no generated id can equal (they are all positive).
    """
    return event_id if channel == "email" else -event_id


async def confirm_email(services: Services, token: str) -> User:
    """Mark the address behind a confirmation link as verified; NotFound for a bad or stale link."""
    if not token or len(token) > 256:
        raise NotFound("This confirmation link is invalid or has expired")
    async with services.db.begin() as conn:
        query = select(verifications).where(
            verifications.c.code_hash == _email_hash(token), verifications.c.channel == "email"
        )
        row = (await conn.execute(query)).first()
        user = await _user(conn, row.user_id) if row is not None else None
        if row is None or user is None or (user.email or "").lower() != row.target.lower():
            raise NotFound("This confirmation link is invalid or has expired")
        if user.email_verified_at is not None:
            return user  # a second click on the same link: already done
        if row.used_at is not None or row.expires_at <= utcnow():
            raise NotFound("This confirmation link is invalid or has expired")
        now = utcnow()
        await conn.execute(update(verifications).where(verifications.c.id == row.id).values(used_at=now))
        await conn.execute(update(users).where(users.c.id == user.id).values(email_verified_at=now))
        confirmed = await _user(conn, user.id)
    await authcache.forget_user_state(services, user.id)
    assert confirmed is not None
    return confirmed


async def verify_phone(services: Services, user_id: int, code: str) -> User:
    """Check an SMS code against the login's latest one; each code allows a few attempts."""
    code = code.strip()
    async with services.db.begin() as conn:
        user = await _user(conn, user_id)
        if user is None:
            raise NotFound
        if user.phone is None:
            raise ValidationFailed.field("code", "ERR_INVALID", "is not expected: this login has no phone number")
        if user.phone_verified_at is not None:
            return user
        query = (
            select(verifications)
            .where(
                verifications.c.user_id == user_id,
                verifications.c.channel == "phone",
                verifications.c.used_at.is_(None),
            )
            .order_by(verifications.c.created_at.desc(), verifications.c.id.desc())
            .limit(1)
        )
        row = (await conn.execute(query)).first()
        if row is None or row.expires_at <= utcnow() or row.target != user.phone:
            raise ValidationFailed.field("code", "ERR_EXPIRED", "has expired; ask for a new one")
        # Count the attempt before checking it: concurrent guesses cannot exceed the limit.
        counted = await conn.execute(
            update(verifications)
            .where(verifications.c.id == row.id, verifications.c.attempts < PHONE_MAX_ATTEMPTS)
            .values(attempts=verifications.c.attempts + 1)
        )
        within_limit = counted.rowcount == 1
    if not within_limit:
        raise ValidationFailed.field("code", "ERR_TOO_MANY_ATTEMPTS", "was tried too often; ask for a new one")
    if not hmac.compare_digest(_phone_hash(-row.id, code), row.code_hash):
        raise ValidationFailed.field("code", "ERR_INVALID", "is wrong")
    async with services.db.begin() as conn:
        now = utcnow()
        await conn.execute(update(verifications).where(verifications.c.id == row.id).values(used_at=now))
        await conn.execute(update(users).where(users.c.id == user_id).values(phone_verified_at=now))
        verified = await _user(conn, user_id)
    await authcache.forget_user_state(services, user_id)
    assert verified is not None
    return verified


async def request_again(services: Services, user_id: int, channel: Channel, new_email: str | None = None) -> User:
    """Send a fresh confirmation (``POST /api/v1/emails/confirmations``), optionally to a new address.

    Forbidden once the contact is confirmed; RateLimited after ``RESEND_LIMIT`` per window.
    """
    settings = services.settings
    state = await services.cache.hit_rate_limit(f"rl:verify:{user_id}", RESEND_LIMIT, settings.rate_limit_window)
    if not state.allowed:
        raise RateLimited(state.limit, state.remaining, state.reset_after)
    email = None
    if new_email is not None:
        email = normalize_email(new_email.strip())
        if email is None:
            raise ValidationFailed.field("email", "ERR_INVALID", "is invalid")
    try:
        async with unit_of_work(services) as work:
            conn = work.conn
            user = await _user(conn, user_id)
            if user is None:
                raise NotFound
            if channel == "email":
                if user.email_verified_at is not None or (user.email is None and email is None):
                    raise Forbidden("This method is only available while the e-mail is awaiting confirmation")
                if email is not None and email.lower() != (user.email or "").lower():
                    await conn.execute(
                        update(users).where(users.c.id == user_id).values(email=email, email_lower=email.lower())
                    )
            elif user.phone is None or user.phone_verified_at is not None:
                raise Forbidden("This method is only available while the phone number is awaiting confirmation")
            requested = VerificationRequested(user_id=user_id, channel=channel)
            await work.emit(requested, shard=shard_of(user_id))
            updated = await _user(conn, user_id)
    except IntegrityError as exc:
        raise ValidationFailed.field("email", "ERR_TAKEN", "is already taken") from exc
    assert updated is not None
    return updated
