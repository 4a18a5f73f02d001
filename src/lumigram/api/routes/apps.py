"""``POST /api/v1/apps`` and ``GET /api/v1/apps/verify_credentials``: OAuth client registration."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, BeforeValidator, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.accounts import oauth
from lumigram.accounts import scopes as scope_rules
from lumigram.api.auth import CurrentToken
from lumigram.api.deps import ServicesDep
from lumigram.api.params import openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import (
    Application,
    CredentialApplication,
    application_entity,
    credential_application_entity,
)
from lumigram.errors import NotFound, ValidationFailed
from lumigram.push.keys import vapid_keys

router = APIRouter(tags=["apps"])


def _scopes(value: object) -> object:
    # Mastodon takes "read write"; some clients send a list, or "read+write" from a URL.
    return " ".join(str(item) for item in value) if isinstance(value, list) else value


class CreateAppParams(BaseModel):
    client_name: str = Field(description="A name for the application.")
    redirect_uris: str | list[str] = Field(
        default=oauth.OOB, description="Where to send the user after authorization; several separated by newlines."
    )
    scopes: Annotated[str, BeforeValidator(_scopes)] = Field(default="read", description="Space-separated scopes.")
    website: str | None = Field(default=None, description="The application's home page.")


@router.post(
    "/api/v1/apps",
    summary="Register a client application",
    response_model=CredentialApplication,
    openapi_extra=openapi_body(CreateAppParams),
)
async def create_app(request: Request, services: ServicesDep) -> Response:
    params = parse(CreateAppParams, await read_params(request))
    try:
        scopes = scope_rules.parse_scopes(params.scopes)
    except scope_rules.InvalidScope as exc:
        raise ValidationFailed.field("scopes", "ERR_INVALID", f"are invalid ({exc})") from exc
    app = await oauth.register_app(
        services,
        name=params.client_name,
        redirect_uris=oauth.split_redirect_uris(params.redirect_uris),
        scopes=scopes,
        website=params.website,
    )
    return OrjsonResponse(
        credential_application_entity(app, vapid_keys(services.settings).public_key).model_dump(mode="json")
    )


@router.get(
    "/api/v1/apps/verify_credentials",
    summary="The application behind the access token",
    response_model=Application,
)
async def verify_app_credentials(grant: CurrentToken, services: ServicesDep) -> Response:
    app = await oauth.get_app(services, grant.app_id) if grant.app_id is not None else None
    if app is None:
        raise NotFound
    return OrjsonResponse(application_entity(app, vapid_keys(services.settings).public_key).model_dump(mode="json"))
