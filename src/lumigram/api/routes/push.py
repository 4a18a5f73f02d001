"""Mastodon's Web Push subscription routes: ``/api/v1/push/subscription``.

* One subscription per access token; POST replaces the token's subscription.
* Needs a user token with the ``push`` scope (403 without it).
* Parameters as Mastodon takes them, form or JSON: ``subscription[endpoint]``,
  ``subscription[keys][p256dh]``, ``subscription[keys][auth]``, ``data[alerts][<type>]``,
  ``data[policy]``. A top-level ``policy`` is read when ``data[policy]`` is absent
  (Mastodon.py sends it there).
* The endpoint must be https; keys must decode to a P-256 point and a 16-byte secret;
  anything else is a 422.
* Pushes are encrypted with RFC 8291 ``aes128gcm`` whatever ``standard`` says, so the
  entity always reports ``standard: true`` (Mastodon's older ``aesgcm`` draft encoding
  is not offered).
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter
from pydantic import BaseModel, ConfigDict, Field
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.auth import CurrentAccount, require_scopes
from lumigram.api.deps import ServicesDep
from lumigram.api.params import openapi_body, parse, read_params
from lumigram.api.responses import OrjsonResponse
from lumigram.config import Settings
from lumigram.errors import NotFound
from lumigram.push import service
from lumigram.push.keys import vapid_keys

router = APIRouter(tags=["push"])

PUSH = ("push",)
PATH = "/api/v1/push/subscription"

Policy = Literal["all", "followed", "follower", "none"]


class WebPushSubscription(BaseModel):
    id: str
    endpoint: str
    standard: bool
    alerts: dict[str, bool]
    server_key: str
    policy: str


class KeysParams(BaseModel):
    p256dh: str = Field(max_length=512, description="The client's P-256 ECDH public key, base64")
    auth: str = Field(max_length=512, description="The client's 16-byte auth secret, base64")


class SubscriptionParams(BaseModel):
    endpoint: str = Field(max_length=service.MAX_ENDPOINT, description="The push service URL (https)")
    keys: KeysParams
    standard: bool | None = Field(default=None, description="Accepted for Mastodon 4.4; pushes are always RFC 8291")


class DataParams(BaseModel):
    # Unknown types are ignored, as Mastodon's parameter filter drops them.
    alerts: dict[str, bool] | None = Field(default=None, description="Notification type -> push it?")
    policy: Policy | None = Field(default=None, description="Whose notifications are pushed")


class CreateParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    subscription: SubscriptionParams
    data: DataParams | None = None
    policy: Policy | None = None


class UpdateParams(BaseModel):
    model_config = ConfigDict(extra="ignore")

    data: DataParams | None = None
    policy: Policy | None = None


def _entity(settings: Settings, subscription: service.Subscription) -> dict[str, Any]:
    return WebPushSubscription(
        id=str(subscription.id),
        endpoint=subscription.endpoint,
        standard=True,
        alerts=subscription.alerts,
        server_key=vapid_keys(settings).public_key,
        policy=subscription.policy,
    ).model_dump(mode="json")


def _policy(params: CreateParams | UpdateParams) -> str | None:
    if params.data is not None and params.data.policy is not None:
        return params.data.policy
    return params.policy


@router.post(
    PATH,
    summary="Subscribe this token to Web Push (replaces its subscription)",
    response_model=WebPushSubscription,
    openapi_extra=openapi_body(CreateParams),
    dependencies=[require_scopes(*PUSH)],
)
async def create_subscription(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(CreateParams, await read_params(request))
    alerts = params.data.alerts if params.data is not None and params.data.alerts is not None else {}
    subscription = await service.subscribe(
        services,
        token_id=viewer.token_id,
        account_id=viewer.account_id,
        endpoint=params.subscription.endpoint,
        p256dh=params.subscription.keys.p256dh,
        auth=params.subscription.keys.auth,
        alerts=alerts,
        policy=_policy(params) or "all",
    )
    return OrjsonResponse(_entity(services.settings, subscription))


@router.get(
    PATH,
    summary="This token's Web Push subscription",
    response_model=WebPushSubscription,
    dependencies=[require_scopes(*PUSH)],
)
async def get_subscription(viewer: CurrentAccount, services: ServicesDep) -> Response:
    subscription = await service.get(services, viewer.token_id)
    if subscription is None:
        raise NotFound()
    return OrjsonResponse(_entity(services.settings, subscription))


@router.put(
    PATH,
    summary="Change which notifications are pushed (alerts not named keep their setting)",
    response_model=WebPushSubscription,
    openapi_extra=openapi_body(UpdateParams),
    dependencies=[require_scopes(*PUSH)],
)
async def update_subscription(request: Request, viewer: CurrentAccount, services: ServicesDep) -> Response:
    params = parse(UpdateParams, await read_params(request))
    alerts = params.data.alerts if params.data is not None else None
    subscription = await service.change(services, viewer.token_id, alerts, _policy(params))
    return OrjsonResponse(_entity(services.settings, subscription))


@router.delete(
    PATH,
    summary="Remove this token's Web Push subscription",
    dependencies=[require_scopes(*PUSH)],
)
async def delete_subscription(viewer: CurrentAccount, services: ServicesDep) -> Response:
    await service.unsubscribe(services, viewer.token_id)
    return OrjsonResponse({})
