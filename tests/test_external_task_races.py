"""20 worker processes race for 100 external tasks with short locks (that expire under load, so
workers also race to complete the same task): each task is completed exactly once, and each case
moves on exactly once."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from engine.store.models import AuditEntry, HumanTask
from tests import models

ROOT = Path(__file__).resolve().parent.parent
TOPIC = "civil.records"
WORKERS, TASKS = 20, 100
LOCK_MS = 3000  # locks can still expire while 20 processes share two cores: the holders then race to complete


def test_twenty_workers_complete_a_hundred_tasks_each_exactly_once(engine, world, settings):
    engine.repository.deploy([("records.bpmn", models.external_task())])
    cases = [engine.runtime.start_instance("records_check", world["wang"], {"n": n}) for n in range(TASKS)]
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.external_task_worker",
                settings.database_url,
                str(settings.instance_path),
                f"worker-{n}",
                TOPIC,
                str(LOCK_MS),
            ],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for n in range(WORKERS)
    ]
    for proc in procs:  # a barrier across processes: all connected and warm, then one word starts them
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    results = []
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err[-3000:]
        results.append(json.loads(out.strip().splitlines()[-1]))
    completed = [task_id for result in results for task_id in result["completed"]]
    assert len(completed) == TASKS and len(set(completed)) == TASKS  # every task once, none twice
    assert sum(1 for result in results if result["completed"]) >= 2  # the work really was shared
    assert engine.external_tasks.list(topic=TOPIC) == []
    with engine.db.read() as scope:
        audited = scope.scalar(select(func.count()).where(AuditEntry.action == "external_task.completed"))
        reviews = scope.scalar(select(func.count()).where(HumanTask.element_id == "review"))
    assert audited == TASKS and reviews == TASKS
    for case in cases:
        variables = engine.runtime.get_instance(case["id"], history=False)["variables"]
        assert variables["by"].startswith("worker-")
