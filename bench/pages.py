"""Bench: server time of the workbench pages (the inbox and a task page) on SQLite at scale.

The database: `seed` cases driven through the real engine over 10 stations in the generator's mix of
stages (bench/generate.py STAGES: 30% open at some stage, 70% closed), then doubled in SQL until it
holds at least `cases` cases. A clone copies a case's rows (instance, tasks, queue entries, audit
trail) with every id changed in one hex digit per doubling and its business key suffixed; the
workflow blobs are copied as they are (pages never open them) and personal records are not (their
ciphertexts are bound to their case), so task pages are measured on the seeded cases, which have
both, inside the full-size database.

Server time is the time of one request through the WSGI app (Flask's test client: routing,
session cookie, CSRF token, engine reads, template rendering), without a network or an HTTP server.
For comparison, the same officers' two inbox queries through the API (`GET /api/v1/tasks` with the
inbox's parameters, two requests): the engine's share of the inbox page.

    python -m bench.pages --cases 100000 [--reps 200] [--path /tmp/fengqiao-bench-pages]
"""

from __future__ import annotations

import argparse
import json
import math
import random
import re
import sqlite3
import sys
import time
from pathlib import Path

from engine import Engine, ManualClock, Settings
from engine.identity import Actor

from . import common
from .common import ASSESS_ESCALATE, ASSESS_ON_SPOT, DEPARTMENT_RESULT, FEEDBACK, ON_SPOT, REPORT, percentile

STATIONS = 10
OFFICERS_PER_STATION = 3
# stage -> (steps after the report, share of the seed); the generator's mix
MIX = {
    "reported": 0.06,
    "assessing": 0.04,
    "on_spot": 0.05,
    "departments": 0.10,
    "feedback": 0.05,
    "closed_on_spot": 0.42,
    "closed_escalated": 0.28,
}
# tables cloned per case and their id columns (each changed the same way, so the rows stay joined)
CLONED = {
    "process_instances": ("id",),
    "human_tasks": ("id", "instance_id"),
    "task_candidates": ("task_id",),
    "audit_log": ("instance_id", "task_id"),
}
BUSINESS_KEY_TABLES = ("process_instances", "human_tasks")
CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


def settings_for(path: Path) -> Settings:
    return Settings.from_env(
        {
            "FENGQIAO_DATABASE_URL": f"sqlite:///{path / 'fengqiao.db'}",
            "FENGQIAO_INSTANCE_PATH": str(path),
            "FENGQIAO_DATA_KEY": common.BENCH_DATA_KEY,
            "FENGQIAO_SECRET_KEY": "bench-pages",
            **common.CHEAP_HASHES,
        }
    )


def build_world(engine: Engine) -> dict[str, list[str]]:
    engine.identity.create_department("civil_affairs", "民政局", "agency")
    engine.identity.create_department("health", "卫健委", "agency")
    officers = []
    for s in range(STATIONS):
        engine.identity.create_department(f"station_{s}", f"派出所 {s}", "station")
        for o in range(OFFICERS_PER_STATION):
            name = f"officer_{s}_{o}"
            engine.identity.create_user(name, "officer", common.PASSWORD, [f"station_{s}"])
            officers.append(name)
    engine.identity.create_user("liaison_civil", "liaison", common.PASSWORD, ["civil_affairs"])
    engine.identity.create_user("liaison_health", "liaison", common.PASSWORD, ["health"])
    return {"officer": officers, "liaison": ["liaison_civil", "liaison_health"]}


