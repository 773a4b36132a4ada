"""KPI reports: the work plan's figures (周通报、月考核、季评估) from the engine's own task rows.

A report covers a period in the station's time zone (an ISO week, Monday first; a month; a quarter;
a year) and counts each event in the period it happened in: a case's response in the period it was
reported, its closing in the period it closed, an escalation when the department task was created, a
rating when the feedback task was completed. A case's events come from `Events`; a report sums them
from the daily rollups (rollups.py), or, as the reference they are tested against, counts them from
the task rows of the cases active in the period (docs/reports.md). Only counts, shares and durations
leave this module: no case, no resident, nothing personal; officers appear by username.
"""

from __future__ import annotations

import math
import re
from bisect import bisect_left
from collections import Counter, defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import and_, func, or_, select
from sqlalchemy import case as sql_case

from ..errors import DepartmentNotFound, Forbidden, InvalidInput
from ..identity import Actor
from ..store.models import DURATION_BOUNDS, IS_OPEN_TASK, AuditEntry, Department, HumanTask, ProcessInstance, User
from ..vocabulary import OPEN_TASK_STATES, DepartmentKind, Event, HumanTaskState, InstanceStatus, Role, SlaState
from .rollups import Rollups

if TYPE_CHECKING:
    from .. import Engine

# The plan's targets (domain.md): every request answered within 24 hours; on the spot ≥ 85 %;
# satisfaction with completed requests ≥ 92 %.
RESPONSE_HOURS = 24
RISK_LEVELS = ("red", "yellow", "blue")
SATISFIED = ("satisfied", "basically_satisfied")
AGE_BUCKETS = (("under_1d", 1), ("1d_3d", 3), ("3d_7d", 7), ("over_7d", None))
PERIOD_KINDS = ("week", "month", "quarter", "year")
MAX_TREND = 24
_WEEK = re.compile(r"(\d{4})-W(\d{2})")
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_QUARTER = re.compile(r"(\d{4})-Q([1-4])")
_YEAR = re.compile(r"\d{4}")


@dataclass(frozen=True)
class Period:
    """A calendar period (2026-W48, 2026-11, 2026-Q4): its local days [first, after), the same dates in
    every station's calendar, and [start, end) in UTC in the report's zone (`zone`). Another station's
    instants are `bounds(its zone)`: its own Monday 00:00 to Monday 00:00."""

    kind: str
    label: str
    start: datetime
    end: datetime
    first: date
    after: date

    def bounds(self, zone: ZoneInfo) -> tuple[datetime, datetime]:
        return _midnight(self.first, zone), _midnight(self.after, zone)

    def view(self, zone: str, zones: StationZones | None = None, stations: dict[int, str] | None = None) -> dict:
        """The period in `zone`; with `zones`, each station's own bounds (`station_time_zones`)."""
        out: dict[str, Any] = {"kind": self.kind, "label": self.label, "start": self.start, "end": self.end}
        out["time_zone"] = zone
        if zones is not None and stations is not None:
            out["station_time_zones"] = []
            for i, key in sorted(stations.items(), key=lambda item: item[1]):
                start, end = self.bounds(zones.zone(i))
                out["station_time_zones"].append(
                    {"station": key, "time_zone": zones.name(i), "start": start, "end": end}
                )
        return out


class StationZones:
    """Each station's time zone (departments.time_zone), the deployment's (FENGQIAO_TIME_ZONE) for a
    station without one and for cases without a station."""

    def __init__(self, default: str, names: dict[int, str | None]):
        self.default = default
        self.names = {station: name or default for station, name in names.items()}
        self._zones: dict[str, ZoneInfo] = {}

    @classmethod
    def load(cls, session, default: str) -> StationZones:
        query = select(Department.id, Department.time_zone).where(Department.kind == DepartmentKind.STATION)
        return cls(default, {station: name for station, name in session.execute(query)})

    def name(self, station_id: int | None) -> str:
        return self.names.get(station_id or 0, self.default)

    def zone(self, station_id: int | None) -> ZoneInfo:
        return self.zone_named(self.name(station_id))

    def span(self, period: Period, station_id: int | None) -> tuple[datetime, datetime]:
        """The instants a report of `station_id` (None: every station) may count in `period`: from the
        earliest station's start to the latest's end (each event is then kept to its own station's)."""
        names = {self.name(station_id)} if station_id is not None else {*self.names.values(), self.default}
        bounds = [period.bounds(self.zone_named(name)) for name in sorted(names)]
        return min(start for start, _ in bounds), max(end for _, end in bounds)

    def zone_named(self, name: str) -> ZoneInfo:
        if name not in self._zones:
            self._zones[name] = ZoneInfo(name)
        return self._zones[name]


