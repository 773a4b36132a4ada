"""Masks for personal data shown to callers who may know a field exists but not its value.

    mask_name("刘桂兰")              -> "刘*兰"
    mask_phone("13912345678")        -> "139****5678"
    mask_id_number("11010119450101123X") -> "110101********123X"

The field's name picks the mask (`name`, `*_name`; `phone`, `*_phone`, `mobile`; `id_number`, `*_id_number`);
any other personal text keeps at most its first two characters.
"""

from __future__ import annotations

import re
from typing import Any

_DIGITS = re.compile(r"\d")
_KEEP = frozenset({"role"})  # structure, not identity: a party's role in the case


def mask_name(value: str) -> str:
    if len(value) <= 1:
        return "*"
    if len(value) == 2:
        return value[0] + "*"
    return value[0] + "*" * (len(value) - 2) + value[-1]


def mask_phone(value: str) -> str:
    digits = "".join(_DIGITS.findall(value))
    if len(digits) < 7:
        return "*" * len(digits) or "****"
    return digits[:3] + "****" + digits[-4:]


def mask_id_number(value: str) -> str:
    if len(value) <= 10:
        return "*" * len(value)
    return value[:6] + "*" * (len(value) - 10) + value[-4:]


def mask_text(value: str) -> str:
    keep = min(2, len(value) // 4)
    return value[:keep] + "***"


def _mask_for(key: str | None):
    key = (key or "").lower()
    if key == "name" or key.endswith("_name"):
        return mask_name
    if key in ("phone", "mobile") or key.endswith(("_phone", "_mobile")):
        return mask_phone
    if key == "id_number" or key.endswith("_id_number"):
        return mask_id_number
    return mask_text


def mask_value(value: Any, key: str | None = None) -> Any:
    """Mask `value` (recursively through objects and lists); the structure stays, the values do not."""
    if isinstance(value, dict):
        return {k: v if k in _KEEP else mask_value(v, k) for k, v in value.items()}
    if isinstance(value, list):
        return [mask_value(v, key) for v in value]
    if isinstance(value, str):
        return _mask_for(key)(value)
    if value is None:
        return None
    return "***"  # numbers and booleans: even their type would say something


# Free text that may hold personal data (an external-task worker's error message): numbers that look
# like a resident's ID card (18 characters, or the old 15 digits), a phone (mobile, landline with its
# area code) or any other run of 7+ digits (bank cards, passports), and e-mail addresses. Names cannot
# be told apart from other words: such text is shown to admins only (docs/security.md).
_PERSONAL_NUMBER = re.compile(
    r"(?<!\d)(?:\d{17}[\dXx](?![\dXx])|(?:1\d{2}[ -]\d{4}[ -]\d{4}|0\d{2,3}-\d{7,8}|\d{7,})(?!\d))"
)
_EMAIL = re.compile(r"[\w.+-]+(@[\w-]+(?:\.[\w-]+)+)")


def _mask_number(found: re.Match[str]) -> str:
    number = found.group(0)
    if len(number) == 18 or (len(number) == 15 and number.isdigit()):
        return mask_id_number(number)
    return mask_phone(number)


def mask_free_text(value: str) -> str:
    """`value` with its ID, phone and other long numbers and its e-mail addresses masked; the rest kept."""
    value = _PERSONAL_NUMBER.sub(_mask_number, value)
    return _EMAIL.sub(lambda found: "***" + found.group(1), value)
