"""A separate OS process that races to claim or complete a task (used by test_concurrency.py).

Usage: python -m tests.race_worker DATABASE_URL INSTANCE_PATH claim|complete TASK_ID USERNAME
Prints 'ready' once connected, waits for a line on stdin (the start signal, given to all workers at
once), then prints one line: 'won' or the engine error code, and when the attempt started and ended
(time.time(), comparable across processes).
"""

from __future__ import annotations

import sys
import time

from engine import Engine, EngineError, Settings


def main() -> None:
    url, instance_path, action, task_id, username = sys.argv[1:6]
    engine = Engine(Settings.from_env({"FENGQIAO_DATABASE_URL": url, "FENGQIAO_INSTANCE_PATH": instance_path}))
    actor = engine.identity.actor(username)
    engine.repository.list_definitions()  # connect and warm up before the start line
    print("ready", flush=True)
    sys.stdin.readline()
    started = time.time()
    try:
        if action == "claim":
            engine.tasks.claim(task_id, actor)
        else:
            engine.tasks.complete(task_id, actor, {"resolution": "on_spot"})
        outcome = "won"
    except EngineError as exc:
        outcome = exc.code
    print(outcome, started, time.time(), flush=True)


if __name__ == "__main__":
    main()
