"""Which HTML control draws a JSON Schema property, the input names of nested fields, and the
schema's pattern as an HTML `pattern` attribute.

The renderer and `parse_form` both ask `widget_of`, so a field is read back from a submitted form
exactly as it was drawn.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import UTC, tzinfo
from enum import StrEnum
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

# Up to this many options a choice is a row of radio buttons (one tap each), above it a select.
RADIO_LIMIT = 6
# Strings allowed to be longer than this get a textarea.
TEXTAREA_OVER = 200
# A pattern made only of these characters (with digits) describes a phone number: type="tel".
_PHONE_CHARS = set("0123456789+-() ")
_DIGITS = set("0123456789")
# One regex token: a class, an escape, a quantifier in braces or a single character.
_TOKEN = re.compile(r"\[(?:\\.|[^\]\\])*\]|\\.|\{\d+(?:,\d*)?\}|.", re.DOTALL)
_STRUCTURE = set("^$?*+()|")
# Characters that must be escaped inside a character class of an HTML `pattern` (compiled with
# the `v` flag by browsers), and that may legally be escaped there.
_CLASS_ESCAPES = set("()[]{}/|&-!#%,:;<=>@`~^$.*+?")


class Widget(StrEnum):
    RADIOS = "radios"
    SELECT = "select"
    CHECKBOXES = "checkboxes"
    CHECKBOX = "checkbox"
    REPEAT = "repeat"
    GROUP = "group"
    INTEGER = "integer"
    NUMBER = "number"
    DATE = "date"
    DATETIME = "datetime"
    TIME = "time"
    EMAIL = "email"
    URL = "url"
    TEL = "tel"
    TEXTAREA = "textarea"
    TEXT = "text"
    ATTACHMENT = "attachment"  # files attached to the task (engine/attachments): no input of its own


# A form field that requires files: `{"type": "array", "format": "x-attachment", "minItems": 1}`. Its
# value is never typed: completing the task fills it with the ids of the files attached to the task.
ATTACHMENT_FORMAT = "x-attachment"


def attachment_fields(schema: Mapping[str, Any]) -> list[str]:
    """The top-level fields of a form whose value is the task's attached files."""
    return [name for name, prop in properties_of(schema).items() if prop.get("format") == ATTACHMENT_FORMAT]


_FORMATS = {"date": Widget.DATE, "date-time": Widget.DATETIME, "time": Widget.TIME, "email": Widget.EMAIL}
_FORMATS |= {"uri": Widget.URL, "iri": Widget.URL}


def type_of(prop: Mapping[str, Any]) -> str | None:
    """The JSON type of a property (the first non-null one of a type list)."""
    kind = prop.get("type")
    if isinstance(kind, list):
        kind = next((k for k in kind if k != "null"), None)
    return kind


