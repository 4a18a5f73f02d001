"""OAuth 2 server side: client apps, authorization codes (with PKCE) and access tokens.

Secrets are random (``secrets.token_urlsafe(32)``: 256 bits) and only their SHA-256
is stored, so a database leak yields no usable token. A salted slow hash is not
needed for 256-bit random values, and a fast one keeps the per-request lookup cheap.

Token lookups go through the cache (``lumigram.accounts.authcache``); revoking marks
the cached entry revoked, so a revoked token stops working at once on every process, and
announces the revocation, so the streams open with it end at once too.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import orjson
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from sqlalchemy import insert, or_, select, update
from sqlalchemy.engine import Row

from lumigram.accounts import authcache
from lumigram.accounts import scopes as scope_rules
from lumigram.accounts.models import App, IssuedToken, TokenGrant
from lumigram.accounts.service import InvalidCredentials, LoginDisabled, LoginUnconfirmed, authenticate, check_confirmed
from lumigram.accounts.text import clean_text, has_control_characters
from lumigram.errors import LumigramError, ValidationFailed
from lumigram.ids import shard_of
from lumigram.infra.tables import oauth_apps, oauth_codes, oauth_tokens, users, utcnow
from lumigram.services import Services

log = logging.getLogger(__name__)

#: The "out of band" redirect: show the code to the person instead of redirecting.
OOB = "urn:ietf:wg:oauth:2.0:oob"
CODE_LIFETIME = timedelta(minutes=10)
LAST_USED_EVERY = timedelta(minutes=1)
#: Token hash → its user, learned from the token's entry (bounded; cleared when full).
_token_users: dict[str, int] = {}
_TOKEN_USERS_MAX = 100_000
MAX_APP_NAME = 255
MAX_URI = 2048
MAX_REDIRECT_URIS = 10


# RFC 7636 §4.1: 43-128 characters of [A-Z a-z 0-9 - . _ ~].
_PKCE_VALUE = re.compile(r"[A-Za-z0-9._~-]{43,128}")
_FORBIDDEN_REDIRECT_SCHEMES = frozenset({"javascript", "data", "vbscript", "file", "about", "blob"})

INVALID_GRANT = (
    "The provided authorization grant is invalid, expired, revoked, does not match the redirection URI "
    "used in the authorization request, or was issued to another client."
)
INVALID_CLIENT = (
    "Client authentication failed due to unknown client, no client authentication included, "
    "or unsupported authentication method."
)


class OAuthError(LumigramError):
    """An error in RFC 6749's shape (``{"error": code, "error_description": ...}``)."""

    def __init__(self, error: str, description: str, status: int = 400) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.status = status


def hash_secret(raw: str) -> str:
    return hashlib.sha256(raw.encode("utf-8", "surrogatepass")).hexdigest()


def new_secret() -> str:
    return secrets.token_urlsafe(32)


def _app_from_row(row: Row[Any]) -> App:
    return App(
        id=row.id,
        name=row.name,
        website=row.website,
        redirect_uris=tuple(row.redirect_uris.split()),
        scopes=tuple(row.scopes.split()),
        client_id=row.client_id,
        client_secret=row.client_secret,
        created_at=row.created_at,
    )


# --- client applications ---------------------------------------------------------------


def _redirect_uri_problem(uri: str) -> str | None:
    if uri == OOB:
        return None
    if len(uri) > MAX_URI or has_control_characters(uri):
        return "is invalid"
    try:
        parts = urlsplit(uri)
    except ValueError:
        return "must be an absolute URI"
    scheme = parts.scheme.lower()
    if not scheme:
        return "must be an absolute URI"
    if parts.fragment:
        return "cannot contain a fragment"
    if scheme in _FORBIDDEN_REDIRECT_SCHEMES:
        return "uses a forbidden scheme"
    if scheme in ("http", "https") and not parts.netloc:
        return "must be an absolute URI"
    return None


def split_redirect_uris(value: str | Sequence[str]) -> list[str]:
    """Mastodon takes several redirect URIs as one whitespace-separated string or as a list."""
    items = [value] if isinstance(value, str) else list(value)
    return [uri for item in items for uri in str(item).split()]


