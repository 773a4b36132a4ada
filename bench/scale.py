"""Bench 3: flat cost at scale, on PostgreSQL.

The same measurements at a small and at a large database (default 1,000 and 1,000,000 generated
cases, bench/generate.py): completion latency of generated open tasks through the engine (claim +
complete in one unit of work), and the inbox queries: my tasks, a group queue sorted by due time,
an officer's claimable queue, breached tasks. Each figure is a median of several rounds of
per-call percentiles; the large/small ratio is computed round by round.
"""

from __future__ import annotations

import random
import sys
import time

from sqlalchemy import text

from . import common, generate
from .common import ASSESS_ESCALATE, DEPARTMENT_RESULT, FEEDBACK, ON_SPOT, percentile, summary

DATA = {
    "assess_case": ASSESS_ESCALATE,
    "handle_on_spot": ON_SPOT,
    "handle_civil_affairs": DEPARTMENT_RESULT,
    "handle_health": DEPARTMENT_RESULT,
    "feedback_to_resident": FEEDBACK,
}


def _open_tasks(engine, limit: int, seed: int) -> list[tuple[str, str, str | None, int | None]]:
    """Random open tasks of generated cases: (task id, element id, assignee username, station id)."""
    sql = (
        "SELECT h.id, h.element_id, u.username, h.station_id FROM human_tasks h "
        "LEFT JOIN users u ON u.id = h.assignee_id WHERE h.state IN ('open', 'claimed') "
        "AND h.business_key LIKE 'GEN-%' AND h.id >= :start ORDER BY h.id LIMIT :limit"
    )
    with engine.db.read() as session:
        rows = session.execute(text(sql), {"start": f"{random.Random(seed).randrange(16):x}", "limit": limit}).all()
        if len(rows) < limit:  # wrap around
            rows += session.execute(text(sql), {"start": "0", "limit": limit - len(rows)}).all()
    return list(dict.fromkeys(tuple(r) for r in rows))


def completions(engine, names, count: int, seed: int) -> list[float]:
    """Latency (ms) of completing `count` generated open tasks, each as a user who may."""
    rnd = random.Random(seed)
    by_role = common.actors(engine, names)
    officers_at: dict = {}
    for officer in by_role["officer"]:
        officers_at.setdefault(officer.station_id, []).append(officer)
    samples = []
    for task_id, element_id, assignee, station_id in _open_tasks(engine, count, seed):
        if assignee:
            who = engine.identity.actor(assignee)
        elif element_id == "handle_civil_affairs":
            who = rnd.choice(by_role["civil_affairs"])
        elif element_id == "handle_health":
            who = rnd.choice(by_role["health"])
        elif station_id in officers_at:
            who = rnd.choice(officers_at[station_id])  # the first officer to take it becomes the owner
        else:
            continue
        t0 = time.perf_counter()
        engine.tasks.complete(task_id, who, DATA[element_id])
        samples.append((time.perf_counter() - t0) * 1000)
    return samples


def inbox_queries(engine, names, reps: int, seed: int) -> dict[str, list[float]]:
    rnd = random.Random(seed)
    officers = [engine.identity.actor(n) for n in names["officer"]]
    liaisons = [engine.identity.actor(n) for n in names["civil_affairs"]]
    queries = {
        "my_tasks": lambda: engine.tasks.query(rnd.choice(officers), assignee="me", state="claimed", sort="due"),
        "group_queue_by_due": lambda: engine.tasks.query(group="civil_affairs", state="open", sort="due"),
        "my_claimable_queue": lambda: engine.tasks.query(rnd.choice(liaisons), candidate="me", sort="due"),
        "breached": lambda: engine.tasks.query(sla_state="breached", sort="due"),
        "breached_in_group": lambda: engine.tasks.query(group="health", sla_state="breached", sort="due"),
    }
    out: dict[str, list[float]] = {name: [] for name in queries}
    for _ in range(reps):
        for name, query in queries.items():
            t0 = time.perf_counter()
            query()
            out[name].append((time.perf_counter() - t0) * 1000)
    return out


