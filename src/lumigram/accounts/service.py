"""Sign-up, sign-in and profiles: the accounts service.

A *user* is a login (credentials, contact addresses); an *account* is a public profile.
Sign-up makes one of each on the same logical shard, so a login's rows stay together
when shards are split across databases (see ``lumigram.ids``).
"""

from __future__ import annotations

import asyncio
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from email_validator import EmailNotValidError, validate_email
from sqlalchemy import func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncConnection

from lumigram.accounts import authcache, passwords
from lumigram.accounts.models import Account, User
from lumigram.accounts.text import clean_text, has_control_characters
from lumigram.accounts.usernames import username_problem
from lumigram.errors import Forbidden, NotFound, Problems, Unauthorized, ValidationFailed
from lumigram.events import AccountUpdated, UserRegistered
from lumigram.ids import random_shard, shard_of
from lumigram.infra.sql import one_of
from lumigram.infra.tables import accounts, media_attachments, statuses, users, utcnow
from lumigram.media_access.service import forget_privacy
from lumigram.services import Services
from lumigram.unit_of_work import unit_of_work
from lumigram.uploads.images import ImageRejected
from lumigram.uploads.profile_images import AVATAR_SIZE, HEADER_SIZE, process_profile_image

MAX_DISPLAY_NAME = 64
MAX_NOTE = 500
MAX_REASON = 1000
MAX_EMAIL = 320
MAX_IMAGE_BYTES = 8 * 1024 * 1024

_PHONE = re.compile(r"\+[1-9][0-9]{6,14}")
_PHONE_SEPARATORS = re.compile(r"[\s().-]")
_LOCALE = re.compile(r"[a-zA-Z]{2,3}([-_][a-zA-Z0-9]{2,8})?")

USER_COLUMNS = (
    users.c.id,
    users.c.email,
    users.c.email_verified_at,
    users.c.phone,
    users.c.phone_verified_at,
    users.c.locale,
    users.c.is_admin,
    users.c.disabled,
    users.c.created_at,
    users.c.last_sign_in_at,
)


class InvalidCredentials(Unauthorized):
    def __init__(self) -> None:
        super().__init__("Invalid login name or password")


class LoginDisabled(Forbidden):
    def __init__(self) -> None:
        super().__init__("Your login is currently disabled")


class LoginUnconfirmed(Forbidden):
    """Sign-in refused until a contact is confirmed (``require_verification``); the
    message names the contact the login has, so a phone-only login is not sent looking
    for an e-mail."""

    def __init__(self, user: User) -> None:
        super().__init__(unconfirmed_message(bool(user.email), bool(user.phone)))


def unconfirmed_message(has_email: bool, has_phone: bool) -> str:
    """What an unconfirmed login is told: to confirm the contact it signed up with."""
    if has_email and has_phone:
        contact = "e-mail address or phone number"
    else:
        contact = "phone number" if has_phone else "e-mail address"
    return f"Your login is missing a confirmed {contact}"


def check_confirmed(services: Services, user: User) -> None:
    """LoginUnconfirmed when the server requires a confirmed contact and ``user`` has none."""
    if services.settings.require_verification and not user.verified:
        raise LoginUnconfirmed(user)


@dataclass(frozen=True, slots=True)
class Registration:
    """What a sign-up asks for (``POST /api/v1/accounts``)."""

    username: str
    password: str
    email: str | None = None
    phone: str | None = None
    agreement: bool = False
    locale: str = "en"
    reason: str | None = None


@dataclass(frozen=True, slots=True)
class ProfileChanges:
    """A partial profile update; None leaves a field as it is."""

    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    avatar: bytes | None = None
    header: bytes | None = None


def user_from_row(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        email_verified_at=row.email_verified_at,
        phone=row.phone,
        phone_verified_at=row.phone_verified_at,
        locale=row.locale,
        is_admin=bool(row.is_admin),
        disabled=bool(row.disabled),
        created_at=row.created_at,
        last_sign_in_at=row.last_sign_in_at,
    )


