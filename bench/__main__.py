"""Run the benchmarks and write the report.

python -m bench                      # everything, full sizes (make bench); writes docs/benchmarks.{json,md}
python -m bench --smoke              # every bench with tiny sizes, figures to a temporary file (CI)
python -m bench --only api,timers    # some benches; the others keep their last figures in the report
python -m bench --only webhooks,external_tasks --webhook-history 100000   # issue 18's benches
python -m bench --large 300000 --soak-seconds 180   # smaller scale database, shorter memory soak
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from . import api, common, external_tasks, floor, report, scale, timers, webhooks
from . import reports as kpi_reports

BENCHES = ("floor", "api", "scale", "timers", "reports", "external_tasks", "webhooks")
MODULES = {
    "floor": floor,
    "api": api,
    "scale": scale,
    "timers": timers,
    "reports": kpi_reports,  # KPI reports at a year of cases (issue 21)
    "external_tasks": external_tasks,
    "webhooks": webhooks,
}

SMOKE = {
    "floor": dict(cases=2, rounds=2, page_cases=3),
    "api": dict(
        rounds=1, seconds=2, serial_seconds=1.5, concurrency=2, soak_seconds=3, gunicorn_workers=2, gunicorn_threads=2
    ),
    "scale": dict(small=15, large=40, rounds=1, completions_per_round=4, query_reps=3, officers_per_station=1),
    "timers": dict(
        latency_cases=4,
        spacing=0.02,
        latency_delay=1,
        backlog_due_cases=5,
        backlog_future_cases=20,
        cost_small=10,
        cost_large=30,
        cost_rounds=1,
        cost_due_per_round=3,
        officers_per_station=1,
    ),
    "external_tasks": dict(tasks=20, workers=2, batch=5, rounds=1),
    "webhooks": dict(rate=20, seconds=2, history=2000, relay_batch=20, relay_rounds=1),
    "reports": dict(cases=40, runs=1),
}


def full(args) -> dict:
    return {
        "floor": dict(cases=args.cases, rounds=args.rounds),
        "api": dict(
            rounds=args.rounds_api,
            seconds=args.seconds,
            serial_seconds=args.serial_seconds,
            concurrency=args.concurrency,
            soak_seconds=args.soak_seconds,
        ),
        "scale": dict(small=args.small, large=args.large, rounds=3),
        "timers": dict(),
        "reports": dict(cases=args.report_cases, runs=3),
        "external_tasks": dict(tasks=args.external_tasks, rounds=args.external_rounds),
        "webhooks": dict(rate=args.webhook_rate, seconds=args.webhook_seconds, history=args.webhook_history),
    }


def run_one(name: str, kwargs: dict) -> dict:
    module = MODULES[name]
    started = time.perf_counter()
    result = module.run(**kwargs)
    result["wall_seconds"] = time.perf_counter() - started
    result["parameters"] = kwargs
    return result


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description="Fengqiao benchmarks")
    parser.add_argument("--smoke", action="store_true", help="tiny sizes: check every bench still runs")
    parser.add_argument("--only", default=",".join(BENCHES), help="comma-separated: " + ", ".join(BENCHES))
    parser.add_argument("--out", type=Path, default=None, help="JSON results (default docs/benchmarks.json)")
    parser.add_argument("--report", type=Path, default=None, help="Markdown report (default docs/benchmarks.md)")
    parser.add_argument("--cases", type=int, default=40, help="floor: cases per path and round")
    parser.add_argument("--rounds", type=int, default=10, help="floor: rounds (the ratio drifts with the machine)")
    parser.add_argument("--rounds-api", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20, help="api: seconds per concurrent run")
    parser.add_argument("--serial-seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--soak-seconds", type=float, default=600, help="memory soak length (issue: 10 minutes)")
    parser.add_argument("--small", type=int, default=1000, help="scale: the small database, in cases")
    parser.add_argument("--large", type=int, default=1_000_000, help="scale: the large database, in cases")
    parser.add_argument("--report-cases", type=int, default=1_000_000, help="reports: a year of cases")
    parser.add_argument("--external-tasks", type=int, default=1000, help="external_tasks: tasks per run")
    parser.add_argument("--external-rounds", type=int, default=3, help="external_tasks: runs per backend")
    parser.add_argument("--webhook-rate", type=float, default=250, help="webhooks: events committed per second")
    parser.add_argument("--webhook-seconds", type=float, default=10, help="webhooks: how long events are committed")
    parser.add_argument(
        "--webhook-history", type=int, default=1_000_000, help="webhooks: delivered rows for the relay's cost"
    )
    args = parser.parse_args(argv)
    only = [b.strip() for b in args.only.split(",") if b.strip()]
    unknown = set(only) - set(BENCHES)
    if unknown:
        parser.error(f"unknown bench: {', '.join(sorted(unknown))}")
    sizes = SMOKE if args.smoke else full(args)
    out = args.out or (None if args.smoke else common.ROOT / "docs" / "benchmarks.json")
    previous = json.loads(out.read_text()) if out is not None and out.exists() else {}
    results = {"machine": common.machine(), "smoke": args.smoke, "benches": dict(previous.get("benches", {}))}
    for name in only:
        print(f"== {name} ({'smoke' if args.smoke else 'full'}) ...", file=sys.stderr, flush=True)
        results["benches"][name] = run_one(name, sizes[name])
        results["benches"][name]["machine"] = results["machine"]
        print(report.summary_lines(name, results["benches"][name]), flush=True)
    text = json.dumps(results, indent=1, ensure_ascii=False, default=str)
    if out is not None:
        out.write_text(text + "\n")
    if not args.smoke or args.report:
        (args.report or common.ROOT / "docs" / "benchmarks.md").write_text(report.render(results))
    if out is None:
        sys.stdout.write(text + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
