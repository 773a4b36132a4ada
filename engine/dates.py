"""Date expressions modellers write in due dates and timers, for the restricted evaluator.

Camunda's JUEL `${dateTime().plusDays(2).toDate()}` (a Joda time) and FEEL's `now() + duration("P2D")`
both mean "two days from now". The evaluator offers `now()`, `today()`, `dateTime()`, `duration()` and
`date()`; a moment answers Joda's plus/minus methods. Results leave the evaluator as ISO 8601 text
(variables and SpiffWorkflow's timers hold JSON, not Python objects).
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta
from typing import Any

from SpiffWorkflow.bpmn.specs.event_definitions.timer import (
    CycleTimerEventDefinition,
    DurationTimerEventDefinition,
    TimeDateEventDefinition,
    TimerEventDefinition,
)

from . import clock, cycles
from .errors import ExpressionError

_UNITS = ("Years", "Months", "Weeks", "Days", "Hours", "Minutes", "Seconds")
# the Joda methods a moment answers (the evaluator allows only these names on top of its safe ones)
METHODS = frozenset({f"{sign}{unit}" for sign in ("plus", "minus") for unit in _UNITS} | {"toDate"})


def _months_later(moment: datetime, months: int) -> datetime:
    total = moment.month - 1 + months
    year, month = moment.year + total // 12, total % 12 + 1
    last = [
        31,
        29 if year % 4 == 0 and (year % 100 != 0 or year % 400 == 0) else 28,
        31,
        30,
        31,
        30,
        31,
        31,
        30,
        31,
        30,
        31,
    ]
    return moment.replace(year=year, month=month, day=min(moment.day, last[month - 1]))


def _whole(amount: Any) -> int:
    if type(amount) is not int:
        raise ExpressionError(f"a date method needs a whole number, not {type(amount).__name__}")
    return amount


class Moment(datetime):
    """A point in time with Joda-Time's plus/minus methods (what `dateTime()` returns in Camunda)."""

    def _shift(self, unit: str, amount: int) -> Moment:
        amount = _whole(amount)
        if unit == "Years":
            return Moment.of(_months_later(self, 12 * amount))
        if unit == "Months":
            return Moment.of(_months_later(self, amount))
        return Moment.of(self + timedelta(**{unit.lower(): amount}))

    @staticmethod
    def of(value: datetime) -> Moment:
        return Moment(
            value.year, value.month, value.day, value.hour, value.minute, value.second, value.microsecond, value.tzinfo
        )

    def toDate(self) -> Moment:  # noqa: N802 - Joda's name
        return self


def _methods() -> None:
    for unit in _UNITS:
        setattr(Moment, f"plus{unit}", lambda self, amount, unit=unit: self._shift(unit, amount))
        setattr(Moment, f"minus{unit}", lambda self, amount, unit=unit: self._shift(unit, -_whole(amount)))


_methods()


def now() -> Moment:
    return Moment.of(clock.current().now().astimezone(UTC))


def today() -> Moment:
    moment = now()
    return Moment.of(moment.replace(hour=0, minute=0, second=0, microsecond=0))


def duration(text: Any) -> timedelta:
    """FEEL `duration("P2D")`: days, hours, minutes and seconds (months and years vary in length)."""
    if not isinstance(text, str):
        raise ExpressionError("duration() takes ISO 8601 text such as 'P2D'")
    match = re.fullmatch(
        r"P(?:(\d+)W)?(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+(?:\.\d+)?)S)?)?", text.strip().upper()
    )
    if not match or text.strip().upper() in ("P", "PT"):
        raise ExpressionError(f"'{text[:60]}' is not an ISO 8601 duration of weeks, days, hours, minutes, seconds")
    weeks, days, hours, minutes, seconds = (float(g) if g else 0 for g in match.groups())
    return timedelta(weeks=weeks, days=days, hours=hours, minutes=minutes, seconds=seconds)


def parse_date(text: Any) -> Moment:
    """FEEL `date and time("...")` / `date("...")`: ISO text to a moment (naive means UTC)."""
    if not isinstance(text, str):
        raise ExpressionError("date() takes ISO 8601 text such as '2026-12-01T09:00:00+08:00'")
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise ExpressionError(f"'{text[:60]}' is not an ISO 8601 date or date-time") from None
    return Moment.of(value if value.tzinfo else value.replace(tzinfo=UTC))


FUNCTIONS = {
    "now": now,
    "today": today,
    "dateTime": now,
    "duration": duration,
    "date": parse_date,
    "cron_cycle": cycles.cron_cycle,
}


def plain(value: Any) -> Any:
    """An evaluator result as JSON: moments as ISO date-times, durations as ISO durations."""
    if isinstance(value, datetime):
        return value.isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, timedelta):
        seconds = value.total_seconds()
        if seconds < 0:
            raise ExpressionError("a duration cannot be negative")
        return f"PT{seconds:g}S" if seconds != int(seconds) else f"PT{int(seconds)}S"
    return value


def check_timer_value(definition: TimerEventDefinition, value: Any) -> None:
    """A timer's evaluated value must be what its kind needs; a bad one ('5 minutes') is refused with
    a sentence instead of SpiffWorkflow's bare `Exception('Invalid duration')`."""
    kinds = {
        TimeDateEventDefinition: ("an ISO 8601 date-time such as 2026-12-01T09:00:00+08:00", "parse_time_or_duration"),
        DurationTimerEventDefinition: ("an ISO 8601 duration such as PT5M", "parse_iso_duration"),
        CycleTimerEventDefinition: ("an ISO 8601 repeating interval such as R3/PT10M", "parse_iso_recurring_interval"),
    }
    for kind, (wanted, parse) in kinds.items():
        if isinstance(definition, kind):
            try:
                if not isinstance(value, str):
                    raise TypeError
                getattr(TimerEventDefinition, parse)(value)
            except Exception:  # SpiffWorkflow raises a bare Exception (or worse) for bad values
                shown = value[:60] if isinstance(value, str) else type(value).__name__
                raise ExpressionError(f"the timer's value '{shown}' is not {wanted}") from None
            return
