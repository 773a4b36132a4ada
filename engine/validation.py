"""Checks of the plain input the engine takes outside forms: JSON data, reasons."""

from __future__ import annotations

import json
from typing import Any

from .errors import InvalidInput

MAX_REASON = 1000


def check_json(value: Any) -> None:
    """Refuse data that is not plain JSON (a non-finite number, a type JSON has no word for)."""
    try:
        json.dumps(value, allow_nan=False)
    except (TypeError, ValueError):
        raise InvalidInput("data must be plain JSON", [{"field": None, "message": "not JSON"}]) from None


def checked_reason(reason: str | None) -> str:
    """A reason a supervisor or admin gives (reassign, cancel, repair): required, at most 1000 characters."""
    text = (reason or "").strip()
    if not text:
        raise InvalidInput("a reason is required", [{"field": "reason", "message": "required"}])
    if len(text) > MAX_REASON:
        raise InvalidInput("the reason is longer than 1000 characters", [{"field": "reason", "message": "too long"}])
    return text
