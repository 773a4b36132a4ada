"""Bench 6: external tasks (issue 18): fetch-and-lock + complete, external tasks per second over HTTP.

Cases of a small model (start -> external service task -> user task) wait at their external task;
worker threads, each with its own HTTP/1.1 connection and a topic-scoped token, fetch and lock up to
`batch` tasks and complete each, until none is left. Both servers: `fengqiao serve` on SQLite and
gunicorn on PostgreSQL. Figures: tasks/s over the whole drain, and fetch/complete latencies.

python -m bench.external_tasks [--tasks 2000 --workers 4 --rounds 3]   (prints JSON)
"""

from __future__ import annotations

import argparse
import http.client
import json
import threading
import time

from . import common
from .common import percentile, summary
from .loadgen import Client
from .servers import EmbeddedServer, GunicornServer

TOPIC = "bench.records"
MODEL = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
  xmlns:camunda="http://camunda.org/schema/1.0/bpmn" id="defs_bench_external"
  targetNamespace="https://fengqiao.example/bench">
<bpmn:process id="bench_external" name="Bench external task" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="check"/>
  <bpmn:serviceTask id="check" camunda:type="external" camunda:topic="{TOPIC}"/>
  <bpmn:sequenceFlow id="f2" sourceRef="check" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>
</bpmn:definitions>
"""


class TokenClient(Client):
    """A loadgen client that carries an API token instead of logging in."""

    def __init__(self, base: str, token: str):
        from urllib.parse import urlsplit

        url = urlsplit(base)
        self.host, self.port = url.hostname, url.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=60)
        self.token = token


def _seed(server, tasks: int) -> str:
    """Deploy the model, start `tasks` cases (each waits at its external task); a worker token."""
    engine = common.make_engine(server.url, server.instance, migrate=False)
    try:
        engine.repository.deploy([("bench_external.bpmn", MODEL)])
        officer = engine.identity.actor(server.users[0]["officer"])
        for n in range(tasks):
            engine.runtime.start_instance("bench_external", officer, {"n": n, "category": "neighbour"})
        token = engine.tokens.create_api_token("civil_affairs", "bench-worker", topics=[TOPIC])["token"]
    finally:
        engine.close()
    return token


def _drain(base: str, token: str, workers: int, batch: int) -> dict:
    fetch_ms: list[float] = []
    complete_ms: list[float] = []
    errors: list[str] = []
    done = [0]
    lock = threading.Lock()

    def work(index: int) -> None:
        client = TokenClient(base, token)
        worker_id = f"bench-{index}"
        body = {"workerId": worker_id, "maxTasks": batch, "topics": [{"topicName": TOPIC, "lockDuration": 60_000}]}
        while True:
            started = time.perf_counter()
            status, locked = client.call("POST", "/api/v1/external-tasks/fetch-and-lock", body)
            fetched = (time.perf_counter() - started) * 1000
            if status != 200:
                errors.append(f"fetch {status}")
                return
            if not locked:
                return
            times = []
            for task in locked:
                started = time.perf_counter()
                status, answer = client.call(
                    "POST",
                    f"/api/v1/external-tasks/{task['id']}/complete",
                    {"workerId": worker_id, "variables": {"checked": {"value": True}}},
                )
                times.append((time.perf_counter() - started) * 1000)
                if status != 204:
                    errors.append(f"complete {status} {answer}")
            with lock:
                fetch_ms.append(fetched)
                complete_ms.extend(times)
                done[0] += len(locked)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(workers)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    return {
        "tasks": done[0],
        "seconds": seconds,
        "tasks_per_second": done[0] / seconds if seconds else 0.0,
        "fetch_p50_ms": percentile(fetch_ms, 50),
        "fetch_p99_ms": percentile(fetch_ms, 99),
        "complete_p50_ms": percentile(complete_ms, 50),
        "complete_p99_ms": percentile(complete_ms, 99),
        "errors": len(errors),
        "first_errors": errors[:3],
    }


def _in_process(kind: str, tasks: int, batch: int) -> dict:
    """The engine alone (no HTTP), one thread: wall and CPU time of this process per task. The CPU
    figure holds on a busy machine; the wall one shares the cores with everyone else."""
    from engine.identity import Actor

    with common.workdir() as tmp:
        database = common.PG_DATABASE + "_external_engine"
        url = f"sqlite:///{tmp / 'engine.db'}" if kind == "sqlite" else common.fresh_pg(database)
        engine = common.make_engine(url, tmp / "instance")
        try:
            names = common.build_world(engine, officers_per_station=1, liaisons=1)
            engine.repository.deploy([("bench_external.bpmn", MODEL)])
            officer = engine.identity.actor(names["officer"][0])
            for n in range(tasks):
                engine.runtime.start_instance("bench_external", officer, {"n": n, "category": "neighbour"})
            worker = Actor.system("bench-worker", department="civil_affairs", topics=frozenset({TOPIC}))
            topics = [{"topicName": TOPIC, "lockDuration": 60_000}]
            done, wall, cpu = 0, time.perf_counter(), time.process_time()
            while locked := engine.external_tasks.fetch_and_lock(worker, "bench", batch, topics):
                for task in locked:
                    engine.external_tasks.complete(task["id"], worker, "bench", {"checked": {"value": True}})
                    done += 1
            wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        finally:
            engine.close()
            if kind != "sqlite":
                common.drop_pg(database)
    return {"tasks": done, "tasks_per_second": done / wall, "cpu_ms_per_task": cpu * 1000 / done}


def _server(kind: str, tmp, gunicorn_workers: int, gunicorn_threads: int):
    if kind == "sqlite":
        server = EmbeddedServer(tmp)
        server.url, server.instance = f"sqlite:///{tmp / 'serve.db'}", tmp / "instance"
        return server
    server = GunicornServer(
        tmp, workers=gunicorn_workers, threads=gunicorn_threads, database=common.PG_DATABASE + "_external"
    )
    server.instance = tmp / "instance"
    return server


def run(
    tasks: int = 2000,
    workers: int = 4,
    batch: int = 10,
    rounds: int = 3,
    kinds: tuple[str, ...] = ("sqlite", "postgresql"),
    gunicorn_workers: int = 2,
    gunicorn_threads: int = 4,
) -> dict:
    configs = {}
    for kind in kinds:
        runs = []
        for _ in range(rounds):
            with common.workdir() as tmp:
                server = _server(kind, tmp, gunicorn_workers, gunicorn_threads)
                try:
                    token = _seed(server, tasks)
                    runs.append(_drain(server.base, token, workers, batch))
                finally:
                    server.close()
        engine_runs = [_in_process(kind, tasks, batch) for _ in range(rounds)]
        configs[kind] = {
            "server": server.kind,
            "engine_tasks_per_second": summary([r["tasks_per_second"] for r in engine_runs]),
            "engine_cpu_ms_per_task": summary([r["cpu_ms_per_task"] for r in engine_runs]),
            "tasks_per_second": summary([r["tasks_per_second"] for r in runs]),
            "complete_p50_ms": summary([r["complete_p50_ms"] for r in runs]),
            "complete_p99_ms": summary([r["complete_p99_ms"] for r in runs]),
            "fetch_p50_ms": summary([r["fetch_p50_ms"] for r in runs]),
            "fetch_p99_ms": summary([r["fetch_p99_ms"] for r in runs]),
            "errors": sum(r["errors"] for r in runs),
            "runs": runs,
        }
    return {"tasks": tasks, "workers": workers, "batch": batch, "configs": configs}


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.external_tasks", description=__doc__)
    parser.add_argument("--tasks", type=int, default=2000)
    parser.add_argument("--workers", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--only", default="sqlite,postgresql")
    args = parser.parse_args(argv)
    kinds = tuple(k.strip() for k in args.only.split(",") if k.strip())
    result = run(args.tasks, args.workers, args.batch, args.rounds, kinds)
    print(json.dumps(result, indent=1, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
