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
from typing import Annotated, Any, TypeVar

import orjson
from pydantic import BaseModel, ValidationError, WithJsonSchema
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
ID_PATH_PARAMETERS = frozenset(
    {
        "account_id",
        "status_id",
        "media_id",
        "notification_id",
        "story_id",
        "highlight_id",
        "conversation_id",
        "thread_id",
        "message_id",
        "list_id",
        "filter_id",
        "keyword_id",
    }
)
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


#: A body field that takes an id: documented with ``ID_SCHEMA``, checked by ``id_param``.
IdString = Annotated[str, WithJsonSchema(ID_SCHEMA)]
#: The same where an empty value means none.
OptionalIdString = Annotated[str, WithJsonSchema(OPTIONAL_ID_SCHEMA)]


def one_or_many(item: dict[str, Any], max_items: int) -> dict[str, Any]:
    """A list parameter that also takes a single bare value (as forms send ``media_ids=1``)."""
    return {"anyOf": [{"type": "array", "items": item, "maxItems": max_items}, item]}


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


#: Flags as the server reads them (Pydantic's lax booleans, which are Rails' too): besides
#: true and false, 0 and 1 and the words clients send in forms, in any case.
FLAG_ALTERNATIVES: list[dict[str, Any]] = [
    {"type": "boolean"},
    {"type": "integer", "enum": [0, 1]},
    {
        "type": "string",
        "pattern": "^(?:[01]|[Tt](?:[Rr][Uu][Ee])?|[Ff](?:[Aa][Ll][Ss][Ee])?|[Yy](?:[Ee][Ss])?|[Nn][Oo]?"
        "|[Oo](?:[Nn]|[Ff][Ff]))$",
    },
]


def _lax_flags(node: Any) -> Any:
    """``node`` with every boolean documented as the flags the server accepts."""
    if isinstance(node, dict):
        if node.get("type") == "boolean":
            return {**{key: value for key, value in node.items() if key != "type"}, "anyOf": FLAG_ALTERNATIVES}
        return {key: _lax_flags(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_lax_flags(item) for item in node]
    return node


def _without_null(node: Any) -> Any:
    """``node`` as a form can carry it: a form has no null, a field is simply left out."""
    if isinstance(node, dict):
        alternatives = node.get("anyOf")
        if isinstance(alternatives, list):
            kept = [_without_null(item) for item in alternatives if item != {"type": "null"}]
            rest = _without_null({key: value for key, value in node.items() if key != "anyOf"})
            if rest.get("default", "") is None:
                del rest["default"]
            return {**rest, **kept[0]} if len(kept) == 1 else {**rest, "anyOf": kept}
        if isinstance(node.get("enum"), list):
            node = {**node, "enum": [value for value in node["enum"] if value is not None]}
        return {key: _without_null(value) for key, value in node.items()}
    if isinstance(node, list):
        return [_without_null(item) for item in node]
    return node


def _is_object(field: dict[str, Any]) -> bool:
    return "properties" in field


def _array(field: dict[str, Any]) -> dict[str, Any] | None:
    """The list schema of a field that takes a list (alone, or among alternatives)."""
    if field.get("type") == "array":
        return field
    return next((option for option in field.get("anyOf", []) if option.get("type") == "array"), None)


def _bracket_names(name: str, field: dict[str, Any]) -> list[str]:
    """The form keys a required property becomes (``home`` -> ``home[last_read_id]``)."""
    if _is_object(field):
        return [f"{name}[{inner}]" for inner in field.get("required", [])]
    return [f"{name}[]" if _array(field) is not None else name]


def _as_form(schema: dict[str, Any]) -> dict[str, Any]:
    """``schema`` as a form spells it: Rails' bracket keys, one level deep, as ``nest``
    reads them (``source[privacy]=...``, ``media_ids[]=1&media_ids[]=2``)."""
    fields: dict[str, Any] = schema.get("properties", {})
    properties: dict[str, Any] = {}
    for name, field in fields.items():
        if _is_object(field):
            for inner, sub in field["properties"].items():
                properties[f"{name}[{inner}]"] = sub
        else:
            listed = _array(field)
            if listed is None:
                properties[name] = field
            elif not _is_object(listed.get("items", {})):
                properties[f"{name}[]"] = {**{k: v for k, v in field.items() if k != "anyOf"}, **listed}
            # A list of objects (``a[][b]=``) is nothing ``nest`` reads: such a field is JSON-only.

    def keys(required: list[str]) -> list[str]:
        return [key for name in required if name in fields for key in _bracket_names(name, fields[name])]

    form = {key: value for key, value in schema.items() if key not in ("properties", "required", "anyOf")}
    form["properties"] = properties
    if schema.get("required"):
        form["required"] = keys(schema["required"])
    if "anyOf" in schema:
        form["anyOf"] = [{"required": keys(branch.get("required", []))} for branch in schema["anyOf"]]
    return form


def openapi_body(model: type[BaseModel], multipart: bool = False, files: tuple[str, ...] = ()) -> dict[str, Any]:
    """``openapi_extra`` documenting ``model`` as the JSON and form body of a route.

    ``files`` names required file fields: such a body can only come as multipart.
    """
    schema = model.model_json_schema()
    schema = _lax_flags(_inline_refs(schema, schema.get("$defs", {})))
    form = _as_form(_without_null(schema))
    content: dict[str, Any] = {}
    if files:
        form = {
            **form,
            "properties": {
                **form.get("properties", {}),
                **{name: {"type": "string", "format": "binary"} for name in files},
            },
            "required": [*form.get("required", []), *files],
        }
    else:
        content["application/json"] = {"schema": schema}
        content["application/x-www-form-urlencoded"] = {"schema": form}
    if multipart or files:
        content["multipart/form-data"] = {"schema": form}
    # A body the route cannot do without (a required field, or one of several) is required.
    required = bool(files or schema.get("required") or schema.get("anyOf"))
    return {"requestBody": {"content": content, "required": required}}