def properties_of(schema: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    """The declared properties of an object schema, in schema order."""
    props = schema.get("properties")
    return {k: v for k, v in props.items() if isinstance(v, Mapping)} if isinstance(props, Mapping) else {}


def items_of(prop: Mapping[str, Any]) -> Mapping[str, Any]:
    """The schema of an array's items ({} when the array does not say)."""
    items = prop.get("items")
    return items if isinstance(items, Mapping) else {}


def widget_of(prop: Mapping[str, Any]) -> Widget:
    """The control that draws `prop`."""
    if isinstance(prop.get("enum"), list):
        return Widget.RADIOS if len(prop["enum"]) <= RADIO_LIMIT else Widget.SELECT
    kind = type_of(prop)
    if prop.get("format") == ATTACHMENT_FORMAT:
        return Widget.ATTACHMENT
    if kind == "array":
        return Widget.CHECKBOXES if isinstance(items_of(prop).get("enum"), list) else Widget.REPEAT
    if kind == "object":
        return Widget.GROUP
    if kind == "boolean":
        return Widget.CHECKBOX
    if kind in ("integer", "number"):
        return Widget(kind)
    if prop.get("format") in _FORMATS:
        return _FORMATS[prop["format"]]
    if is_phone_pattern(prop.get("pattern")):
        return Widget.TEL
    if isinstance(prop.get("maxLength"), int) and prop["maxLength"] > TEXTAREA_OVER:
        return Widget.TEXTAREA
    return Widget.TEXT


@lru_cache(maxsize=256)
def pattern_chars(pattern: Any) -> frozenset[str] | None:
    """The characters a simple pattern can match, None when it uses anything wider (`.`, `\\w`,
    negated classes): enough to tell a phone number or a digit string from free text."""
    if not isinstance(pattern, str):
        return None
    chars: set[str] = set()
    for token in _TOKEN.findall(pattern):
        if token == r"\d":
            chars |= _DIGITS
        elif token.startswith("[^") or token == "." or re.fullmatch(r"\\[DsSwWbBpPu]", token):
            return None
        elif token.startswith("["):
            chars |= _class_chars(token[1:-1])
        elif token.startswith("\\"):
            chars.add(token[1])
        elif token not in _STRUCTURE and not token.startswith("{"):
            chars.add(token)
    return frozenset(chars) or None


def _class_chars(body: str) -> set[str]:
    atoms = re.findall(r"\\d|\\.|[^\\]", body)
    chars: set[str] = set()
    i = 0
    while i < len(atoms):
        if i + 2 < len(atoms) and atoms[i + 1] == "-" and len(atoms[i]) == 1 and len(atoms[i + 2]) == 1:
            chars |= {chr(c) for c in range(ord(atoms[i]), ord(atoms[i + 2]) + 1)}
            i += 3
            continue
        chars |= _DIGITS if atoms[i] == r"\d" else {atoms[i][-1]}
        i += 1
    return chars


def is_phone_pattern(pattern: Any) -> bool:
    """True for patterns like `^\\+?[0-9 -]{5,20}$`: digits with phone punctuation only."""
    chars = pattern_chars(pattern)
    return chars is not None and bool(chars & _DIGITS) and bool(chars - _DIGITS) and chars <= _PHONE_CHARS


def is_digits_pattern(pattern: Any) -> bool:
    """True for patterns that match digits only (a numeric keypad helps)."""
    chars = pattern_chars(pattern)
    return chars is not None and chars <= set("0123456789")


def input_name(path: tuple[str | int, ...]) -> str:
    """The HTML name of the field at `path`: `risk_level`, `parties-0-name` (docs/forms.md)."""
    return "-".join(str(part) for part in path)


def html_pattern(pattern: Any) -> str | None:
    """The schema's pattern as an HTML `pattern` attribute, or None. HTML anchors patterns itself, so
    only patterns anchored at both ends keep their meaning; browsers compile them with the `v` flag,
    under which literal punctuation inside a character class must be escaped."""
    if not isinstance(pattern, str) or not (pattern.startswith("^") and pattern.endswith("$")):
        return None
    out, in_class, i = [], False, 0
    while i < len(pattern):
        char = pattern[i]
        if char == "\\" and i + 1 < len(pattern):
            out.append(pattern[i : i + 2])
            i += 2
            continue
        if not in_class and char == "[":
            in_class, class_start = True, len(out) + 1
            out.append(char)
            if pattern[i + 1 : i + 2] == "^":
                out.append("^")
                class_start, i = class_start + 1, i + 1
        elif in_class and char == "]":
            in_class = False
            out.append(char)
        elif in_class and char == "-" and class_start < len(out) and pattern[i + 1 : i + 2] not in ("]", ""):
            out.append(char)  # a range such as 0-9
        elif in_class and char in _CLASS_ESCAPES:
            out.append("\\" + char)
        else:
            out.append(char)
        i += 1
    return "".join(out)


def zone_of(tz: tzinfo | str | None) -> tzinfo:
    """The time zone of `datetime-local` inputs: a tzinfo, an IANA name, or UTC when not given."""
    return ZoneInfo(tz) if isinstance(tz, str) else (tz or UTC)
