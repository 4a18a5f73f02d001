"""Web Push: subscriptions through the API, and real encrypted pushes to a local push service.

The "push service" is a small HTTP server on 127.0.0.1 started by the test. Each test
subscribes with a key pair and auth secret made here, so it can decrypt what arrives
(RFC 8291, with http_ece) and check the VAPID signature (RFC 8292) against the key the
server publishes in ``/api/v2/instance``. Until the notifications service emits its own,
tests write a notification row and its ``notification.created`` event themselves, the way
that service does (one transaction).
"""

from __future__ import annotations

import asyncio
import base64
import os
import stat
import time
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import Any

import http_ece
import httpx
import orjson
import pytest
import uvicorn
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from py_vapid import Vapid02
from pydantic import ValidationError
from sqlalchemy import insert, select
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from lumigram.config import Settings, describe_error
from lumigram.infra.outbox import emit
from lumigram.infra.tables import notifications, push_subscriptions, utcnow
from lumigram.push import handlers as push_handlers
from lumigram.push import keys as vapid
from lumigram.push import sender as push_sender
from lumigram.services import Services
from lumigram.vapid import b64url_decode
from tests.conftest import eventually
from tests.factories import DEFAULT_PASSWORD, bearer, create_post, create_user

PATH = "/api/v1/push/subscription"


@pytest.fixture
def settings(make_settings: Callable[..., Settings]) -> Settings:
    # The test's push service listens on 127.0.0.1, which only this setting admits.
    return make_settings(push_loopback_endpoints=True)


# --- a push service on 127.0.0.1 ------------------------------------------------------------


@dataclass
class Received:
    path: str
    headers: dict[str, str]
    body: bytes


@dataclass
class PushService:
    base_url: str = ""
    received: list[Received] = field(default_factory=list)
    #: Status codes to answer per path, consumed in order; 201 once they run out.
    answers: dict[str, list[int]] = field(default_factory=dict)

    def url(self, name: str) -> str:
        return f"{self.base_url}/push/{name}"

    def at(self, name: str) -> list[Received]:
        return [item for item in self.received if item.path == f"/push/{name}"]


@pytest.fixture
async def push_service() -> AsyncIterator[PushService]:
    state = PushService()

    async def receive(request: Request) -> Response:
        state.received.append(Received(request.url.path, dict(request.headers), await request.body()))
        name = request.url.path.removeprefix("/push/")
        if name == "hang":
            await asyncio.sleep(30)  # a push service that never answers
        queue = state.answers.get(name, [])
        return Response(status_code=queue.pop(0) if queue else 201)

    app = Starlette(routes=[Route("/push/{name}", receive, methods=["POST"])])
    server = uvicorn.Server(
        uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off", timeout_graceful_shutdown=1)
    )
    task = asyncio.create_task(server.serve())
    await eventually(lambda: server.started)
    port = server.servers[0].sockets[0].getsockname()[1]
    state.base_url = f"http://127.0.0.1:{port}"
    try:
        yield state
    finally:
        server.should_exit = True
        await task


# --- the subscriber's side ---------------------------------------------------------------------


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass
class Device:
    """What a browser holds for a subscription: the ECDH key pair and the auth secret."""

    private_key: ec.EllipticCurvePrivateKey
    auth: bytes

    @classmethod
    def new(cls) -> Device:
        return cls(ec.generate_private_key(ec.SECP256R1()), os.urandom(16))

    @property
    def p256dh(self) -> str:
        point = self.private_key.public_key().public_bytes(
            serialization.Encoding.X962, serialization.PublicFormat.UncompressedPoint
        )
        return b64(point)

    def keys(self) -> dict[str, str]:
        return {"p256dh": self.p256dh, "auth": b64(self.auth)}

    def decrypt(self, received: Received) -> dict[str, Any]:
        assert received.headers["content-encoding"] == "aes128gcm"
        plain = http_ece.decrypt(
            received.body, private_key=self.private_key, auth_secret=self.auth, version="aes128gcm"
        )
        payload: dict[str, Any] = orjson.loads(plain)
        return payload


