"""Due times: turn what a model says (`PT24H`, `2026-12-01T09:00:00+08:00`, an expression) into UTC."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import TimerEventDefinition

from .errors import ExpressionError


def parse_instant_or_duration(value: Any, now: datetime) -> datetime | None:
    """An ISO 8601 duration counts from `now`; a date-time is absolute (naive means UTC)."""
    if value is None or value == "":
        return None
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if not isinstance(value, str):
        raise ExpressionError(f"a due time must be an ISO 8601 duration or date-time, not {type(value).__name__}")
    text = value.strip()
    try:
        if text.upper().startswith("P"):
            parsed = TimerEventDefinition.parse_iso_duration(text)
            return now + TimerEventDefinition.get_timedelta_from_start(parsed, now)
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except Exception:  # SpiffWorkflow raises a bare Exception for bad durations
        raise ExpressionError(f"'{text[:60]}' is not an ISO 8601 duration or date-time") from None
    return (moment if moment.tzinfo else moment.replace(tzinfo=UTC)).astimezone(UTC)


def resolve_due(expression: str | None, variables: dict[str, Any], now: datetime, evaluate) -> datetime | None:
    if not expression:
        return None
    return parse_instant_or_duration(evaluate(expression, variables), now)
