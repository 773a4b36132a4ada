"""KPI reports at scale (issue 21): a year of generated cases (bench/generate.py; closed ones spread
over the 365 days before the clock, open ones over its last three), the daily rollups rebuilt from
them (`fengqiao report rebuild`: generated cases never went through a unit of work), then the year's
bulletin of every station, a month's, one station's weekly bulletin and its 12-week trend, each timed
(median of runs), from the rollups; and one station's week from the task rows (the reference), with
its counts compared to the rollups'. PostgreSQL only.

    python -m bench.reports --cases 1000000 [--runs 3] [--rezone]

`--rezone` then moves one station to another time zone (Asia/Urumqi): the admin's change (which queues
the station's cases), the drain that re-buckets them, and the reports again, every station's year and
that station's week (its own Monday to Monday), compared with the reference; the zone is cleared after.
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

import psycopg

from engine import ManualClock

from . import common
from .generate import TEMPLATE_T0, analyze, drop_secondary_indexes, prepare, restore_indexes

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)  # the year 2026 is over in Shanghai's calendar but for hours


def timed(fn, runs: int) -> dict:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return {"n": runs, "median": statistics.median(seconds), "min": min(seconds), "max": max(seconds)}


def without_percentiles(value):
    """A bulletin or trend without medians and p90s (the rollups give those to a bucket's precision)."""
    if isinstance(value, dict):
        return {k: without_percentiles(v) for k, v in value.items() if k not in ("median", "p90")}
    if isinstance(value, list):
        return [without_percentiles(v) for v in value]
    return value


def _counts(bulletin: dict) -> dict:
    """A bulletin's counts and rates: no medians, no p90s, no backlog (it is read live)."""
    return without_percentiles({k: v for k, v in bulletin.items() if k != "backlog"})


def _rows(url: str, table: str) -> int:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0]


def rezone(engine, station: str, runs: int) -> dict:
    """Move `station` to Asia/Urumqi and back: what the change, its re-bucketing and the reports cost."""
    reports = engine.reports
    started = time.perf_counter()
    engine.identity.set_time_zone(station, "Asia/Urumqi")
    change_seconds = time.perf_counter() - started
    queued = reports.rollups.queued()
    started = time.perf_counter()
    reports.rollups.catch_up(limit=10**9)
    drain_seconds = time.perf_counter() - started
    week = reports.bulletin(None, "week", "2026-W48", station)
    agree = _counts(week) == _counts(reports.bulletin(None, "week", "2026-W48", station, reference=True))
    results = {
        "station": station,
        "change_seconds": change_seconds,
        "cases_queued": queued,
        "rebucket_seconds": drain_seconds,
        "week_period": [str(week["period"]["start"]), str(week["period"]["end"])],
        "rollups_agree_with_reference": agree,
        "year_all_stations": timed(lambda: reports.bulletin(None, "year", "2026"), runs),
        "week_one_station": timed(lambda: reports.bulletin(None, "week", "2026-W48", station), runs),
    }
    engine.identity.set_time_zone(station, None)
    reports.rollups.catch_up(limit=10**9)
    return results


def run(cases: int, runs: int = 3, reuse: bool = False, rebuild: bool = True, rezoned: bool = False) -> dict:
    """`reuse`: time the reports over the cases a previous run generated in the bench database, instead
    of generating them anew; `rebuild` False: and over the rollups it built."""
    with common.workdir() as tmp:
        clock = ManualClock(TEMPLATE_T0)
        if reuse:
            url = common.pg_url(common.PG_DATABASE)
            engine = common.make_engine(url, tmp / "instance", clock)
            generated: dict = {"seconds": None}
        else:
            engine, names, gen = prepare(common.PG_DATABASE, tmp, clock)
            url = engine.settings.database_url
            year = timedelta(days=364)
            base = NOW - TEMPLATE_T0 - timedelta(days=1)
            dropped = drop_secondary_indexes(url)

            def shift(stage: str) -> timedelta:
                # closed cases over the year; open ones over its last three days (some past their due time)
                span = year if stage.startswith("closed") else timedelta(days=3)
                return base - timedelta(seconds=gen.random.randint(0, int(span.total_seconds())))

            generated = gen.generate(
                cases,
                shift=shift,
                progress=lambda d, s: print(f"  {d} cases in {s:.1f} s", flush=True),
            )
            restore_indexes(url, dropped)
            analyze(url)
        clock.set(NOW)
        auditor = None  # every station, as the command line and an auditor see them
        station = common.STATIONS[0]
        reports = engine.reports
        started = time.perf_counter()
        rebuilt = (
            reports.rollups.rebuild(progress=lambda n: n % 100000 or print(f"  {n} cases rolled up", flush=True))
            if rebuild
            else None
        )
        rebuild_seconds = time.perf_counter() - started if rebuild else None
        # as autovacuum would: the visibility map lets the backlog be counted from its index alone
        with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
            conn.execute("VACUUM ANALYZE")

        def week_reference():
            return reports.bulletin(auditor, "week", "2026-W48", station, reference=True)

        reference_week = timed(week_reference, 1)
        agree = _counts(week_reference()) == _counts(reports.bulletin(auditor, "week", "2026-W48", station))
        results = {
            "cases": _rows(url, "process_instances") if reuse else cases,
            "generate_seconds": generated["seconds"],
            "rebuild_cases": rebuilt,
            "rebuild_seconds": rebuild_seconds,
            "report_day_rows": _rows(url, "report_days"),
            "week_one_station_reference": reference_week,
            "rollups_agree_with_reference": agree,
            "year_all_stations": timed(lambda: reports.bulletin(auditor, "year", "2026"), runs),
            "month_all_stations": timed(lambda: reports.bulletin(auditor, "month", "2026-11"), runs),
            "week_one_station": timed(lambda: reports.bulletin(auditor, "week", "2026-W48", station), runs),
            "trend_12_weeks_one_station": timed(lambda: reports.trend(auditor, "week", 12, "2026-W52", station), runs),
        }
        if rezoned:
            results["rezone"] = rezone(engine, common.STATIONS[1], runs)
        engine.close()
        return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Time the KPI reports over a year of generated cases.")
    parser.add_argument("--cases", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--reuse", action="store_true", help="the cases of the last run, not generated anew")
    parser.add_argument("--no-rebuild", action="store_true", help="with --reuse: the rollups of the last run")
    parser.add_argument("--rezone", action="store_true", help="then move a station to another time zone")
    args = parser.parse_args(argv)
    print(run(args.cases, args.runs, args.reuse, not args.no_rebuild, args.rezone))


if __name__ == "__main__":
    main()
