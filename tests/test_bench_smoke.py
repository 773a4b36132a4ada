"""The benchmarks still run: every bench in smoke mode (tiny sizes), checked for well-formed figures.

Benchmarks are not pass/fail on their values (docs/benchmarks.md has those); this only keeps bench/
from rotting. Needs PostgreSQL and Redis, like the timer-process tests.
"""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys

import pytest

from tests.conftest import PG_ADMIN_DSN, PG_DATABASE, ROOT

# the suite's own names: a bench run (`make bench`) on the same machine keeps its databases and Redis
BENCH_ENV = {
    "FENGQIAO_BENCH_PG_ADMIN": PG_ADMIN_DSN,
    "FENGQIAO_BENCH_PG_DATABASE": f"{PG_DATABASE}_bench",
    "FENGQIAO_BENCH_REDIS_URL": os.environ.get("FENGQIAO_TEST_BENCH_REDIS_URL", "redis://127.0.0.1:6379/12"),
}

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def finite(value) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value >= 0


def figure(summary: dict) -> bool:
    """A `median (min–max)` figure with at least one run."""
    return (
        summary["n"] >= 1
        and all(finite(summary[k]) for k in ("median", "min", "max"))
        and summary["min"] <= summary["median"] <= summary["max"]
    )


@pytest.fixture(scope="module")
def smoke(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "smoke.json"
    report = out.with_suffix(".md")
    proc = subprocess.run(
        [sys.executable, "-m", "bench", "--smoke", "--out", str(out), "--report", str(report)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
        env={**os.environ, **BENCH_ENV},
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    results = json.loads(out.read_text())
    results["report"] = report.read_text()
    return results


def test_floor_bench_gives_ms_per_task_and_ratio_for_both_paths(smoke):
    floor = smoke["benches"]["floor"]
    assert set(floor["paths"]) == {"on_spot", "escalate_both"}
    for figures in floor["paths"].values():
        assert figure(figures["engine"]) and figure(figures["floor"]) and figure(figures["ratio"])
    assert floor["engine_blob_bytes"] > 0 and floor["floor_blob_bytes"] > 0


def test_api_bench_gives_throughput_latency_and_memory_without_errors(smoke):
    api = smoke["benches"]["api"]
    assert set(api["configs"]) == {"sqlite_serial", "sqlite_concurrent", "pg_serial", "pg_concurrent"}
    for config in api["configs"].values():
        assert config["errors"] == 0, config["error_samples"]
        assert config["completions"] > 0
        assert figure(config["completions_per_second"]) and figure(config["complete_p50_ms"])
        assert figure(config["complete_p99_ms"])
    processes = api["memory"]["processes"]
    assert any(k.startswith("web") for k in processes) and any(k.startswith("job worker") for k in processes)
    assert all(finite(p["peak_mb"]) and p["peak_mb"] > 0 for p in processes.values())


def test_scale_bench_gives_completion_and_inbox_figures_at_both_sizes(smoke):
    scale = smoke["benches"]["scale"]
    for size in ("at_small", "at_large"):
        for key in ("complete_p50", "my_tasks_p99", "group_queue_by_due_p99", "breached_p99"):
            assert figure(scale[size][key]), (size, key)
    assert scale["counts_large"]["process_instances"] >= scale["large"]


def test_timer_bench_fires_every_timer_and_measures_each_part(smoke):
    timers = smoke["benches"]["timers"]
    for mode in ("latency_embedded", "latency_redis"):
        assert timers[mode]["fired"] == timers[mode]["timers"] > 0
        assert finite(timers[mode]["observed_ms"]["p99"])
    backlog = timers["backlog"]
    assert backlog["due"] > 0 and backlog["left_unfired"] == 0 and backlog["incidents"] == 0
    assert "ix_timers_due" in backlog["explain_claim"]
    assert figure(timers["cost_per_timer"]["ratio_large_vs_small"])


def test_reports_bench_times_every_report_from_rollups_that_agree_with_the_reference(smoke):
    kpi = smoke["benches"]["reports"]
    for key in ("year_all_stations", "month_all_stations", "week_one_station", "trend_12_weeks_one_station"):
        assert figure(kpi[key]), key
    assert figure(kpi["week_one_station_reference"]) and finite(kpi["rebuild_seconds"])
    assert kpi["rebuild_cases"] >= kpi["cases"] and kpi["report_day_rows"] > 0
    assert kpi["rollups_agree_with_reference"] is True
    assert "## 6. KPI reports" in smoke["report"]


def test_external_task_bench_gives_tasks_per_second_and_latencies_on_both_backends(smoke):
    external = smoke["benches"]["external_tasks"]
    assert set(external["configs"]) == {"sqlite", "postgresql"}
    for config in external["configs"].values():
        assert config["errors"] == 0
        for key in ("tasks_per_second", "complete_p50_ms", "complete_p99_ms", "fetch_p50_ms"):
            assert figure(config[key]), key
        assert figure(config["engine_tasks_per_second"]) and figure(config["engine_cpu_ms_per_task"])


def test_webhook_bench_delivers_every_event_and_gives_rate_latency_cpu_and_relay_cost(smoke):
    hooks = smoke["benches"]["webhooks"]
    throughput = hooks["throughput"]
    assert throughput["delivered"] == throughput["events"] > 0
    assert finite(throughput["deliveries_per_second"]) and throughput["deliveries_per_second"] > 0
    assert all(finite(throughput["latency_seconds"][k]) for k in ("p50", "p99", "max"))
    assert finite(throughput["relayed_seconds"]["p99"]) and finite(throughput["worker_cpu_ms_per_delivery"])
    cost = hooks["relay_cost"]
    for size in cost["sizes"]:
        assert figure(cost[str(size)]["relay_batch_ms"]) and figure(cost[str(size)]["due_query_ms"])
    assert finite(cost["relay_ratio_large_vs_small"])


def test_report_names_the_machine_and_every_bench(smoke):
    report = smoke["report"]
    headings = (
        "## Machine and versions",
        "## Targets",
        "## 1.",
        "## 2.",
        "## 3.",
        "## 4.",
        "## 5.",
        "## 6.",
        "## 7.",
        "## 8.",
    )
    for heading in headings:
        assert heading in report
    assert "shared and noisy" in report


@pytest.mark.parametrize(
    "median, high, status",
    [
        (1.90, 1.95, "**met**"),
        (1.90, 2.10, "**at the line** (median met, not every round)"),
        (2.10, 2.30, "**not met**"),
    ],
)
def test_the_report_says_a_ratio_is_at_the_line_when_only_its_median_meets_the_target(median, high, status):
    from bench.report import targets

    ratio = {"median": median, "min": 1.5, "max": high, "n": 5}
    [row] = targets({"floor": {"paths": {"on_spot": {"ratio": ratio}}}})
    assert row[0] == "engine/floor ratio, SQLite (on_spot)" and row[3] == status


def test_the_memory_section_says_what_leak_its_growth_tolerance_lets_through():
    from bench.report import _leak_bound

    workers = {f"web (gunicorn worker):{pid}": {} for pid in (1, 2, 3, 4)} | {"job worker:5": {}}
    # 100 completions/s over 4 workers for 600 s: 0.7 of the soak apart is 10,500 completions per worker
    bound = _leak_bound({"processes": workers, "pg_completions_per_second": 100.0, "seconds": 600})
    assert "~10,500 completions" in bound and "~1.0 KB per completion" in bound
    assert _leak_bound({"processes": {"job worker:5": {}}, "pg_completions_per_second": 100.0, "seconds": 600}) == ""
