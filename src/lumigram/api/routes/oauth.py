"""The OAuth 2 token and revocation endpoints, and their RFC 8414 discovery document.

Errors here follow RFC 6749 §5.2 (``{"error": "invalid_grant", "error_description": ...}``,
400, or 401 for client authentication), as Mastodon's Doorkeeper answers; everything
else in the API uses Mastodon's ``{"error": "..."}``. The authorization page itself is
in ``lumigram.web.auth_pages``.
"""

from __future__ import annotations

import base64
import binascii
from typing import Any, Literal, get_args
from urllib.parse import unquote

from fastapi import APIRouter
from pydantic import BaseModel, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts import oauth
from lumigram.accounts import scopes as scope_rules
from lumigram.accounts.models import IssuedToken
from lumigram.accounts.ratelimits import hit_login_limits
from lumigram.api.auth import client_address
from lumigram.api.deps import ServicesDep
from lumigram.api.errors import rate_limit_headers
from lumigram.api.params import openapi_body, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import Token, token_entity
from lumigram.errors import ValidationFailed
from lumigram.services import Services

router = APIRouter(tags=["oauth"])

GrantType = Literal["authorization_code", "password", "client_credentials", "refresh_token"]
GRANT_TYPES: tuple[str, ...] = get_args(GrantType)
NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class TokenParams(BaseModel):
    grant_type: GrantType = Field(description="How the client proves it may have a token")
    client_id: str | None = None
    client_secret: str | None = None
    code: str | None = None
    redirect_uri: str | None = None
    code_verifier: str | None = None
    username: str | None = Field(default=None, description="Username, e-mail address or phone number")
    password: str | None = None
    refresh_token: str | None = None
    scope: str | None = None


class RevokeParams(BaseModel):
    token: str
    client_id: str | None = None
    client_secret: str | None = None


def oauth_error(error: oauth.OAuthError, basic_auth: bool = False) -> Response:
    headers = dict(NO_STORE)
    if error.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="Lumigram"' if basic_auth else 'Bearer realm="Lumigram"'
    body = {"error": error.error, "error_description": error.description}
    return OrjsonResponse(body, status_code=error.status, headers=headers)


def _text(params: dict[str, Any], name: str) -> str | None:
    value = params.get(name)
    return value if isinstance(value, str) else None


def client_credentials(request: Request, params: dict[str, Any]) -> tuple[str | None, str | None, bool]:
    """(client_id, client_secret, came-by-Basic-auth) from HTTP Basic (RFC 6749 §2.3.1) or the body."""
    header = request.headers.get("authorization", "")
    scheme, _, encoded = header.partition(" ")
    if scheme.lower() == "basic" and encoded:
        try:
            decoded = base64.b64decode(encoded.strip(), validate=True).decode()
        except (binascii.Error, UnicodeDecodeError):
            return None, None, True
        client_id, _, client_secret = decoded.partition(":")
        return unquote(client_id), unquote(client_secret), True
    return _text(params, "client_id"), _text(params, "client_secret"), False


async def _token(services: Services, request: Request, params: dict[str, Any]) -> tuple[IssuedToken, dict[str, str]]:
    grant_type = _text(params, "grant_type")
    if not grant_type:
        raise oauth.OAuthError("invalid_request", "Missing required parameter: grant_type.")
    if grant_type not in GRANT_TYPES:
        raise oauth.OAuthError("unsupported_grant_type", "The authorization grant type is not supported.")
    client_id, client_secret, _ = client_credentials(request, params)
    app = await oauth.authenticate_client(services, client_id, client_secret)
    scope = _text(params, "scope")
    if grant_type == "authorization_code":
        issued = await oauth.exchange_code(
            services, app, _text(params, "code"), _text(params, "redirect_uri"), _text(params, "code_verifier")
        )
        return issued, {}
    if grant_type == "client_credentials":
        return await oauth.client_credentials_grant(services, app, scope), {}
    if grant_type == "refresh_token":
        return await oauth.refresh_grant(services, app, _text(params, "refresh_token"), scope), {}
    login = _text(params, "username") or ""
    state = await hit_login_limits(services, client_address(request), login)
    issued = await oauth.password_grant(services, app, login, _text(params, "password"), scope)
    return issued, rate_limit_headers(state.limit, state.remaining, state.reset_after)


@router.post(
    "/oauth/token",
    summary="Obtain a token (authorization code, password, client credentials or refresh token)",
    response_model=Token,
    response_model_exclude_none=True,
    openapi_extra=openapi_body(TokenParams),
)
async def token(request: Request, services: ServicesDep) -> Response:
    try:
        params = await read_params(request)
    except ValidationFailed as exc:
        return oauth_error(oauth.OAuthError("invalid_request", exc.message))
    try:
        issued, headers = await _token(services, request, params)
    except oauth.OAuthError as exc:
        return oauth_error(exc, basic_auth=client_credentials(request, params)[2])
    body = token_entity(issued).model_dump(mode="json", exclude_none=True)
    return OrjsonResponse(body, headers={**NO_STORE, **headers})


@router.post(
    "/oauth/revoke",
    summary="Revoke an access or refresh token (RFC 7009)",
    openapi_extra=openapi_body(RevokeParams),
)
async def revoke(request: Request, services: ServicesDep) -> Response:
    try:
        params = await read_params(request)
        client_id, client_secret, _ = client_credentials(request, params)
        app = await oauth.authenticate_client(services, client_id, client_secret)
        await oauth.revoke_token(services, app, _text(params, "token"))
    except ValidationFailed as exc:
        return oauth_error(oauth.OAuthError("invalid_request", exc.message))
    except oauth.OAuthError as exc:
        return oauth_error(exc)
    return OrjsonResponse({}, headers=NO_STORE)


@router.get("/.well-known/oauth-authorization-server", summary="OAuth 2 server metadata (RFC 8414)")
async def authorization_server_metadata(services: ServicesDep) -> Response:
    base = services.settings.base_url
    body = {
        "issuer": f"{base}/",
        "service_documentation": "https://docs.joinmastodon.org/",
        "authorization_endpoint": f"{base}/oauth/authorize",
        "token_endpoint": f"{base}/oauth/token",
        "revocation_endpoint": f"{base}/oauth/revoke",
        "app_registration_endpoint": f"{base}/api/v1/apps",
        "scopes_supported": list(scope_rules.ALL_SCOPES),
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": list(GRANT_TYPES),
        "code_challenge_methods_supported": ["S256"],
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
    }
    return OrjsonResponse(body)