def parse_period(kind: str, label: str, zone: ZoneInfo) -> Period:
    """The period `label` of `kind` in `zone`; InvalidInput for a malformed or impossible one."""
    first: date
    after: date
    try:
        if kind == "week" and (m := _WEEK.fullmatch(label or "")):
            first = date.fromisocalendar(int(m[1]), int(m[2]), 1)
            after = first + timedelta(days=7)
        elif kind == "month" and (m := _MONTH.fullmatch(label or "")):
            first = date(int(m[1]), int(m[2]), 1)
            after = _add_months(first, 1)
        elif kind == "quarter" and (m := _QUARTER.fullmatch(label or "")):
            first = date(int(m[1]), 3 * int(m[2]) - 2, 1)
            after = _add_months(first, 3)
        elif kind == "year" and _YEAR.fullmatch(label or ""):
            first = date(int(label), 1, 1)
            after = date(int(label) + 1, 1, 1)
        else:
            raise ValueError(label)
    except ValueError:
        examples = {"week": "2026-W48", "month": "2026-11", "quarter": "2026-Q4", "year": "2026"}
        raise InvalidInput(
            f"'{label}' is not a {kind} (e.g. {examples.get(kind, '2026-W48')})",
            [{"field": "period", "message": f"a {kind} such as {examples.get(kind, '2026-W48')}"}],
        ) from None
    return Period(kind, label, _midnight(first, zone), _midnight(after, zone), first, after)


def period_of(kind: str, moment: datetime, zone: ZoneInfo) -> Period:
    """The period of `kind` that holds `moment` (in `zone`)."""
    day = moment.astimezone(zone).date()
    if kind == "week":
        year, week, _ = day.isocalendar()
        return parse_period(kind, f"{year}-W{week:02d}", zone)
    if kind == "month":
        return parse_period(kind, f"{day.year}-{day.month:02d}", zone)
    if kind == "year":
        return parse_period(kind, str(day.year), zone)
    return parse_period(kind, f"{day.year}-Q{(day.month - 1) // 3 + 1}", zone)