async def register_app(
    services: Services,
    name: str,
    redirect_uris: Sequence[str],
    scopes: Sequence[str],
    website: str | None = None,
) -> App:
    """``POST /api/v1/apps``: a new client with a fresh id and secret."""
    details: dict[str, list[dict[str, Any]]] = {}
    name = clean_text(name)
    if not name:
        details["client_name"] = [{"error": "ERR_BLANK", "description": "can't be blank"}]
    elif len(name) > MAX_APP_NAME:
        details["client_name"] = [
            {"error": "ERR_TOO_LONG", "description": f"is too long (maximum is {MAX_APP_NAME} characters)"}
        ]
    uris = list(dict.fromkeys(redirect_uris)) or [OOB]
    if len(uris) > MAX_REDIRECT_URIS:
        details["redirect_uris"] = [{"error": "ERR_TOO_LONG", "description": "are too many"}]
    for uri in uris:
        if (problem := _redirect_uri_problem(uri)) is not None:
            details.setdefault("redirect_uris", []).append({"error": "ERR_INVALID", "description": problem})
    if website:
        website = website.strip()
        parts = urlsplit(website) if len(website) <= MAX_URI and not has_control_characters(website) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            details["website"] = [{"error": "ERR_INVALID", "description": "is invalid"}]
    if details:
        first_field, problems = next(iter(details.items()))
        label = first_field.replace("_", " ").capitalize()
        raise ValidationFailed(f"Validation failed: {label} {problems[0]['description']}", details)

    app = App(
        id=services.ids.next_id(),
        name=name,
        website=website or None,
        redirect_uris=tuple(uris),
        scopes=tuple(scopes),
        client_id=new_secret(),
        client_secret=new_secret(),
        created_at=utcnow(),
    )
    async with services.db.begin() as conn:
        await conn.execute(
            insert(oauth_apps).values(
                id=app.id,
                name=app.name,
                website=app.website,
                redirect_uris="\n".join(app.redirect_uris),
                scopes=" ".join(app.scopes),
                client_id=app.client_id,
                client_secret=app.client_secret,
                created_at=app.created_at,
            )
        )
    return app


async def get_app(services: Services, app_id: int) -> App | None:
    async with services.db.connect() as conn:
        row = (await conn.execute(select(oauth_apps).where(oauth_apps.c.id == app_id))).first()
    return _app_from_row(row) if row is not None else None


async def find_app(services: Services, client_id: str) -> App | None:
    # Refuse odd input before it reaches SQL: PostgreSQL rejects NUL in text parameters.
    if not client_id or len(client_id) > 64 or has_control_characters(client_id):
        return None
    async with services.db.connect() as conn:
        row = (await conn.execute(select(oauth_apps).where(oauth_apps.c.client_id == client_id))).first()
    return _app_from_row(row) if row is not None else None


async def authenticate_client(services: Services, client_id: str | None, client_secret: str | None) -> App:
    """The app whose id and secret these are; OAuthError ``invalid_client`` (401) otherwise."""
    app = await find_app(services, client_id or "")
    # Compare even when the app is unknown, so timing says nothing about which ids exist.
    expected = app.client_secret if app is not None else new_secret()
    if not hmac.compare_digest(expected.encode(), (client_secret or "").encode("utf-8", "surrogatepass")):
        raise OAuthError("invalid_client", INVALID_CLIENT, 401)
    assert app is not None
    return app


def resolve_redirect_uri(app: App, requested: str | None) -> str:
    """The redirect URI to use: one the app registered (exact match), or its only one when omitted."""
    if not requested:
        if len(app.redirect_uris) == 1:
            return app.redirect_uris[0]
        raise OAuthError("invalid_request", "The redirect_uri parameter is required for this client.")
    if requested not in app.redirect_uris:
        raise OAuthError("invalid_grant", "The redirect URI included is not valid.")
    return requested


def resolve_scopes(allowed: Sequence[str], requested: str | None) -> tuple[str, ...]:
    """The scopes to grant: the requested ones (default ``read``), each within ``allowed``."""
    try:
        wanted = scope_rules.parse_scopes(requested)
    except scope_rules.InvalidScope as exc:
        raise OAuthError("invalid_scope", f"The requested scope is invalid, unknown, or malformed: {exc}") from exc
    if requested is None or not requested.strip():
        # Mastodon's default is "read"; an app registered without it gets all of its own scopes.
        wanted = wanted if scope_rules.within(wanted, allowed) else tuple(allowed)
    if not scope_rules.within(wanted, allowed):
        raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or malformed.")
    return wanted


