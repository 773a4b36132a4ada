"""Bench 5: timer figures (issue 4).

- Firing latency on an idle system, both modes: the embedded sweeper (SQLite, a thread of the
  process, as in `fengqiao serve`) and Redis (PostgreSQL, a separate `fengqiao worker`'s sweeper). Cases
  of a small model wait on a 2-second intermediate timer; the bench records when the engine says it
  fired (`timers.fired_at`) and when a poller first saw it fired, against the due time.
- Backlog: 100,000 pending timers in PostgreSQL, 10,000 of them due at once (generated dispute cases
  whose department reminders and SLA warnings fell due): time for two sweeper processes to fire them
  all; the cost of a sweep that finds nothing due among the 90,000 others, and its EXPLAIN.
- Cost per fired timer at 1k and at 100k instances in the database (in-process sweeps).
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from datetime import UTC, datetime, timedelta

import psycopg

from . import common, generate
from .common import percentile, summary

LATENCY_MODEL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
  id="defs_bench_timer" targetNamespace="https://fengqiao.example/bench">
<bpmn:process id="bench_timer" name="Bench timer" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait"><bpmn:timerEventDefinition>
    <bpmn:timeDuration xsi:type="bpmn:tFormalExpression">PT{seconds}S</bpmn:timeDuration>
  </bpmn:timerEventDefinition></bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>
</bpmn:definitions>
"""


# --- firing latency ------------------------------------------------------------------------------
def _latency(engine, officer, cases: int, spacing: float, delay: int, timeout: float) -> dict:
    engine.repository.deploy([("bench_timer.bpmn", LATENCY_MODEL.replace("{seconds}", str(delay)))])
    from sqlalchemy import select

    from engine.store.models import Timer

    seen: dict[int, datetime] = {}
    done = threading.Event()

    def poll():
        while not done.is_set():
            with engine.db.read() as session:
                now = datetime.now(UTC)
                for timer_id in session.scalars(
                    select(Timer.id).where(Timer.kind == "bpmn_timer", Timer.status == "fired")
                ):
                    seen.setdefault(timer_id, now)
            time.sleep(0.02)

    poller = threading.Thread(target=poll, daemon=True)
    poller.start()
    for _ in range(cases):
        engine.runtime.start_instance("bench_timer", officer, {})
        time.sleep(spacing)
    deadline = time.monotonic() + delay + timeout
    while time.monotonic() < deadline:
        with engine.db.read() as session:
            pending = session.scalars(
                select(Timer.id).where(Timer.kind == "bpmn_timer", Timer.status == "pending")
            ).all()
        if not pending:
            break
        time.sleep(0.2)
    time.sleep(0.1)
    done.set()
    poller.join(2)
    with engine.db.read() as session:
        rows = session.execute(
            select(Timer.id, Timer.due_at, Timer.fired_at, Timer.status).where(Timer.kind == "bpmn_timer")
        ).all()
    recorded = [(f - d).total_seconds() * 1000 for _, d, f, s in rows if s == "fired"]
    observed = [(seen[i] - d).total_seconds() * 1000 for i, d, _f, s in rows if s == "fired" and i in seen]
    return {"timers": len(rows), "fired": len(recorded), "recorded_ms": _pcts(recorded), "observed_ms": _pcts(observed)}


def _pcts(values: list[float]) -> dict:
    return {
        "p50": percentile(values, 50),
        "p99": percentile(values, 99),
        "max": max(values) if values else None,
        "n": len(values),
    }


def latency_embedded(cases: int, spacing: float, delay: int = 2, timeout: float = 30) -> dict:
    """Cases started `spacing` s apart, each waiting `delay` s, fired by the sweeper thread."""
    with common.workdir() as tmp:
        engine = common.make_engine(f"sqlite:///{tmp / 'timers.db'}", tmp / "instance")
        names = common.build_world(engine, officers_per_station=1, liaisons=1)
        officer = engine.identity.actor(names["officer"][0])
        engine.jobs.start()  # the sweeper thread, as `fengqiao serve` starts it
        try:
            out = _latency(engine, officer, cases, spacing, delay, timeout)
        finally:
            engine.close()
    out["mode"] = (
        f"embedded: SQLite, sweeper thread in the process (interval {engine.settings.sweep_interval_seconds} s)"
    )
    return out


