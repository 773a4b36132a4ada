"""Daily rollups of the KPI reports: a year of a city's cases summed from a few thousand rows.

`report_days` holds, per local day × station × case owner × department × risk level, the counts of
the events of that day (engine/reports Events: a case reported, answered, closed; a department task
created, claimed, completed late; a rating...) and three duration histograms (claim, department claim,
handling; DURATION_BOUNDS). A report sums the days of its period, then adds the deadlines that have
passed by its `now` (`report_deadlines`: first tasks still unclaimed, open department tasks).

How they stay right: every unit of work queues its case in `report_dirty` (one INSERT, the only cost
on the write path). Taking a case in (`drain`) recomputes the case's events from its rows with the
same code the reference computation uses, and moves report_days by the difference from what the case
added before (`report_cases`). The sweeper drains the queue; a report drains what is left first, so
it is never stale; when too many cases are queued (a migration's backfill, a rebuild under way) the
report is computed from the task rows instead. Drains take turns (an advisory lock on PostgreSQL,
SQLite's single writer), so a case is never added twice; the day rows move by `count = count + delta`
upserts, which concurrent transactions cannot lose.
"""

from __future__ import annotations

import bisect
from collections import Counter, defaultdict
from datetime import date, datetime
from typing import TYPE_CHECKING, Any
from zoneinfo import ZoneInfo

from sqlalchemy import delete, func, insert, select
from sqlalchemy.dialects import postgresql, sqlite

from ..store.models import (
    REPORT_COUNTERS,
    REPORT_DAY_KEYS,
    REPORT_DAYS,
    REPORT_HISTOGRAM_COLUMNS,
    Department,
    ProcessInstance,
    ReportCase,
    ReportDeadline,
    ReportDirty,
)
from ..vocabulary import DepartmentKind

if TYPE_CHECKING:
    from .. import Engine
    from . import Key, Period, Tallies

DRAIN_BATCH = 1000  # cases taken in per transaction by a report catching up
SWEEP_BATCH = 200  # by the sweeper, every half second
CATCH_UP_LIMIT = 20000  # more queued than this: a report reads the task rows instead of waiting
_LOCK_KEY = 2126021  # pg_advisory_xact_lock: drains take turns
_VALUE_COLUMNS = (*REPORT_COUNTERS, *REPORT_HISTOGRAM_COLUMNS)
_INDEX = {name: i for i, name in enumerate(_VALUE_COLUMNS)}
_D = REPORT_DAYS.c
RowKey = tuple[int, int, int, str, str]  # (day ordinal, station, owner, department, risk level)


class _DaySink:
    """One case's events, added up by local day (its report_days rows) and its pending deadlines."""

    def __init__(self, zone: ZoneInfo, instance_id: str):
        self.zone, self.instance_id = zone, instance_id
        self.rows: dict[RowKey, Counter] = defaultdict(Counter)
        self.deadlines: list[dict[str, Any]] = []

    def _day(self, moment: datetime) -> int:
        return moment.astimezone(self.zone).date().toordinal()

    def count(self, moment: datetime, key: Key, counter: str, amount: int = 1) -> None:
        if amount:
            self.rows[(self._day(moment), *key)][_INDEX[counter]] += amount

    def duration(self, moment: datetime, key: Key, measure: str, minutes: float) -> None:
        from . import bucket_of

        self.rows[(self._day(moment), *key)][_INDEX[f"{measure}_{bucket_of(minutes)}"]] += 1

    def deadline(self, moment: datetime, key: Key, kind: str, due_at: datetime, task_id: str) -> None:
        station, owner, department, risk = key
        self.deadlines.append(
            {
                "task_id": task_id,
                "instance_id": self.instance_id,
                "kind": kind,
                "day": date.fromordinal(self._day(moment)),
                "station_id": station,
                "owner_id": owner,
                "department": department,
                "risk_level": risk,
                "due_at": due_at,
            }
        )

    def snapshot(self) -> list[list[Any]]:
        """The rows as stored in report_cases: [day, station, owner, department, risk, [column, n, ...]]."""
        return [[*key, [x for item in sorted(c.items()) for x in item]] for key, c in self.rows.items() if c]


def _unpack(snapshot: list[list[Any]]) -> dict[RowKey, Counter]:
    rows: dict[RowKey, Counter] = {}
    for day, station, owner, department, risk, values in snapshot:
        rows[(day, station, owner, department, risk)] = Counter(dict(zip(values[::2], values[1::2], strict=True)))
    return rows


def _upsert(connection, rows: list[dict[str, Any]]) -> None:
    """Add each row's counts to its day row (`count = count + excluded.count`): atomic per row, so
    two transactions adding to the same row at once both count."""
    if not rows:
        return
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    statement = dialect.insert(REPORT_DAYS)
    statement = statement.on_conflict_do_update(
        index_elements=list(REPORT_DAY_KEYS),
        set_={name: _D[name] + statement.excluded[name] for name in _VALUE_COLUMNS},
    )
    for at in range(0, len(rows), 500):
        connection.execute(statement, rows[at : at + 500])