def account_from_row(row: Any) -> Account:
    return Account(
        id=row.id,
        user_id=row.user_id,
        username=row.username,
        display_name=row.display_name,
        note=row.note,
        avatar_key=row.avatar_key,
        header_key=row.header_key,
        locked=bool(row.locked),
        bot=bool(row.bot),
        discoverable=bool(row.discoverable),
        kind=row.kind,
        followers_count=row.followers_count,
        following_count=row.following_count,
        statuses_count=row.statuses_count,
        last_status_at=row.last_status_at,
        created_at=row.created_at,
        updated_at=row.updated_at,
    )


def normalize_email(email: str) -> str | None:
    """The address in canonical form, or None when it is not a valid address."""
    if len(email) > MAX_EMAIL:
        return None
    try:
        return str(validate_email(email, check_deliverability=False).normalized)
    except (EmailNotValidError, ValueError):
        return None


def normalize_phone(phone: str) -> str | None:
    """The number in E.164 (``+`` and up to 15 digits, separators removed), or None."""
    compact = _PHONE_SEPARATORS.sub("", phone)
    return compact if _PHONE.fullmatch(compact) else None


async def _taken(conn: AsyncConnection, column: Any, value: str) -> bool:
    found = await conn.execute(select(column).where(column == value).limit(1))
    return found.first() is not None


async def _check_unique(
    conn: AsyncConnection, problems: Problems, username: str | None, email: str | None, phone: str | None
) -> None:
    if username is not None and await _taken(conn, accounts.c.username_lower, username.lower()):
        problems.add("username", "ERR_TAKEN", "is already taken")
    if email is not None and await _taken(conn, users.c.email_lower, email.lower()):
        problems.add("email", "ERR_TAKEN", "is already taken")
    if phone is not None and await _taken(conn, users.c.phone, phone):
        problems.add("phone", "ERR_TAKEN", "is already taken")


async def register(services: Services, form: Registration) -> tuple[User, Account]:
    """Sign-up: create a login and its profile, and emit ``user.registered`` in the same transaction.

    Raises ValidationFailed naming every bad field (Mastodon's ``details`` shape).
    """
    return await _create(services, form, confirmed=False, admin=False)


async def create_user_as_admin(
    services: Services, username: str, email: str | None, password: str, admin: bool = False
) -> Account:
    """``lumigram admin create-user``: a confirmed login (reserved names allowed, no agreement or contact needed)."""
    form = Registration(username=username, password=password, email=email, agreement=True)
    _user, account = await _create(services, form, confirmed=True, admin=admin)
    return account


async def _create(services: Services, form: Registration, confirmed: bool, admin: bool) -> tuple[User, Account]:
    problems = Problems()
    username = form.username
    problem = username_problem(username)
    if problem is not None and not (confirmed and problem[0] == "ERR_RESERVED"):
        problems.add("username", *problem)

    email: str | None = None
    if form.email:
        email = normalize_email(form.email.strip())
        if email is None:
            problems.add("email", "ERR_INVALID", "is invalid")
    phone: str | None = None
    if form.phone:
        phone = normalize_phone(form.phone)
        if phone is None:
            problems.add("phone", "ERR_INVALID", "is not a valid phone number in E.164 form (+15551234567)")
    if not form.email and not form.phone and not confirmed:
        problems.add("email", "ERR_BLANK", "can't be blank")

    if not form.password:
        problems.add("password", "ERR_BLANK", "can't be blank")
    elif len(form.password) < passwords.MIN_LENGTH:
        problems.add("password", "ERR_TOO_SHORT", f"is too short (minimum is {passwords.MIN_LENGTH} characters)")
    elif len(form.password) > passwords.MAX_LENGTH:
        problems.add("password", "ERR_TOO_LONG", f"is too long (maximum is {passwords.MAX_LENGTH} characters)")
    if not form.agreement:
        problems.add("agreement", "ERR_ACCEPTED", "must be accepted")
    locale = form.locale or "en"
    if not _LOCALE.fullmatch(locale):
        problems.add("locale", "ERR_INCLUSION", "is not included in the list")
    if form.reason is not None and len(form.reason) > MAX_REASON:
        problems.add("reason", "ERR_TOO_LONG", f"is too long (maximum is {MAX_REASON} characters)")

    async with services.db.connect() as conn:
        await _check_unique(
            conn,
            problems,
            None if problems.has("username") else username,
            email,
            phone,
        )
    problems.raise_if_any()

    password_hash = await passwords.hash_password(form.password)
    # The profile's shard is random; the login takes the same one so its rows live together.
    shard = random_shard()
    account_id = services.ids.next_id(shard)
    user_id = services.ids.next_id(shard)
    now = utcnow()
    verified_at = now if confirmed else None
    user_values = {
        "id": user_id,
        "email": email,
        "email_lower": email.lower() if email else None,
        "email_verified_at": verified_at if email else None,
        "phone": phone,
        "phone_verified_at": verified_at if phone else None,
        "password_hash": password_hash,
        "locale": locale,
        "is_admin": admin,
        "disabled": False,
        "created_at": now,
        "last_sign_in_at": None if confirmed else now,
    }
    account_values = {
        "id": account_id,
        "user_id": user_id,
        "username": username,
        "username_lower": username.lower(),
        "display_name": "",
        "note": "",
        "locked": False,
        "bot": False,
        "discoverable": True,
        "kind": "personal",
        "followers_count": 0,
        "following_count": 0,
        "statuses_count": 0,
        "created_at": now,
        "updated_at": now,
    }
    try:
        async with unit_of_work(services) as work:
            await work.conn.execute(insert(users).values(**user_values))
            await work.conn.execute(insert(accounts).values(**account_values))
            # Ids only: contact addresses stay out of the outbox and the bus.
            registered = UserRegistered(user_id=user_id, account_id=account_id, username=username)
            await work.emit(registered, shard=shard)
    except IntegrityError:
        # Someone took the name or address between our check and our insert.
        problems = Problems()
        async with services.db.connect() as conn:
            await _check_unique(conn, problems, username, email, phone)
        problems.raise_if_any()
        raise
    async with services.db.connect() as conn:
        user_row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).one()
        account = await _load_account(conn, account_id)
    assert account is not None
    return user_from_row(user_row), account