def check_code_challenge(challenge: str | None, method: str | None) -> None:
    """Validate PKCE parameters of an authorization request (S256 only, as Mastodon)."""
    if challenge is None:
        if method:
            raise OAuthError("invalid_request", "code_challenge_method was given without code_challenge.")
        return
    if (method or "plain") != "S256":
        raise OAuthError("invalid_request", "Only the S256 code_challenge_method is supported.")
    if not _PKCE_VALUE.fullmatch(challenge):
        raise OAuthError("invalid_request", "The code_challenge is malformed.")


# --- tokens -------------------------------------------------------------------------------


async def _insert_token(
    conn: Any,
    services: Services,
    app_id: int | None,
    user_id: int | None,
    account_id: int | None,
    scopes: Sequence[str],
    with_refresh: bool,
) -> IssuedToken:
    access = new_secret()
    refresh = new_secret() if with_refresh else None
    now = utcnow()
    lifetime = services.settings.token_lifetime
    await conn.execute(
        insert(oauth_tokens).values(
            # A user's tokens sit on the user's shard, with the rest of their rows.
            id=services.ids.next_id(shard_of(user_id) if user_id is not None else None),
            token_hash=hash_secret(access),
            refresh_hash=hash_secret(refresh) if refresh is not None else None,
            app_id=app_id,
            user_id=user_id,
            account_id=account_id,
            scopes=" ".join(scopes),
            created_at=now,
            expires_at=now + timedelta(seconds=lifetime) if lifetime else None,
        )
    )
    return IssuedToken(
        access_token=access,
        refresh_token=refresh,
        scopes=tuple(scopes),
        created_at=now,
        expires_in=lifetime or None,
        account_id=account_id,
    )


async def issue_token(
    services: Services,
    app_id: int | None,
    user_id: int | None,
    account_id: int | None,
    scopes: Sequence[str],
    with_refresh: bool | None = None,
) -> IssuedToken:
    """A new access token (and, for user tokens, a refresh token)."""
    refresh = user_id is not None if with_refresh is None else with_refresh
    async with services.db.begin() as conn:
        return await _insert_token(conn, services, app_id, user_id, account_id, scopes, refresh)


async def create_authorization_code(
    services: Services,
    app: App,
    user_id: int,
    account_id: int,
    redirect_uri: str,
    scopes: Sequence[str],
    code_challenge: str | None = None,
    code_challenge_method: str | None = None,
) -> str:
    """A single-use code the client exchanges at the token endpoint within ``CODE_LIFETIME``."""
    code = new_secret()
    async with services.db.begin() as conn:
        await conn.execute(
            insert(oauth_codes).values(
                code_hash=hash_secret(code),
                app_id=app.id,
                user_id=user_id,
                account_id=account_id,
                redirect_uri=redirect_uri,
                scopes=" ".join(scopes),
                code_challenge=code_challenge,
                code_challenge_method=code_challenge_method if code_challenge else None,
                expires_at=utcnow() + CODE_LIFETIME,
            )
        )
    return code


async def _user_is_usable(conn: Any, user_id: int) -> bool:
    row = (await conn.execute(select(users.c.disabled).where(users.c.id == user_id))).first()
    return row is not None and not row.disabled


async def exchange_code(
    services: Services, app: App, code: str | None, redirect_uri: str | None, code_verifier: str | None
) -> IssuedToken:
    """``grant_type=authorization_code``: a code (used once) for a user token."""
    if not code:
        raise OAuthError("invalid_request", "Missing required parameter: code.")
    async with services.db.begin() as conn:
        row = (await conn.execute(select(oauth_codes).where(oauth_codes.c.code_hash == hash_secret(code)))).first()
        if row is None or row.app_id != app.id or row.used_at is not None or row.expires_at <= utcnow():
            raise OAuthError("invalid_grant", INVALID_GRANT)
        if (redirect_uri or row.redirect_uri) != row.redirect_uri:
            raise OAuthError("invalid_grant", INVALID_GRANT)
        if row.code_challenge is not None:
            if not code_verifier or not _PKCE_VALUE.fullmatch(code_verifier):
                raise OAuthError("invalid_grant", "The code_verifier is missing or malformed.")
            expected = create_s256_code_challenge(code_verifier)
            if not hmac.compare_digest(expected.encode(), row.code_challenge.encode()):
                raise OAuthError("invalid_grant", "The code_verifier does not match the code_challenge.")
        elif code_verifier:
            # A verifier for a code issued without a challenge hints at a swapped code (RFC 9700 §2.1.1).
            raise OAuthError("invalid_grant", "This code was issued without a code_challenge.")
        if not await _user_is_usable(conn, row.user_id):
            raise OAuthError("invalid_grant", INVALID_GRANT)
        # Claim the code; of two concurrent exchanges only one sees it unused.
        claimed = await conn.execute(
            update(oauth_codes)
            .where(oauth_codes.c.code_hash == row.code_hash, oauth_codes.c.used_at.is_(None))
            .values(used_at=utcnow())
        )
        if claimed.rowcount != 1:
            raise OAuthError("invalid_grant", INVALID_GRANT)
        return await _insert_token(
            conn, services, app.id, row.user_id, row.account_id, row.scopes.split(), with_refresh=True
        )


