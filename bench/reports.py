"""KPI reports at scale (issue 21): a year of generated cases (bench/generate.py; closed ones spread
over the 365 days before the clock, open ones over its last three), then the year's bulletin of every
station, a month's, one station's weekly bulletin and its 12-week trend, each timed (median of runs).
PostgreSQL only.

    python -m bench.reports --cases 1000000 [--runs 3]
"""

from __future__ import annotations

import argparse
import statistics
import time
from datetime import UTC, datetime, timedelta

from engine import ManualClock

from . import common
from .generate import TEMPLATE_T0, drop_secondary_indexes, prepare, restore_indexes

NOW = datetime(2026, 12, 31, 12, 0, tzinfo=UTC)  # the year 2026 is over in Shanghai's calendar but for hours


def timed(fn, runs: int) -> dict:
    seconds = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        seconds.append(time.perf_counter() - started)
    return {"n": runs, "median": statistics.median(seconds), "max": max(seconds)}


def run(cases: int, runs: int = 3) -> dict:
    with common.workdir() as tmp:
        clock = ManualClock(TEMPLATE_T0)
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
        from .generate import analyze

        analyze(url)
        clock.set(NOW)
        auditor = None  # every station, as the command line and an auditor see them
        station = common.STATIONS[0]
        reports = engine.reports
        results = {
            "cases": cases,
            "generate_seconds": generated["seconds"],
            "year_all_stations": timed(lambda: reports.bulletin(auditor, "year", "2026"), runs),
            "month_all_stations": timed(lambda: reports.bulletin(auditor, "month", "2026-11"), runs),
            "week_one_station": timed(lambda: reports.bulletin(auditor, "week", "2026-W48", station), runs),
            "trend_12_weeks_one_station": timed(lambda: reports.trend(auditor, "week", 12, "2026-W52", station), runs),
        }
        engine.close()
        return results


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description="Time the KPI reports over a year of generated cases.")
    parser.add_argument("--cases", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=3)
    args = parser.parse_args(argv)
    print(run(args.cases, args.runs))


if __name__ == "__main__":
    main()