async def _find_login(conn: AsyncConnection, login: str, domain: str) -> Any:
    """The user row (with its password hash) for a username, e-mail address or phone number."""
    columns = (*USER_COLUMNS, users.c.password_hash)
    if "@" in login:
        found = await conn.execute(select(*columns).where(users.c.email_lower == login.lower()))
        row = found.first()
        if row is not None:
            return row
        # "alice@our.domain" is a handle, not an address.
        name, _, host = login.rpartition("@")
        if host.lower() != domain.lower():
            return None
        login = name.removeprefix("@")
    if login.startswith("+"):
        phone = normalize_phone(login)
        if phone is None:
            return None
        found = await conn.execute(select(*columns).where(users.c.phone == phone))
        return found.first()
    query = (
        select(*columns)
        .select_from(users.join(accounts, accounts.c.user_id == users.c.id))
        .where(accounts.c.username_lower == login.lower())
    )
    return (await conn.execute(query)).first()


def _lookable(login: str) -> bool:
    # Control characters (NUL above all, which PostgreSQL refuses) never match a login.
    return bool(login) and len(login) <= MAX_EMAIL and not has_control_characters(login)


async def login_owner(services: Services, login: str) -> int | None:
    """The id of the login that ``login`` (username, ``@user@host``, e-mail or phone) names, if any."""
    login = login.strip()
    if not _lookable(login):
        return None
    async with services.db.connect() as conn:
        row = await _find_login(conn, login, services.settings.domain)
    return int(row.id) if row is not None else None


def canonical_login(login: str, domain: str) -> str:
    """One spelling for the forms of a login name that ``_find_login`` treats alike:
    case, a leading ``@``, our own domain after it, separators in a phone number."""
    login = login.strip().lower()
    name, at, host = login.rpartition("@")
    if at and host == domain.lower():
        login = name.removeprefix("@")
    if login.startswith("+"):
        login = normalize_phone(login) or login
    return login[:MAX_EMAIL]


async def authenticate(services: Services, login: str, password: str) -> tuple[User, Account]:
    """Check a login name (username, e-mail or phone) and password; the login and its primary profile.

    Raises InvalidCredentials (either part wrong; we never say which) or LoginDisabled.
    """
    login = login.strip()
    row = None
    if _lookable(login):
        async with services.db.connect() as conn:
            row = await _find_login(conn, login, services.settings.domain)
    if len(password) > passwords.MAX_LENGTH:
        password = ""  # never hash unbounded input; still spend the time below
    valid = await passwords.verify_password(row.password_hash if row is not None else None, password)
    if row is None or not valid:
        raise InvalidCredentials
    user = user_from_row(row)
    if user.disabled:
        raise LoginDisabled
    new_hash = await passwords.hash_password(password) if passwords.needs_rehash(row.password_hash) else None
    now = utcnow()
    async with services.db.begin() as conn:
        values: dict[str, Any] = {"last_sign_in_at": now}
        if new_hash is not None:
            values["password_hash"] = new_hash
        await conn.execute(update(users).where(users.c.id == user.id).values(**values))
        account = await _primary_account(conn, user.id)
    if account is None:
        raise InvalidCredentials
    return user, account