async def password_grant(
    services: Services, app: App, login: str | None, password: str | None, scope: str | None
) -> IssuedToken:
    """``grant_type=password`` (Mastodon.py's ``log_in``): a login name and password for a user token."""
    if not login or password is None:
        raise OAuthError("invalid_request", "Missing required parameter: username and password.")
    scopes = resolve_scopes(app.scopes, scope)
    try:
        user, account = await authenticate(services, login, password)
    except InvalidCredentials as exc:
        raise OAuthError("invalid_grant", INVALID_GRANT) from exc
    except LoginDisabled as exc:
        raise OAuthError("invalid_grant", exc.message) from exc
    try:
        # Refused here rather than by every later request: a token that can do nothing
        # leaves the client guessing, this answer says what to confirm.
        check_confirmed(services, user)
    except LoginUnconfirmed as exc:
        raise OAuthError("invalid_grant", exc.message) from exc
    return await issue_token(services, app.id, user.id, account.id, scopes, with_refresh=True)


async def client_credentials_grant(services: Services, app: App, scope: str | None) -> IssuedToken:
    """``grant_type=client_credentials``: an app-only token (sign-up, public reads)."""
    scopes = resolve_scopes(app.scopes, scope)
    return await issue_token(services, app.id, None, None, scopes, with_refresh=False)


