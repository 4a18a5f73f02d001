"""Maps every failure to Mastodon's ``{"error": "..."}`` body with the right status."""

from __future__ import annotations

import logging
import re
from collections.abc import Iterable
from typing import Any

from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from redis import exceptions as redis_errors
from sqlalchemy.exc import DBAPIError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from lumigram.api.responses import error_response
from lumigram.errors import (
    Conflict,
    Forbidden,
    LumigramError,
    NotFound,
    RateLimited,
    ServiceUnavailable,
    Unauthorized,
    ValidationFailed,
)

log = logging.getLogger(__name__)

STATUS_BY_ERROR: dict[type[LumigramError], int] = {
    NotFound: 404,
    Unauthorized: 401,
    Forbidden: 403,
    ValidationFailed: 422,
    Conflict: 409,
    RateLimited: 429,
    ServiceUnavailable: 503,
}


def rate_limit_headers(limit: int, remaining: int, reset_after: int) -> dict[str, str]:
    from datetime import UTC, datetime, timedelta

    reset = datetime.now(UTC) + timedelta(seconds=reset_after)
    return {
        "X-RateLimit-Limit": str(limit),
        "X-RateLimit-Remaining": str(max(remaining, 0)),
        "X-RateLimit-Reset": reset.isoformat(timespec="seconds").replace("+00:00", "Z"),
        "Retry-After": str(max(reset_after, 1)),
    }


def _describe_validation(exc: RequestValidationError) -> tuple[str, dict[str, list[dict[str, Any]]]]:
    details: dict[str, list[dict[str, Any]]] = {}
    parts = []
    for item in exc.errors():
        loc = [str(p) for p in item.get("loc", ()) if p not in ("body", "query", "path", "header", "form")]
        field = ".".join(loc) or "request"
        message = str(item.get("msg", "is invalid")).removeprefix("Value error, ")
        problem = {"error": str(item.get("type", "invalid")).upper(), "description": message}
        details.setdefault(field, []).append(problem)
        parts.append(f"{field}: {message}")
    return "Validation failed: " + "; ".join(parts), details


UNAVAILABLE = "The service is briefly unavailable; try again in a moment"


def _backend_unreachable(exc: BaseException) -> bool:
    """A dropped or refused connection to a backend: the request may simply be retried
    (the pool reconnects), so it is a 503, not a server bug."""
    if isinstance(exc, DBAPIError):
        # SQLite's one writer: a write that waited out the busy timeout behind others is
        # an overloaded server, and retrying it later succeeds.
        busy = isinstance(exc, OperationalError) and "database is locked" in str(exc.orig)
        return bool(exc.connection_invalidated) or isinstance(exc.orig, OSError) or busy
    if isinstance(exc, PoolTimeout):
        return True  # every pooled connection stayed busy: the server is overloaded, not broken
    return isinstance(exc, ConnectionError | redis_errors.ConnectionError | TimeoutError)


_PARAMETER = re.compile(r"\{[^{}]*\}")


def _endpoint_shapes(paths: Iterable[str]) -> re.Pattern[str] | None:
    """One pattern matching any path some route serves, whatever its parameters hold.

    ``/api/v1/accounts/{account_id:int}`` does not match ``/api/v1/accounts/abc``, yet
    that is a request for a record that does not exist, at an endpoint that does."""
    shapes = []
    for path in filter(None, paths):
        pieces = _PARAMETER.split(path)
        holes = [".+" if hole.endswith(":path}") else "[^/]+" for hole in _PARAMETER.findall(path)]
        shapes.append("".join(re.escape(piece) + hole for piece, hole in zip(pieces, [*holes, ""], strict=True)))
    return re.compile("|".join(shapes)) if shapes else None


#: PostgreSQL's "character not in repertoire": text holding a NUL byte, which it cannot
#: store (SQLite can). Every text a person sends reaches it, so the refusal is made here
#: once, as a client error, rather than in each service.
_REFUSED_TEXT_STATE = "22021"


def _refused_text(exc: Exception) -> bool:
    """Whether the database refused a text the request carried (its transaction is rolled
    back, so nothing of the request was kept)."""
    if not isinstance(exc, DBAPIError):
        return False
    for cause in (exc.orig, getattr(exc.orig, "__cause__", None)):
        if cause is not None and _REFUSED_TEXT_STATE in (
            getattr(cause, "sqlstate", None),
            getattr(cause, "pgcode", None),
        ):
            return True
    return False


def install_error_handlers(app: FastAPI, endpoint_paths: Iterable[str] = ()) -> None:
    """``endpoint_paths`` are the routes' templates: a 404 on a path of their shape is a
    missing record, any other 404 a missing endpoint."""
    shapes = _endpoint_shapes(endpoint_paths)

    def at_an_endpoint(request: Request) -> bool:
        if "endpoint" in request.scope:
            return True  # a route matched, then found nothing
        path: str = request.scope["path"]
        root: str = request.scope.get("root_path", "")
        return shapes is not None and shapes.fullmatch(path.removeprefix(root) if root else path) is not None

    async def domain_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, LumigramError)
        status = next((code for kind, code in STATUS_BY_ERROR.items() if isinstance(exc, kind)), 400)
        headers = None
        details = None
        if isinstance(exc, RateLimited):
            headers = rate_limit_headers(exc.limit, exc.remaining, exc.reset_after)
        if isinstance(exc, ValidationFailed):
            details = exc.details
        if isinstance(exc, Unauthorized):
            headers = {"WWW-Authenticate": 'Bearer realm="Lumigram", error="invalid_token"'}
        return error_response(status, exc.message, details, headers)

    async def validation_error(_request: Request, exc: Exception) -> Response:
        assert isinstance(exc, RequestValidationError)
        message, details = _describe_validation(exc)
        return error_response(422, message, details)

    async def http_error(request: Request, exc: Exception) -> Response:
        assert isinstance(exc, HTTPException)
        message = exc.detail if isinstance(exc.detail, str) else "Error"
        if exc.status_code == 404 and message == "Not Found":
            # A client should tell "not implemented" from "no such record".
            message = "Record not found" if at_an_endpoint(request) else "Endpoint not found"
        return error_response(exc.status_code, message, headers=dict(exc.headers or {}))

    async def backend_error(_request: Request, exc: Exception) -> Response:
        if _refused_text(exc):
            return error_response(422, "Text may not contain the NUL character")
        if not _backend_unreachable(exc):
            raise exc  # a real failure: on to unexpected_error, a logged 500
        log.warning("a backend is unreachable: %s", exc)
        return error_response(503, UNAVAILABLE, headers={"Retry-After": "1"})

    async def unexpected_error(_request: Request, exc: Exception) -> Response:
        log.exception("unhandled error", exc_info=exc)
        return error_response(500, "Internal server error")

    app.add_exception_handler(LumigramError, domain_error)
    app.add_exception_handler(RequestValidationError, validation_error)
    app.add_exception_handler(HTTPException, http_error)
    for unreachable in (DBAPIError, PoolTimeout, redis_errors.ConnectionError, ConnectionError, TimeoutError):
        app.add_exception_handler(unreachable, backend_error)
    app.add_exception_handler(Exception, unexpected_error)