async def _load_account(conn: AsyncConnection, account_id: int) -> Account | None:
    """A profile, unless deleted (its tombstone is found by no one)."""
    query = select(accounts).where(accounts.c.id == account_id, accounts.c.deleted_at.is_(None))
    row = (await conn.execute(query)).first()
    return account_from_row(row) if row is not None else None


async def _primary_account(conn: AsyncConnection, user_id: int) -> Account | None:
    """The login's first profile: the one a sign-in acts as until profile switching exists."""
    query = select(accounts).where(accounts.c.user_id == user_id).order_by(accounts.c.id).limit(1)
    row = (await conn.execute(query)).first()
    return account_from_row(row) if row is not None else None


async def primary_account(services: Services, user_id: int) -> Account:
    async with services.db.connect() as conn:
        account = await _primary_account(conn, user_id)
    if account is None:
        raise NotFound
    return account


async def get_user(services: Services, user_id: int) -> User:
    async with services.db.connect() as conn:
        row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound
    return user_from_row(row)


async def get_account(services: Services, account_id: int) -> Account:
    """One profile; NotFound when missing (or the id cannot be one of ours)."""
    if not 0 < account_id < 2**63:
        raise NotFound
    async with services.db.connect() as conn:
        account = await _load_account(conn, account_id)
    if account is None:
        raise NotFound
    return account


async def get_accounts(services: Services, account_ids: Sequence[int]) -> list[Account]:
    """Profiles for ``account_ids`` in the order asked, skipping unknown ones."""
    wanted = list(dict.fromkeys(i for i in account_ids if 0 < i < 2**63))
    if not wanted:
        return []
    async with services.db.connect() as conn:
        query = select(accounts).where(one_of(conn, accounts.c.id, wanted), accounts.c.deleted_at.is_(None))
        rows = (await conn.execute(query)).all()
    by_id = {row.id: account_from_row(row) for row in rows}
    return [by_id[i] for i in wanted if i in by_id]


async def find_account(services: Services, username: str) -> Account:
    """The local profile named ``username`` (case-insensitive); NotFound otherwise."""
    if username_problem(username) not in (None, ("ERR_RESERVED", "is reserved")):
        raise NotFound
    async with services.db.connect() as conn:
        query = select(accounts).where(accounts.c.username_lower == username.lower(), accounts.c.deleted_at.is_(None))
        row = (await conn.execute(query)).first()
    if row is None:
        raise NotFound
    return account_from_row(row)


async def count_accounts(services: Services) -> int:
    async with services.db.connect() as conn:
        return int((await conn.execute(select(func.count()).select_from(accounts))).scalar_one())


IMAGE_PREFIXES = {"avatar": "avatars", "header": "headers"}
IMAGE_SIZES = {"avatar": AVATAR_SIZE, "header": HEADER_SIZE}


async def store_profile_image(services: Services, kind: str, data: bytes) -> str:
    """Check, re-encode and store an avatar or header; returns its content-addressed blob key.

    The upload passes the post photo's checks and is stored only as a new, metadata-free
    image of the kind's fixed shape (``uploads.profile_images``), never as sent: a phone's
    photo carries where it was taken. ValidationFailed (422) names what was wrong.
    """
    if not data:
        raise ValidationFailed.field(kind, "ERR_BLANK", "can't be blank")
    if len(data) > MAX_IMAGE_BYTES:
        limit_mb = MAX_IMAGE_BYTES // (1024 * 1024)
        raise ValidationFailed.field(kind, "ERR_TOO_LARGE", f"must be smaller than {limit_mb} MB")
    loop = asyncio.get_running_loop()
    try:
        image = await loop.run_in_executor(
            services.cpu_pool(), process_profile_image, data, IMAGE_SIZES[kind], MAX_IMAGE_BYTES
        )
    except ImageRejected as exc:
        reason = str(exc)
        details = {kind: [{"error": "ERR_INVALID", "description": reason}]}
        raise ValidationFailed(f"{kind.capitalize()}: {reason}", details) from None
    # Content-addressed: the same picture is stored once and its URL never changes meaning,
    # so it can be cached forever.
    key = f"{IMAGE_PREFIXES[kind]}/{hashlib.sha256(image.data).hexdigest()}.{image.extension}"
    await services.blobs.put(key, image.data, image.content_type)
    return key