def _take_turns(connection) -> None:
    """Drains and rebuilds one at a time: two taking in the same case would add it twice (SQLite has one
    writer anyway)."""
    if connection.dialect.name == "postgresql":
        connection.execute(select(func.pg_advisory_xact_lock(_LOCK_KEY)))


def _write_days(connection, delta: dict[RowKey, Counter]) -> None:
    """Add `delta` to report_days, one row per day key that moved."""
    rows = []
    for (day, station, owner, department, risk), counts in sorted(delta.items()):
        if any(counts.values()):
            values = dict.fromkeys(_VALUE_COLUMNS, 0)  # every column: one statement shape for all rows
            for index, amount in counts.items():
                values[_VALUE_COLUMNS[index]] = amount
            row = {"day": date.fromordinal(day), "station_id": station, "owner_id": owner}
            rows.append({**row, "department": department, "risk_level": risk, **values})
    _upsert(connection, rows)


class Rollups:
    """Keeps report_days up to date with the task rows and reads periods from it."""

    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- keeping up ------------------------------------------------------------------------------
    def queued(self, at_most: int | None = None) -> int:
        """How many changes are queued (counted up to `at_most` + 1: a long queue is not counted through)."""
        rows = select(ReportDirty.id)
        if at_most is not None:
            rows = rows.limit(at_most + 1)
        with self.ctx.db.read_statement() as scope:
            return scope.connection().execute(select(func.count()).select_from(rows.subquery())).scalar_one()

    def catch_up(self, limit: int | None = None) -> bool:
        """Take in every queued case, if there are at most `limit` (CATCH_UP_LIMIT); True when the
        rollups are current."""
        limit = CATCH_UP_LIMIT if limit is None else limit
        queued = self.queued(limit)
        if queued > limit:
            return False
        while queued > 0 and self.drain() and (queued := queued - DRAIN_BATCH) > 0:
            pass
        return True

    def sweep(self) -> None:
        """The sweeper's duty: take in what units of work queued since the last sweep, a small batch at a
        time (on SQLite a drain holds the one write lock)."""
        if self.queued(0):
            self.drain(SWEEP_BATCH)

    def drain(self, batch: int = DRAIN_BATCH) -> int:
        """Take in up to `batch` queued cases in one transaction; returns how many were taken."""
        with self.ctx.db.transaction() as scope:
            connection = scope.connection()
            _take_turns(connection)
            oldest = select(ReportDirty.id).order_by(ReportDirty.id).limit(batch).scalar_subquery()
            taken = connection.execute(
                delete(ReportDirty).where(ReportDirty.id.in_(oldest)).returning(ReportDirty.instance_id)
            )
            ids = sorted({instance_id for (instance_id,) in taken})
            if ids:
                delta: dict[RowKey, Counter] = defaultdict(Counter)
                self._recompute(scope, ids, delta)
                _write_days(connection, delta)
            return len(ids)

    def rebuild(self, batch: int = 5000, progress=None) -> int:
        """Fill the rollups anew from every case's rows (a deployed system's history, or after the time
        zone changed), in one transaction: reports read the old rollups until it commits. The day rows
        are added up in memory and written once (a year of a city's cases: some 10^5 rows, where writing
        them batch by batch meant millions of upserts). Returns the number of cases taken in."""
        with self.ctx.db.transaction() as scope:
            connection = scope.connection()
            _take_turns(connection)
            # a change committed from here on queues its case again, and a drain takes it in after this
            for table in (REPORT_DAYS, ReportCase.__table__, ReportDeadline.__table__, ReportDirty.__table__):
                connection.execute(delete(table))
            delta: dict[RowKey, Counter] = defaultdict(Counter)
            done, last = 0, ""
            while ids := list(
                connection.execute(
                    select(ProcessInstance.id)
                    .where(ProcessInstance.id > last)
                    .order_by(ProcessInstance.id)
                    .limit(batch)
                ).scalars()
            ):
                self._recompute(scope, ids, delta, fresh=True)
                done, last = done + len(ids), ids[-1]
                if progress is not None:
                    progress(done)
            _write_days(connection, delta)
        return done

    def _recompute(self, scope, ids: list[str], delta: dict[RowKey, Counter], fresh: bool = False) -> None:
        """Recompute the cases `ids` from their rows: add the difference from what they added before to
        `delta`, and store what they add now. `fresh`: nothing stored for them (a rebuild)."""
        from . import _TASK_COLUMNS, Events, ReportService, StationZones, _Case, _chunked

        session, connection = scope.session, scope.connection()
        # read after the queue was taken: a zone change commits with its cases' queue rows, so the cases
        # taken are bucketed in the zone that queued them (or a later one, queued again)
        zones = StationZones.load(session, self.ctx.settings.time_zone)
        agencies = set(session.scalars(select(Department.key).where(Department.kind == DepartmentKind.AGENCY)).all())
        cases: dict[str, _Case] = {}
        for at in range(0, len(ids), 1000):
            query = select(
                ProcessInstance.id,
                ProcessInstance.station_id,
                ProcessInstance.case_owner_id,
                ProcessInstance.status,
                ProcessInstance.started_at,
                ProcessInstance.ended_at,
            ).where(ProcessInstance.id.in_(ids[at : at + 1000]))
            for row in session.execute(query):
                cases[row.id] = _Case(*row)
        for task in _chunked(session, select(*_TASK_COLUMNS), sorted(cases)):
            cases[task.instance_id].tasks.append(task)
        transfers = ReportService._transfers(session, cases)
        snapshots: list[dict[str, Any]] = []
        deadlines: list[dict[str, Any]] = []
        for instance_id in sorted(cases):
            sink = _DaySink(zones.zone(cases[instance_id].station_id), instance_id)
            Events(agencies, transfers, sink).case(cases[instance_id])
            for key, counts in sink.rows.items():
                delta[key].update(counts)
            if sink.rows:
                snapshots.append({"instance_id": instance_id, "counts": sink.snapshot()})
            deadlines += sink.deadlines
        for at in range(0, 0 if fresh else len(ids), 1000):
            chunk = ids[at : at + 1000]
            old = session.execute(select(ReportCase.counts).where(ReportCase.instance_id.in_(chunk)))
            for (stored,) in old:
                for key, before in _unpack(stored).items():
                    delta[key].subtract(before)
            connection.execute(delete(ReportCase).where(ReportCase.instance_id.in_(chunk)))
            connection.execute(delete(ReportDeadline).where(ReportDeadline.instance_id.in_(chunk)))
        for table, new_rows in ((ReportCase.__table__, snapshots), (ReportDeadline.__table__, deadlines)):
            for at in range(0, len(new_rows), 1000):
                connection.execute(insert(table), new_rows[at : at + 1000])

    # --- reading ---------------------------------------------------------------------------------
    def tallies(self, session, station_id: int | None, periods: list[Period], now: datetime, detail: bool = True):
        """The Tallies of each period (consecutive, in order) from the day rows and the deadlines
        passed by `now`. `detail`: per station, officer, department, risk level and durations; without,
        the totals and departments only (a trend)."""
        from . import Tallies

        # the days are each station's local days: a period's days are the same dates for every station
        firsts = [p.first for p in periods]
        after = periods[-1].after
        found: list[Tallies] = [Tallies() for _ in periods]

        def of(day: date) -> Tallies:
            return found[bisect.bisect_right(firsts, day) - 1]

        if detail:
            keys = [_D.station_id, _D.owner_id, _D.department, _D.risk_level]
            columns = list(_VALUE_COLUMNS)
        else:  # every period's totals and departments: by day and department
            keys = [_D.day, _D.department]
            columns = list(REPORT_COUNTERS)
        query = (
            select(*keys, *[func.sum(_D[name]) for name in columns])
            .where(_D.day >= firsts[0], _D.day < after)
            .group_by(*keys)
        )
        if station_id is not None:
            query = query.where(_D.station_id == station_id)
        for row in session.execute(query):
            tallies = found[0] if detail else of(row[0])
            key: Key = (row[0], row[1], row[2], row[3]) if detail else (0, 0, row[1], "")
            for name, amount in zip(columns, row[len(keys) :], strict=True):
                if not amount:
                    continue
                if name in _COUNTER_NAMES:
                    tallies.count(key, name, int(amount))
                else:
                    measure, index = name.rsplit("_", 1)
                    tallies.bucket(key, measure, int(index), int(amount))
        self._deadlines(session, station_id, firsts[0], after, now, of)
        return found

    @staticmethod
    def _deadlines(session, station_id: int | None, first: date, after: date, now: datetime, of) -> None:
        """Add the deadlines of [first, after) passed by `now`: missed responses and breaches."""
        from . import DEADLINE_COUNTERS

        d = ReportDeadline
        keys = (d.day, d.kind, d.station_id, d.owner_id, d.department, d.risk_level)
        query = select(*keys, func.count()).where(d.day >= first, d.day < after, d.due_at <= now).group_by(*keys)
        if station_id is not None:
            query = query.where(d.station_id == station_id)
        for day, kind, station, owner, department, risk, count in session.execute(query):
            of(day).count((station, owner, department, risk), DEADLINE_COUNTERS[kind], count)


_COUNTER_NAMES = frozenset(REPORT_COUNTERS)
