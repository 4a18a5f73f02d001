"""Request parameters the way Mastodon clients send them.

Clients send the same parameters as a query string, a form (Mastodon.py), multipart
(uploads) or JSON (masto.js, megalodon); Rails merges them all, so we do too. Form keys
use Rails' bracket notation: ``id[]=1&id[]=2`` is a list, ``source[privacy]=public`` a
nested object. ``read_params`` returns one plain dict; ``parse`` validates it with a
Pydantic model and turns problems into Mastodon's 422 (never a 500).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.requests import Request

from lumigram.errors import ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
#: Enough for any Mastodon form; bounds the work a hostile request can cause.
MAX_FIELDS = 200
MAX_FILES = 4


def _assign(target: dict[str, Any], key: str, value: Any) -> None:
    """Put ``value`` at the path spelled by ``key`` (``a``, ``a[]``, ``a[b]``, ``a[b][]``)."""
    head, _, rest = key.partition("[")
    if not rest or not head:
        target[key] = value
        return
    path = [head, *_BRACKETS.findall("[" + rest)]
    node: Any = target
    for index, part in enumerate(path):
        last = index == len(path) - 1
        if part == "":
            # ``a[]`` appends; ``a[][b]`` is nothing a Mastodon client sends, so it is dropped.
            if last and isinstance(node, list):
                node.append(value)
            return
        if not isinstance(node, dict):
            return
        if last:
            node[part] = value
            return
        existing = node.get(part)
        if path[index + 1] == "":
            if not isinstance(existing, list):
                existing = node[part] = []
        elif not isinstance(existing, dict):
            existing = node[part] = {}
        node = existing


def nest(items: Iterable[tuple[str, Any]]) -> dict[str, Any]:
    """Rails-style bracket keys to nested dicts and lists."""
    result: dict[str, Any] = {}
    for key, value in items:
        _assign(result, key, value)
    return result


async def read_params(request: Request) -> dict[str, Any]:
    """Query string and body merged (the body wins), bracket keys nested."""
    params = nest(request.query_params.multi_items())
    content_type = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if content_type == "application/json" or content_type.endswith("+json"):
        body = await request.body()
        if body.strip():
            try:
                data = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise ValidationFailed("Validation failed: the request body is not valid JSON") from exc
            if not isinstance(data, dict):
                raise ValidationFailed("Validation failed: the request body must be a JSON object")
            params.update(data)
    elif content_type in ("application/x-www-form-urlencoded", "multipart/form-data"):
        try:
            form = await request.form(max_files=MAX_FILES, max_fields=MAX_FIELDS)
        except Exception as exc:  # malformed multipart raises several kinds; all mean bad input
            raise ValidationFailed(f"Validation failed: the form data could not be read ({exc})") from exc
        params.update(nest(form.multi_items()))
    return params


def _field_name(loc: tuple[Any, ...]) -> str:
    return ".".join(str(part) for part in loc) or "request"


def parse(model: type[Model], params: dict[str, Any]) -> Model:
    """``params`` validated by ``model``; ValidationFailed (422) in Mastodon's shape otherwise."""
    try:
        return model.model_validate(params)
    except ValidationError as exc:
        details: dict[str, list[dict[str, Any]]] = {}
        parts = []
        for error in exc.errors(include_url=False, include_context=False, include_input=False):
            field = _field_name(error["loc"])
            message = str(error["msg"]).removeprefix("Value error, ")
            code = "ERR_BLANK" if error["type"] == "missing" else "ERR_INVALID"
            description = "can't be blank" if error["type"] == "missing" else message
            details.setdefault(field, []).append({"error": code, "description": description})
            parts.append(f"{field.replace('_', ' ').capitalize()} {description}")
        raise ValidationFailed("Validation failed: " + ", ".join(parts), details) from exc


def upload(params: dict[str, Any], name: str) -> UploadFile | None:
    value = params.get(name)
    return value if isinstance(value, UploadFile) else None


def _inline_refs(node: Any, definitions: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline_refs(definitions[ref.removeprefix("#/$defs/")], definitions)
        return {key: _inline_refs(value, definitions) for key, value in node.items() if key != "$defs"}
    if isinstance(node, list):
        return [_inline_refs(item, definitions) for item in node]
    return node


def openapi_body(model: type[BaseModel], multipart: bool = False) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON and form body of a route."""
    schema = model.model_json_schema()
    schema = _inline_refs(schema, schema.get("$defs", {}))
    content: dict[str, Any] = {
        "application/json": {"schema": schema},
        "application/x-www-form-urlencoded": {"schema": schema},
    }
    if multipart:
        content["multipart/form-data"] = {"schema": schema}
    return {"requestBody": {"content": content, "required": False}}
