"""Reading requests: JSON bodies and query strings, checked against the OpenAPI document.

Malformed input (not JSON, bad UTF-8, NaN, NUL characters, lone surrogates, nesting deeper than
MAX_DEPTH, unknown or repeated query parameters, wrong query types) is a 400; a body of the wrong
media type is a 415; a well-formed body that breaks its schema (unknown fields, wrong types,
missing fields) is a 422 naming each field. Messages never echo the submitted values.
"""

from __future__ import annotations

import json
import math
import re
import uuid
from datetime import datetime
from typing import Any

from flask import current_app, request

from forms.validator import SchemaValidator

from .errors import ApiError

MAX_DEPTH = 32
JSON_TYPES = ("application/json",)
EMPTY = {"type": "object", "properties": {}, "additionalProperties": False}  # bodies of commands without fields


def bad_request(message: str, details: list[dict[str, Any]] | None = None, code: str = "bad_request") -> ApiError:
    return ApiError(400, code, message, details)


# --- JSON bodies -------------------------------------------------------------------------------
def _reject_constant(name: str):
    raise ValueError(f"{name} is not JSON")


def _parse_float(text: str) -> float:
    value = float(text)
    if math.isinf(value):
        raise ValueError("number out of range")
    return value


def loads(raw: bytes) -> Any:
    """Strict JSON: UTF-8, no NaN or Infinity, no NUL characters or lone surrogates, bounded depth."""
    try:
        text = raw.decode("utf-8")
        value = json.loads(text, parse_constant=_reject_constant, parse_float=_parse_float)
    except RecursionError:
        raise bad_request("the JSON document is nested too deeply", code="malformed_json") from None
    except (UnicodeDecodeError, ValueError) as exc:
        reason = "the body is not valid UTF-8" if isinstance(exc, UnicodeDecodeError) else "the body is not valid JSON"
        raise bad_request(
            reason, [{"field": None, "message": str(exc).split(":")[0][:120]}], code="malformed_json"
        ) from None
    check_text(value)
    return value


def check_text(value: Any, where: str = "body") -> None:
    """Refuse what JSON allows but the store cannot keep: NUL, lone surrogates, extreme nesting."""
    stack = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise bad_request(f"the {where} is nested more than {MAX_DEPTH} levels deep", code="malformed_json")
        if isinstance(item, str):
            _check_string(item, where)
        elif isinstance(item, dict):
            for key, child in item.items():
                _check_string(key, where)
                stack.append((child, depth + 1))
        elif isinstance(item, list):
            stack.extend((child, depth + 1) for child in item)


def _check_string(text: str, where: str) -> None:
    if "\x00" in text:
        raise bad_request(f"the {where} contains a NUL character", code="invalid_text")
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise bad_request(f"the {where} contains an unpaired surrogate", code="invalid_text") from None


def json_body(validator: SchemaValidator, *, required: bool = True) -> dict[str, Any]:
    """The request's JSON object, checked by `validator`; an empty body counts as `{}` when allowed."""
    raw = request.get_data(cache=True)
    if not raw:
        if required:
            raise bad_request("a JSON body is required", code="body_required")
        data: Any = {}
    else:
        if request.mimetype not in JSON_TYPES:
            raise ApiError(415, "unsupported_media_type", "send the body as application/json")
        data = loads(raw)
    if not isinstance(data, dict):
        raise ApiError(
            422,
            "validation_failed",
            "the body must be a JSON object",
            [{"field": None, "message": "must be an object"}],
        )
    validate(data, validator)
    return data


def compile_schema(schema: dict[str, Any]) -> SchemaValidator:
    """A validator for a request schema: built once per app (web.openapi), not per request."""
    return SchemaValidator(schema)


def validate(data: Any, validator: SchemaValidator) -> None:
    errors = sorted(validator.iter_errors(data), key=lambda e: [str(p) for p in e.absolute_path])
    if errors:
        raise ApiError(422, "validation_failed", "the request has invalid fields", [describe(e) for e in errors[:50]])


