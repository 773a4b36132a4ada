"""The engine's form errors in words an officer understands.

`FormInvalid.details` messages are jsonschema's, in English, and sometimes quote the entry itself
("'abc' is not of type 'integer'"). The renderer shows instead what rule the entry broke, in the
user's language (the words are msgids of forms/translations).
"""

from __future__ import annotations

import re
from collections.abc import Callable

# What an officer reads for each rule an entry broke (translated by the catalogue): the engine's
# messages are jsonschema's, in English and sometimes quoting the entry itself.
MESSAGE_WORDS = {
    "required": "This field is required.",
    "minItems": "Give at least one.",
    "maxItems": "Too many items.",
    "uniqueItems": "Each option may be chosen only once.",
    "maxLength": "Too long.",
    "minLength": "Too short.",
    "integer": "Enter a whole number.",
    "number": "Enter a number.",
    "range": "Out of the allowed range.",
    "enum": "Choose one of the options.",
    "pattern": "The format is not valid.",
    "other": "This value is not valid.",
}
# How the engine's message names the broken rule (forms.Form._describe, jsonschema 4.x wording).
_MESSAGE_RULES = [
    (re.compile(r"^this field is required$"), "required"),
    (re.compile(r"^invalid value \(fails '(?P<rule>\w+)'\)$"), None),  # a personal field: rule named
    (re.compile(r"^\[.*\] (should be non-empty|is too short)$", re.S), "minItems"),
    (re.compile(r"^\[.*\] is too long$", re.S), "maxItems"),
    (re.compile(r"has non-unique elements$"), "uniqueItems"),
    (re.compile(r"should be non-empty$"), "required"),
    (re.compile(r"is too long$"), "maxLength"),
    (re.compile(r"is too short$"), "minLength"),
    (re.compile(r"is not of type 'integer'$"), "integer"),
    (re.compile(r"is not of type 'number'$"), "number"),
    (re.compile(r"than (or equal to )?the (minimum|maximum) of"), "range"),
    (re.compile(r"is not one of \[|was expected$"), "enum"),
    (re.compile(r"does not match '|is not a '"), "pattern"),
    (re.compile(r"…$|is not of type|is not a multiple of"), "other"),
]
_RULE_ALIASES = {"format": "pattern", "const": "enum", "type": "other", "multipleOf": "other"}
_RULE_ALIASES |= dict.fromkeys(["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"], "range")


def reword(message: str, gettext: Callable[[str], str]) -> str:
    """`message` in the user's words; a message naming no known rule is returned as it is."""
    for pattern, rule in _MESSAGE_RULES:
        found = pattern.search(message)
        if found:
            rule = rule or _RULE_ALIASES.get(found["rule"], found["rule"])
            return gettext(MESSAGE_WORDS.get(rule, MESSAGE_WORDS["other"]))
    return message
