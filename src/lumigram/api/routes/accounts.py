"""Mastodon's account routes: sign-up, the signed-in profile, profile lookups; confirmations.

Extensions (not in Mastodon): ``phone`` instead of ``email`` at sign-up, and
``POST /api/v1/accounts/phone/verify`` / ``.../phone/confirmations`` for SMS codes.
Profile images are served from ``/avatars/...`` and ``/headers/...`` until the media
service takes over delivery.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from fastapi import APIRouter, Query
from pydantic import BaseModel, Field, field_validator
from starlette.datastructures import UploadFile
from starlette.requests import Request
from starlette.responses import Response, StreamingResponse

from lumigram.accounts import oauth, service, verification
from lumigram.accounts.ratelimits import hit_limits
from lumigram.api.auth import (
    CurrentAccount,
    CurrentToken,
    UnconfirmedAccount,
    client_address,
    require_scopes,
    scopes_if_token,
)
from lumigram.api.deps import ServicesDep
from lumigram.api.errors import rate_limit_headers
from lumigram.api.params import openapi_body, parse, read_params, upload
from lumigram.api.responses import OrjsonResponse
from lumigram.entities.accounts import (
    Account,
    CredentialAccount,
    Token,
    account_entity,
    credential_account_entity,
    token_entity,
)
from lumigram.errors import Forbidden, NotFound, ValidationFailed
from lumigram.infra.blobstore import BlobNotFound
from lumigram.services import Services

router = APIRouter(tags=["accounts"])

READ_ACCOUNTS = ("read:accounts",)
WRITE_ACCOUNTS = ("write:accounts",)
MAX_IDS = 40
#: Content-addressed blobs never change, so caches may keep them for a year.
IMMUTABLE = "public, max-age=31536000, immutable"
_IMAGE_KEY = re.compile(r"[0-9a-f]{64}\.(png|jpg|gif|webp)")
_IMAGE_TYPES = {"png": "image/png", "jpg": "image/jpeg", "gif": "image/gif", "webp": "image/webp"}


class RegisterParams(BaseModel):
    username: str = ""
    email: str | None = None
    phone: str | None = Field(default=None, description="Extension: an E.164 phone number instead of an e-mail")
    password: str = ""
    agreement: bool = False
    locale: str = "en"
    reason: str | None = None


PRIVACIES = ("public", "unlisted", "private", "direct")


class SourceParams(BaseModel):
    privacy: str | None = Field(default=None, json_schema_extra={"enum": [*PRIVACIES, None]})
    sensitive: bool | None = None
    language: str | None = None

    @field_validator("privacy")
    @classmethod
    def _privacy(cls, value: str | None) -> str | None:
        if value is not None and value not in PRIVACIES:
            raise ValueError(f"must be one of {', '.join(PRIVACIES)}")
        return value


class UpdateCredentialsParams(BaseModel):
    display_name: str | None = None
    note: str | None = None
    locked: bool | None = None
    bot: bool | None = None
    discoverable: bool | None = None
    source: SourceParams | None = None
    avatar: Any = Field(default=None, description="An image file (PNG, JPEG, GIF or WebP, up to 8 MB)")
    header: Any = Field(default=None, description="An image file (PNG, JPEG, GIF or WebP, up to 8 MB)")


class ResendParams(BaseModel):
    email: str | None = None


class PhoneCodeParams(BaseModel):
    code: str


def _json(model: Any, status_code: int = 200, headers: dict[str, str] | None = None) -> Response:
    return OrjsonResponse(model.model_dump(mode="json"), status_code=status_code, headers=headers)


@router.post(
    "/api/v1/accounts",
    summary="Sign up: create a login and its profile, answered with a token",
    response_model=Token,
    response_model_exclude_none=True,
    openapi_extra=openapi_body(RegisterParams),
    dependencies=[require_scopes(*WRITE_ACCOUNTS)],
)
async def register(request: Request, grant: CurrentToken, services: ServicesDep) -> Response:
    settings = services.settings
    if not settings.registrations_open:
        raise Forbidden("Registrations are closed on this server")
    # Every attempt counts, failed ones included: that is what makes guessing costly.
    limit = await hit_limits(
        services, [f"rl:signup:{client_address(request)}"], settings.signup_rate_limit, settings.rate_limit_window
    )
    params = parse(RegisterParams, await read_params(request))
    user, account = await service.register(
        services,
        service.Registration(
            username=params.username,
            password=params.password,
            email=params.email,
            phone=params.phone,
            agreement=params.agreement,
            locale=params.locale,
            reason=params.reason,
        ),
    )
    issued = await oauth.token_for_new_account(services, grant, user.id, account.id)
    headers = {"Cache-Control": "no-store", **rate_limit_headers(limit.limit, limit.remaining, limit.reset_after)}
    body = token_entity(issued).model_dump(mode="json", exclude_none=True)
    return OrjsonResponse(body, headers=headers)


async def _credential_account(services: Services, account_id: int, user_id: int) -> Response:
    account = await service.get_account(services, account_id)
    user = await service.get_user(services, user_id)
    return _json(credential_account_entity(services.settings, account, user))


@router.get(
    "/api/v1/accounts/verify_credentials",
    summary="The signed-in profile, with its editable source",
    response_model=CredentialAccount,
    dependencies=[require_scopes(*READ_ACCOUNTS, "profile")],
)
async def verify_credentials(viewer: CurrentAccount, services: ServicesDep) -> Response:
    return await _credential_account(services, viewer.account_id, viewer.user_id)


async def _read_image(file: UploadFile | None, name: str) -> bytes | None:
    if file is None:
        return None
    data = await file.read(service.MAX_IMAGE_BYTES + 1)
    if len(data) > service.MAX_IMAGE_BYTES:
        limit_mb = service.MAX_IMAGE_BYTES // (1024 * 1024)
        raise ValidationFailed.field(name, "ERR_TOO_LARGE", f"must be smaller than {limit_mb} MB")
    return data


@router.patch(
    "/api/v1/accounts/update_credentials",
    summary="Edit the signed-in profile",
    response_model=CredentialAccount,
    openapi_extra=openapi_body(UpdateCredentialsParams, multipart=True),
    dependencies=[require_scopes(*WRITE_ACCOUNTS)],
)
async def update_credentials(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    raw = await read_params(request)
    params = parse(UpdateCredentialsParams, raw)
    changes = service.ProfileChanges(
        display_name=params.display_name,
        note=params.note,
        locked=params.locked,
        bot=params.bot,
        discoverable=params.discoverable,
        avatar=await _read_image(upload(raw, "avatar"), "avatar"),
        header=await _read_image(upload(raw, "header"), "header"),
    )
    # source[privacy|sensitive|language] are the defaults for new posts; they are validated
    # and accepted so clients work, and are stored once posts have per-user defaults.
    await service.update_profile(services, viewer.account_id, changes)
    return await _credential_account(services, viewer.account_id, viewer.user_id)


@router.delete(
    "/api/v1/profile/avatar",
    summary="Remove the profile picture",
    response_model=CredentialAccount,
    dependencies=[require_scopes(*WRITE_ACCOUNTS)],
)
@router.delete(
    "/api/v1/profile/header",
    summary="Remove the profile header",
    response_model=CredentialAccount,
    dependencies=[require_scopes(*WRITE_ACCOUNTS)],
)
async def delete_profile_image(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    which = "avatar" if request.url.path.rstrip("/").endswith("/avatar") else "header"
    await service.clear_profile_image(services, viewer.account_id, which)
    return await _credential_account(services, viewer.account_id, viewer.user_id)


@router.get(
    "/api/v1/accounts/lookup",
    summary="Find a profile by its username (acct)",
    response_model=Account,
    dependencies=[scopes_if_token(*READ_ACCOUNTS)],
)
async def lookup(services: ServicesDep, acct: Annotated[str, Query(max_length=400)] = "") -> Response:
    name = acct.strip().removeprefix("@")
    username, _, domain = name.partition("@")
    if domain and domain.lower() != services.settings.domain.lower():
        raise NotFound  # remote accounts: we do not federate
    account = await service.find_account(services, username)
    return _json(account_entity(services.settings, account))


def _ids(values: list[str]) -> list[int]:
    ids = []
    for value in values[:MAX_IDS]:
        if value.isascii() and value.isdigit() and len(value) <= 19:
            ids.append(int(value))
    return ids


@router.get(
    "/api/v1/accounts",
    summary="Several profiles by id",
    response_model=list[Account],
    dependencies=[scopes_if_token(*READ_ACCOUNTS)],
)
async def get_accounts(
    services: ServicesDep,
    ids: Annotated[list[str], Query(alias="id[]")] = [],  # noqa: B006 (FastAPI copies defaults)
    plain_ids: Annotated[list[str], Query(alias="id")] = [],  # noqa: B006
) -> Response:
    accounts = await service.get_accounts(services, _ids([*ids, *plain_ids]))
    return OrjsonResponse([account_entity(services.settings, a).model_dump(mode="json") for a in accounts])


@router.get(
    "/api/v1/accounts/{account_id:int}",
    summary="One profile",
    response_model=Account,
    dependencies=[scopes_if_token(*READ_ACCOUNTS)],
)
async def get_account(account_id: int, services: ServicesDep) -> Response:
    account = await service.get_account(services, account_id)
    return _json(account_entity(services.settings, account))


@router.post(
    "/api/v1/emails/confirmations",
    summary="Send the confirmation e-mail again (optionally to a corrected address)",
    openapi_extra=openapi_body(ResendParams),
    dependencies=[require_scopes(*WRITE_ACCOUNTS)],
)
async def resend_confirmation(request: Request, viewer: UnconfirmedAccount, services: ServicesDep) -> Response:
    params = parse(ResendParams, await read_params(request))
    await verification.request_again(services, viewer.user_id, "email", params.email)
    return OrjsonResponse({})


@router.post(
    "/api/v1/accounts/phone/confirmations",
    summary="Extension: send the SMS code again",
    dependencies=[require_scopes(*WRITE_ACCOUNTS)],
)
async def resend_phone_code(viewer: UnconfirmedAccount, services: ServicesDep) -> Response:
    await verification.request_again(services, viewer.user_id, "phone")
    return OrjsonResponse({})


@router.post(
    "/api/v1/accounts/phone/verify",
    summary="Extension: confirm the phone number with the SMS code",
    response_model=CredentialAccount,
    openapi_extra=openapi_body(PhoneCodeParams),
    dependencies=[require_scopes(*WRITE_ACCOUNTS)],
)
async def verify_phone(request: Request, viewer: UnconfirmedAccount, services: ServicesDep) -> Response:
    params = parse(PhoneCodeParams, await read_params(request))
    await verification.verify_phone(services, viewer.user_id, params.code)
    return await _credential_account(services, viewer.account_id, viewer.user_id)


async def _serve_image(services: Services, prefix: str, name: str, request: Request) -> Response:
    match = _IMAGE_KEY.fullmatch(name)
    if match is None:
        raise NotFound
    key = f"{prefix}/{name}"
    info = await services.blobs.stat(key)
    if info is None:
        raise NotFound
    headers = {"Cache-Control": IMMUTABLE, "ETag": f'"{name.split(".")[0]}"', "X-Content-Type-Options": "nosniff"}
    if request.headers.get("if-none-match") == headers["ETag"]:
        return Response(status_code=304, headers=headers)
    headers["Content-Length"] = str(info.size)

    async def body() -> Any:
        try:
            async for chunk in services.blobs.stream(key):
                yield chunk
        except BlobNotFound:
            return

    return StreamingResponse(body(), media_type=_IMAGE_TYPES[match.group(1)], headers=headers)


@router.get("/avatars/{name}", summary="A profile picture", include_in_schema=False)
async def avatar_file(name: str, request: Request, services: ServicesDep) -> Response:
    return await _serve_image(services, "avatars", name, request)


@router.get("/headers/{name}", summary="A profile header image", include_in_schema=False)
async def header_file(name: str, request: Request, services: ServicesDep) -> Response:
    return await _serve_image(services, "headers", name, request)
