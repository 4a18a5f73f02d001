"""405 answers whose ``Allow`` names every method of the path, not just one route's.

Starlette matches routes one at a time: when a path has a route per method (``GET`` and
``POST /api/v1/statuses``), a request with another method is refused by the first
route whose path matches, which lists only its own methods. RFC 9110 wants every
method the resource supports, so this handler gathers them from all routes.
"""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Match, Route

from lumigram.api.params import ID_PATH_PARAMETERS, is_id
from lumigram.api.responses import error_response


def _serves(route: Route, request: Request) -> bool:
    """Whether ``route`` answers this path for some method. A path segment that is not an
    id does not count as a record's (``/notifications/clear`` is no notification)."""
    match, child = route.matches(request.scope)
    if match == Match.NONE:
        return False
    params = child.get("path_params", {})
    return all(is_id(str(value)) for name, value in params.items() if name in ID_PATH_PARAMETERS)


def allowed_methods(app: FastAPI, request: Request) -> list[str]:
    methods: set[str] = set()
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route  # our routers are included without a prefix
        if isinstance(route, Route) and route.methods and _serves(route, request):
            methods |= route.methods
    if "GET" in methods:
        methods.add("HEAD")  # Starlette answers HEAD wherever it answers GET
    return sorted(methods)


def install_allow_header(app: FastAPI) -> None:
    async def method_not_allowed(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        allow = ", ".join(allowed_methods(app, request)) or (exc.headers or {}).get("Allow", "")
        message = exc.detail if isinstance(exc.detail, str) else "Method Not Allowed"
        return error_response(405, message, headers={"Allow": allow})

    # A handler for the status wins over the one for HTTPException in general.
    app.add_exception_handler(405, method_not_allowed)
