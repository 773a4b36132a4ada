"""Injectable time.

The engine never calls `datetime.now()` directly: it asks its clock, so tests move time instead of
sleeping. SpiffWorkflow reads the wall clock inside its timer module; `bind()` makes that module see
the clock of the unit of work running on the current thread.
"""

from __future__ import annotations

import threading
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.bpmn.specs.event_definitions import timer as _spiff_timer


class Clock:
    """Wall-clock time in UTC."""

    def now(self) -> datetime:
        return datetime.now(UTC)


class ManualClock(Clock):
    """A clock that only moves when told to (tests, benchmarks, replays)."""

    def __init__(self, start: datetime | None = None):
        self._now = start or datetime(2026, 11, 30, 1, 0, tzinfo=UTC)
        self._lock = threading.Lock()

    def now(self) -> datetime:
        with self._lock:
            return self._now

    def advance(self, delta: timedelta | None = None, **kwargs: float) -> datetime:
        with self._lock:
            self._now += delta if delta is not None else timedelta(**kwargs)
            return self._now

    def set(self, when: datetime) -> None:
        with self._lock:
            self._now = when


_bound = threading.local()
_system = Clock()


def current() -> Clock:
    return getattr(_bound, "clock", None) or _system


@contextmanager
def bind(clock: Clock):
    """Make SpiffWorkflow's timers on this thread read `clock` for the duration of the block."""
    previous = getattr(_bound, "clock", None)
    _bound.clock = clock
    try:
        yield clock
    finally:
        _bound.clock = previous


class _ClockDatetime(datetime):
    """Stands in for `datetime` inside SpiffWorkflow's timer module."""

    @classmethod
    def now(cls, tz=None):  # noqa: D102 - mirrors datetime.now
        value = current().now()
        return value.astimezone(tz) if tz is not None else value.replace(tzinfo=None)


_spiff_timer.datetime = _ClockDatetime