async def update_profile(services: Services, account_id: int, changes: ProfileChanges) -> Account:
    """Apply a partial profile update; ValidationFailed names every bad field."""
    problems = Problems()
    values: dict[str, Any] = {}
    if changes.display_name is not None:
        display_name = clean_text(changes.display_name)
        if len(display_name) > MAX_DISPLAY_NAME:
            problems.add("display_name", "ERR_TOO_LONG", f"is too long (maximum is {MAX_DISPLAY_NAME} characters)")
        values["display_name"] = display_name
    if changes.note is not None:
        note = clean_text(changes.note, keep_newlines=True)
        if len(note) > MAX_NOTE:
            problems.add("note", "ERR_TOO_LONG", f"is too long (maximum is {MAX_NOTE} characters)")
        values["note"] = note
    for name in ("locked", "bot", "discoverable"):
        flag = getattr(changes, name)
        if flag is not None:
            values[name] = bool(flag)
    problems.raise_if_any()

    # Blobs first: a failed database update leaves only an unreferenced, deduplicated blob.
    if changes.avatar is not None:
        values["avatar_key"] = await store_profile_image(services, "avatar", changes.avatar)
    if changes.header is not None:
        values["header_key"] = await store_profile_image(services, "header", changes.header)

    changed_media: list[int] = []
    async with unit_of_work(services) as work:
        if values:
            values["updated_at"] = utcnow()
            await work.conn.execute(update(accounts).where(accounts.c.id == account_id).values(**values))
        if "locked" in values:
            changed_media = await _apply_privacy(work.conn, account_id, values["locked"])
        account = await _load_account(work.conn, account_id)
        if account is None:
            raise NotFound
        if values:
            await work.emit(AccountUpdated(account_id=account_id), shard=shard_of(account_id))
    await forget_privacy(services, *changed_media)
    return account


async def _apply_privacy(conn: AsyncConnection, account_id: int, locked: bool) -> list[int]:
    """Going private puts all the account's media behind signed URLs at once (and going
    public frees what is not private by its post's visibility)."""
    restricted = select(statuses.c.id).where(
        statuses.c.account_id == account_id, statuses.c.visibility.in_(("private", "direct"))
    )
    query = update(media_attachments).where(media_attachments.c.account_id == account_id)
    if not locked:
        query = query.where(media_attachments.c.status_id.is_(None) | media_attachments.c.status_id.not_in(restricted))
    result = await conn.execute(query.values(private=locked).returning(media_attachments.c.id))
    return list(result.scalars())


async def clear_profile_image(services: Services, account_id: int, kind: str) -> Account:
    """Go back to the default avatar or header (the blob stays: others may share it)."""
    column = f"{kind}_key"
    async with unit_of_work(services) as work:
        await work.conn.execute(
            update(accounts).where(accounts.c.id == account_id).values({column: None, "updated_at": utcnow()})
        )
        account = await _load_account(work.conn, account_id)
        if account is None:
            raise NotFound
        await work.emit(AccountUpdated(account_id=account_id), shard=shard_of(account_id))
    return account


async def set_disabled(services: Services, user_id: int, disabled: bool) -> User:
    """Disable (or re-enable) a login: its tokens and web sessions stop working on their next
    request, and its open streams end."""
    async with services.db.begin() as conn:
        await conn.execute(update(users).where(users.c.id == user_id).values(disabled=disabled))
        row = (await conn.execute(select(*USER_COLUMNS).where(users.c.id == user_id))).first()
    if row is None:
        raise NotFound
    await authcache.forget_user_state(services, user_id)
    if disabled:
        await authcache.announce_revoked(services, user_ids=[user_id])
    return user_from_row(row)
