"""Request parameters the way Mastodon clients send them.

Clients send the same parameters as a query string, a form (Mastodon.py), multipart
(uploads) or JSON (masto.js, megalodon); Rails merges them all, so we do too. Form keys
use Rails' bracket notation: ``id[]=1&id[]=2`` is a list, ``source[privacy]=public`` a
nested object. ``read_params`` returns one plain dict; ``parse`` validates it with a
Pydantic model and turns problems into Mastodon's 422 (never a 500).

Ids are strings of ASCII digits naming a positive 64-bit number. ``ID_PATTERN`` is the one
definition of that: the OpenAPI document declares it, and ``is_id`` / ``record_id`` /
``id_param`` check exactly it, so the document and the server cannot drift apart.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from typing import Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError
from starlette.convertors import Convertor, register_url_convertor
from starlette.datastructures import UploadFile
from starlette.requests import Request

from lumigram.errors import NotFound, ValidationFailed

Model = TypeVar("Model", bound=BaseModel)

_BRACKETS = re.compile(r"\[([^\[\]]*)\]")
#: Enough for any Mastodon form; bounds the work a hostile request can cause.
MAX_FIELDS = 200
MAX_FILES = 4

#: The largest id: ids are signed 64-bit numbers in the database.
MAX_ID = 2**63 - 1


def _at_most(limit: str) -> str:
    """A regex matching exactly the decimal strings of ``len(limit)`` digits that are <= ``limit``."""
    branches = []
    for index, digit in enumerate(limit):
        if digit != "0":
            rest = len(limit) - index - 1
            tail = f"[0-9]{{{rest}}}" if rest else ""
            branches.append(f"{limit[:index]}[0-{int(digit) - 1}]{tail}")
    branches.append(limit)
    return "|".join(branches)


#: 1 to 18 digits, or 19 digits not above ``MAX_ID`` (leading zeros are harmless).
ID_PATTERN = f"^(?:[0-9]{{1,{len(str(MAX_ID)) - 1}}}|{_at_most(str(MAX_ID))})$"
_ID = re.compile(ID_PATTERN)
#: How an id is declared in the OpenAPI document, wherever one is taken.
ID_SCHEMA: dict[str, Any] = {"type": "string", "pattern": ID_PATTERN, "examples": ["113224574812405760"]}
#: A paging cursor or filter: an id, or empty for none (some clients send ``max_id=``).
OPTIONAL_ID_SCHEMA: dict[str, Any] = {**ID_SCHEMA, "pattern": f"^(?:{ID_PATTERN[1:-1]})?$"}
#: Path parameters that name a record by id, in every route that has one.
ID_PATH_PARAMETERS = frozenset({"account_id", "status_id", "media_id", "notification_id"})
#: Query parameters that take an id (or nothing).
ID_QUERY_PARAMETERS = frozenset({"max_id", "since_id", "min_id", "account_id"})


class _IdConvertor(Convertor[str]):
    """``{name:id}`` in a route path: only an id matches, so ``/notifications/clear`` is
    never taken for a notification's id and reaches its own route (or a 405)."""

    regex = ID_PATTERN[1:-1]

    def convert(self, value: str) -> str:
        return value

    def to_string(self, value: str) -> str:
        return value


register_url_convertor("id", _IdConvertor())


def is_id(raw: object) -> bool:
    return isinstance(raw, str) and _ID.fullmatch(raw) is not None


def record_id(raw: str) -> int:
    """A path id; anything that cannot be one names no record (404, as in Mastodon)."""
    if not is_id(raw):
        raise NotFound
    return int(raw)


def id_param(raw: object, field: str) -> int:
    """An id given as a parameter; anything else is a 422 naming ``field``."""
    if not is_id(raw):
        raise ValidationFailed.field(field, "ERR_INVALID", "must be an id")
    assert isinstance(raw, str)
    return int(raw)


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


def _without_null(node: Any) -> Any:
    """``node`` as a form can carry it: a form has no null, a field is simply left out."""
    if isinstance(node, dict):
        alternatives = node.get("anyOf")
        if isinstance(alternatives, list):
            kept = [_without_null(item) for item in alternatives if item != {"type": "null"}]
            rest = {key: _without_null(value) for key, value in node.items() if key != "anyOf"}
            if rest.get("default", "") is None:
                del rest["default"]
            return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}
        return {key: _without_null(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_null(item) for item in node]
    return node


def openapi_body(model: type[BaseModel], multipart: bool = False) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON and form body of a route."""
    schema = model.model_json_schema()
    schema = _inline_refs(schema, schema.get("$defs", {}))
    form = _without_null(schema)
    content: dict[str, Any] = {
        "application/json": {"schema": schema},
        "application/x-www-form-urlencoded": {"schema": form},
    }
    if multipart:
        content["multipart/form-data"] = {"schema": form}
    return {"requestBody": {"content": content, "required": False}}