async def subscribe(
    client: httpx.AsyncClient,
    headers: dict[str, str],
    endpoint: str,
    device: Device,
    alerts: dict[str, bool] | None = None,
    policy: str = "all",
) -> dict[str, Any]:
    body = {
        "subscription": {"endpoint": endpoint, "keys": device.keys()},
        "data": {"alerts": alerts if alerts is not None else {"favourite": True, "mention": True}, "policy": policy},
    }
    response = await client.post(PATH, json=body, headers=headers)
    assert response.status_code == 200, response.text
    entity: dict[str, Any] = response.json()
    return entity


async def notify(services: Services, recipient: str, sender: str, type_: str, status_id: str | None = None) -> int:
    """A notification row and its event, written together as the notifications service does."""
    notification_id = services.ids.next_id()
    async with services.db.begin() as conn:
        await conn.execute(
            insert(notifications).values(
                id=notification_id,
                account_id=int(recipient),
                from_account_id=int(sender),
                type=type_,
                status_id=int(status_id) if status_id else None,
                group_key=f"test-{notification_id}",
                dedupe_key=f"test-{notification_id}",
                created_at=utcnow(),
            )
        )
        await emit(
            conn,
            services.ids,
            "notification.created",
            {"notification_id": str(notification_id), "account_id": recipient, "type": type_},
        )
    services.committed()
    return notification_id


async def second_token(client: httpx.AsyncClient, user: dict[str, Any], scope: str = "read write push") -> str:
    """Another sign-in of the same user (another device): its own token."""
    app = user["app"]
    response = await client.post(
        "/oauth/token",
        data={
            "grant_type": "password",
            "username": user["username"],
            "password": DEFAULT_PASSWORD,
            "client_id": app["client_id"],
            "client_secret": app["client_secret"],
            "scope": scope,
        },
    )
    assert response.status_code == 200, response.text
    return str(response.json()["access_token"])


# --- delivery ------------------------------------------------------------------------------------