def _add_months(first: date, months: int) -> date:
    index = first.year * 12 + first.month - 1 + months
    return date(index // 12, index % 12 + 1, 1)


def _midnight(day: date, zone: ZoneInfo) -> datetime:
    return datetime(day.year, day.month, day.day, tzinfo=zone).astimezone(UTC)


# --- figures ------------------------------------------------------------------------------------
def percentile(values: list[float], share: float) -> float | None:
    """Nearest-rank percentile (the value below which `share` of the values lie); None when empty."""
    if not values:
        return None
    ordered = sorted(values)
    return round(ordered[max(0, math.ceil(share * len(ordered)) - 1)], 1)


def rate(part: int, whole: int) -> float | None:
    return round(part / whole, 4) if whole else None


def _minutes(later: datetime, earlier: datetime) -> float:
    return (later - earlier).total_seconds() / 60


class _Durations:
    """Minutes of one measure: exact values (the reference computation) or the counts of the fixed
    histogram buckets (the rollups); median and p90 by nearest rank either way. From buckets, a
    percentile is the upper bound of the bucket that holds it: the exact value is at most that and
    more than the bucket's lower bound (DURATION_BOUNDS grow by about √2)."""

    __slots__ = ("values", "buckets")

    def __init__(self) -> None:
        self.values: list[float] = []
        self.buckets: list[int] | None = None

    def add(self, minutes: float) -> None:
        self.values.append(minutes)

    def add_bucket(self, index: int, count: int) -> None:
        if self.buckets is None:
            self.buckets = [0] * len(DURATION_BOUNDS)
        self.buckets[index] += count

    def __len__(self) -> int:
        return len(self.values) + (sum(self.buckets) if self.buckets else 0)

    def percentile(self, share: float) -> float | None:
        if not self.buckets:
            return percentile(self.values, share)
        rank, seen = max(1, math.ceil(share * len(self))), 0
        for index, count in enumerate(self.buckets):
            seen += count
            if count and seen >= rank:
                return float(DURATION_BOUNDS[index])
        return None

    def view(self) -> dict[str, Any]:
        return {"count": len(self), "median": self.percentile(0.5), "p90": self.percentile(0.9)}


def bucket_of(minutes: float) -> int:
    """The histogram bucket of a duration (the last one also holds anything longer)."""
    return min(bisect_left(DURATION_BOUNDS, minutes), len(DURATION_BOUNDS) - 1)


@dataclass
class _Case:
    id: str
    station_id: int | None
    owner_id: int | None
    status: str
    started_at: datetime
    ended_at: datetime | None
    tasks: list[Any] = field(default_factory=list)


@dataclass
class _Tally:
    """The counts behind one row of a report (a station, an officer, or everyone)."""

    reported: int = 0
    responded: int = 0  # first task claimed, or its deadline passed unclaimed
    in_time: int = 0  # claimed within RESPONSE_HOURS
    claim_minutes: _Durations = field(default_factory=_Durations)
    by_risk: dict[str, list] = field(default_factory=lambda: {level: [0, 0, _Durations()] for level in RISK_LEVELS})
    closed: int = 0
    on_spot: int = 0
    cancelled: int = 0
    escalations: int = 0
    rated: int = 0
    satisfied: int = 0
    reopened: int = 0
    reviews: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "cases_reported": self.reported,
            "response": {
                "answered": self.responded,
                "within_24h": self.in_time,
                "rate": rate(self.in_time, self.responded),
                "claim_minutes": self.claim_minutes.view(),
                "by_risk_level": {
                    level: {
                        "answered": answered,
                        "within_due": within,
                        "rate": rate(within, answered),
                        "claim_minutes": minutes.view(),
                    }
                    for level, (answered, within, minutes) in self.by_risk.items()
                },
            },
            "closed": self.closed,
            "closed_on_spot": self.on_spot,
            "on_spot_rate": rate(self.on_spot, self.closed),
            "cancelled": self.cancelled,
            "escalations": self.escalations,
            "rated": self.rated,
            "satisfied": self.satisfied,
            "satisfaction_rate": rate(self.satisfied, self.rated),
            "reopened": self.reopened,
            "reopen_rate": rate(self.reopened, self.rated),
            "supervisor_reviews": self.reviews,
        }


@dataclass
class _DepartmentTally:
    escalations: int = 0
    claim_minutes: _Durations = field(default_factory=_Durations)
    handling_minutes: _Durations = field(default_factory=_Durations)
    handled: int = 0
    within_deadline: int = 0
    breaches: int = 0
    returns: int = 0
    transfers: int = 0
    open: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "escalations": self.escalations,
            "claimed": len(self.claim_minutes),
            "claim_minutes": self.claim_minutes.view(),
            "handled": self.handled,
            "handling_minutes": self.handling_minutes.view(),
            "within_deadline": self.within_deadline,
            "within_deadline_rate": rate(self.within_deadline, self.handled),
            "breaches": self.breaches,
            "returns": self.returns,
            "transfers": self.transfers,
            "open": self.open,
        }


def targets_of(figures: dict[str, Any], targets: dict[str, float]) -> list[dict[str, Any]]:
    """The plan's targets beside a row's figures: met, missed, or None when nothing was counted."""
    values = {
        "response_rate": figures["response"]["rate"],
        "on_spot_rate": figures["on_spot_rate"],
        "satisfaction_rate": figures["satisfaction_rate"],
    }
    return [
        {
            "figure": name,
            "target": target,
            "value": values[name],
            "met": None if values[name] is None else values[name] >= target,
        }
        for name, target in targets.items()
    ]


# An event's key: (station id, case owner id, department key, risk level); 0 and "" for none.
Key = tuple[int, int, str, str]
CASE_COUNTERS = frozenset(
    ("reported", "responded", "in_time", "closed", "on_spot", "cancelled", "escalations")
    + ("rated", "satisfied", "reopened", "reviews")
)
DEPARTMENT_COUNTERS = frozenset(
    ("escalations", "handled", "within_deadline", "breaches", "returns", "transfers", "open")
)
# a deadline's kind -> the counter it adds to once its due time passed
DEADLINE_COUNTERS = {"response": "responded", "breach": "breaches"}


