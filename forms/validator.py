"""JSON Schema validation that is fast on valid data and precise on invalid data.

Most submitted data is valid. jsonschema-rs says so in about a microsecond, where jsonschema's
`iter_errors` took ~80 µs for a task form (4 % of an on-the-spot case). Data jsonschema-rs refuses
is checked again by jsonschema, whose errors name the failing rule and path for the 422 answer; if
jsonschema finds nothing wrong (the two disagree on a format, say), the data is accepted, as it was
before. tests/test_forms.py checks the two agree on generated data for every bundled schema.
jsonschema checks `date-time` only with rfc3339-validator installed (a dependency for that reason:
without it a malformed time was accepted; tests/test_form_formats.py).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker, ValidationError, validators


def _full_match(validator, pattern: str, instance: Any, schema: dict[str, Any]) -> Iterator[ValidationError]:
    """`pattern` with full-match semantics: Python's `$` also matches before a final newline."""
    if validator.is_type(instance, "string") and not re.fullmatch(pattern, instance):
        yield ValidationError(f"{instance!r} does not match {pattern!r}")


_Detailed = validators.extend(Draft202012Validator, {"pattern": _full_match})


def _anchored(schema: Any) -> Any:
    """A copy of `schema` whose patterns must match the whole string (for jsonschema-rs, whose `$`
    already means the end of the text but whose patterns, like JSON Schema's, may match anywhere)."""
    if isinstance(schema, list):
        return [_anchored(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    copy = {key: _anchored(value) for key, value in schema.items()}
    if isinstance(schema.get("pattern"), str):
        copy["pattern"] = f"^(?:{schema['pattern']})$"
    return copy


class SchemaValidator:
    """Validates data against a JSON Schema; every `pattern` must match the whole string."""

    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.detailed = _Detailed(schema, format_checker=FormatChecker())
        self._quick = jsonschema_rs.Draft202012Validator(_anchored(schema), validate_formats=True)

    def iter_errors(self, data: Any) -> Iterator:
        """jsonschema's errors for `data`, none when it is valid."""
        if self._quick.is_valid(data):
            return iter(())
        return self.detailed.iter_errors(data)
