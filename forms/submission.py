"""Submitted HTML form data back to the JSON a form's schema validates.

Only declared fields are read (a CSRF token or an invented field never reaches the engine); values
are typed by the schema; empty optional inputs are dropped so the schema's `required` speaks for
them. A value that does not convert (letters in a number field) is kept as the string typed, so the
validator names the field and the page can show the input again.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from datetime import datetime, tzinfo
from typing import Any

from .fields import Widget, input_name, items_of, properties_of, widget_of, zone_of
from .labels import enum_schema, option_value

_MISSING = object()
_INTEGER = re.compile(r"[+-]?\d{1,300}")
_NUMBER = re.compile(r"[+-]?(?:\d{1,300}(?:\.\d*)?|\.\d{1,300})(?:[eE][+-]?\d{1,4})?")
_LOCAL_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,6})?)?")
_TRUE = {"true", "on", "1", "yes"}


def parse_form(schema: Mapping[str, Any], form: Any, *, tz: tzinfo | str | None = None) -> dict[str, Any]:
    """The JSON object for `form` (a werkzeug MultiDict or a mapping of name -> list of strings) as
    drawn by `render_form(schema)`. `tz` is the zone of `datetime-local` inputs (UTC by default)."""
    return _object(schema, _Form(form), (), zone_of(tz))


class _Form:
    """Uniform read access to a MultiDict or a plain mapping of lists or strings."""

    def __init__(self, form: Any):
        self._form = form
        self.names = [str(name) for name in form]

    def getlist(self, name: str) -> list[str]:
        if hasattr(self._form, "getlist"):
            return [str(v) for v in self._form.getlist(name)]
        value = self._form.get(name)
        if value is None:
            return []
        return [value] if isinstance(value, str) else [str(v) for v in value]

    def first(self, name: str) -> str | None:
        values = self.getlist(name)
        return values[0] if values else None


def _object(schema: Mapping[str, Any], form: _Form, path: tuple, zone: tzinfo) -> dict[str, Any]:
    result = {}
    for name, prop in properties_of(schema).items():
        value = _field(prop, form, (*path, name), zone)
        if value is not _MISSING:
            result[name] = value
    return result


def _field(prop: Mapping[str, Any], form: _Form, path: tuple, zone: tzinfo) -> Any:
    widget = widget_of(prop)
    name = input_name(path)
    if widget is Widget.ATTACHMENT:
        return _MISSING  # filled by the engine with the task's files, never from the form
    if widget is Widget.REPEAT:
        items = [_field(items_of(prop), form, (*path, index), zone) for index in _indices(form, name)]
        items = [item for item in items if not _blank(item)]
        return items or _MISSING
    if widget is Widget.GROUP:
        return _object(prop, form, path, zone) or _MISSING
    if widget is Widget.CHECKBOXES:
        chosen = [_choice(items_of(prop), v) for v in form.getlist(name) if v != ""]
        return chosen or _MISSING
    if widget is Widget.CHECKBOX:
        # An unticked box sends nothing: that is an answer (false), not a missing field.
        return any(v.lower() in _TRUE for v in form.getlist(name))
    raw = form.first(name)
    if raw is None or not raw.strip():
        return _MISSING
    if widget in (Widget.RADIOS, Widget.SELECT):
        return _choice(prop, raw)
    if widget is Widget.INTEGER:
        return int(raw.strip()) if _INTEGER.fullmatch(raw.strip()) else raw
    if widget is Widget.NUMBER:
        return _number(raw)
    if widget is Widget.DATETIME:
        return _datetime(raw, zone)
    # Browsers send textarea line breaks as CRLF: store them as typed, one character each.
    return raw.replace("\r\n", "\n").replace("\r", "\n")


def _blank(item: Any) -> bool:
    """An item left empty (the spare one the page shows): nothing typed, no box ticked."""
    if item is _MISSING:
        return True
    return isinstance(item, dict) and all(value is False for value in item.values())


def _indices(form: _Form, name: str) -> list[int]:
    """The item numbers present for the array `name` (`parties-0-name`, `parties-3-phone`, ...), in
    order; gaps are normal after the page's remove button."""
    pattern = re.compile(re.escape(name) + r"-(0|[1-9]\d{0,5})(?:-|$)")
    return sorted({int(m.group(1)) for m in map(pattern.match, form.names) if m})


def _choice(prop: Mapping[str, Any], raw: str) -> Any:
    """The enum member submitted as `raw` (an integer enum gets its integer back)."""
    for member in (enum_schema(prop) or {}).get("enum", []):
        if option_value(member) == raw:
            return member
    return raw


def _number(raw: str) -> Any:
    text = raw.strip()
    if not _NUMBER.fullmatch(text):
        return raw
    if _INTEGER.fullmatch(text):
        return int(text)
    value = float(text)
    return value if math.isfinite(value) else raw


def _datetime(raw: str, zone: tzinfo) -> str:
    """A `datetime-local` value (no zone) as RFC 3339 in the station's zone; anything else as sent."""
    text = raw.strip()
    try:
        local = datetime.fromisoformat(text) if _LOCAL_DATETIME.fullmatch(text) else None
    except ValueError:  # 2026-02-30T25:00 has the shape but is no time
        local = None
    return local.replace(tzinfo=zone).isoformat() if local else raw