class Tallies:
    """The rows of one report (everyone, per station, officer and department), fed with events by key."""

    def __init__(self) -> None:
        self.total = _Tally()
        self.stations: dict[int, _Tally] = defaultdict(_Tally)
        self.officers: dict[int, _Tally] = defaultdict(_Tally)
        self.departments: dict[str, _DepartmentTally] = defaultdict(_DepartmentTally)

    def _rows(self, key: Key) -> list[_Tally]:
        station, owner = key[0], key[1]
        rows = [self.total, self.stations[station]]
        if owner:
            rows.append(self.officers[owner])
        return rows

    def count(self, key: Key, counter: str, amount: int = 1) -> None:
        if not amount:
            return
        if counter in CASE_COUNTERS:
            for row in self._rows(key):
                setattr(row, counter, getattr(row, counter) + amount)
        if counter in ("responded", "within_due") and key[3]:
            for row in self._rows(key):
                row.by_risk[key[3]][0 if counter == "responded" else 1] += amount
        if counter in DEPARTMENT_COUNTERS and key[2]:
            tally = self.departments[key[2]]
            setattr(tally, counter, getattr(tally, counter) + amount)

    def _durations(self, key: Key, measure: str) -> list[_Durations]:
        if measure == "claim":
            rows = self._rows(key)
            return [row.claim_minutes for row in rows] + ([row.by_risk[key[3]][2] for row in rows] if key[3] else [])
        tally = self.departments[key[2]]
        return [tally.claim_minutes if measure == "dept_claim" else tally.handling_minutes]

    def duration(self, key: Key, measure: str, minutes: float) -> None:
        for durations in self._durations(key, measure):
            durations.add(minutes)

    def bucket(self, key: Key, measure: str, index: int, count: int) -> None:
        if count:
            for durations in self._durations(key, measure):
                durations.add_bucket(index, count)


class _PeriodSink:
    """The reference: the events inside one period, each in its station's own calendar (the period's
    bounds in the station's zone), counted as they come (deadlines against `now`)."""

    def __init__(self, period: Period, now: datetime, zones: StationZones, tallies: Tallies | None = None):
        self.period, self.now, self.zones = period, now, zones
        self.tallies = tallies or Tallies()
        self._bounds: dict[int, tuple[datetime, datetime]] = {}

    def within(self, moment: datetime | None, key: Key) -> bool:
        if moment is None:
            return False
        if (bounds := self._bounds.get(key[0])) is None:
            bounds = self._bounds[key[0]] = self.period.bounds(self.zones.zone(key[0]))
        return bounds[0] <= moment < bounds[1]

    def count(self, moment: datetime, key: Key, counter: str, amount: int = 1) -> None:
        if self.within(moment, key):
            self.tallies.count(key, counter, amount)

    def duration(self, moment: datetime, key: Key, measure: str, minutes: float) -> None:
        if self.within(moment, key):
            self.tallies.duration(key, measure, minutes)

    def deadline(self, moment: datetime, key: Key, kind: str, due_at: datetime, task_id: str) -> None:
        if self.within(moment, key) and due_at <= self.now:
            self.tallies.count(key, DEADLINE_COUNTERS[kind])


