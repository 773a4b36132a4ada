"""Bench 2 (HTTP throughput and latency) and bench 4 (memory under that load).

Two servers run side by side: SQLite behind `fengqiao serve` (the embedded default) and PostgreSQL
behind gunicorn with several workers (plus Redis, RQ and one `fengqiao worker`). A load generator in
a separate process (bench/loadgen.py) drives whole dispute cases over loopback with N concurrent
clients, bounded in time and cases. Rounds interleave the configurations, so ratios compare runs
made side by side. The memory soak then runs the PostgreSQL load for a while, with SLA timers
falling due so the job worker works too, sampling the resident memory of every process.
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
import time

from . import common
from .common import summary
from .servers import EmbeddedServer, GunicornServer, rss_kib


def load(server, concurrency: int, seconds: float, max_cases: int = 10**6, paths=None) -> dict:
    job = {
        "base": server.base,
        "users": server.users,
        "password": common.PASSWORD,
        "concurrency": concurrency,
        "seconds": seconds,
        "max_cases": max_cases,
    }
    if paths:
        job["paths"] = paths
    proc = subprocess.run(
        [sys.executable, "-m", "bench.loadgen"],
        input=json.dumps(job),
        text=True,
        capture_output=True,
        cwd=common.ROOT,
        timeout=seconds + 300,
    )
    if proc.returncode != 0:
        raise RuntimeError(f"loadgen failed: {proc.stderr[-2000:]}")
    return json.loads(proc.stdout)


class MemorySampler(threading.Thread):
    def __init__(self, groups: dict[str, callable], interval: float = 1.0):
        super().__init__(daemon=True)
        self.groups, self.interval = groups, interval
        self.samples: dict[str, list[tuple[float, int, int]]] = {}  # "group:pid" -> (t, rss, hwm)
        self._halt = threading.Event()
        self.t0 = time.monotonic()

    def run(self) -> None:
        while not self._halt.is_set():
            for group, pids in self.groups.items():
                for pid in pids():
                    value = rss_kib(pid)
                    if value:
                        self.samples.setdefault(f"{group}:{pid}", []).append((time.monotonic() - self.t0, *value))
            self._halt.wait(self.interval)

    def stop(self) -> dict:
        self._halt.set()
        self.join(5)
        out = {}
        for key, samples in self.samples.items():
            rss = [s[1] for s in samples]
            window = max(1, len(samples) // 5)
            warm = samples[len(samples) // 10 :] or samples  # skip the first tenth (imports, caches filling)
            first = [s[1] for s in warm[:window]]
            last = [s[1] for s in warm[-window:]]
            out[key] = {
                "peak_mb": max(s[2] for s in samples) / 1024,
                "rss_end_mb": rss[-1] / 1024,
                "first_window_mb": sum(first) / len(first) / 1024,
                "last_window_mb": sum(last) / len(last) / 1024,
                "growth_mb": (sum(last) / len(last) - sum(first) / len(first)) / 1024,
                "samples": len(samples),
            }
        return out


class SlaFeeder(threading.Thread):
    """Moves a few pending SLA marks to 'due now' every half second: the job worker fires them."""

    def __init__(self, database_url: str, per_tick: int = 10):
        super().__init__(daemon=True)
        self.dsn = database_url.replace("postgresql+psycopg://", "postgresql://")
        self.per_tick = per_tick
        self._halt = threading.Event()
        self.moved = self.errors = 0

    def run(self) -> None:
        import psycopg

        with psycopg.connect(self.dsn, autocommit=True) as conn:
            while not self._halt.is_set():
                try:  # rows a unit of work holds are skipped, never waited for (no deadlocks with the engine)
                    self.moved += conn.execute(
                        "UPDATE timers SET due_at = now() - interval '1 second' WHERE id IN (SELECT id FROM timers "
                        "WHERE status = 'pending' AND kind IN ('sla_warning', 'sla_breach') AND due_at > now() "
                        "ORDER BY id LIMIT %s FOR UPDATE SKIP LOCKED)",
                        (self.per_tick,),
                    ).rowcount
                except psycopg.Error:
                    self.errors += 1
                self._halt.wait(0.5)

    def stop(self) -> int:
        self._halt.set()
        self.join(5)
        import psycopg

        with psycopg.connect(self.dsn) as conn:
            return conn.execute(
                "SELECT count(*) FROM timers WHERE kind IN ('sla_warning', 'sla_breach') AND status = 'fired'"
            ).fetchone()[0]


def run(
    rounds: int = 3,
    seconds: float = 20,
    concurrency: int = 8,
    serial_seconds: float = 10,
    soak_seconds: float = 600,
    max_cases: int = 10**6,
    gunicorn_workers: int = 4,
    gunicorn_threads: int = 4,
) -> dict:
    results: dict = {
        "bench": "api",
        "rounds": rounds,
        "seconds": seconds,
        "concurrency": concurrency,
        "serial_seconds": serial_seconds,
        "configs": {},
    }
    with common.workdir() as tmp:
        (tmp / "sqlite").mkdir()
        (tmp / "pg").mkdir()
        sqlite = EmbeddedServer(tmp / "sqlite")
        pg = GunicornServer(tmp / "pg", workers=gunicorn_workers, threads=gunicorn_threads)
        results["servers"] = {"sqlite": sqlite.kind, "postgresql": pg.kind}
        try:
            runs: dict[str, list[dict]] = {}
            plan = [
                ("sqlite_serial", sqlite, 1, serial_seconds),
                ("sqlite_concurrent", sqlite, concurrency, seconds),
                ("pg_serial", pg, 1, serial_seconds),
                ("pg_concurrent", pg, concurrency, seconds),
            ]
            load(sqlite, 2, min(3.0, seconds), max_cases=4)  # warm-up: imports, spec caches, logins
            load(pg, 4, min(3.0, seconds), max_cases=8)
            for _ in range(rounds):
                for name, server, conc, secs in plan:
                    runs.setdefault(name, []).append(load(server, conc, secs, max_cases))
            for name, items in runs.items():
                results["configs"][name] = _aggregate(items)
            ratio = [
                p["completions_per_second"] / s["completions_per_second"]
                for p, s in zip(runs["pg_concurrent"], runs["sqlite_concurrent"], strict=True)
                if s["completions_per_second"]
            ]
            results["pg_vs_sqlite_concurrent_throughput"] = summary(ratio)
            if soak_seconds > 0:
                results["memory"] = soak(pg, sqlite, soak_seconds, concurrency, max_cases)
        finally:
            sqlite.close()
            pg.close()
    return results


def _aggregate(items: list[dict]) -> dict:
    out = {
        k: summary([i[k] for i in items]) for k in ("completions_per_second", "cases_per_second", "requests_per_second")
    }
    for kind in ("complete", "start", "list"):
        for q in ("p50", "p99"):
            values = [i["latency_ms"][kind][q] for i in items if kind in i["latency_ms"] and i["latency_ms"][kind]["n"]]
            out[f"{kind}_{q}_ms"] = summary(values)
    out["completions"] = sum(i["completions"] for i in items)
    out["errors"] = sum(i["errors"] for i in items)
    out["error_samples"] = [s for i in items for s in i["error_samples"]][:5]
    out["concurrency"] = items[0]["concurrency"]
    return out


def soak(pg, sqlite, seconds: float, concurrency: int, max_cases: int) -> dict:
    """Load for `seconds` while sampling memory; SLA marks fall due so the job worker fires some."""
    sampler = MemorySampler(
        {"web (gunicorn worker)": pg.web_pids, "job worker": pg.job_pids, "embedded (fengqiao serve)": sqlite.web_pids}
    )
    feeder = SlaFeeder(pg.url)
    sampler.start()
    feeder.start()
    half = max(1, concurrency // 2)
    result = {}

    def drive_sqlite():
        result["sqlite"] = load(sqlite, half, seconds, max_cases)

    side = threading.Thread(target=drive_sqlite, daemon=True)
    side.start()
    result["pg"] = load(pg, concurrency, seconds, max_cases)
    side.join(seconds + 300)
    fired = feeder.stop()
    memory = sampler.stop()
    return {
        "seconds": seconds,
        "processes": memory,
        "sla_timers_fired": fired,
        "pg_completions_per_second": result["pg"]["completions_per_second"],
        "sqlite_completions_per_second": result.get("sqlite", {}).get("completions_per_second"),
        "errors": result["pg"]["errors"] + result.get("sqlite", {}).get("errors", 0),
    }


def main(argv=None) -> None:
    import argparse

    parser = argparse.ArgumentParser(description="HTTP throughput/latency and memory")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=20)
    parser.add_argument("--serial-seconds", type=float, default=10)
    parser.add_argument("--concurrency", type=int, default=8)
    parser.add_argument("--soak-seconds", type=float, default=600)
    args = parser.parse_args(argv)
    print(
        json.dumps(
            run(args.rounds, args.seconds, args.concurrency, args.serial_seconds, args.soak_seconds),
            indent=2,
            default=str,
        )
    )


if __name__ == "__main__":
    main()