def latency_redis(
    cases: int, spacing: float, delay: int = 2, timeout: float = 30, database: str = common.PG_DATABASE + "_timers"
) -> dict:
    from redis import Redis

    Redis.from_url(common.REDIS_URL).flushdb()
    with common.workdir() as tmp:
        url = common.fresh_pg(database)
        engine = common.make_engine(url, tmp / "instance", redis_url=common.REDIS_URL)
        names = common.build_world(engine, officers_per_station=1, liaisons=1)
        officer = engine.identity.actor(names["officer"][0])
        env = common.env_for(url, tmp / "instance", common.REDIS_URL)
        worker = subprocess.Popen(
            [sys.executable, "-m", "cli.main", "worker"],
            cwd=common.ROOT,
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            time.sleep(3)  # the worker is up and idle before the first timer is created
            out = _latency(engine, officer, cases, spacing, delay, timeout)
        finally:
            worker.terminate()
            worker.wait(15)
            engine.close()
            common.drop_pg(database)
            Redis.from_url(common.REDIS_URL).flushdb()
    out["mode"] = (
        "Redis: PostgreSQL, one `fengqiao worker` (its sweeper fires timers, no RQ job per timer; "
        f"interval {engine.settings.sweep_interval_seconds} s)"
    )
    return out


# --- backlog -------------------------------------------------------------------------------------
def _due_shift(rnd):
    """Department reminders and SLA warnings (54 h) due 3-15 h ago; overdue and breach (72 h) not yet."""
    base = datetime.now(UTC) - generate.TEMPLATE_T0
    return lambda _stage: base - timedelta(hours=63) + timedelta(seconds=rnd.randint(-6 * 3600, 6 * 3600))


def _future_shift(rnd):
    base = datetime.now(UTC) - generate.TEMPLATE_T0
    return lambda _stage: base - timedelta(seconds=rnd.randint(0, 48 * 3600))


def settle_due(dsn: str) -> int:
    """Background cases: mark timers that fell due before the bench as fired (a sweeper did, back then)."""
    with psycopg.connect(dsn.replace("postgresql+psycopg://", "postgresql://"), autocommit=True) as conn:
        return conn.execute(
            "UPDATE timers SET status = 'fired', fired_at = due_at WHERE status = 'pending' AND due_at <= now()"
        ).rowcount


def _count(dsn: str, where: str) -> int:
    with psycopg.connect(dsn.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return conn.execute(f"SELECT count(*) FROM timers WHERE {where}").fetchone()[0]


def backlog(
    due_cases: int = 2500,
    future_cases: int = 10000,
    sweepers: int = 2,
    timeout: float = 300,
    database: str = common.PG_DATABASE + "_backlog",
    officers_per_station: int = 4,
) -> dict:
    import random

    rnd = random.Random(11)
    out: dict = {"sweepers": sweepers}
    with common.workdir() as tmp:
        engine, _names, gen = generate.prepare(
            database, tmp, stages=("departments",), officers_per_station=officers_per_station
        )
        url = engine.settings.database_url
        try:
            settle_due(url)
            gen.generate(due_cases, mix={"departments": 1}, shift=_due_shift(rnd))
            gen.generate(future_cases, mix={"departments": 1}, shift=_future_shift(rnd))
            generate.analyze(url)
            out["pending"] = _count(url, "status = 'pending'")
            out["due"] = _count(url, "status = 'pending' AND due_at <= now()")
            out["due_by_kind"] = _kinds(url)
            from engine import Clock

            engine.clock = Clock()
            out["explain_claim"] = _explain_claim(url)
            env = common.env_for(url, tmp / "instance", FENGQIAO_SWEEP_INTERVAL="0.1")
            started = time.monotonic()
            procs = [
                subprocess.Popen(
                    [sys.executable, "-m", "cli.main", "worker"],
                    cwd=common.ROOT,
                    env=env,
                    stdout=subprocess.DEVNULL,
                    stderr=subprocess.PIPE,
                    text=True,
                )
                for _ in range(sweepers)
            ]
            cutoff = datetime.now(UTC)
            try:
                while time.monotonic() - started < timeout:
                    left = _count(url, f"status = 'pending' AND due_at <= '{cutoff.isoformat()}'")
                    if left == 0:
                        break
                    time.sleep(0.25)
                out["seconds_from_launch"] = time.monotonic() - started
                out["left_unfired"] = left
            finally:
                for p in procs:
                    p.terminate()
                for p in procs:
                    p.wait(15)
            with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
                first, last, fired, incidents = conn.execute(
                    "SELECT min(fired_at), max(fired_at), count(*) FILTER (WHERE status = 'fired'), "
                    "count(*) FILTER (WHERE status = 'incident') FROM timers WHERE due_at <= %s "
                    "AND fired_at >= %s",
                    (cutoff, cutoff - timedelta(seconds=5)),
                ).fetchone()
            out["fired"] = fired
            out["incidents"] = incidents
            out["seconds_first_to_last_fire"] = (last - first).total_seconds() if first and last else None
            out["not_yet_due_pending"] = _count(url, "status = 'pending'")
            sweeps = []
            for _ in range(100):
                t0 = time.perf_counter()
                claimed = claim_due(engine, engine.settings.sweep_batch)
                sweeps.append((time.perf_counter() - t0) * 1000)
                assert not claimed, "a timer fell due during the idle-sweep measurement"
            out["idle_sweep_ms"] = _pcts(sweeps)
        finally:
            engine.close()
            common.drop_pg(database)
    return out


def _kinds(url: str) -> dict:
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        return dict(
            conn.execute(
                "SELECT kind, count(*) FROM timers WHERE status = 'pending' AND due_at <= now() GROUP BY kind"
            ).fetchall()
        )


def claim_due(engine, limit: int) -> list[int]:
    """Lease up to `limit` due timers as the sweeper does, without firing them (the idle sweep's cost)."""
    return [timer_id for timer_id, _instance, _kind in engine.timers._claim(limit)]


def _explain_claim(url: str) -> str:
    """The sweeper's claim query (`claim_due`) as PostgreSQL plans and runs it."""
    sql = (
        "EXPLAIN (ANALYZE, TIMING OFF) SELECT id FROM timers WHERE status = 'pending' AND due_at < now() "
        "AND (locked_until IS NULL OR locked_until < now()) ORDER BY due_at LIMIT 200 FOR UPDATE SKIP LOCKED"
    )
    with psycopg.connect(url.replace("postgresql+psycopg://", "postgresql://")) as conn:
        text = "\n".join(r[0] for r in conn.execute(sql))
        conn.rollback()
    return text


# --- cost per fired timer at 1k and 100k instances --------------------------------------------------
def cost_per_timer(
    small: int = 1000,
    large: int = 100_000,
    rounds: int = 3,
    due_per_round: int = 100,
    database: str = common.PG_DATABASE + "_timercost",
    officers_per_station: int = 4,
) -> dict:
    import random

    rnd = random.Random(5)
    out: dict = {"small": small, "large": large, "rounds": rounds, "due_cases_per_round": due_per_round}
    with common.workdir() as tmp:
        engine, _names, gen = generate.prepare(database, tmp, officers_per_station=officers_per_station)
        from engine import Clock

        engine.clock = Clock()
        url = engine.settings.database_url
        try:
            for label, size in (("at_small", small), ("at_large", large)):
                have = generate.table_counts(url)["process_instances"]
                if size > have:
                    dropped = generate.drop_secondary_indexes(url) if size - have > 20000 else []
                    gen.generate(size - have)
                    if dropped:
                        generate.restore_indexes(url, dropped)
                settle_due(url)
                generate.analyze(url)
                per = []
                for _ in range(rounds):
                    gen.generate(due_per_round, mix={"departments": 1}, shift=_due_shift(rnd))
                    t0 = time.perf_counter()
                    fired = engine.timers.fire_all_due()
                    seconds = time.perf_counter() - t0
                    handled = max(fired, 1)
                    per.append(seconds * 1000 / handled)
                out[label] = {
                    "ms_per_fired": summary(per),
                    "raw": per,
                    "instances": generate.table_counts(url)["process_instances"],
                }
            out["ratio_large_vs_small"] = summary(
                [b / a for a, b in zip(out["at_small"]["raw"], out["at_large"]["raw"], strict=True)]
            )
        finally:
            engine.close()
            common.drop_pg(database)
    return out


def run(
    latency_cases: int = 100,
    spacing: float = 0.05,
    latency_delay: int = 2,
    backlog_due_cases: int = 2500,
    backlog_future_cases: int = 10000,
    cost_small: int = 1000,
    cost_large: int = 100_000,
    cost_rounds: int = 3,
    cost_due_per_round: int = 100,
    officers_per_station: int = 4,
) -> dict:
    return {
        "bench": "timers",
        "latency_embedded": latency_embedded(latency_cases, spacing, latency_delay),
        "latency_redis": latency_redis(latency_cases, spacing, latency_delay),
        "backlog": backlog(backlog_due_cases, backlog_future_cases, officers_per_station=officers_per_station),
        "cost_per_timer": cost_per_timer(
            cost_small, cost_large, cost_rounds, cost_due_per_round, officers_per_station=officers_per_station
        ),
    }


def main(argv=None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="timer figures")
    parser.add_argument("part", choices=["all", "latency", "backlog", "cost"], default="all", nargs="?")
    parser.add_argument("--small", action="store_true", help="tiny sizes")
    args = parser.parse_args(argv)
    if args.part == "latency":
        result = {
            "embedded": latency_embedded(20 if args.small else 100, 0.05),
            "redis": latency_redis(20 if args.small else 100, 0.05),
        }
    elif args.part == "backlog":
        result = backlog(25, 100) if args.small else backlog()
    elif args.part == "cost":
        result = cost_per_timer(100, 1000, 2, 10) if args.small else cost_per_timer()
    else:
        result = run()
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
