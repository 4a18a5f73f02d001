from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import httpx

from lumigram import ahead
from lumigram.app import create_app
from lumigram.bootstrap import build_services
from lumigram.config import Settings
from lumigram.instance import STATS_CACHE_KEY, STATS_TTL
from lumigram.services import Services
from tests.factories import create_user


async def test_instance_v1_claims_mastodon_compatibility(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/instance")
    assert response.status_code == 200
    body = response.json()
    assert body["version"].startswith("4.3.0 (compatible; Lumigram ")
    assert body["urls"]["streaming_api"].startswith("ws")
    assert body["configuration"]["statuses"]["max_media_attachments"] == 10
    assert body["stats"]["user_count"] == 0


async def test_instance_v2_reports_api_versions_and_streaming(client: httpx.AsyncClient) -> None:
    body = (await client.get("/api/v2/instance")).json()
    assert body["api_versions"]["mastodon"] >= 1
    assert body["configuration"]["urls"]["streaming"].startswith("ws")
    assert body["version"].startswith("4.3.0")


async def test_every_route_also_answers_with_a_trailing_slash(client: httpx.AsyncClient) -> None:
    # Mastodon.py asks for /api/v1/instance/ and recurses forever on a 404 there.
    for path in ("/api/v1/instance/", "/api/v2/instance/", "/healthz/"):
        response = await client.get(path)
        assert response.status_code == 200, path


async def test_nodeinfo_names_lumigram_with_mastodon_upstream(client: httpx.AsyncClient) -> None:
    links = (await client.get("/.well-known/nodeinfo")).json()["links"]
    href = links[0]["href"]
    assert href.endswith("/nodeinfo/2.0")
    body = (await client.get("/nodeinfo/2.0")).json()
    assert body["software"]["name"] == "lumigram"
    assert body["metadata"]["upstream"]["name"] == "mastodon"


async def test_unknown_routes_answer_in_mastodons_error_shape(client: httpx.AsyncClient) -> None:
    response = await client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.json() == {"error": "Endpoint not found"}


async def test_readiness_checks_all_four_backends(client: httpx.AsyncClient) -> None:
    response = await client.get("/readyz")
    assert response.status_code == 200, response.text
    assert response.json()["checks"] == {"database": "ok", "media": "ok", "cache": "ok", "bus": "ok"}
    assert (await client.get("/healthz")).json() == {"status": "ok"}


async def test_readiness_fails_naming_the_backend_that_is_down(make_settings: Callable[..., Settings]) -> None:
    services = build_services(make_settings(cache_url="redis://127.0.0.1:1/0"))
    try:
        await services.db.migrate()
        transport = httpx.ASGITransport(app=create_app(services=services))
        async with httpx.AsyncClient(transport=transport, base_url="http://testserver") as http:
            response = await http.get("/readyz")
    finally:
        await services.close()
    assert response.status_code == 503
    checks = response.json()["checks"]
    assert checks["cache"].startswith("error")
    assert checks["database"] == "ok"


async def test_due_counts_answer_while_one_process_counts_again(client: httpx.AsyncClient, services: Services) -> None:
    """The counts are kept a minute; the read that finds them due is answered with them and
    starts one count, whose result the next read has (every client start asks)."""
    assert (await client.get("/api/v1/instance")).json()["stats"]["user_count"] == 0
    await create_user(client)
    assert (await client.get("/api/v1/instance")).json()["stats"]["user_count"] == 0  # kept

    started, clock = services.now(), services.clock
    services.clock = lambda: started + timedelta(seconds=STATS_TTL + 1)
    try:
        due = await client.get("/api/v1/instance")
        assert due.json()["stats"]["user_count"] == 0
        await ahead.renewed(services, STATS_CACHE_KEY)
        assert (await client.get("/api/v1/instance")).json()["stats"]["user_count"] == 1
    finally:
        services.clock = clock
