"""A separate OS process: an external-task worker racing others (used by test_external_task_races.py).

Usage: python -m tests.external_task_worker DATABASE_URL INSTANCE_PATH WORKER_ID TOPIC LOCK_MS
Prints 'ready' once connected, waits for a line on stdin (the start signal, given to all workers at
once), then fetches and completes tasks of TOPIC until none is left, and prints one JSON line: the
task ids it completed, how many completions it lost (lock expired and taken by another), and when
it started and ended (time.time(), comparable across processes).
"""

from __future__ import annotations

import json
import sys
import time

from engine import Engine, EngineError, Settings
from engine.identity import Actor


def main() -> None:
    url, instance_path, worker_id, topic, lock_ms = sys.argv[1:6]
    engine = Engine(Settings.from_env({"FENGQIAO_DATABASE_URL": url, "FENGQIAO_INSTANCE_PATH": instance_path}))
    actor = Actor.system(worker_id, department="civil_affairs", topics=frozenset({topic}))
    engine.repository.list_definitions()  # connect and warm up before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    started, completed, lost = time.time(), [], 0
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline:
        tasks = engine.external_tasks.fetch_and_lock(
            actor, worker_id, 2, [{"topicName": topic, "lockDuration": int(lock_ms)}]
        )
        if not tasks:
            if not engine.external_tasks.list(topic=topic, limit=1):
                break  # every task is done
            time.sleep(0.02)  # the rest are locked by others: look again when their locks may have expired
            continue
        for task in tasks:
            try:
                engine.external_tasks.complete(task["id"], actor, worker_id, {"by": {"value": worker_id}})
                completed.append(task["id"])
            except EngineError as exc:
                if exc.code not in ("external_task_not_locked", "external_task_not_found"):
                    raise
                lost += 1
    print(json.dumps({"completed": completed, "lost": lost, "span": [started, time.time()]}), flush=True)
    engine.close()


if __name__ == "__main__":
    main()
