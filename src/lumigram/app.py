"""The ASGI application factory: wires adapters, routers, error handling and lifespan."""

from __future__ import annotations

import importlib
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi_offline import FastAPIOffline
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Receive, Scope, Send

from lumigram import __version__
from lumigram.api.allowed_methods import install_allow_header
from lumigram.api.body_limit import BodyLimitMiddleware
from lumigram.api.errors import install_error_handlers
from lumigram.api.openapi import install_openapi
from lumigram.api.story_tray_fast_path import KeptStoryTray
from lumigram.bootstrap import build_services, start_consumers
from lumigram.config import Settings, load_settings
from lumigram.infra import gc_tuning as heap
from lumigram.pagecache.home_fast_path import CachedHomePage
from lumigram.pagecache.profile_fast_path import CachedProfilePage
from lumigram.search.service import warm_shared
from lumigram.services import Services
from lumigram.web import STATIC_DIR

#: Modules that expose a ``router``; order matters for overlapping paths, and for cost: a
#: request is matched against every route before its own, one by one (about 5 µs each),
#: so the routes read at high rates with no kept page in front of them (search, trends,
#: explore) come first.
ROUTER_MODULES = (
    "lumigram.api.routes.health",
    "lumigram.api.routes.instance",
    "lumigram.api.routes.search",
    "lumigram.api.routes.trends",
    "lumigram.api.routes.explore",
    # The writes people make most, early: every request walks the routes in this order
    # until one matches, and each route passed costs a few microseconds (none of these
    # paths is also matched by a router listed before it).
    "lumigram.api.routes.media",
    "lumigram.api.routes.statuses",
    "lumigram.api.routes.interactions",
    "lumigram.api.routes.timelines",
    "lumigram.api.routes.wellknown",
    "lumigram.api.routes.apps",
    "lumigram.api.routes.oauth",
    "lumigram.api.routes.accounts",
    "lumigram.api.routes.account_deletion",
    "lumigram.api.routes.relationships",
    "lumigram.api.routes.media_files",
    "lumigram.api.routes.reposts",
    "lumigram.api.routes.polls",
    "lumigram.api.routes.lists",
    "lumigram.api.routes.filters",
    "lumigram.api.routes.recent_searches",
    "lumigram.api.routes.notifications",
    "lumigram.api.routes.markers",
    "lumigram.api.routes.push",
    "lumigram.api.routes.conversations",
    "lumigram.api.routes.messages",
    "lumigram.api.routes.streaming",
    "lumigram.api.routes.stories",
    "lumigram.api.routes.reels",
    "lumigram.api.routes.pixelfed_stories",
    "lumigram.api.routes.community",
    "lumigram.api.routes.preferences",
    "lumigram.api.routes.translation",
    "lumigram.api.routes.conversation_mutes",
    "lumigram.api.routes.scheduled_statuses",
    "lumigram.api.routes.suggestions",
    "lumigram.api.routes.profile_extras",
    "lumigram.web.auth_pages",
    "lumigram.web.settings_pages",
    "lumigram.web.people_pages",
    "lumigram.web.notification_pages",
    "lumigram.web.app_pages",
    "lumigram.web.explore_pages",
    "lumigram.web.message_pages",
    "lumigram.web.story_pages",
)


class TrailingSlashMiddleware:
    """Serve ``/path/`` as ``/path``: Mastodon.py asks for ``/api/v1/instance/``, and a
    redirect or 404 there sends its version detection into endless recursion."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] in ("http", "websocket"):
            path: str = scope["path"]
            if len(path) > 1 and path.endswith("/"):
                scope = dict(scope)
                scope["path"] = path.rstrip("/") or "/"
                raw = scope.get("raw_path")
                if isinstance(raw, bytes):
                    scope["raw_path"] = raw.rstrip(b"/") or b"/"
        await self.app(scope, receive, send)


def create_app(settings: Settings | None = None, services: Services | None = None) -> FastAPI:
    """Build the app. Given ``services``, the caller owns them (tests); otherwise the
    lifespan builds them from ``settings`` and closes them at shutdown."""
    settings = settings or (services.settings if services else load_settings())

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        owned = services is None
        active = services or build_services(settings)
        app.state.services = active
        if owned:
            await active.start_relay()
            if settings.run_inline_worker:
                await start_consumers(active)
            active.spawn(warm_shared(active), name="shared values warmed")
            active.spawn(active.db.warm(), name="database connections readied")
            heap.settle()  # not for callers' services (tests): they build many apps per process
        try:
            yield
        finally:
            if owned:
                await active.close()

    # Swagger UI's scripts and styles come from a package and are served from here: a
    # server without internet access (or a browser that blocks CDNs) still shows /docs.
    app = FastAPIOffline(
        title="Lumigram",
        version=__version__,
        summary="A photo and video sharing server with a Mastodon-compatible API.",
        docs_url="/docs",
        redoc_url=None,
        static_url="/docs/static",
        # No "valid spec" badge: Swagger UI would send the document to an outside validator.
        swagger_ui_parameters={"validatorUrl": None},
        lifespan=lifespan,
    )
    if services is not None:
        app.state.services = services
    routers = [importlib.import_module(name).router for name in ROUTER_MODULES]
    for router in routers:
        app.include_router(router)
    # Given every route's template, a 404 tells a missing record from a missing endpoint.
    install_error_handlers(app, [getattr(route, "path", "") for router in routers for route in router.routes])
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    install_allow_header(app)
    install_openapi(app)
    # Added before the slash middleware, so they run after it and see normalised paths.
    app.add_middleware(CachedProfilePage)
    app.add_middleware(CachedHomePage)
    app.add_middleware(KeptStoryTray)
    # Before any route reads a body or checks a token: refuses bodies too large for the route.
    app.add_middleware(BodyLimitMiddleware)
    app.add_middleware(TrailingSlashMiddleware)
    return app
