"""Task forms: JSON Schema files in this folder, loaded once, validated server-side.

A user task names its form with `camunda:formKey="<file stem>"`. Completion keeps only declared
fields (`additionalProperties: false`), reports field-level errors, and splits off the fields marked
`"x-pii": true`, which the engine stores encrypted and never in workflow state.
"""

from __future__ import annotations

import json
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator, SchemaError

from .validator import SchemaValidator

HERE = Path(__file__).resolve().parent
MAX_ERRORS = 50


@dataclass(frozen=True)
class Form:
    key: str
    schema: dict[str, Any]
    personal_fields: frozenset[str]
    validator: SchemaValidator

    @property
    def title(self) -> str:
        return self.schema.get("title", self.key)

    def validate(self, data: Any) -> tuple[dict[str, Any], dict[str, Any]]:
        """Check `data`; return (non-personal fields, personal fields) or raise FormInvalid."""
        from engine.errors import FormInvalid  # engine imports this package: import its errors late

        if not isinstance(data, dict):
            raise FormInvalid("form data must be a JSON object", [{"field": None, "message": "not an object"}])
        errors = sorted(self.validator.iter_errors(data), key=lambda e: list(e.absolute_path))
        if errors:
            raise FormInvalid(f"form '{self.key}' has invalid fields", [self._describe(e) for e in errors[:MAX_ERRORS]])
        _check_finite(data)
        plain = {k: v for k, v in data.items() if k not in self.personal_fields}
        personal = {k: v for k, v in data.items() if k in self.personal_fields}
        return plain, personal

    def check_fields(self, data: dict[str, Any]) -> None:
        """Check only the given fields against their declarations (a partial update); FormInvalid if one breaks."""
        from engine.errors import FormInvalid  # engine imports this package: import its errors late

        declared = set(self.schema.get("properties", {}))
        errors = [
            e
            for e in self.validator.iter_errors({k: v for k, v in data.items() if k in declared})
            if e.absolute_path  # whole-form rules (required, if/then) do not apply to a few fields
        ]
        if errors:
            errors.sort(key=lambda e: list(e.absolute_path))
            raise FormInvalid(f"form '{self.key}' has invalid fields", [self._describe(e) for e in errors[:MAX_ERRORS]])

    def _describe(self, error) -> dict[str, Any]:
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            # The object that has the extra keys may be nested (a party): compare with its own schema.
            declared = error.schema.get("properties", {}) if isinstance(error.schema, dict) else {}
            extra = sorted(set(error.instance) - set(declared))
            names = [".".join(map(str, [*path, name])) for name in extra]
            return {
                "field": names[0] if len(names) == 1 else None,
                "message": f"unknown field(s): {', '.join(map(str, extra))}",
            }
        if error.validator == "required":
            missing = error.message.split("'")[1] if "'" in error.message else None
            # Inside array items the missing field is named with its path (`parties.0.name`).
            field = ".".join([*map(str, path), missing]) if missing is not None else None
            return {"field": field, "message": "this field is required"}
        field = ".".join(str(p) for p in path) or None
        top = str(path[0]) if path else None
        # Never echo a personal value back in an error message.
        if top in self.personal_fields:
            return {"field": field, "message": f"invalid value (fails '{error.validator}')"}
        return {"field": field, "message": _short(error.message)}


def _check_finite(data: dict[str, Any]) -> None:
    """NaN and infinity are numbers to JSON Schema but not JSON: refuse them rather than store null."""
    from engine.errors import FormInvalid  # engine imports this package: import its errors late

    stack: list[tuple[str, Any]] = list(data.items())
    while stack:
        path, value = stack.pop()
        if isinstance(value, float) and not math.isfinite(value):
            raise FormInvalid("form data holds a non-finite number", [{"field": path, "message": "must be finite"}])
        if isinstance(value, dict):
            stack.extend((f"{path}.{key}", item) for key, item in value.items())
        elif isinstance(value, list):
            stack.extend((f"{path}.{index}", item) for index, item in enumerate(value))


def _short(message: str, limit: int = 200) -> str:
    return message if len(message) <= limit else message[: limit - 1] + "…"


KEY_PATTERN = re.compile(r"[a-z][a-z0-9_]{0,63}")
MAX_SCHEMA_BYTES = 64 * 1024


def make_form(key: str, schema: dict[str, Any]) -> Form:
    """A Form from a JSON Schema that passed `check_schema` (or a bundled file)."""
    personal = frozenset(
        name for name, prop in schema.get("properties", {}).items() if isinstance(prop, dict) and prop.get("x-pii")
    )
    return Form(key=key, schema=schema, personal_fields=personal, validator=SchemaValidator(schema))


def schema_problems(key: Any, schema: Any) -> list[str]:
    """Why a form deployed with a model is refused (empty when it is fine): the checks a form file in
    this folder passes (a valid Draft 2020-12 schema of an object with properties), a key that can be a
    file stem, a size limit, and a schema both validators and the renderer accept."""
    if not isinstance(key, str) or not KEY_PATTERN.fullmatch(key):
        return ["the form key must be lower case letters, digits and _ (at most 64), starting with a letter"]
    if not isinstance(schema, dict):
        return ["the form must be a JSON object (a JSON Schema)"]
    if len(json.dumps(schema, ensure_ascii=False).encode()) > MAX_SCHEMA_BYTES:
        return [f"the schema is larger than {MAX_SCHEMA_BYTES // 1024} KB"]
    try:
        Draft202012Validator.check_schema(schema)
    except SchemaError as exc:
        return [f"not a valid JSON Schema: {_short(exc.message)}"]
    if schema.get("type") != "object" or not isinstance(schema.get("properties"), dict):
        return ['a form is a schema of "type": "object" with "properties"']
    try:
        form = make_form(key, schema)
        from .renderer import render_form  # the renderer imports this package: import it late

        render_form(schema)
        form.validator.iter_errors({})
    except Exception as exc:  # noqa: BLE001 - whatever a schema breaks is a reason to refuse it
        return [f"the schema cannot be used: {type(exc).__name__}: {_short(str(exc))}"]
    return []


class FormRegistry:
    """All forms of a deployment, keyed by file stem."""

    def __init__(self, directories: list[Path] | None = None):
        self._forms: dict[str, Form] = {}
        for directory in directories or [HERE]:
            for path in sorted(Path(directory).glob("*.json")):
                schema = json.loads(path.read_text(encoding="utf-8"))
                Draft202012Validator.check_schema(schema)
                self._forms[path.stem] = make_form(path.stem, schema)

    def get(self, key: str) -> Form:
        from engine.errors import FormNotFound

        try:
            return self._forms[key]
        except KeyError:
            raise FormNotFound(f"form '{key}' does not exist") from None

    def __contains__(self, key: str) -> bool:
        return key in self._forms

    def keys(self) -> list[str]:
        return sorted(self._forms)

    def personal_fields(self) -> frozenset[str]:
        """Every field name some installed form marks `x-pii`."""
        return frozenset().union(*(form.personal_fields for form in self._forms.values()))
