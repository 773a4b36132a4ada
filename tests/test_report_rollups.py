"""KPI report rollups (issue 21): report_days agree with the reference computation after every unit of
work, after a rebuild from existing rows, under concurrent drains and concurrent transactions adding
to the same day row (PostgreSQL); medians and p90s within their histogram bucket; the targets as
configured; a refused report takes nothing in."""

from __future__ import annotations

import dataclasses
import random
import threading
from datetime import date, timedelta

import pytest
from sqlalchemy import create_engine, delete, func, select

from bench.reports import without_percentiles
from engine import Engine, reports
from engine.config import Settings
from engine.errors import Forbidden
from engine.reports import _Durations, bucket_of, percentile, rollups
from engine.store.models import DURATION_BOUNDS, REPORT_DAYS, ProcessInstance, ReportCase, ReportDeadline, ReportDirty
from tests.helpers import database_rows
from tests.test_reports import START, simulate

PERIODS = [("week", f"2026-W{w}") for w in range(47, 52)] + [("month", "2026-11"), ("month", "2026-12")]
PERIODS += [("quarter", "2026-Q4"), ("year", "2026")]


def assert_rollups_agree(engine, actor=None, station=None):
    for kind, label in PERIODS:
        fast = engine.reports.bulletin(actor, kind, label, station)
        reference = engine.reports.bulletin(actor, kind, label, station, reference=True)
        assert without_percentiles(fast) == without_percentiles(reference), (kind, label)
    for kind, until in (("week", "2026-W51"), ("month", "2027-01")):
        fast_trend = engine.reports.trend(actor, kind, 6, until, station)
        assert fast_trend == engine.reports.trend(actor, kind, 6, until, station, reference=True)


def queued(engine) -> int:
    with engine.db.read() as scope:
        return scope.session.scalar(select(func.count()).select_from(ReportDirty))


def day_rows(engine) -> int:
    with engine.db.read() as scope:
        return scope.session.scalar(select(func.count()).select_from(REPORT_DAYS))


def test_every_unit_of_work_queues_its_case_and_a_report_takes_the_queue_in(engine, world, clock):
    simulate(engine, world, clock, count=12)
    assert queued(engine) > 0  # nothing drained them: no sweeper runs in these tests
    assert_rollups_agree(engine)
    assert queued(engine) == 0 and day_rows(engine) > 0
    assert_rollups_agree(engine, world["zhou"])  # a supervisor's station


def test_a_rebuild_fills_the_rollups_from_existing_rows(engine, world, clock):
    simulate(engine, world, clock)
    with engine.db.transaction() as scope:  # a deployed system's history, before the rollups existed
        for table in (REPORT_DAYS, ReportCase.__table__, ReportDeadline.__table__, ReportDirty.__table__):
            scope.connection().execute(delete(table))
    with engine.db.read() as scope:
        cases = scope.session.scalar(select(func.count()).select_from(ProcessInstance))
    assert engine.reports.rollups.rebuild(batch=7) == cases == 28
    assert queued(engine) == 0
    assert_rollups_agree(engine)


def test_a_long_queue_is_answered_from_the_task_rows(engine, world, clock, monkeypatch):
    simulate(engine, world, clock, count=8)
    before = queued(engine)
    monkeypatch.setattr(rollups, "CATCH_UP_LIMIT", before - 1)  # a backfill under way
    bulletin = engine.reports.bulletin(None, "month", "2026-11")
    assert bulletin == engine.reports.bulletin(None, "month", "2026-11", reference=True)  # exact medians too
    assert queued(engine) == before and day_rows(engine) == 0


def test_a_missed_response_and_a_breach_count_once_their_due_time_passed(engine, world, clock):
    """Deadlines depend on when one asks: an unclaimed first task, an open department task."""
    simulate(engine, world, clock, count=12)
    for days in (2, 9, 26, 60):
        clock.set(START + timedelta(days=days))
        for kind, label in (("week", "2026-W48"), ("month", "2026-11"), ("month", "2026-12")):
            fast = engine.reports.bulletin(None, kind, label)
            reference = engine.reports.bulletin(None, kind, label, reference=True)
            assert without_percentiles(fast) == without_percentiles(reference), (days, label)