def seed_cases(engine: Engine, names: dict[str, list[str]], count: int, rnd: random.Random) -> None:
    """`count` cases through the engine, each left at a stage drawn from MIX."""
    actor = engine.identity.actor
    civil, health = actor("liaison_civil"), actor("liaison_health")
    stages = rnd.choices(list(MIX), weights=list(MIX.values()), k=count)
    for i, stage in enumerate(stages):
        station = i % STATIONS
        officer = actor(f"officer_{station}_{rnd.randrange(OFFICERS_PER_STATION)}")
        case = engine.runtime.start_instance("dispute_resolution", officer, dict(REPORT))

        def do(element_id: str, who: Actor, data: dict | None = None, claim_only: bool = False, case=case) -> None:
            task = next(
                t
                for t in engine.runtime.get_instance(case["id"], history=False)["open_tasks"]
                if t["element_id"] == element_id
            )
            if claim_only:
                engine.tasks.claim(task["id"], who)
            else:
                engine.tasks.complete(task["id"], who, data)

        if stage == "reported":
            continue
        if stage == "assessing":
            do("assess_case", officer, claim_only=True)
            continue
        escalated = stage in ("departments", "feedback", "closed_escalated")
        do("assess_case", officer, ASSESS_ESCALATE if escalated else ASSESS_ON_SPOT)
        if stage == "departments":
            if rnd.random() < 0.5:
                do("handle_civil_affairs", civil, claim_only=True)
            continue
        if escalated:
            do("handle_civil_affairs", civil, DEPARTMENT_RESULT)
            do("handle_health", health, DEPARTMENT_RESULT)
        else:
            do("handle_on_spot", officer, ON_SPOT)
            if stage == "on_spot":
                continue
        if stage == "feedback":
            continue
        do("feedback_to_resident", officer, FEEDBACK)


def _flip(column: str, position: int) -> str:
    """SQL: `column` with its hex digit at `position` (1-based) changed (xor 8): a new, valid uuid."""
    return (
        f"CASE WHEN {column} IS NULL THEN NULL ELSE substr({column}, 1, {position - 1}) || "
        f"substr('89abcdef01234567', instr('0123456789abcdef', substr({column}, {position}, 1)), 1) || "
        f"substr({column}, {position + 1}) END"
    )


def double(db: Path, rounds: int) -> None:
    """Clone every case `rounds` times over (x 2**rounds), in SQL."""
    conn = sqlite3.connect(db)
    try:
        for r in range(rounds):
            position = 25 + r  # a digit of the uuid's last group, one per doubling
            for table, ids in CLONED.items():
                columns = [row[1] for row in conn.execute(f"PRAGMA table_info({table})")]
                if table == "audit_log":
                    columns.remove("id")  # autoincrement
                chosen = []
                for column in columns:
                    if column in ids:
                        chosen.append(_flip(column, position))
                    elif column == "business_key" and table in BUSINESS_KEY_TABLES:
                        chosen.append(f"business_key || '-{r}'")
                    else:
                        chosen.append(column)
                where = " WHERE instance_id IS NOT NULL" if table == "audit_log" else ""
                conn.execute(
                    f"INSERT INTO {table} ({', '.join(columns)}) SELECT {', '.join(chosen)} FROM {table}{where}"
                )
            conn.commit()
        conn.execute("ANALYZE")
        conn.commit()
    finally:
        conn.close()


def prepare(path: Path, cases: int, seed_count: int) -> dict:
    """Build the database (or reuse one of the same size); returns what it holds."""
    marker = path / "built.json"
    if marker.exists():
        built = json.loads(marker.read_text())
        if built["cases"] >= cases and built["seed"] == seed_count:
            return built
    path.mkdir(parents=True, exist_ok=True)
    for old in path.glob("fengqiao.db*"):
        old.unlink()
    engine = Engine(settings_for(path), ManualClock())
    started = time.perf_counter()
    try:
        engine.migrate()
        engine.deploy_bundled()
        names = build_world(engine)
        seed_cases(engine, names, seed_count, random.Random(7))
    finally:
        engine.close()
    seeded = time.perf_counter() - started
    rounds = max(0, math.ceil(math.log2(max(cases, seed_count) / seed_count)))
    started = time.perf_counter()
    double(path / "fengqiao.db", rounds)
    conn = sqlite3.connect(path / "fengqiao.db")
    counts = {t: conn.execute(f"SELECT count(*) FROM {t}").fetchone()[0] for t in CLONED}
    conn.close()
    built = {
        "cases": counts["process_instances"],
        "seed": seed_count,
        "doublings": rounds,
        "rows": counts,
        "seed_seconds": round(seeded, 1),
        "double_seconds": round(time.perf_counter() - started, 1),
    }
    marker.write_text(json.dumps(built))
    return built


