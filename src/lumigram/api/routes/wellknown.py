"""NodeInfo discovery: megalodon picks its API dialect from ``software.name`` here,
and falls back to ``metadata.upstream.name`` for names it does not know."""

from __future__ import annotations

from fastapi import APIRouter
from starlette.responses import Response

from lumigram import MASTODON_API_VERSION, __version__
from lumigram import instance as info
from lumigram.api.deps import ServicesDep
from lumigram.api.responses import OrjsonResponse

router = APIRouter(tags=["discovery"])

NODEINFO_SCHEMA = "http://nodeinfo.diaspora.software/ns/schema/2.0"


@router.get("/.well-known/nodeinfo", summary="Where the NodeInfo document lives")
async def nodeinfo_links(services: ServicesDep) -> Response:
    href = f"{services.settings.base_url}/nodeinfo/2.0"
    return OrjsonResponse({"links": [{"rel": NODEINFO_SCHEMA, "href": href}]})


@router.get("/nodeinfo/2.0", summary="NodeInfo 2.0")
async def nodeinfo(services: ServicesDep) -> Response:
    stats = await info.instance_stats(services)
    body = {
        "version": "2.0",
        "software": {"name": "lumigram", "version": __version__},
        "protocols": [],
        "services": {"inbound": [], "outbound": []},
        "openRegistrations": services.settings.registrations_open,
        "usage": {
            "users": {
                "total": stats.user_count,
                "activeMonth": stats.active_month,
                "activeHalfyear": stats.active_halfyear,
            },
            "localPosts": stats.status_count,
        },
        "metadata": {
            "nodeName": services.settings.instance_title,
            "upstream": {"name": "mastodon", "version": MASTODON_API_VERSION},
        },
    }
    return OrjsonResponse(body, headers={"Content-Type": f'application/json; profile="{NODEINFO_SCHEMA}#"'})
