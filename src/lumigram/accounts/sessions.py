"""A login's signed-in sessions: the live access tokens it holds, each app's or a
browser's, listed so the person can end any one of them, or all at once.

A token issued without an app is the web app's own token for one browser (issued when
that browser signs in); the web session ends with it, so revoking it signs that browser
out. Revoking goes through the same cache marks as any revocation (``authcache``), so
the token stops working at once on every process and its open streams end.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, or_, select, update

from lumigram.accounts import authcache
from lumigram.accounts.oauth import hash_secret
from lumigram.errors import NotFound
from lumigram.infra.tables import oauth_apps, oauth_tokens, utcnow
from lumigram.services import Services

#: The most sessions listed: a login that signed in with a password from a script
#: every minute would otherwise fill the page with them.
MAX_LISTED = 100


@dataclass(frozen=True, slots=True)
class SignedIn:
    """One live token of a login."""

    token_id: int
    #: The app's name; None for the web app's own token (a browser).
    app_name: str | None
    app_website: str | None
    scopes: tuple[str, ...]
    created_at: datetime
    last_used_at: datetime | None


def _live(user_id: int, now: datetime) -> list[ColumnElement[bool]]:
    return [
        oauth_tokens.c.user_id == user_id,
        oauth_tokens.c.revoked_at.is_(None),
        or_(oauth_tokens.c.expires_at.is_(None), oauth_tokens.c.expires_at > now),
    ]


async def list_signed_in(services: Services, user_id: int) -> list[SignedIn]:
    """The login's live tokens, most recently used (or made) first."""
    query = (
        select(
            oauth_tokens.c.id,
            oauth_tokens.c.scopes,
            oauth_tokens.c.created_at,
            oauth_tokens.c.last_used_at,
            oauth_apps.c.name,
            oauth_apps.c.website,
        )
        .select_from(oauth_tokens.outerjoin(oauth_apps, oauth_apps.c.id == oauth_tokens.c.app_id))
        .where(*_live(user_id, utcnow()))
        .order_by(oauth_tokens.c.id.desc())
        .limit(MAX_LISTED)
    )
    async with services.db.connect() as conn:
        rows = (await conn.execute(query)).all()
    found = [
        SignedIn(
            token_id=row.id,
            app_name=row.name,
            app_website=row.website,
            scopes=tuple(row.scopes.split()),
            created_at=row.created_at,
            last_used_at=row.last_used_at,
        )
        for row in rows
    ]
    found.sort(key=lambda item: item.last_used_at or item.created_at, reverse=True)
    return found


async def _revoke(services: Services, user_id: int, token_id: int | None) -> int:
    """Revoke one live token of ``user_id`` (or all of them when ``token_id`` is None)."""
    conditions = _live(user_id, utcnow())
    if token_id is not None:
        conditions.append(oauth_tokens.c.id == token_id)
    async with services.db.begin() as conn:
        rows = (await conn.execute(select(oauth_tokens.c.id, oauth_tokens.c.token_hash).where(*conditions))).all()
        if rows:
            await conn.execute(
                update(oauth_tokens)
                .where(oauth_tokens.c.id.in_([row.id for row in rows]), oauth_tokens.c.revoked_at.is_(None))
                .values(revoked_at=utcnow())
            )
    # After the commit, so no process can fill its cache from a row not yet revoked.
    for row in rows:
        await authcache.token_revoked(services, row.token_hash, row.id)
    return len(rows)


async def end_session(services: Services, user_id: int, token_id: int) -> None:
    """Revoke one of the login's own live tokens; someone else's, or a dead one, is not found."""
    if await _revoke(services, user_id, token_id) == 0:
        raise NotFound("This session has already ended.")


async def end_all_sessions(services: Services, user_id: int) -> int:
    """Revoke every live token of the login (sign out everywhere); how many there were."""
    return await _revoke(services, user_id, None)


async def was_revoked(services: Services, raw: str) -> bool:
    """Whether the token ``raw`` exists and was revoked (rather than expired or unknown)."""
    if not raw or len(raw) > 512:
        return False
    query = select(oauth_tokens.c.revoked_at).where(oauth_tokens.c.token_hash == hash_secret(raw))
    async with services.db.connect() as conn:
        row = (await conn.execute(query)).first()
    return row is not None and row.revoked_at is not None
