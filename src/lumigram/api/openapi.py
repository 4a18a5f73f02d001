"""The OpenAPI document, completed with what FastAPI cannot see in our routes.

Routes return ready-made responses and raise domain errors that the handlers in
``lumigram.api.errors`` turn into Mastodon's ``{"error": "..."}``, so FastAPI's own
document lists little more than a 200. ``install_openapi`` post-processes it once, from
facts each route already states:

* who may call it (its auth dependencies): bearer security, 401 and 403;
* what it takes: ids declared with ``params.ID_SCHEMA`` (the pattern the server checks),
  422 for any parameter or body, 413 for a body;
* 404 for a path naming a record, 503 whenever a backend is involved;
* and a short table of what only a route's body knows (rate limits, OAuth's 400s,
  upload states), kept here so that routes stay free of documentation plumbing.

Every error response points at one shared ``Error`` schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from fastapi import FastAPI
from fastapi.dependencies.models import Dependant
from fastapi.routing import APIRoute, iter_route_contexts

from lumigram.api import auth
from lumigram.api.deps import get_services
from lumigram.api.params import ID_PATH_PARAMETERS, ID_QUERY_PARAMETERS, ID_SCHEMA, OPTIONAL_ID_SCHEMA

ERROR_REF = {"$ref": "#/components/schemas/Error"}

ERROR_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Mastodon's error shape; OAuth endpoints add RFC 6749's error_description.",
    "required": ["error"],
    "properties": {
        "error": {"type": "string", "description": "What went wrong, for the person using the app."},
        "error_description": {"type": "string"},
        "details": {
            "type": "object",
            "description": "Validation problems by field.",
            "additionalProperties": {
                "type": "array",
                "items": {
                    "type": "object",
                    "required": ["error", "description"],
                    "properties": {"error": {"type": "string"}, "description": {"type": "string"}},
                },
            },
        },
    },
}

DESCRIPTIONS = {
    400: "The request is malformed (OAuth)",
    401: "No valid access token, or one not tied to a user where a user is needed",
    403: "The token lacks the scope, or the login may not do this",
    404: "The record does not exist or is hidden from the caller",
    409: "Clashes with a change made at the same moment; retry",
    413: "The request body is too large",
    422: "The parameters or body are invalid",
    429: "Too many requests; see the Retry-After header",
    503: "A backend is briefly unavailable; retry",
}

#: Statuses only a route's body knows about, by (method, path).
RATE_LIMITED = 429
EXTRA_STATUSES: dict[tuple[str, str], tuple[int, ...]] = {
    ("POST", "/api/v1/accounts"): (RATE_LIMITED,),
    ("POST", "/api/v1/statuses"): (404, RATE_LIMITED),  # 404: the post replied to is gone
    ("POST", "/api/v1/accounts/{account_id}/follow"): (RATE_LIMITED,),
    ("POST", "/api/v1/emails/confirmations"): (RATE_LIMITED,),
    ("POST", "/api/v1/accounts/phone/confirmations"): (RATE_LIMITED,),
    ("POST", "/oauth/token"): (400, 401, RATE_LIMITED),
    ("POST", "/oauth/revoke"): (400, 401, 403),
    ("GET", "/api/v1/accounts/lookup"): (404,),
    ("GET", "/api/v1/push/subscription"): (404,),
    ("PUT", "/api/v1/push/subscription"): (404,),
    ("DELETE", "/api/v1/push/subscription"): (404,),
    ("PUT", "/api/v1/media/{media_id}"): (409,),
    # Messages: 403 where a block, a setting or a role refuses; 404 for a named account.
    ("POST", "/api/v1/lumigram/threads"): (403, 404),
    ("POST", "/api/v1/lumigram/threads/{thread_id}/messages"): (RATE_LIMITED,),
    ("POST", "/api/v1/lumigram/threads/{thread_id}/members"): (403,),
    # 422: only a group's members are removed, and only a group is left.
    ("DELETE", "/api/v1/lumigram/threads/{thread_id}/members/{account_id}"): (422,),
    ("POST", "/api/v1/lumigram/threads/{thread_id}/leave"): (422,),
}

#: Answers in the route's own body shape other than its 200, by (method, path).
OWN_BODY_ANSWERS: dict[tuple[str, str], dict[int, str]] = {
    ("POST", "/api/v2/media"): {202: "Accepted; still processing (`url` is null until it is ready)"},
    ("POST", "/api/v1/media"): {202: "Accepted; a video still processing (`url` is null until it is ready)"},
    ("GET", "/api/v1/media/{media_id}"): {206: "Still processing"},
    ("GET", "/readyz"): {503: "A backend does not answer; `checks` says which"},
}

_BYTES = {"schema": {"type": "string", "format": "binary"}}
_MEDIA_BYTES = {
    "image/*": _BYTES,
    "video/*": _BYTES,
    "application/vnd.apple.mpegurl": _BYTES,  # a reel's HLS playlists
    "application/octet-stream": _BYTES,
}
_STORED_MEDIA: dict[str, Any] = {
    "200": {"description": "The file", "content": _MEDIA_BYTES},
    "206": {"description": "The requested byte range", "content": _MEDIA_BYTES},
    "302": {"description": "Redirected to the store's short-lived address (S3)"},
    "304": {"description": "Not modified (If-None-Match)"},
    "416": {"description": "The range lies past the end", "content": {"application/json": {"schema": ERROR_REF}}},
}
_EVENTS = {"200": {"description": "Server-sent events", "content": {"text/event-stream": _BYTES}}}

#: Routes whose success is not a JSON body, by (method, path): their responses, in full.
NON_JSON_ANSWERS: dict[tuple[str, str], dict[str, Any]] = {
    ("GET", "/media/{key}"): _STORED_MEDIA,
    ("HEAD", "/media/{key}"): _STORED_MEDIA,
    **{
        ("GET", f"/api/v1/streaming/{stream}"): _EVENTS
        for stream in ("user", "user/notification", "public", "public/local", "hashtag", "hashtag/local", "direct")
    },
}


def _dependencies(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
            yield from auth.STANDS_FOR.get(sub.call, ())
        yield from _dependencies(sub)


def _is_scope_check(call: Any) -> bool:
    qualname = str(getattr(call, "__qualname__", ""))
    checks = (auth.require_scopes, auth.scopes_if_token, auth.account_with_scopes)
    return qualname.startswith(tuple(check.__name__ + "." for check in checks))


def _statuses(route: APIRoute, operation: dict[str, Any], method: str) -> set[int]:
    calls = list(_dependencies(route.dependant))
    statuses = set(EXTRA_STATUSES.get((method, route.path_format), ()))
    if auth.get_optional_token in calls:
        statuses.add(401)  # even where a token is optional, an invalid one is refused
    if any(_is_scope_check(call) for call in calls) or auth.get_current_account in calls:
        statuses.add(403)
    if route.dependant.path_params:
        statuses.add(404)
    if operation.get("parameters") or "requestBody" in operation:
        statuses.add(422)
    if "requestBody" in operation:
        statuses.add(413)
    if get_services in calls:
        statuses.add(503)
    return statuses


def _security(route: APIRoute) -> list[dict[str, list[str]]] | None:
    calls = list(_dependencies(route.dependant))
    if auth.get_current_token in calls:
        return [{"bearer": []}]
    if auth.get_optional_token in calls:
        return [{}, {"bearer": []}]
    return None


def _declare_ids(operation: dict[str, Any]) -> None:
    for parameter in operation.get("parameters", []):
        place, name = parameter["in"], parameter["name"]
        if place == "path" and name in ID_PATH_PARAMETERS:
            parameter["schema"] = dict(ID_SCHEMA)
        elif place == "query" and name in ID_QUERY_PARAMETERS:
            parameter["schema"] = dict(OPTIONAL_ID_SCHEMA)


def _complete_operation(route: APIRoute, method: str, operation: dict[str, Any]) -> None:
    _declare_ids(operation)
    security = _security(route)
    if security is not None:
        operation["security"] = security
    responses: dict[str, Any] = operation.setdefault("responses", {})
    responses.update(NON_JSON_ANSWERS.get((method, route.path_format), {}))
    for status, description in OWN_BODY_ANSWERS.get((method, route.path_format), {}).items():
        responses[str(status)] = {"description": description, "content": responses["200"]["content"]}
    for status in sorted(_statuses(route, operation, method)):
        if str(status) in responses:
            continue  # the route's own answer with that status (a 503 from /readyz) stands
        responses[str(status)] = {
            "description": DESCRIPTIONS[status],
            "content": {"application/json": {"schema": ERROR_REF}},
        }


def complete(document: dict[str, Any], app: FastAPI) -> None:
    """Add what the routes imply to FastAPI's ``document``, in place."""
    components = document.setdefault("components", {})
    components.setdefault("schemas", {})["Error"] = ERROR_SCHEMA
    components.setdefault("securitySchemes", {})["bearer"] = {
        "type": "http",
        "scheme": "bearer",
        "description": "An OAuth access token (also accepted as the access_token query parameter).",
    }
    seen_ids: set[str] = set()
    for context in iter_route_contexts(app.routes):
        route = context.original_route
        if not isinstance(route, APIRoute) or not route.include_in_schema:
            continue
        for method in sorted(route.methods or ()):
            operation = document["paths"][context.path_format or route.path_format][method.lower()]
            _complete_operation(route, method, operation)
            # A route serving several methods gets one id from FastAPI; each needs its own.
            if operation.get("operationId") in seen_ids:
                operation["operationId"] = f"{operation['operationId']}_{method.lower()}"
            seen_ids.add(operation.get("operationId", ""))


def install_openapi(app: FastAPI) -> None:
    """Serve the completed document at ``/openapi.json`` (built once, on first request)."""
    build = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            complete(build(), app)
        assert app.openapi_schema is not None
        return app.openapi_schema

    app.openapi = openapi  # type: ignore[method-assign]