async def test_a_like_is_pushed_encrypted_and_signed(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    author = await create_user(client)
    fan = await create_user(client)
    await client.patch("/api/v1/accounts/update_credentials", data={"display_name": "Fan"}, headers=fan["headers"])
    post = await create_post(client, author["headers"], text="Sunset over the harbour")
    device = Device.new()
    entity = await subscribe(client, author["headers"], push_service.url("author"), device)

    instance = (await client.get("/api/v2/instance")).json()
    server_key = instance["configuration"]["vapid"]["public_key"]
    assert server_key
    assert entity["server_key"] == server_key

    notification_id = await notify(services, author["id"], fan["id"], "favourite", post["id"])
    await eventually(lambda: push_service.at("author"))
    (received,) = push_service.at("author")

    payload = device.decrypt(received)
    assert payload["notification_id"] == str(notification_id)
    assert payload["notification_type"] == "favourite"
    assert payload["title"] == "Fan liked your post"
    assert payload["body"] == "Sunset over the harbour"
    assert payload["preferred_locale"] == "en"
    assert payload["icon"].startswith("http://testserver/")
    assert "access_token" not in payload

    assert int(received.headers["ttl"]) > 0
    authorization = received.headers["authorization"]
    assert Vapid02.verify(authorization)  # the JWT verifies with the key named in it...
    params = dict(part.split("=", 1) for part in authorization.split(" ", 1)[1].split(","))
    assert params["k"] == server_key  # ...which is the key the server publishes
    token = params["t"]
    claims_part = token.split(".")[1]
    claims = orjson.loads(base64.urlsafe_b64decode(claims_part + "=" * (-len(claims_part) % 4)))
    assert claims["aud"] == push_service.base_url
    assert claims["sub"] == "http://testserver"
    assert time.time() < claims["exp"] <= time.time() + 24 * 3600


async def test_a_real_like_and_follow_reach_the_device(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    """End to end: the API call, the notifications service's row and event, then the push."""
    author = await create_user(client)
    fan = await create_user(client)
    post = await create_post(client, author["headers"], text="Morning fog")
    device = Device.new()
    await subscribe(client, author["headers"], push_service.url("real"), device, {"favourite": True, "follow": True})
    liked = await client.post(f"/api/v1/statuses/{post['id']}/favourite", headers=fan["headers"])
    assert liked.status_code == 200, liked.text
    await eventually(lambda: push_service.at("real"))
    followed = await client.post(f"/api/v1/accounts/{author['id']}/follow", headers=fan["headers"])
    assert followed.status_code == 200, followed.text
    await eventually(lambda: len(push_service.at("real")) == 2)
    like, follow = (device.decrypt(item) for item in push_service.at("real"))
    assert (like["notification_type"], like["body"]) == ("favourite", "Morning fog")
    assert follow["notification_type"] == "follow"
    listed = await client.get("/api/v1/notifications", headers=author["headers"])
    assert {item["id"] for item in listed.json()} == {like["notification_id"], follow["notification_id"]}


async def test_the_body_is_the_bio_without_a_post_and_mentions_come_through(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    someone = await create_user(client)
    follower = await create_user(client)
    await client.patch(
        "/api/v1/accounts/update_credentials", data={"note": "Film photos, mostly"}, headers=follower["headers"]
    )
    device = Device.new()
    await subscribe(client, someone["headers"], push_service.url("someone"), device, alerts={"follow": True})
    await notify(services, someone["id"], follower["id"], "follow")
    await eventually(lambda: push_service.at("someone"))
    payload = device.decrypt(push_service.at("someone")[0])
    assert payload["notification_type"] == "follow"
    assert payload["title"] == f"{follower['username']} is now following you"
    assert payload["body"] == "Film photos, mostly"


async def test_disabled_alerts_and_policy_none_send_nothing(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    picky = await create_user(client)
    silent = await create_user(client)
    other = await create_user(client)
    picky_device, silent_device = Device.new(), Device.new()
    await subscribe(client, picky["headers"], push_service.url("picky"), picky_device, alerts={"mention": True})
    await subscribe(
        client, silent["headers"], push_service.url("silent"), silent_device, alerts={"favourite": True}, policy="none"
    )

    await notify(services, picky["id"], other["id"], "favourite")  # not an enabled alert
    await notify(services, silent["id"], other["id"], "favourite")  # policy none
    # Events are handled in order: once the mention has arrived, the two before were handled.
    mention = await notify(services, picky["id"], other["id"], "mention")
    await eventually(lambda: push_service.at("picky"))
    assert [picky_device.decrypt(item)["notification_id"] for item in push_service.at("picky")] == [str(mention)]
    assert push_service.at("silent") == []


async def test_policy_followed_and_follower_consult_the_follow_graph(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    me = await create_user(client)
    stranger = await create_user(client)
    friend = await create_user(client)
    followed_device, follower_device = Device.new(), Device.new()
    await subscribe(client, me["headers"], push_service.url("followed"), followed_device, policy="followed")
    other_token = await second_token(client, me)
    await subscribe(client, bearer(other_token), push_service.url("follower"), follower_device, policy="follower")
    # I follow friend; stranger follows me.
    assert (await client.post(f"/api/v1/accounts/{friend['id']}/follow", headers=me["headers"])).status_code == 200
    assert (await client.post(f"/api/v1/accounts/{me['id']}/follow", headers=stranger["headers"])).status_code == 200

    from_friend = await notify(services, me["id"], friend["id"], "favourite")
    from_stranger = await notify(services, me["id"], stranger["id"], "favourite")
    # Events are handled in order, so once each device has one push, both events were handled.
    await eventually(lambda: push_service.at("followed") and push_service.at("follower"))
    followed = [followed_device.decrypt(item)["notification_id"] for item in push_service.at("followed")]
    follower = [follower_device.decrypt(item)["notification_id"] for item in push_service.at("follower")]
    assert followed == [str(from_friend)]
    assert follower == [str(from_stranger)]


async def test_a_gone_subscription_is_deleted(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    user = await create_user(client)
    other = await create_user(client)
    await subscribe(client, user["headers"], push_service.url("gone"), Device.new())
    push_service.answers["gone"] = [410]
    await notify(services, user["id"], other["id"], "favourite")
    await eventually(lambda: push_service.at("gone"))

    async def deleted() -> bool:
        return (await client.get(PATH, headers=user["headers"])).status_code == 404

    await eventually(deleted)
    async with services.db.connect() as conn:
        assert (await conn.execute(select(push_subscriptions.c.id))).all() == []


async def test_a_failed_push_is_retried_without_repeating_the_delivered_ones(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    user = await create_user(client)
    other = await create_user(client)
    flaky_device, steady_device = Device.new(), Device.new()
    await subscribe(client, user["headers"], push_service.url("flaky"), flaky_device)
    await subscribe(client, bearer(await second_token(client, user)), push_service.url("steady"), steady_device)
    push_service.answers["flaky"] = [503]
    notification_id = await notify(services, user["id"], other["id"], "favourite")
    await eventually(lambda: len(push_service.at("flaky")) == 2, timeout=15)
    assert flaky_device.decrypt(push_service.at("flaky")[1])["notification_id"] == str(notification_id)
    assert len(push_service.at("steady")) == 1


async def test_retries_stop_after_the_last_attempt(
    client: httpx.AsyncClient, services: Services, push_service: PushService, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(push_handlers, "MAX_ATTEMPTS", 2)
    user = await create_user(client)
    other = await create_user(client)
    await subscribe(client, user["headers"], push_service.url("down"), Device.new())
    push_service.answers["down"] = [500] * 10
    await notify(services, user["id"], other["id"], "favourite")
    await eventually(lambda: len(push_service.at("down")) == 2, timeout=15)
    # Redelivery comes after a second (embedded relay poll, JetStream's first back-off);
    # a third attempt would have arrived within this wait.
    await asyncio.sleep(3)
    assert len(push_service.at("down")) == 2
    # The subscription stays: a push service having a bad hour is not an unsubscribe.
    assert (await client.get(PATH, headers=user["headers"])).status_code == 200


async def test_a_hung_push_service_holds_up_nothing_else(
    client: httpx.AsyncClient,
    services: Services,
    push_service: PushService,
    shape: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    if shape != "embedded":
        pytest.skip("on JetStream the push consumer has its own durable; only the in-process bus waits for handlers")
    monkeypatch.setattr(push_sender, "DEADLINE_SECONDS", 8.0)
    stuck = await create_user(client)
    fine = await create_user(client)
    other = await create_user(client)
    await subscribe(client, stuck["headers"], push_service.url("hang"), Device.new())
    await subscribe(client, fine["headers"], push_service.url("fine"), Device.new())
    await notify(services, stuck["id"], other["id"], "favourite")
    await eventually(lambda: push_service.at("hang"))
    started = time.monotonic()
    await notify(services, fine["id"], other["id"], "favourite")
    await eventually(lambda: push_service.at("fine"))
    # Had the relay waited for the hung push, this would take most of the 8 s deadline;
    # the margin keeps a busy machine from failing it.
    assert time.monotonic() - started < 5.0


async def test_a_revoked_tokens_subscription_gets_nothing_and_is_removed(
    client: httpx.AsyncClient, services: Services, push_service: PushService
) -> None:
    user = await create_user(client)
    other = await create_user(client)
    spare = await second_token(client, user)
    await subscribe(client, bearer(spare), push_service.url("revoked"), Device.new())
    await subscribe(client, user["headers"], push_service.url("live"), Device.new())
    app = user["app"]
    revoked = await client.post(
        "/oauth/revoke", data={"token": spare, "client_id": app["client_id"], "client_secret": app["client_secret"]}
    )
    assert revoked.status_code == 200
    await notify(services, user["id"], other["id"], "favourite")
    await eventually(lambda: push_service.at("live"))
    assert push_service.at("revoked") == []
    async with services.db.connect() as conn:
        assert len((await conn.execute(select(push_subscriptions.c.id))).all()) == 1


# --- the subscription API ------------------------------------------------------------------------


async def test_get_put_delete_a_subscription(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    headers = user["headers"]
    assert (await client.get(PATH, headers=headers)).status_code == 404
    device = Device.new()
    created = await subscribe(
        client, headers, "https://push.example.net/wpush/v2/abc", device, alerts={"mention": True, "poll": False}
    )
    assert created["endpoint"] == "https://push.example.net/wpush/v2/abc"
    assert created["policy"] == "all"
    assert created["standard"] is True
    assert created["alerts"]["mention"] is True
    assert created["alerts"]["favourite"] is False
    assert set(created["alerts"]) >= {"follow", "reblog", "status", "update", "admin.sign_up", "admin.report"}
    assert (await client.get(PATH, headers=headers)).json() == created

    changed = await client.put(
        PATH, json={"data": {"alerts": {"favourite": True}, "policy": "follower"}}, headers=headers
    )
    assert changed.status_code == 200, changed.text
    body = changed.json()
    assert body["id"] == created["id"]
    assert body["policy"] == "follower"
    assert body["alerts"]["favourite"] is True
    assert body["alerts"]["mention"] is True  # not named, kept
    bad_policy = await client.put(PATH, json={"data": {"policy": "friends"}}, headers=headers)
    assert bad_policy.status_code == 422

    # A new POST replaces the token's subscription.
    replaced = await subscribe(client, headers, "https://push.example.net/wpush/v2/def", Device.new())
    assert replaced["id"] != created["id"]
    assert (await client.get(PATH, headers=headers)).json()["endpoint"].endswith("/def")

    deleted = await client.delete(PATH, headers=headers)
    assert deleted.status_code == 200
    assert deleted.json() == {}
    assert (await client.get(PATH, headers=headers)).status_code == 404
    assert (await client.put(PATH, json={"data": {"policy": "all"}}, headers=headers)).status_code == 404
    assert (await client.delete(PATH, headers=headers)).status_code == 200


async def test_each_token_has_its_own_subscription(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    other_headers = bearer(await second_token(client, user))
    first = await subscribe(client, user["headers"], "https://push.example.net/one", Device.new())
    second = await subscribe(client, other_headers, "https://push.example.net/two", Device.new())
    assert first["id"] != second["id"]
    assert (await client.get(PATH, headers=user["headers"])).json()["endpoint"].endswith("/one")
    await client.delete(PATH, headers=other_headers)
    assert (await client.get(PATH, headers=user["headers"])).status_code == 200


async def test_form_parameters_as_mastodon_py_sends_them(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    device = Device.new()
    point = base64.b64decode(device.p256dh + "=" * (-len(device.p256dh) % 4), altchars=b"-_")
    form = {
        "subscription[endpoint]": "https://push.example.net/form",
        # Standard base64 with padding, as Mastodon.py encodes the keys.
        "subscription[keys][p256dh]": base64.b64encode(point).decode(),
        "subscription[keys][auth]": base64.b64encode(device.auth).decode(),
        "policy": "followed",
        "data[alerts][follow]": "1",
        "data[alerts][admin.sign_up]": "0",
        "data[alerts][favourite]": "True",
    }
    response = await client.post(PATH, data=form, headers=user["headers"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["policy"] == "followed"
    assert body["alerts"]["follow"] is True
    assert body["alerts"]["favourite"] is True
    assert body["alerts"]["admin.sign_up"] is False


@pytest.mark.parametrize(
    ("endpoint", "keys"),
    [
        ("https://push.example.net/x", {"p256dh": b64(b"\x04" + b"\x01" * 64), "auth": b64(os.urandom(16))}),
        ("https://push.example.net/x", {"p256dh": b64(os.urandom(33)), "auth": b64(os.urandom(16))}),
        ("https://push.example.net/x", {"p256dh": "not base64!", "auth": b64(os.urandom(16))}),
        ("https://push.example.net/x", {"p256dh": "GOOD", "auth": b64(os.urandom(8))}),
        ("https://push.example.net/x", {"p256dh": "GOOD", "auth": ""}),
        ("http://push.example.net/x", {"p256dh": "GOOD", "auth": b64(os.urandom(16))}),
        ("ftp://push.example.net/x", {"p256dh": "GOOD", "auth": b64(os.urandom(16))}),
        ("https:///nohost", {"p256dh": "GOOD", "auth": b64(os.urandom(16))}),
        ("https://push.example.net:99999/x", {"p256dh": "GOOD", "auth": b64(os.urandom(16))}),
        ("", {"p256dh": "GOOD", "auth": b64(os.urandom(16))}),
    ],
    ids=[
        "point-off-curve",
        "p256dh-wrong-length",
        "p256dh-not-base64",
        "auth-short",
        "auth-empty",
        "plain-http",
        "not-http",
        "no-host",
        "bad-port",
        "no-endpoint",
    ],
)
async def test_bad_endpoints_and_keys_are_422(client: httpx.AsyncClient, endpoint: str, keys: dict[str, str]) -> None:
    user = await create_user(client)
    if keys["p256dh"] == "GOOD":
        keys = {**keys, "p256dh": Device.new().p256dh}
    body = {"subscription": {"endpoint": endpoint, "keys": keys}}
    response = await client.post(PATH, json=body, headers=user["headers"])
    assert response.status_code == 422, response.text
    assert "error" in response.json()
    assert (await client.get(PATH, headers=user["headers"])).status_code == 404


async def test_missing_parts_and_bad_policy_are_422(client: httpx.AsyncClient) -> None:
    user = await create_user(client)
    device = Device.new()
    for body in (
        {},
        {"subscription": {"endpoint": "https://push.example.net/x"}},
        {"subscription": {"endpoint": "https://push.example.net/x", "keys": device.keys()}, "data": {"policy": "x"}},
        {"subscription": {"endpoint": "https://push.example.net/x", "keys": device.keys()}, "data": "text"},
        {"subscription": {"endpoint": "https://push.example.net/x", "keys": device.keys()}, "data": {"alerts": 5}},
    ):
        response = await client.post(PATH, json=body, headers=user["headers"])
        assert response.status_code == 422, (body, response.text)


def test_loopback_endpoints_need_the_setting() -> None:
    from lumigram.errors import ValidationFailed
    from lumigram.push.service import check_endpoint

    for endpoint in ("http://127.0.0.1:9/x", "https://localhost/x", "http://[::1]:8080/x"):
        with pytest.raises(ValidationFailed):
            check_endpoint(endpoint, allow_loopback=False)
        assert check_endpoint(endpoint, allow_loopback=True) == endpoint
    with pytest.raises(ValidationFailed):
        check_endpoint("http://10.0.0.1/x", allow_loopback=True)  # only loopback may be plain http
    assert check_endpoint("https://fcm.googleapis.com/fcm/send/abc", allow_loopback=False)


async def test_the_push_scope_is_required(client: httpx.AsyncClient) -> None:
    user = await create_user(client, scopes="read write follow")
    body = {"subscription": {"endpoint": "https://push.example.net/x", "keys": Device.new().keys()}}
    for method in ("GET", "POST", "PUT", "DELETE"):
        response = await client.request(method, PATH, json=body, headers=user["headers"])
        assert response.status_code == 403, (method, response.text)
        assert response.json()["error"]
    assert (await client.get(PATH)).status_code == 401


# --- VAPID keys ------------------------------------------------------------------------------------


def test_vapid_keys_are_kept_in_the_data_folder(tmp_path: Any) -> None:
    settings = Settings(data_dir=tmp_path / "data", secret_key="s" * 40)
    first = vapid.vapid_keys(settings)
    stored = tmp_path / "data" / vapid.KEY_FILE
    assert stored.exists()
    assert stat.S_IMODE(stored.stat().st_mode) == 0o600
    vapid._cache.clear()  # a restart
    assert vapid.vapid_keys(Settings(data_dir=tmp_path / "data", secret_key="t" * 40)).public_key == first.public_key
    assert len(b64url_decode(first.public_key)) == 65


def test_scaled_processes_derive_the_same_key_from_the_secret(tmp_path: Any) -> None:
    url = "postgresql+asyncpg://u:p@127.0.0.1/db"
    one = Settings(data_dir=tmp_path / "a", database_url=url, secret_key="shared-secret-" + "x" * 30)
    two = Settings(data_dir=tmp_path / "b", database_url=url, secret_key="shared-secret-" + "x" * 30)
    other = Settings(data_dir=tmp_path / "c", database_url=url, secret_key="another-secret-" + "x" * 30)
    assert vapid.vapid_keys(one).public_key == vapid.vapid_keys(two).public_key
    assert vapid.vapid_keys(one).public_key != vapid.vapid_keys(other).public_key
    assert not (tmp_path / "a" / vapid.KEY_FILE).exists()


def test_configured_vapid_keys_win_and_are_checked(tmp_path: Any) -> None:
    private, public = vapid.generate_pair()
    settings = Settings(data_dir=tmp_path, vapid_private_key=private, vapid_public_key=public)
    assert vapid.vapid_keys(settings).public_key == public
    _, other_public = vapid.generate_pair()
    with pytest.raises(ValidationError) as mismatch:
        Settings(data_dir=tmp_path, vapid_private_key=private, vapid_public_key=other_public)
    assert "LUMIGRAM_VAPID_PUBLIC_KEY" in describe_error(mismatch.value)
    with pytest.raises(ValidationError) as malformed:
        Settings(data_dir=tmp_path, vapid_private_key="abc")
    assert "LUMIGRAM_VAPID_PRIVATE_KEY" in describe_error(malformed.value)
    with pytest.raises(ValidationError):
        Settings(data_dir=tmp_path, vapid_public_key=public)