class Events:
    """A case's events, each at the moment it happened, told to a sink: `count`, `duration` and
    `deadline` (an event that counts once its due time passed, which depends on when one asks).
    The reference computation counts those of one period (_PeriodSink); the rollups add them up by
    local day (rollups.py)."""

    def __init__(self, agencies: set[str], transfers: Counter, sink):
        self.agencies, self.transfers, self.sink = agencies, transfers, sink

    def department_of(self, task) -> str | None:
        return next((group for group in task.candidate_groups or () if group in self.agencies), None)

    def case(self, case: _Case) -> None:
        station, owner = case.station_id or 0, case.owner_id or 0
        tasks = sorted(case.tasks, key=lambda t: (t.created_at, t.id))
        escalated, first = False, None
        for task in tasks:
            department = self.department_of(task)
            if department is None:
                first = first or task  # the response: the case's first officer task (its first claim)
                self._officer_task(task, (station, owner, "", ""))
                continue
            escalated = True
            self._department_task(task, (station, owner, department, ""))
        key: Key = (station, owner, "", "")
        self.sink.count(case.started_at, key, "reported")
        if first is not None:
            level = first.risk_level if first.risk_level in RISK_LEVELS else ""
            self._response(case.started_at, first, (station, owner, "", level))
        if case.ended_at is not None:
            if case.status == InstanceStatus.COMPLETED:
                self.sink.count(case.ended_at, key, "closed")
                self.sink.count(case.ended_at, key, "on_spot", int(not escalated))
            elif case.status == InstanceStatus.CANCELLED:
                self.sink.count(case.ended_at, key, "cancelled")

    def _response(self, reported_at: datetime, first, key: Key) -> None:
        """The case's first task: answered when claimed, or once its deadline passed unclaimed."""
        if first.claimed_at is not None:
            waited = _minutes(first.claimed_at, first.created_at)
            self.sink.count(reported_at, key, "responded")
            self.sink.count(reported_at, key, "in_time", int(waited <= RESPONSE_HOURS * 60))
            self.sink.count(
                reported_at, key, "within_due", int(first.due_at is None or first.claimed_at <= first.due_at)
            )
            self.sink.duration(reported_at, key, "claim", waited)
        elif first.due_at is not None and first.state != HumanTaskState.CANCELLED:
            # answered (missed) once its due time passed; until then, or cancelled unclaimed, not counted
            self.sink.deadline(reported_at, key, "response", first.due_at, first.id)

    def _officer_task(self, task, key: Key) -> None:
        if task.state == HumanTaskState.COMPLETED and task.ended_at is not None and task.satisfaction is not None:
            satisfied = task.satisfaction in SATISFIED
            self.sink.count(task.ended_at, key, "rated")
            self.sink.count(task.ended_at, key, "satisfied", int(satisfied))
            self.sink.count(task.ended_at, key, "reopened", int(not satisfied))  # an unsatisfied rating reopens
        if Role.SUPERVISOR in (task.candidate_groups or ()):
            self.sink.count(task.created_at, key, "reviews")

    def _department_task(self, task, key: Key) -> None:
        at, sink = task.created_at, self.sink
        sink.count(at, key, "escalations")
        if task.claimed_at is not None:
            sink.duration(at, key, "dept_claim", _minutes(task.claimed_at, task.created_at))
        if task.state == HumanTaskState.COMPLETED and task.ended_at is not None:
            sink.count(at, key, "handled")
            sink.count(at, key, "within_deadline", int(task.due_at is None or task.ended_at <= task.due_at))
            if task.claimed_at is not None:
                sink.duration(at, key, "handling", _minutes(task.ended_at, task.claimed_at))
        is_open = task.state in OPEN_TASK_STATES
        sink.count(at, key, "open", int(is_open))
        late_closed = task.ended_at is not None and task.due_at is not None and task.ended_at > task.due_at
        if late_closed or task.sla_state in (SlaState.BREACHED, SlaState.MISSED):
            sink.count(at, key, "breaches")
        elif is_open and task.due_at is not None:
            sink.deadline(at, key, "breach", task.due_at, task.id)  # a breach once open past its due time
        sink.count(at, key, "returns", int(task.state == HumanTaskState.RETURNED))
        sink.count(at, key, "transfers", self.transfers.get(task.id, 0))


_TASK_COLUMNS = (
    HumanTask.id,
    HumanTask.instance_id,
    HumanTask.candidate_groups,
    HumanTask.owner_task,
    HumanTask.state,
    HumanTask.created_at,
    HumanTask.claimed_at,
    HumanTask.ended_at,
    HumanTask.due_at,
    HumanTask.sla_state,
    HumanTask.risk_level,
    # the rating alone, extracted by the database: decoding every outcome cost more than the query
    HumanTask.outcome["satisfaction"].as_string().label("satisfaction"),
)


MAX_LISTED_CASES = 20000  # above: the period's tasks in one joined scan instead of by case


def _inside(moment: datetime | None, start: datetime, end: datetime) -> bool:
    return moment is not None and start <= moment < end


