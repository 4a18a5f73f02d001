"""Who is calling: bearer-token dependencies for routes.

* ``CurrentToken``: any valid token, app-only ones included (401 without one).
* ``CurrentAccount``: a user token, as a ``Viewer`` (401 for none or an app-only token;
  403 if the login is disabled or, with ``require_verification``, unconfirmed).
* ``UnconfirmedAccount``: like ``CurrentAccount`` but lets unconfirmed logins through;
  only for the routes that confirm an address or resend the confirmation.
* ``OptionalAccount``: a ``Viewer``, or None for anonymous and app-only callers and for
  logins that may not act (disabled, unconfirmed). An invalid token is still a 401, as
  in Mastodon: the client should learn its token is dead.
* ``OptionalToken``: the ``TokenGrant`` or None.
* ``require_scopes("write:accounts")``: 403 unless the token holds one of the scopes
  (or a broader one: ``write`` covers ``write:accounts``); ``scopes_if_token(...)`` is the
  same for public routes, checked only when a token is sent.
* ``account_with_scopes(...)``: ``CurrentAccount`` and ``require_scopes(...)`` in one
  dependency, for the busiest write routes.

The token is read from ``Authorization: Bearer ...`` or the ``access_token`` query
parameter (streaming clients cannot set headers on a WebSocket). Lookups are cached
(see ``lumigram.accounts.oauth.resolve_token``), so this adds no database round trip to
most requests.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import Depends
from starlette.requests import HTTPConnection

from lumigram.accounts.models import TokenGrant, Viewer
from lumigram.accounts.oauth import resolve_token
from lumigram.accounts.service import unconfirmed_message
from lumigram.api.deps import ServicesDep
from lumigram.errors import Forbidden, Unauthorized
from lumigram.pagecache.grants import bearer_token

OUTSIDE_SCOPES = "This action is outside the authorized scopes"
NEEDS_USER = "This method requires an authenticated user"
DISABLED = "Your login is currently disabled"


def client_address(conn: HTTPConnection) -> str:
    """The peer's address, the key for per-client rate limits.

    Behind a reverse proxy this is the proxy's address unless the server trusts its
    forwarding headers (uvicorn's ``--forwarded-allow-ips``), which rewrites the peer.
    """
    return conn.client.host if conn.client is not None else "unknown"


async def get_optional_token(conn: HTTPConnection, services: ServicesDep) -> TokenGrant | None:
    """The caller's token, None without one; Unauthorized for an invalid token."""
    raw = bearer_token(conn)
    grant = None
    if raw is not None:
        grant = await resolve_token(services, raw)
        if grant is None:
            raise Unauthorized("The access token is invalid")
    return grant


async def get_current_token(grant: Annotated[TokenGrant | None, Depends(get_optional_token)]) -> TokenGrant:
    if grant is None:
        raise Unauthorized("The access token is invalid")
    return grant


def _viewer(grant: TokenGrant) -> Viewer:
    assert grant.user_id is not None
    assert grant.account_id is not None
    return Viewer(
        account_id=grant.account_id,
        user_id=grant.user_id,
        token_id=grant.token_id,
        app_id=grant.app_id,
        scopes=grant.scopes,
    )


def _check_usable(grant: TokenGrant, require_verification: bool) -> None:
    if grant.user_disabled:
        raise Forbidden(DISABLED)
    if require_verification and not grant.user_verified:
        raise Forbidden(unconfirmed_message(grant.user_has_email, grant.user_has_phone))


async def get_current_account(
    grant: Annotated[TokenGrant, Depends(get_current_token)], services: ServicesDep
) -> Viewer:
    if grant.account_id is None or grant.user_id is None:
        raise Unauthorized(NEEDS_USER)
    _check_usable(grant, services.settings.require_verification)
    return _viewer(grant)


async def get_unconfirmed_account(grant: Annotated[TokenGrant, Depends(get_current_token)]) -> Viewer:
    """Like ``get_current_account`` but lets unconfirmed logins through (to confirm themselves)."""
    if grant.account_id is None or grant.user_id is None:
        raise Unauthorized(NEEDS_USER)
    _check_usable(grant, require_verification=False)
    return _viewer(grant)


async def get_optional_account(
    grant: Annotated[TokenGrant | None, Depends(get_optional_token)], services: ServicesDep
) -> Viewer | None:
    """The signed-in profile, or None: anonymous, app-only, or a login that may not act yet."""
    if grant is None or grant.account_id is None or grant.user_id is None:
        return None
    if grant.user_disabled or (services.settings.require_verification and not grant.user_verified):
        return None
    return _viewer(grant)


CurrentToken = Annotated[TokenGrant, Depends(get_current_token)]
OptionalToken = Annotated[TokenGrant | None, Depends(get_optional_token)]
CurrentAccount = Annotated[Viewer, Depends(get_current_account)]
UnconfirmedAccount = Annotated[Viewer, Depends(get_unconfirmed_account)]
OptionalAccount = Annotated[Viewer | None, Depends(get_optional_account)]


def require_scopes(*alternatives: str) -> Any:
    """A dependency: the caller's token must hold one of ``alternatives`` (or a broader scope).

    Use as ``dependencies=[require_scopes("write:accounts")]`` on a route, or as a parameter
    ``grant: Annotated[TokenGrant, require_scopes("read:accounts")]``. No token is a 401.
    """
    if not alternatives:
        raise ValueError("require_scopes needs at least one scope")

    async def check(grant: CurrentToken) -> TokenGrant:
        if not grant.allows(*alternatives):
            raise Forbidden(OUTSIDE_SCOPES)
        return grant

    return Depends(check)


#: What a combined dependency stands for (``account_with_scopes``): the OpenAPI document
#: reads a route's auth from the dependencies it calls, and these call them directly.
STANDS_FOR: dict[Callable[..., Any], tuple[Callable[..., Any], ...]] = {}


def account_with_scopes(*alternatives: str) -> Any:
    """``CurrentAccount`` behind ``dependencies=[require_scopes(*alternatives)]``, as one
    dependency: the same checks in the same order (an invalid or missing token 401, a
    scope missing 403, an app-only token 401, a disabled or unconfirmed login 403), the
    same ``Viewer``. For the busiest writes (a like, a post, an upload): FastAPI resolved
    five dependencies for the pair, a tenth of a like's request CPU.

    Use as ``viewer: Annotated[Viewer, account_with_scopes("write:favourites")]``.
    """
    if not alternatives:
        raise ValueError("account_with_scopes needs at least one scope")

    async def check(conn: HTTPConnection, services: ServicesDep) -> Viewer:
        grant = await get_current_token(await get_optional_token(conn, services))
        if not grant.allows(*alternatives):
            raise Forbidden(OUTSIDE_SCOPES)
        return await get_current_account(grant, services)

    STANDS_FOR[check] = (get_optional_token, get_current_token, get_current_account)
    return Depends(check)


def scopes_if_token(*alternatives: str) -> Any:
    """Like ``require_scopes`` for public routes: anonymous calls pass, a token must hold a scope.

    Mastodon does this for public reads (``authorize_if_got_token!``).
    """

    async def check(grant: OptionalToken) -> TokenGrant | None:
        if grant is not None and not grant.allows(*alternatives):
            raise Forbidden(OUTSIDE_SCOPES)
        return grant

    return Depends(check)


__all__ = [
    "CurrentAccount",
    "CurrentToken",
    "OptionalAccount",
    "OptionalToken",
    "UnconfirmedAccount",
    "client_address",
    "require_scopes",
    "scopes_if_token",
]
