"""Cron timer cycles: Camunda accepts Quartz cron (`0 0/5 * * * ?`) in a `timeCycle`.

SpiffWorkflow's cycle timers run ISO 8601 repeating intervals only. A cron cycle is refused at
deploy with a sentence that shows the `R/...` interval with the same occurrences when one exists
(the cron fires at a fixed spacing), read with croniter rather than guessed.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta

from croniter import CroniterError, croniter

_FIELD = re.compile(r"^[0-9A-Za-z*?/,#LW-]+$")
_SAMPLES = 48  # occurrences compared to decide whether the spacing is fixed


def is_cron(text: str) -> bool:
    """Five to seven whitespace-separated cron fields (ISO 8601 never holds a space)."""
    fields = text.split()
    return 5 <= len(fields) <= 7 and all(_FIELD.fullmatch(f) for f in fields) and not text.upper().startswith("R")


def _iterator(text: str, start: datetime):
    fields = [f.replace("?", "*") for f in text.split()]
    if len(fields) == 7:  # Quartz's optional year
        fields = fields[:6]
    if len(fields) == 6:  # Quartz puts seconds first
        return croniter(" ".join(fields), start, second_at_beginning=True)
    return croniter(" ".join(fields), start)


def iso_equivalent(text: str) -> str | None:
    """The ISO 8601 repeating interval with the cron's occurrences, or None (irregular, or not cron)."""
    start = datetime(2026, 1, 1, tzinfo=UTC)
    try:
        iterator = _iterator(text, start)
        moments = [iterator.get_next(datetime) for _ in range(_SAMPLES)]
    except (CroniterError, ValueError, KeyError, TypeError):
        return None
    steps = {b - a for a, b in zip(moments, moments[1:], strict=False)}
    if len(steps) != 1:
        return None
    return f"R/{moments[0].strftime('%Y-%m-%dT%H:%M:%SZ')}/{_duration(steps.pop())}"


def _duration(step: timedelta) -> str:
    seconds = int(step.total_seconds())
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, seconds = divmod(rest, 60)
    time = "".join(f"{v}{u}" for v, u in ((hours, "H"), (minutes, "M"), (seconds, "S")) if v)
    return "P" + (f"{days}D" if days else "") + (f"T{time}" if time else "")


def refusal(text: str) -> str:
    shown = " ".join(text.split())[:60]
    equivalent = iso_equivalent(text)
    if equivalent is None:
        return (
            f"cron timer cycles ('{shown}') are not supported and this one has no fixed spacing: "
            "write an ISO 8601 repeating interval such as R/2026-01-01T08:00:00+08:00/P1D"
        )
    return f"cron timer cycles ('{shown}') are not supported: write the ISO 8601 repeating interval {equivalent}"