def _chunked(session, query, ids: list[str], size: int = 1000) -> list[Any]:
    """`query`'s task rows of the cases `ids`, looked up a thousand cases at a time."""
    rows: list[Any] = []
    for at in range(0, len(ids), size):
        rows += session.execute(query.where(HumanTask.instance_id.in_(ids[at : at + size]))).all()
    return rows


class ReportService:
    """The figures of a period for the stations an actor may see."""

    def __init__(self, ctx: Engine):
        self.ctx = ctx
        self.rollups = Rollups(ctx)

    def period(self, kind: str, label: str | None = None, zone: str | None = None) -> Period:
        """The named period, or the current one of `kind` when no label is given, in `zone` (a station's;
        by default the deployment's)."""
        if kind not in PERIOD_KINDS:
            raise InvalidInput(
                f"'{kind}' is not a period kind", [{"field": "kind", "message": "week, month or quarter"}]
            )
        tz = ZoneInfo(zone or self.ctx.settings.time_zone)
        if not label:
            return period_of(kind, self.ctx.clock.now(), tz)
        return parse_period(kind, label, tz)

    def _scope(self, actor: Actor | None, station: str | None) -> tuple[int | None, dict[str, Any], StationZones]:
        """The station a report covers (None: all), the departments (key: (id, kind)) and every station's
        time zone: one query, before the period (in the station's zone) is known."""
        with self.ctx.db.read() as scope:
            rows = scope.session.execute(
                select(Department.id, Department.key, Department.kind, Department.time_zone)
            ).all()
        departments = {key: (dept_id, kind) for dept_id, key, kind, _ in rows}
        zones = StationZones(
            self.ctx.settings.time_zone, {i: tz for i, _, kind, tz in rows if kind == DepartmentKind.STATION}
        )
        return self._station_scope(departments, actor, station), departments, zones

    def bulletin(
        self,
        actor: Actor | None,
        kind: str,
        label: str | None = None,
        station: str | None = None,
        *,
        reference: bool = False,
    ) -> dict[str, Any]:
        """The period's figures: everyone in scope, per station, per department, per officer, with targets;
        and the open backlog now. `actor` None: the command line (every station). From the daily
        rollups when they are current; `reference`: from the task rows (what the rollups are tested
        against, and what answers while a rebuild is under way)."""
        self.period(kind, label)  # a bad period is refused before anything else
        station_id, departments, zones = self._scope(actor, station)
        zone = zones.name(station_id) if station_id is not None else zones.default
        period = self.period(kind, label, zone)
        fast = not reference and self.rollups.catch_up()
        now = self.ctx.clock.now()
        with self.ctx.db.read() as scope:
            session = scope.session
            names: dict[str, Any] = {"departments": departments, "users": self._users(session)}
            if fast:
                tallies = self.rollups.tallies(session, station_id, [period], now)[0]
            else:
                agencies = {k for k, (_, kind_) in names["departments"].items() if kind_ == DepartmentKind.AGENCY}
                cases = self._cases(session, station_id, *zones.span(period, station_id))
                sink = _PeriodSink(period, now, zones)
                events = Events(agencies, self._transfers(session, cases), sink)
                for case in cases.values():
                    events.case(case)
                tallies = sink.tallies
            backlog = self._backlog(session, station_id)
        station_keys = {i: key for key, (i, kind_) in names["departments"].items() if kind_ == DepartmentKind.STATION}
        in_scope = {i: k for i, k in station_keys.items() if station_id is None or i == station_id}
        targets = self.targets
        summary = tallies.total.view()
        return {
            "period": period.view(zone, zones, in_scope),
            "station": station_keys.get(station_id) if station_id is not None else None,
            "targets": dict(targets),
            "summary": {**summary, "targets": targets_of(summary, targets)},
            "stations": [
                {
                    "station": station_keys.get(key, "-"),
                    "time_zone": zones.name(key),
                    **(f := tally.view()),
                    "targets": targets_of(f, targets),
                }
                for key, tally in sorted(tallies.stations.items(), key=lambda item: station_keys.get(item[0], "-"))
            ],
            "departments": [{"department": key, **tally.view()} for key, tally in sorted(tallies.departments.items())],
            "officers": [
                {"officer": names["users"].get(user_id, "-"), **(f := tally.view()), "targets": targets_of(f, targets)}
                for user_id, tally in sorted(
                    tallies.officers.items(), key=lambda item: names["users"].get(item[0], "-")
                )
            ],
            "backlog": backlog,
        }

    @property
    def targets(self) -> dict[str, float]:
        """The plan's targets, as configured (FENGQIAO_REPORT_TARGET_*; engine/config.py)."""
        return dict(self.ctx.settings.report_targets)

    def trend(
        self,
        actor: Actor | None,
        kind: str,
        count: int = 12,
        until: str | None = None,
        station: str | None = None,
        *,
        reference: bool = False,
    ) -> dict[str, Any]:
        """The headline figures of the `count` periods of `kind` up to `until` (the current one by default)."""
        if not 1 <= count <= MAX_TREND:
            raise InvalidInput(f"count must be 1 to {MAX_TREND}", [{"field": "count", "message": f"1 to {MAX_TREND}"}])
        self.period(kind, until)  # a bad period is refused before anything else
        station_id, departments, zones = self._scope(actor, station)
        zone = zones.name(station_id) if station_id is not None else zones.default
        last = self.period(kind, until, zone)
        periods = [last]
        while len(periods) < count:
            periods.insert(0, period_of(kind, periods[0].start - timedelta(seconds=1), ZoneInfo(zone)))
        fast = not reference and self.rollups.catch_up()
        now = self.ctx.clock.now()
        with self.ctx.db.read() as scope:
            session = scope.session
            names: dict[str, Any] = {"departments": departments, "users": self._users(session)}
            if fast:
                found = self.rollups.tallies(session, station_id, periods, now, detail=False)
            else:
                agencies = {k for k, (_, kind_) in names["departments"].items() if kind_ == DepartmentKind.AGENCY}
                cases = self._cases(
                    session, station_id, zones.span(periods[0], station_id)[0], zones.span(last, station_id)[1]
                )
                found = []
                for period in periods:
                    sink = _PeriodSink(period, now, zones)
                    events = Events(agencies, Counter(), sink)
                    for case in cases.values():
                        events.case(case)
                    found.append(sink.tallies)
        points = []
        for period, tallies in zip(periods, found, strict=True):
            figures = tallies.total.view()
            departments = tallies.departments.values()
            handled = sum(d.handled for d in departments)
            points.append(
                {
                    "period": period.label,
                    "start": period.start,
                    "cases_reported": figures["cases_reported"],
                    "response_rate": figures["response"]["rate"],
                    "on_spot_rate": figures["on_spot_rate"],
                    "satisfaction_rate": figures["satisfaction_rate"],
                    "escalations": figures["escalations"],
                    "department_within_deadline_rate": rate(sum(d.within_deadline for d in departments), handled),
                }
            )
        station_key = next((k for k, (i, _) in names["departments"].items() if i == station_id), None)
        in_scope = {
            i: k
            for k, (i, kind_) in names["departments"].items()
            if kind_ == DepartmentKind.STATION and station_id in (None, i)
        }
        return {
            "kind": kind,
            "station": station_key,
            "time_zone": zone,
            "station_time_zones": [
                {"station": k, "time_zone": zones.name(i)} for i, k in sorted(in_scope.items(), key=lambda x: x[1])
            ],
            "targets": self.targets,
            "points": points,
        }

    # --- reading -------------------------------------------------------------------------------
    @staticmethod
    def _station_scope(departments: dict[str, Any], actor: Actor | None, station: str | None) -> int | None:
        """The station the report covers (None: all). A supervisor sees their own station only."""
        station_id = None
        if station:
            dept_id, kind = departments.get(station, (None, None))
            if dept_id is None or kind != DepartmentKind.STATION:
                raise DepartmentNotFound(f"no station '{station}'")
            station_id = dept_id
        if actor is None or actor.role == Role.AUDITOR:
            return station_id
        if actor.role == Role.SUPERVISOR and actor.station_id is not None:
            if station_id is not None and station_id != actor.station_id:
                raise Forbidden("a supervisor sees the reports of their own station only")
            return actor.station_id
        raise Forbidden("reports are for supervisors and auditors")

    @staticmethod
    def _users(session) -> dict[int, str]:
        query = select(User.id, User.username).where(User.role.in_((Role.OFFICER, Role.SUPERVISOR)))
        return {user_id: username for user_id, username in session.execute(query)}

    @staticmethod
    def _cases(session, station_id: int | None, start: datetime, end: datetime) -> dict[str, _Case]:
        """The cases reported or closed in [start, end) with all their tasks, and the other cases active
        then with the tasks created or ended in it: what the period's events need, and no more (a case
        open for months brings only the tasks that moved in the period)."""
        instance, task = ProcessInstance, HumanTask

        def within(column):
            return and_(column >= start, column < end)

        scope = [instance.station_id == station_id] if station_id is not None else []
        case_columns = (
            instance.id,
            instance.station_id,
            instance.case_owner_id,
            instance.status,
            instance.started_at,
            instance.ended_at,
        )
        active = and_(instance.started_at < end, or_(instance.ended_at.is_(None), instance.ended_at >= start))
        cases = {
            row.id: _Case(row.id, row.station_id, row.case_owner_id, row.status, row.started_at, row.ended_at)
            for row in session.execute(select(*case_columns).where(*scope, active))
        }
        moved = or_(within(task.created_at), within(task.ended_at))
        if len(cases) > MAX_LISTED_CASES:
            # a long period of many stations: one pass over the joined tables beats thousands of lookups
            reported_or_closed = or_(within(instance.started_at), within(instance.ended_at))
            query = select(*_TASK_COLUMNS).join(instance, instance.id == task.instance_id).where(*scope, active)
            rows: Iterable[Any] = session.execute(query.where(or_(reported_or_closed, moved)))
        else:
            # a station's week or month: each case's tasks by its index (ix_tasks_instance)
            ends = {
                c.id for c in cases.values() if _inside(c.started_at, start, end) or _inside(c.ended_at, start, end)
            }
            whole, part = sorted(ends), sorted(set(cases) - ends)
            rows = [
                *_chunked(session, select(*_TASK_COLUMNS), whole),
                *_chunked(session, select(*_TASK_COLUMNS).where(moved), part),
            ]
        for row in rows:
            cases[row.instance_id].tasks.append(row)
        # the cases something happened to in the period
        return {
            key: c
            for key, c in cases.items()
            if c.tasks or _inside(c.started_at, start, end) or _inside(c.ended_at, start, end)
        }

    @staticmethod
    def _transfers(session, cases: dict[str, _Case]) -> Counter:
        """Transfers (转办) per task: audit entries of the cases that had department tasks."""
        # only a claimed task is transferred, and only a department's is (the owner's move with the case)
        ids = [case.id for case in cases.values() if any(t.claimed_at and not t.owner_task for t in case.tasks)]
        counts: Counter = Counter()
        for chunk in range(0, len(ids), 1000):
            query = select(AuditEntry.task_id).where(
                AuditEntry.instance_id.in_(ids[chunk : chunk + 1000]), AuditEntry.action == Event.TASK_TRANSFERRED
            )
            counts.update(task_id for (task_id,) in session.execute(query))
        return counts

    def _backlog(self, session, station_id: int | None) -> dict[str, Any]:
        """Open tasks now, by SLA state (live) and by age, counted by the database (one row back)."""
        now = self.ctx.clock.now()
        sla = sql_case(
            (HumanTask.due_at <= now, SlaState.BREACHED.value),
            (HumanTask.warn_at <= now, SlaState.WARNING.value),
            else_=SlaState.ON_TIME.value,
        )
        bounds = [(name, now - timedelta(days=days)) for name, days in AGE_BUCKETS if days is not None]
        age = sql_case(*[(HumanTask.created_at > since, name) for name, since in bounds], else_=AGE_BUCKETS[-1][0])
        query = select(sla.label("sla"), age.label("age"), func.count()).where(IS_OPEN_TASK).group_by(sla, age)
        if station_id is not None:
            query = query.where(HumanTask.station_id == station_id)
        by_sla: Counter = Counter({state.value: 0 for state in (SlaState.ON_TIME, SlaState.WARNING, SlaState.BREACHED)})
        by_age: Counter = Counter({name: 0 for name, _ in AGE_BUCKETS})
        for state, bucket, count in session.execute(query):
            by_sla[state] += count
            by_age[bucket] += count
        return {"total": sum(by_sla.values()), "by_sla_state": dict(by_sla), "by_age": dict(by_age)}