def measure(engine, names, rounds: int, completions_per_round: int, query_reps: int) -> dict:
    rounds_out = []
    for r in range(rounds):
        done = completions(engine, names, completions_per_round, seed=r)
        queries = inbox_queries(engine, names, query_reps, seed=r)
        rounds_out.append(
            {
                "complete_p50": percentile(done, 50),
                "complete_p99": percentile(done, 99),
                "completions": len(done),
                **{f"{q}_p50": percentile(v, 50) for q, v in queries.items()},
                **{f"{q}_p99": percentile(v, 99) for q, v in queries.items()},
            }
        )
    return {"rounds": rounds_out, **{k: summary([x[k] for x in rounds_out]) for k in rounds_out[0]}}


def explain(engine, sql: str) -> str:
    with engine.db.read() as session:  # on the engine's own connections (their settings apply)
        return "\n".join(r[0] for r in session.execute(text("EXPLAIN (ANALYZE, BUFFERS OFF, TIMING OFF) " + sql)))


def run(
    small: int = 1000,
    large: int = 1_000_000,
    rounds: int = 3,
    completions_per_round: int = 100,
    query_reps: int = 50,
    database: str = common.PG_DATABASE + "_scale",
    keep: bool = False,
    officers_per_station: int = 4,
) -> dict:
    result = {"bench": "scale", "backend": "postgresql", "small": small, "large": large, "rounds": rounds}
    with common.workdir() as tmp:
        engine, names, gen = generate.prepare(database, tmp, officers_per_station=officers_per_station)
        from engine import Clock
        from engine.workflow_cache import WorkflowCache

        engine.clock = Clock()  # measurements run on the wall clock
        # every completion loads its case from the database at both sizes: the figure is how the
        # database scales, not how often the small database's cases are still in the workflow cache
        engine.workflows = WorkflowCache(0)
        url = engine.settings.database_url
        try:
            gen_small = gen.generate(small)
            generate.analyze(url)
            result["generate_small"] = gen_small
            result["at_small"] = measure(engine, names, rounds, completions_per_round, query_reps)
            dropped = generate.drop_secondary_indexes(url)
            gen_large = gen.generate(
                large - small,
                progress=lambda d, s: (
                    print(f"  generated {d} cases in {s:.0f} s", file=sys.stderr, flush=True)
                    if d % 100000 == 0
                    else None
                ),
            )
            gen_large["index_seconds"] = generate.restore_indexes(url, dropped)
            result["generate_large"] = gen_large
            result["counts_large"] = generate.table_counts(url)
            engine.repository._cache.clear()
            result["at_large"] = measure(engine, names, rounds, completions_per_round, query_reps)
            result["ratio_large_vs_small"] = {
                k: summary(
                    [
                        b[k] / a[k]
                        for a, b in zip(result["at_small"]["rounds"], result["at_large"]["rounds"], strict=True)
                        if a[k]
                    ]
                )
                for k in result["at_small"]["rounds"][0]
                if k != "completions"
            }
            now = "now()"
            result["explain"] = {
                "group_queue_by_due": explain(engine, _group_sql("civil_affairs")),
                "breached_in_group": explain(
                    engine,
                    _group_sql(
                        "health", "AND h.state IN ('open', 'claimed') AND h.due_at <= now() AND tc.due_at <= now()"
                    ),
                ),
                "my_tasks": explain(
                    engine,
                    "SELECT h.id FROM human_tasks h WHERE h.assignee_id = (SELECT min(id) "
                    "FROM users WHERE role = 'officer') AND h.state = 'claimed' "
                    "ORDER BY h.due_at, h.id LIMIT 51",
                ),
                "breached": explain(
                    engine,
                    "SELECT id FROM human_tasks WHERE state IN ('open', 'claimed') "
                    f"AND due_at <= {now} ORDER BY due_at, id LIMIT 51",
                ),
            }
        finally:
            engine.close()
            if not keep:
                common.drop_pg(database)
    return result


def _group_sql(group: str, extra: str = "") -> str:
    """What engine.tasks.query(group=..., state='open', sort='due') runs (without its user joins)."""
    return (
        "SELECT h.id FROM human_tasks h JOIN task_candidates tc ON tc.task_id = h.id AND "
        f"tc.group_key = '{group}' WHERE h.state = 'open' {extra} ORDER BY tc.due_at, tc.task_id LIMIT 51"
    )


def main(argv=None) -> None:
    import argparse
    import json

    parser = argparse.ArgumentParser(description="flat cost at scale (PostgreSQL)")
    parser.add_argument("--small", type=int, default=1000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    args = parser.parse_args(argv)
    print(json.dumps(run(args.small, args.large, args.rounds, keep=args.keep), indent=2, default=str))


if __name__ == "__main__":
    main()
