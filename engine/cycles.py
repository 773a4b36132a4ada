"""Cron timer cycles: Camunda accepts Quartz cron (`0 0/5 * * * ?`) in a `timeCycle`.

SpiffWorkflow's cycle timers run ISO 8601 repeating intervals (a start and a fixed spacing). A cron
whose occurrences are evenly spaced (every 5 minutes, every day at 12:00) is exactly such an
interval, started at its next occurrence: it is run that way, the start computed with croniter when
the timer is first reached. A cron with gaps (weekdays only, 08:00-17:00 only, monthly) has no such
interval and is refused at deploy with a sentence.
"""

from __future__ import annotations

import functools
import re
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import CroniterError, croniter

from . import clock
from .errors import ExpressionError

_FIELD = re.compile(r"^[0-9A-Za-z*?/,#LW-]+$")
_ORIGIN = datetime(2026, 1, 1)  # naive: placed in the cron's time zone
_PROBES = 400  # instants spread over ~2 years at which the next occurrence must be one spacing away at most
_PROBE_STEP = timedelta(hours=43, minutes=17, seconds=7)  # lands at every hour, weekday and month over time


def is_cron(text: str) -> bool:
    """Five to seven whitespace-separated cron fields (ISO 8601 never holds a space)."""
    fields = text.split()
    return 5 <= len(fields) <= 7 and all(_FIELD.fullmatch(f) for f in fields) and not text.upper().startswith("R")


def _fields(text: str) -> list[str] | None:
    fields = [f.replace("?", "*") for f in text.split()]
    if len(fields) == 7:  # Quartz's optional year: only "every year" keeps the spacing fixed
        if fields[6] != "*":
            return None
        fields = fields[:6]
    return fields


def _iterator(fields: list[str], start: datetime):
    if len(fields) == 6:  # Quartz puts seconds first
        return croniter(" ".join(fields), start, second_at_beginning=True)
    return croniter(" ".join(fields), start)


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise ExpressionError(f"'{name[:60]}' is not a time zone") from None


@functools.lru_cache(maxsize=256)
def spacing(text: str, zone: str = "UTC") -> timedelta | None:
    """The fixed spacing of the cron's occurrences in `zone` (where its clock times are read, as the
    station's), or None when it has gaps (or is not cron)."""
    fields = _fields(text)
    if fields is None:
        return None
    origin = _ORIGIN.replace(tzinfo=_zone(zone))
    try:
        iterator = _iterator(fields, origin)
        first = iterator.get_next(datetime)
        step = iterator.get_next(datetime) - first
        if step <= timedelta(0):
            return None
        for n in range(_PROBES):
            probe = origin + n * _PROBE_STEP
            following = _iterator(fields, probe).get_next(datetime)
            if following - probe > step or (following - first) % step:
                return None
    except (CroniterError, ValueError, KeyError, TypeError, OverflowError):
        return None
    return step


def iso_equivalent(text: str, now: datetime, zone: str = "UTC") -> str | None:
    """The ISO 8601 repeating interval with the cron's occurrences from `now` on, or None."""
    step = spacing(text, zone)
    if step is None:
        return None
    fields = _fields(text)
    assert fields is not None
    start = _iterator(fields, now.astimezone(_zone(zone))).get_next(datetime).astimezone(UTC)
    return f"R/{start.strftime('%Y-%m-%dT%H:%M:%SZ')}/{_duration(step)}"


def cron_cycle(text: object, zone: object = "UTC") -> str:
    """The evaluator's `cron_cycle('0 0/5 * * * ?', 'Asia/Shanghai')`: the timer's ISO 8601 cycle
    from now on (what a cron `timeCycle` becomes at deploy)."""
    if not isinstance(text, str) or not isinstance(zone, str):
        raise ExpressionError("cron_cycle() takes the cron text and a time zone name")
    found = iso_equivalent(text, clock.current().now(), zone)
    if found is None:
        raise ExpressionError(f"'{text[:60]}' is not a cron with evenly spaced occurrences")
    return found


def _duration(step: timedelta) -> str:
    seconds = int(step.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if v)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def refusal(text: str) -> str:
    shown = " ".join(text.split())[:60]
    return (
        f"cron timer cycles with gaps ('{shown}') cannot run here: only evenly spaced ones do (every 5 minutes, "
        "every day at 12:00); write ISO 8601 repeating intervals such as R/2026-01-01T08:00:00+08:00/P1D"
    )
