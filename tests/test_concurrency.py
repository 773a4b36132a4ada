"""Two officers click at once: exactly one wins, the rest get a conflict, one transition happens."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from sqlalchemy import func, select

from engine.errors import EngineError
from engine.store.models import AuditEntry
from tests.helpers import report_case, task_of

ROOT = Path(__file__).resolve().parent.parent


def audit_count(engine, instance_id, action) -> int:
    with engine.db.transaction() as session:
        return session.scalar(
            select(func.count())
            .select_from(AuditEntry)
            .where(AuditEntry.instance_id == instance_id, AuditEntry.action == action)
        )


def overlapping(spans: list[tuple[float, float]]) -> int:
    """The most attempts in flight at one moment (each a (started, ended) span)."""
    edges = sorted([(start, 1) for start, _ in spans] + [(end, -1) for _, end in spans])
    most = current = 0
    for _, step in edges:
        current += step
        most = max(most, current)
    return most


def race_in_threads(fn, n: int) -> list[str]:
    """Run `fn(i)` in `n` threads released together; every attempt must have run, and at least two
    at the same time (a race that did not race proves nothing)."""
    barrier = threading.Barrier(n)
    results: list[str] = []
    spans: list[tuple[float, float]] = []
    lock = threading.Lock()

    def run(i):
        barrier.wait()
        started = time.monotonic()
        try:
            fn(i)
            outcome = "won"
        except EngineError as exc:
            outcome = exc.code
        with lock:
            results.append(outcome)
            spans.append((started, time.monotonic()))

    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert len(results) == n, f"only {len(results)} of {n} attempts finished"
    assert overlapping(spans) >= 2, spans
    return sorted(results)


def test_claim_race_between_threads_has_exactly_one_winner(engine, world):
    case = report_case(engine, world["wang"])
    names = ["wang", "chen", "ma", "he", "xu", "gao", "lin", "song"]
    for name in names[2:]:
        engine.identity.create_user(name, "officer", "correct-horse-battery", ["xinqiao"])
    officers = [engine.identity.actor(name) for name in names]
    task_id = task_of(engine, case, "assess_case")["id"]
    results = race_in_threads(lambda i: engine.tasks.claim(task_id, officers[i]), len(officers))
    assert results.count("won") == 1, results
    assert set(results) - {"won"} <= {"task_already_claimed", "case_owned_by_another"}
    assert audit_count(engine, case["id"], "task.claimed") == 1
    assert audit_count(engine, case["id"], "case.owner_assigned") == 1


def test_complete_race_between_threads_transitions_once(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    task_id = task_of(engine, case, "assess_case")["id"]
    engine.tasks.claim(task_id, wang)
    results = race_in_threads(lambda i: engine.tasks.complete(task_id, wang, {"resolution": "on_spot"}), 6)
    assert results.count("won") == 1
    assert set(results) - {"won"} == {"task_not_open"}
    assert audit_count(engine, case["id"], "task.completed") == 1
    assert [t["element_id"] for t in engine.runtime.get_instance(case["id"])["open_tasks"]] == ["handle_on_spot"]


def test_claim_race_between_processes_has_exactly_one_winner(engine, world, settings):
    officers = ["wang", "chen", "ma", "he", "xu", "gao"]
    for name in officers[2:]:
        engine.identity.create_user(name, "officer", "correct-horse-battery", ["xinqiao"])
    case = report_case(engine, world["wang"])
    task_id = task_of(engine, case, "assess_case")["id"]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.race_worker",
                settings.database_url,
                str(settings.instance_path),
                "claim",
                task_id,
                name,
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for name in officers
    ]
    # a barrier across processes: each says when it is connected and warm, all start on one word
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    outputs, spans = [], []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        assert proc.returncode == 0, err
        outcome, started, ended = out.split()
        outputs.append(outcome)
        spans.append((float(started), float(ended)))
    assert overlapping(spans) >= 2, spans  # the attempts really raced
    assert sorted(outputs).count("won") == 1, outputs
    assert set(outputs) - {"won"} <= {"task_already_claimed", "case_owned_by_another"}
    assert audit_count(engine, case["id"], "task.claimed") == 1
    owner = engine.runtime.get_instance(case["id"])["case_owner"]
    assert outputs[officers.index(owner)] == "won"
