"""The streaming API tells an unconfirmed login what to confirm, as the REST API does."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable

import httpx
import pytest

from lumigram.app import create_app as create_asgi_app
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from tests.api.test_unconfirmed_sign_in import MISSING_EMAIL, MISSING_PHONE, sign_up


@pytest.fixture
async def client(make_settings: Callable[..., Settings]) -> AsyncIterator[httpx.AsyncClient]:
    services = build_services(make_settings(require_verification=True))
    await services.db.migrate()
    await services.cache.flush()
    transport = httpx.ASGITransport(app=create_asgi_app(services=services))
    async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
        yield http
    await services.close()


async def test_an_unconfirmed_login_is_told_what_to_confirm(client: httpx.AsyncClient) -> None:
    by_mail = await sign_up(client, "streamer", email="streamer@example.org")
    by_phone = await sign_up(client, "texter", phone="+447700900555")
    for headers, expected in ((by_mail["headers"], MISSING_EMAIL), (by_phone["headers"], MISSING_PHONE)):
        refused = await client.get("/api/v1/streaming/user", headers=headers)
        assert refused.status_code == 403
        assert refused.json() == {"error": expected}