async def refresh_grant(services: Services, app: App, refresh_token: str | None, scope: str | None) -> IssuedToken:
    """``grant_type=refresh_token``: rotate; the old access and refresh tokens stop working."""
    if not refresh_token:
        raise OAuthError("invalid_request", "Missing required parameter: refresh_token.")
    async with services.db.begin() as conn:
        query = select(oauth_tokens).where(oauth_tokens.c.refresh_hash == hash_secret(refresh_token))
        row = (await conn.execute(query)).first()
        if row is None or row.app_id != app.id or row.revoked_at is not None:
            raise OAuthError("invalid_grant", INVALID_GRANT)
        original = tuple(row.scopes.split())
        scopes = original
        if scope is not None and scope.strip():
            try:
                scopes = scope_rules.parse_scopes(scope)
            except scope_rules.InvalidScope as exc:
                raise OAuthError("invalid_scope", "The requested scope is invalid, unknown, or malformed.") from exc
            if not scope_rules.within(scopes, original):
                raise OAuthError("invalid_scope", "The requested scope exceeds the scope granted originally.")
        if row.user_id is not None and not await _user_is_usable(conn, row.user_id):
            raise OAuthError("invalid_grant", INVALID_GRANT)
        revoked = await conn.execute(
            update(oauth_tokens)
            .where(oauth_tokens.c.id == row.id, oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
        if revoked.rowcount != 1:
            raise OAuthError("invalid_grant", INVALID_GRANT)
        issued = await _insert_token(conn, services, app.id, row.user_id, row.account_id, scopes, with_refresh=True)
    # The replaced token's open streams end too: the client reconnects with the new one.
    await authcache.token_revoked(services, row.token_hash, row.id)
    return issued


async def revoke_token(services: Services, app: App, token: str | None) -> None:
    """RFC 7009: revoke an access or refresh token of ``app``; unknown tokens are not an error."""
    if not token:
        raise OAuthError("invalid_request", "Missing required parameter: token.")
    digest = hash_secret(token)
    async with services.db.begin() as conn:
        query = select(oauth_tokens.c.id, oauth_tokens.c.app_id, oauth_tokens.c.token_hash).where(
            or_(oauth_tokens.c.token_hash == digest, oauth_tokens.c.refresh_hash == digest)
        )
        row = (await conn.execute(query)).first()
        if row is None:
            return
        if row.app_id != app.id:
            raise OAuthError("unauthorized_client", "You are not authorized to revoke this token", 403)
        await conn.execute(
            update(oauth_tokens)
            .where(oauth_tokens.c.id == row.id, oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    await authcache.token_revoked(services, row.token_hash, row.id)


async def revoke_access_token(services: Services, token_id: int) -> None:
    """Revoke one token by id (sign-out of a session, admin action)."""
    async with services.db.begin() as conn:
        row = (await conn.execute(select(oauth_tokens.c.token_hash).where(oauth_tokens.c.id == token_id))).first()
        await conn.execute(
            update(oauth_tokens)
            .where(oauth_tokens.c.id == token_id, oauth_tokens.c.revoked_at.is_(None))
            .values(revoked_at=utcnow())
        )
    if row is not None:
        await authcache.token_revoked(services, row.token_hash, token_id)


# --- token lookup on every request -------------------------------------------------------------


def _ts(value: datetime | None) -> float | None:
    return value.timestamp() if value is not None else None


def _dt(value: float | None) -> datetime | None:
    return datetime.fromtimestamp(value, tz=UTC) if value is not None else None


#: Token ids whose last use is being written.
_stamping: set[int] = set()


def _stamp_used_soon(services: Services, token_id: int, now: datetime) -> None:
    """Record a token's last use without the request waiting for it. On SQLite every write
    waits its turn at the one writer, behind whatever the in-process consumers are
    writing: a read that waited there stalled for seconds under load. A stamp that fails
    or is cut off at shutdown costs nothing but an older ``last_used_at``."""
    if token_id in _stamping:
        return
    _stamping.add(token_id)

    async def stamp() -> None:
        try:
            async with services.db.begin() as conn:
                await conn.execute(update(oauth_tokens).where(oauth_tokens.c.id == token_id).values(last_used_at=now))
        except Exception:
            log.warning("recording the last use of token %s failed", token_id, exc_info=True)
        finally:
            _stamping.discard(token_id)

    services.spawn(stamp(), name=f"token {token_id} last used")


async def _load_token(services: Services, digest: str) -> dict[str, Any] | None:
    async with services.db.connect() as conn:
        query = select(oauth_tokens).where(oauth_tokens.c.token_hash == digest, oauth_tokens.c.revoked_at.is_(None))
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    now = utcnow()
    if row.last_used_at is None or now - row.last_used_at >= LAST_USED_EVERY:
        # Refilling the cache happens at most once per TOKEN_CACHE_TTL per token, so this
        # write does too: last_used_at is accurate to about five minutes, never a hot-path write.
        _stamp_used_soon(services, row.id, now)
    return {
        "id": row.id,
        "app_id": row.app_id,
        "user_id": row.user_id,
        "account_id": row.account_id,
        "scopes": row.scopes,
        "created_at": _ts(row.created_at),
        "expires_at": _ts(row.expires_at),
    }


async def _user_state(services: Services, user_id: int, cached: bytes | None = None) -> dict[str, bool] | None:
    """A login's state (``cached``: what its key held, if the caller read it already)."""
    key = authcache.user_key(user_id)
    if cached is None:
        cached = await authcache.cache_get(services, key)
    if cached is not None and cached != authcache.CHANGED:
        state: dict[str, bool] = orjson.loads(cached)
        return state
    read_at = authcache.read_began()
    loaded = await _load_user_state(services, user_id)
    if loaded is not None and cached is None:  # a fresh change's mark keeps the cache out
        await authcache.fill(services, key, orjson.dumps(loaded), authcache.TOKEN_CACHE_TTL, read_at)
    return loaded


async def _load_user_state(services: Services, user_id: int) -> dict[str, bool] | None:
    async with services.db.connect() as conn:
        query = select(
            users.c.disabled, users.c.email, users.c.email_verified_at, users.c.phone, users.c.phone_verified_at
        ).where(users.c.id == user_id)
        row = (await conn.execute(query)).first()
    if row is None:
        return None
    return {
        "disabled": bool(row.disabled),
        "verified": row.email_verified_at is not None or row.phone_verified_at is not None,
        # Which contacts there are to confirm, so a refusal can name the right one.
        "email": bool(row.email),
        "phone": bool(row.phone),
    }


async def resolve_token(services: Services, raw: str) -> TokenGrant | None:
    """What the bearer token ``raw`` grants, or None if it is unknown, revoked or expired."""
    if not raw or len(raw) > 512:
        return None
    digest = hash_secret(raw)
    key = authcache.token_key(digest)
    # A token's user never changes: once known, the token's entry and the login's state
    # come in one round trip.
    user_id = _token_users.get(digest)
    if user_id is not None:
        cached, cached_state = await authcache.cache_get_many(services, [key, authcache.user_key(user_id)])
    else:
        cached, cached_state = await authcache.cache_get(services, key), None
    if cached == authcache.REVOKED:
        return None
    data: dict[str, Any] | None = orjson.loads(cached) if cached is not None else None
    if data is None:
        read_at = authcache.read_began()
        data = await _load_token(services, digest)
        if data is None:
            return None
        ttl = authcache.TOKEN_CACHE_TTL
        if data["expires_at"] is not None:
            ttl = max(1, min(ttl, int(data["expires_at"] - utcnow().timestamp())))
        # Set only if absent: a revocation that committed since the read left its mark.
        await authcache.fill(services, key, orjson.dumps(data), ttl, read_at)
    state = None
    if data["user_id"] is not None:
        if len(_token_users) >= _TOKEN_USERS_MAX:
            _token_users.clear()
        _token_users[digest] = data["user_id"]
        state = await _user_state(services, data["user_id"], cached_state if data["user_id"] == user_id else None)
        if state is None:
            return None
    return grant_from_cached(data, state)


async def usable_tokens(services: Services, raws: Sequence[str]) -> list[bool]:
    """For each raw token, whether it still works for a login that may act: not revoked,
    not expired, its login not disabled. Open streams are checked this way now and then.

    Tokens whose entries (and whose logins' states) are cached cost one round trip all
    together; the others go through ``resolve_token``, which reads the database at most
    once per ``TOKEN_CACHE_TTL`` for each, as any request would."""
    digests = [hash_secret(raw) for raw in raws]
    user_ids = sorted({u for d in digests if (u := _token_users.get(d)) is not None})
    keys = [authcache.token_key(d) for d in digests] + [authcache.user_key(u) for u in user_ids]
    values = await authcache.cache_get_many(services, keys) if keys else []
    states = dict(zip(user_ids, values[len(digests) :], strict=True))
    usable: list[bool] = []
    for raw, entry in zip(raws, values[: len(digests)], strict=True):
        if entry == authcache.REVOKED:
            usable.append(False)
            continue
        grant: TokenGrant | None
        data: dict[str, Any] | None = orjson.loads(entry) if entry is not None else None
        state = states.get(data["user_id"]) if data is not None and data["user_id"] is not None else None
        if state == authcache.CHANGED:
            state = None  # read afresh below
        if data is not None and (data["user_id"] is None or state is not None):
            grant = grant_from_cached(data, orjson.loads(state) if state is not None else None)
        else:
            grant = await resolve_token(services, raw)
        usable.append(grant is not None and not grant.user_disabled)
    return usable


def grant_from_cached(data: dict[str, Any], state: dict[str, bool] | None) -> TokenGrant | None:
    """The grant of a token's cached entry and, for a user token, its login's cached state;
    None once the token has expired."""
    expires_at = _dt(data["expires_at"])
    if expires_at is not None and expires_at <= utcnow():
        return None
    if data["user_id"] is not None and state is None:
        return None
    verified = disabled = False
    if state is not None:
        verified, disabled = state["verified"], state["disabled"]
    created_at = _dt(data["created_at"])
    assert created_at is not None
    return TokenGrant(
        token_id=data["id"],
        app_id=data["app_id"],
        user_id=data["user_id"],
        account_id=data["account_id"],
        scopes=frozenset(data["scopes"].split()),
        created_at=created_at,
        expires_at=expires_at,
        user_verified=verified,
        user_disabled=disabled,
        # Entries cached before these were kept lack them: an e-mail is the likelier contact.
        user_has_email=state.get("email", True) if state is not None else False,
        user_has_phone=state.get("phone", False) if state is not None else False,
    )


async def token_for_new_account(services: Services, grant: TokenGrant, user_id: int, account_id: int) -> IssuedToken:
    """The token ``POST /api/v1/accounts`` answers with: the new user's, with the caller's scopes (as Mastodon)."""
    return await issue_token(services, grant.app_id, user_id, account_id, sorted(grant.scopes), with_refresh=True)
