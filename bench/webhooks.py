"""Webhook deliveries: sustained rate and latency from commit with two workers, and the relay's cost
against the size of the delivery history (issue 18; figures in docs/benchmarks.md).

    python -m bench.webhooks [--rate 250] [--seconds 10] [--history 1000000]

Throughput and latency: PostgreSQL and Redis, two `fengqiao worker` processes (RQ worker + sweeper
each), a receiver process on loopback answering 204, one integration subscription. Events are
committed to the outbox one per transaction at `rate` per second from four threads (what units of
work do); latency is `delivered_at - occurred_at` (both the real clock), and the relay's part of it
`created_at - occurred_at`; the workers' CPU time per delivery is the figure a quieter machine keeps.
The relay's cost: one relay batch (200 events) and the deliverer's due query, timed with 1k and with
`history` delivered rows already in the table (made by INSERT ... SELECT generate_series).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import threading
import time
import uuid
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

from sqlalchemy import func, select, text

from . import common

DATABASE = common.PG_DATABASE + "_webhooks"


def receiver(port: int) -> None:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self):  # noqa: N802 - the stdlib's name
            self.rfile.read(int(self.headers.get("Content-Length") or 0))
            self.send_response(204)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args):
            pass

    ThreadingHTTPServer(("127.0.0.1", port), Handler).serve_forever()


def _free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _emit(engine, count: int) -> None:
    from engine.store.models import OutboxEvent

    with engine.db.transaction() as scope:
        for _ in range(count):
            scope.add(
                OutboxEvent(
                    event_id=str(uuid.uuid4()),
                    type="task.created",
                    occurred_at=datetime.now(UTC),
                    instance_id=str(uuid.uuid4()),
                    task_id=None,
                    payload={"business_key": "JF-BENCH", "element_id": "assess_case"},
                    published_at=None,
                )
            )


def _produce(engine, rate: float, seconds: float, threads: int = 4) -> int:
    """Commit events at `rate` for `seconds`, one per transaction, from a few threads (a commit waits
    on PostgreSQL, as concurrent requests do); returns how many were committed."""
    lock, committed = threading.Lock(), [0]
    begin = time.perf_counter()

    def produce() -> None:
        while (elapsed := time.perf_counter() - begin) < seconds:
            with lock:
                due = int(elapsed * rate) + 1 > committed[0]
                if due:
                    committed[0] += 1
            if due:
                _emit(engine, 1)
            else:
                time.sleep(0.001)

    running = [threading.Thread(target=produce) for _ in range(threads)]
    for thread in running:
        thread.start()
    for thread in running:
        thread.join()
    return committed[0]


def _cpu_seconds(pid: int) -> float:
    """User + system CPU of a live process (Linux /proc), 0 where there is no /proc."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def throughput(rate: float, seconds: float, workers: int = 2, batch: int = 50, concurrency: int = 4) -> dict:
    from redis import Redis

    import webhooks
    from engine.identity import Actor
    from engine.store.models import NotificationDelivery

    Redis.from_url(common.REDIS_URL).flushdb()
    port = _free_port()
    answering = subprocess.Popen([sys.executable, "-m", "bench.webhooks", "--receiver", str(port)], cwd=common.ROOT)
    with common.workdir() as tmp:
        url = common.fresh_pg(DATABASE)
        extra = {
            "FENGQIAO_NOTIFY_ALLOW_HOSTS": "127.0.0.1",
            "FENGQIAO_SWEEP_INTERVAL": "0.1",
            "FENGQIAO_DELIVERY_BATCH": str(batch),
            "FENGQIAO_DELIVERY_CONCURRENCY": str(concurrency),
        }
        engine = common.make_engine(url, tmp / "instance", **extra)
        hooks = webhooks.install(engine)
        hooks.subscriptions.create(
            {"name": "bench", "url": f"http://127.0.0.1:{port}/hooks", "events": ["task.created"]}, Actor.system()
        )
        env = common.env_for(url, tmp / "instance", common.REDIS_URL, **extra)
        started = [
            subprocess.Popen(
                [sys.executable, "-m", "cli.main", "worker"],
                cwd=common.ROOT,
                env=env,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            for _ in range(workers)
        ]
        try:
            time.sleep(4)  # the workers are up and idle
            cpu_start = {"workers": sum(_cpu_seconds(w.pid) for w in started), "receiver": _cpu_seconds(answering.pid)}
            total = _produce(engine, rate, seconds)
            deadline = time.monotonic() + 120
            count = select(func.count()).where(NotificationDelivery.state == "delivered")
            while time.monotonic() < deadline:
                with engine.db.read() as scope:
                    if scope.scalar(count) >= total:
                        break
                time.sleep(0.2)
            cpu = {"workers": sum(_cpu_seconds(w.pid) for w in started), "receiver": _cpu_seconds(answering.pid)}
            with engine.db.read() as scope:
                rows = scope.execute(
                    text(
                        "SELECT extract(epoch FROM d.delivered_at - o.occurred_at), "
                        "extract(epoch FROM d.delivered_at), extract(epoch FROM o.occurred_at), "
                        "extract(epoch FROM d.created_at - o.occurred_at) "
                        "FROM notification_deliveries d JOIN outbox o ON o.event_id = d.event_id "
                        "WHERE d.state = 'delivered'"
                    )
                ).all()
        finally:
            for worker in started:
                worker.terminate()
            for worker in started:
                try:
                    worker.wait(30)
                except subprocess.TimeoutExpired:  # an RQ worker busy with a job: stop it hard
                    worker.kill()
                    worker.wait(10)
            answering.terminate()
            engine.close()
            common.drop_pg(DATABASE)
    latencies = [float(r[0]) for r in rows]
    relayed = [float(r[3]) for r in rows]
    span = max(float(r[1]) for r in rows) - min(float(r[2]) for r in rows) if rows else 0
    worker_cpu = cpu["workers"] - cpu_start["workers"]
    return {
        "events": total,
        "offered_rate": rate,
        "delivered": len(rows),
        "deliveries_per_second": len(rows) / span if span else 0,
        "latency_seconds": {
            "p50": common.percentile(latencies, 50) if latencies else None,
            "p99": common.percentile(latencies, 99) if latencies else None,
            "max": max(latencies) if latencies else None,
        },
        "relayed_seconds": {  # commit to delivery row: the relay's part of the latency
            "p50": common.percentile(relayed, 50) if relayed else None,
            "p99": common.percentile(relayed, 99) if relayed else None,
        },
        # the two workers' CPU (RQ, relay, delivery; not PostgreSQL's or Redis's) while they delivered
        # what had been committed: the figure that carries over to a quieter machine
        "worker_cpu_seconds": worker_cpu,
        "worker_cpu_ms_per_delivery": worker_cpu * 1000 / len(rows) if rows else None,
        "deliveries_per_worker_cpu_second": len(rows) / worker_cpu if worker_cpu else None,
        "receiver_cpu_ms_per_delivery": (cpu["receiver"] - cpu_start["receiver"]) * 1000 / len(rows) if rows else None,
        "load_average": os.getloadavg()[0],
        "workers": workers,
        "batch": batch,
        "concurrency": concurrency,
    }


def relay_cost(history: int, batch: int = 200, rounds: int = 5) -> dict:
    import webhooks
    from engine.identity import Actor

    out = {}
    with common.workdir() as tmp:
        url = common.fresh_pg(DATABASE)
        engine = common.make_engine(url, tmp / "instance", FENGQIAO_NOTIFY_ALLOW_HOSTS="127.0.0.1")
        hooks = webhooks.install(engine)
        created = hooks.subscriptions.create(
            {"name": "bench", "url": "http://127.0.0.1:9/hooks", "events": ["task.created"]}, Actor.system()
        )
        try:
            hooks.webhook_relay.run_once()  # the events of the set-up (deploy) are read past first
            done = 0
            for size in (1000, history):
                with engine.db.transaction() as scope:
                    scope.execute(
                        text(
                            "INSERT INTO notification_deliveries (subscription_id, event_id, event_type, message, "
                            "state, attempts, next_attempt_at, created_at, delivered_at) "
                            "SELECT :sub, gen_random_uuid()::text, 'task.created', '{}', 'delivered', 1, now(), "
                            "now(), now() FROM generate_series(1, :n)"
                        ),
                        {"sub": created["id"], "n": size - done},
                    )
                    scope.execute(text("ANALYZE notification_deliveries"))
                done = size
                relay_ms, due_ms = [], []
                for _ in range(rounds):
                    _emit(engine, batch)
                    t = time.perf_counter()
                    made = hooks.webhook_relay.run_once(batch=batch)
                    relay_ms.append((time.perf_counter() - t) * 1000)
                    assert len(made) == batch, len(made)
                    t = time.perf_counter()
                    hooks.deliverer.due(limit=100)
                    due_ms.append((time.perf_counter() - t) * 1000)
                    with engine.db.transaction() as scope:  # settle them: the history only grows
                        scope.execute(
                            text("UPDATE notification_deliveries SET state = 'delivered' WHERE state = 'pending'")
                        )
                out[str(size)] = {"relay_batch_ms": common.summary(relay_ms), "due_query_ms": common.summary(due_ms)}
        finally:
            engine.close()
            common.drop_pg(DATABASE)
    out["batch"] = batch
    out["sizes"] = [1000, history]
    small, large = out["1000"]["relay_batch_ms"]["median"], out[str(history)]["relay_batch_ms"]["median"]
    out["relay_ratio_large_vs_small"] = large / small if small else None
    return out


def run(
    rate: float = 250,
    seconds: float = 10,
    history: int = 1_000_000,
    workers: int = 2,
    batch: int = 50,
    concurrency: int = 4,
    relay_batch: int = 200,
    relay_rounds: int = 5,
) -> dict:
    """`python -m bench`'s entry: delivery rate and latency, then the relay's cost. (The per-timer RQ
    scheduling figures in bench/notes.md came from an `rq_timers` part, removed with that scheduling.)"""
    return {
        "throughput": throughput(rate, seconds, workers, batch, concurrency),
        "relay_cost": relay_cost(history, relay_batch, relay_rounds),
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.webhooks")
    parser.add_argument("--receiver", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--rate", type=float, default=250)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--history", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=50, help="FENGQIAO_DELIVERY_BATCH of the workers")
    parser.add_argument("--concurrency", type=int, default=4, help="FENGQIAO_DELIVERY_CONCURRENCY")
    parser.add_argument("--only", default="throughput,relay")
    args = parser.parse_args(argv)
    if args.receiver:
        receiver(args.receiver)
        return 0
    results = {}
    if "throughput" in args.only:
        results["throughput"] = throughput(args.rate, args.seconds, batch=args.batch, concurrency=args.concurrency)
        print(json.dumps(results["throughput"]), file=sys.stderr, flush=True)
    if "relay" in args.only:
        results["relay_cost"] = relay_cost(args.history)
        print(json.dumps(results["relay_cost"]), file=sys.stderr, flush=True)
    print(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
