"""A separate OS process that races to claim or complete a task (used by test_concurrency.py).

Usage: python -m tests.race_worker DATABASE_URL INSTANCE_PATH claim|complete TASK_ID USERNAME START_AT
Prints one line: 'won', or the engine error code.
"""

from __future__ import annotations

import sys
import time

from engine import Engine, EngineError, Settings


def main() -> None:
    url, instance_path, action, task_id, username, start_at = sys.argv[1:7]
    engine = Engine(Settings.from_env({"FENGQIAO_DATABASE_URL": url, "FENGQIAO_INSTANCE_PATH": instance_path}))
    actor = engine.identity.actor(username)
    engine.repository.list_definitions()  # connect and warm up before the start line
    time.sleep(max(0.0, float(start_at) - time.time()))
    try:
        if action == "claim":
            engine.tasks.claim(task_id, actor)
        else:
            engine.tasks.complete(task_id, actor, {"resolution": "on_spot"})
        print("won", flush=True)
    except EngineError as exc:
        print(exc.code, flush=True)


if __name__ == "__main__":
    main()