def login(client, username: str) -> None:
    token = CSRF.search(client.get("/login").get_data(as_text=True)).group(1)
    response = client.post("/login", data={"username": username, "password": common.PASSWORD, "csrf_token": token})
    assert response.status_code == 302, response.status_code


def timed(client, path: str) -> float:
    started = time.perf_counter()
    response = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    assert response.status_code == 200, (path, response.status_code)
    return elapsed


def measure(path: Path, reps: int) -> dict:
    from web import create_app
    from web.pages.home import INBOX_LISTS

    engine = Engine(settings_for(path), ManualClock())
    try:
        app = create_app(engine)
        rnd = random.Random(11)
        clients = {}
        for s in range(STATIONS):
            for o in range(OFFICERS_PER_STATION):
                name = f"officer_{s}_{o}"
                clients[name] = app.test_client()
                login(clients[name], name)
        # open officer tasks of seeded cases (the ones with personal records), with who may open them
        with engine.db.read() as session:
            from sqlalchemy import text

            rows = session.execute(
                text(
                    "SELECT h.id, h.station_id FROM human_tasks h WHERE h.state IN ('open', 'claimed') "
                    "AND h.element_id IN ('assess_case', 'handle_on_spot', 'feedback_to_resident') "
                    "AND h.business_key NOT LIKE '%-_'"
                )
            ).all()
            stations = dict(session.execute(text("SELECT id, key FROM departments")).all())
        tasks = [(task_id, stations[station_id]) for task_id, station_id in rows]
        officers = list(clients)
        for name in officers[:5]:  # warm up: templates compiled, statements cached
            timed(clients[name], "/")
        inbox = [timed(clients[rnd.choice(officers)], "/") for _ in range(reps)]
        task_page = []
        for _ in range(reps):
            task_id, station = rnd.choice(tasks)
            officer = f"officer_{station.split('_')[1]}_{rnd.randrange(OFFICERS_PER_STATION)}"
            task_page.append(timed(clients[officer], f"/tasks/{task_id}"))
        # the API's answer to the inbox's two queries, for the same officers: what the page adds to it
        api_clients = {}
        for name in officers:
            token = engine.tokens.login(name, common.PASSWORD)["token"]
            api_clients[name] = (app.test_client(), {"Authorization": f"Bearer {token}"})

        def api_inbox(name: str) -> float:
            client, headers = api_clients[name]
            started = time.perf_counter()
            for query in INBOX_LISTS.values():
                response = client.get("/api/v1/tasks", query_string=query, headers=headers)
                assert response.status_code == 200, response.status_code
            return (time.perf_counter() - started) * 1000

        api_inbox(officers[0])
        api = [api_inbox(rnd.choice(officers)) for _ in range(reps)]
        per_list = engine.tasks.query(engine.identity.actor(officers[0]), candidate="me", state="open", limit=200)
        return {
            "inbox_p50_ms": round(percentile(inbox, 50), 2),
            "inbox_p99_ms": round(percentile(inbox, 99), 2),
            "api_inbox_queries_p50_ms": round(percentile(api, 50), 2),
            "task_page_p50_ms": round(percentile(task_page, 50), 2),
            "task_page_p99_ms": round(percentile(task_page, 99), 2),
            "requests": reps,
            "claimable_in_one_officer_queue": len(per_list["items"]) if per_list["next_cursor"] is None else "200+",
        }
    finally:
        engine.close()


def run(cases: int = 100_000, seed: int = 800, reps: int = 200, path: str = "/tmp/fengqiao-bench-pages") -> dict:
    where = Path(path)
    built = prepare(where, cases, min(seed, cases))
    return {"database": built, **measure(where, reps), "python_loop_ms": common.python_loop_ms(3)}


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--seed", type=int, default=800, help="cases driven through the engine before doubling")
    parser.add_argument("--reps", type=int, default=200)
    parser.add_argument("--path", default="/tmp/fengqiao-bench-pages")
    args = parser.parse_args(argv)
    json.dump(run(args.cases, args.seed, args.reps, args.path), sys.stdout, indent=2)
    print()


if __name__ == "__main__":
    main()