def test_a_refused_report_takes_nothing_in(engine, world, clock):
    simulate(engine, world, clock, count=4)
    before = database_rows(engine)
    with pytest.raises(Forbidden):
        engine.reports.bulletin(world["zhou"], "week", "2026-W48", "dongfeng")
    with pytest.raises(Forbidden):
        engine.reports.trend(world["wang"], "week", 4, "2026-W48")
    assert database_rows(engine) == before


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_percentiles_from_the_histogram_are_the_bound_of_the_exact_values_bucket(seed):
    rng = random.Random(seed)
    values = [rng.choice([rng.uniform(0, 60), rng.uniform(0, 3000), rng.expovariate(1 / 500)]) for _ in range(301)]
    exact, histogram = _Durations(), _Durations()
    for value in values:
        exact.add(value)
        histogram.add_bucket(bucket_of(value), 1)
    for share in (0.5, 0.9):
        true = percentile(values, share)
        got = histogram.percentile(share)
        assert got == DURATION_BOUNDS[bucket_of(true)] == DURATION_BOUNDS[bucket_of(exact.percentile(share))]
        # the precision: the exact value lies in (the bucket's lower bound, the reported bound]
        index = bucket_of(true)
        assert (DURATION_BOUNDS[index - 1] if index else 0) < true <= got or index == len(DURATION_BOUNDS) - 1
        assert got <= 1.5 * true or got <= 2  # bounds grow by about √2 (1.5 with rounding), exact to 2 minutes


def test_configured_targets_are_reported_and_judged(engine, world, clock):
    simulate(engine, world, clock, count=8)
    strict = Engine(
        dataclasses.replace(
            engine.settings,
            report_targets=Settings.from_env(
                {"FENGQIAO_REPORT_TARGET_ON_SPOT": "10%", "FENGQIAO_REPORT_TARGET_SATISFACTION": "1"}
            ).report_targets,
        ),
        clock,
    )
    try:
        bulletin = strict.reports.bulletin(None, "month", "2026-11")
        assert bulletin["targets"] == {"response_rate": 1.0, "on_spot_rate": 0.1, "satisfaction_rate": 1.0}
        judged = {t["figure"]: t for t in bulletin["summary"]["targets"]}
        assert judged["on_spot_rate"]["target"] == 0.1
        assert judged["on_spot_rate"]["met"] is (bulletin["summary"]["on_spot_rate"] >= 0.1)
        assert strict.reports.trend(None, "month", 2, "2026-12")["targets"] == bulletin["targets"]
    finally:
        strict.close()
    assert engine.reports.bulletin(None, "month", "2026-11")["targets"] == {
        "response_rate": 1.0,
        "on_spot_rate": 0.85,
        "satisfaction_rate": 0.92,
    }


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("FENGQIAO_REPORT_TARGET_RESPONSE", "high"),
        ("FENGQIAO_REPORT_TARGET_ON_SPOT", "120%"),
        ("FENGQIAO_REPORT_TARGET_SATISFACTION", "-0.1"),
        ("FENGQIAO_REPORT_TARGET_ON_SPOT", "nan"),
    ],
)
def test_a_bad_target_is_a_start_up_error_naming_it(name, value):
    with pytest.raises(ValueError, match=name):
        Settings.from_env({name: value})


# --- concurrency (PostgreSQL: real concurrent transactions) -------------------------------------------
@pytest.mark.backends("postgresql")
def test_two_transactions_adding_to_the_same_day_row_both_count(engine):
    db = create_engine(engine.settings.database_url)
    key = {"day": date(2026, 11, 23), "station_id": 1, "owner_id": 2, "department": "", "risk_level": "red"}
    zeros = dict.fromkeys(rollups._VALUE_COLUMNS, 0)
    rounds, workers = 20, 4
    barrier = threading.Barrier(workers)
    failures: list[BaseException] = []

    def add(_: int) -> None:
        try:
            for _round in range(rounds):
                barrier.wait()  # every worker upserts the same row at once, each in its own transaction
                with db.begin() as connection:
                    rollups._upsert(connection, [{**key, **zeros, "reported": 1, "claim_3": 2}])
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=add, args=(i,)) for i in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []
    with db.connect() as connection:
        row = connection.execute(select(REPORT_DAYS.c.reported, REPORT_DAYS.c.claim_3)).one()
    db.dispose()
    assert tuple(row) == (rounds * workers, 2 * rounds * workers)


@pytest.mark.backends("postgresql")
def test_concurrent_drains_and_units_of_work_lose_no_count(engine, world, clock):
    stop = threading.Event()
    failures: list[BaseException] = []

    def drain() -> None:
        try:
            while not stop.is_set():
                engine.reports.rollups.drain(batch=3)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    drainers = [threading.Thread(target=drain) for _ in range(3)]
    for thread in drainers:
        thread.start()
    try:  # every unit of work of the generated month commits while three drains run
        simulate(engine, world, clock, count=14)
    finally:
        stop.set()
        for thread in drainers:
            thread.join()
    assert failures == []
    assert_rollups_agree(engine)


def test_the_sweeper_takes_the_queue_in(engine, world, clock):
    simulate(engine, world, clock, count=4)
    assert reports.Rollups is rollups.Rollups and engine.reports.rollups.sweep in engine.sweep_duties
    while queued(engine):
        engine.reports.rollups.sweep()
    assert day_rows(engine) > 0
    assert_rollups_agree(engine)
