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

from collections.abc import Iterator
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator, FormatChecker


class SchemaValidator:
    def __init__(self, schema: dict[str, Any]):
        self.schema = schema
        self.detailed = Draft202012Validator(schema, format_checker=FormatChecker())
        self._quick = jsonschema_rs.Draft202012Validator(schema, validate_formats=True)

    def iter_errors(self, data: Any) -> Iterator:
        """jsonschema's errors for `data`, none when it is valid."""
        if self._quick.is_valid(data):
            return iter(())
        return self.detailed.iter_errors(data)