def describe(error) -> dict[str, Any]:
    """A field-level message that states the rule, never the submitted value."""
    path = ".".join(str(p) for p in error.absolute_path) or None
    rule, expected = error.validator, error.validator_value
    if rule == "additionalProperties":
        allowed = set(error.schema.get("properties", {}))
        extra = sorted(k for k in error.instance if k not in allowed)
        field = ".".join(filter(None, [path, extra[0]])) if len(extra) == 1 else path
        return {
            "field": field,
            "message": "unknown field" if len(extra) == 1 else f"unknown fields: {', '.join(extra)[:200]}",
        }
    if rule == "required":
        missing = [k for k in expected if k not in error.instance]
        return {
            "field": ".".join(filter(None, [path, missing[0] if missing else None])),
            "message": "this field is required",
        }
    messages = {
        "type": lambda: f"must be of type {expected if isinstance(expected, str) else ' or '.join(expected)}",
        "enum": lambda: "must be one of: " + ", ".join(map(str, expected))[:200],
        "const": lambda: "has an unexpected value",
        "minLength": lambda: f"must have at least {expected} characters",
        "maxLength": lambda: f"must have at most {expected} characters",
        "pattern": lambda: "has an invalid format",
        "format": lambda: f"must be a valid {expected}",
        "minimum": lambda: f"must be at least {expected}",
        "maximum": lambda: f"must be at most {expected}",
        "minItems": lambda: f"must have at least {expected} items",
        "maxItems": lambda: f"must have at most {expected} items",
        "uniqueItems": lambda: "must not repeat items",
        "minProperties": lambda: f"must have at least {expected} fields",
        "maxProperties": lambda: f"must have at most {expected} fields",
    }
    message = messages.get(rule, lambda: f"is invalid ({rule})")()
    return {"field": path, "message": message}


# --- query strings -----------------------------------------------------------------------------
def query_args(declared: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The query parameters the operation declares (name -> schema), converted; anything else is a 400."""
    given = request.args
    unknown = sorted(set(given) - set(declared))
    if unknown:
        raise bad_request(
            "unknown query parameter",
            [{"field": k[:100], "message": "unknown parameter"} for k in unknown[:20]],
            code="invalid_query",
        )
    values: dict[str, Any] = {}
    problems = []
    for name, schema in declared.items():
        if name not in given:
            continue
        texts = given.getlist(name)
        if len(texts) > 1:
            problems.append({"field": name, "message": "give this parameter once"})
            continue
        try:
            values[name] = convert(texts[0], schema)
        except ValueError as exc:
            problems.append({"field": name, "message": str(exc)})
    if problems:
        raise bad_request("invalid query parameters", problems, code="invalid_query")
    return values


def convert(text: str, schema: dict[str, Any]) -> Any:
    """One query value by its schema: integer, date-time, uuid or a constrained string."""
    _check_string(text, "query")
    kind = schema.get("type")
    if kind == "integer":
        if not text.lstrip("-").isdigit() or len(text) > 19:
            raise ValueError("must be an integer")
        value = int(text)
        if "minimum" in schema and value < schema["minimum"]:
            raise ValueError(f"must be at least {schema['minimum']}")
        if "maximum" in schema and value > schema["maximum"]:
            raise ValueError(f"must be at most {schema['maximum']}")
        return value
    if "enum" in schema and text not in schema["enum"]:
        raise ValueError("must be one of: " + ", ".join(schema["enum"]))
    if len(text) > schema.get("maxLength", 1000) or len(text) < schema.get("minLength", 0):
        raise ValueError("has an invalid length")
    fmt = schema.get("format")
    if fmt == "date-time":
        try:
            moment = datetime.fromisoformat(text.replace("Z", "+00:00").replace("z", "+00:00"))
        except ValueError:
            raise ValueError("must be an RFC 3339 date-time with a time zone") from None
        if moment.tzinfo is None:
            raise ValueError("must be an RFC 3339 date-time with a time zone")
        return moment
    if fmt == "uuid":
        try:
            return str(uuid.UUID(text))
        except ValueError:
            raise ValueError("must be a UUID") from None
    if "pattern" in schema and not re.fullmatch(schema["pattern"], text):  # `$` alone lets a final "\n" through
        raise ValueError("has an invalid format")
    return text


def current_operation() -> dict[str, Any]:
    """The OpenAPI operation of the request being served."""
    return current_app.extensions["fengqiao.openapi"].operation(request.endpoint)
