"""Load generator: a separate process driving dispute cases over HTTP on loopback.

Reads its job as JSON on stdin, writes figures as JSON on stdout. Each client thread keeps one
HTTP/1.1 connection per user it acts as (an officer, a civil-affairs and a health liaison), reports
a case, completes every task to the end (escalation to both departments and on-the-spot cases
alternate), and records the latency of every request. A user goes on to the next task the answer to
their last request named (a start's open tasks, a completion's `next_tasks`); a task another user
opened is found by listing the case's tasks. Bounded in time and in cases; loopback only.
"""

from __future__ import annotations

import http.client
import json
import sys
import threading
import time
from urllib.parse import urlsplit

from .common import PATHS, REPORT, percentile

ALLOWED_HOSTS = ("127.0.0.1", "localhost", "::1")


class Client:
    def __init__(self, base: str, username: str, password: str):
        url = urlsplit(base)
        if url.hostname not in ALLOWED_HOSTS:
            raise SystemExit(f"refusing to load {url.hostname}: loopback only")
        self.host, self.port = url.hostname, url.port
        self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
        self.token = None
        status, body = self.call("POST", "/api/v1/auth/login", {"username": username, "password": password})
        if status != 200:
            raise RuntimeError(f"login {username}: {status} {body}")
        self.token = body["token"]

    def call(self, method: str, path: str, payload=None):
        headers = {"Content-Type": "application/json"}
        if self.token:
            headers["Authorization"] = f"Bearer {self.token}"
        data = json.dumps(payload).encode() if payload is not None else None
        for attempt in range(2):
            try:
                self.conn.request(method, path, body=data, headers=headers)
                response = self.conn.getresponse()
                raw = response.read()
                if response.getheader("Connection", "").lower() == "close":
                    self.conn.close()
                return response.status, (json.loads(raw) if raw else None)
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.conn.close()
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=30)
                if attempt:
                    raise
        raise AssertionError("unreachable")


class Worker(threading.Thread):
    def __init__(self, job: dict, index: int, stop_at: float, budget: list):
        super().__init__(daemon=True)
        self.job, self.index, self.stop_at, self.budget = job, index, stop_at, budget
        self.samples: dict[str, list[float]] = {"start": [], "complete": [], "list": []}
        self.completions = self.cases = self.errors = 0
        self.error_samples: list[str] = []
        self.lock = threading.Lock()

    def timed(self, client: Client, kind: str, method: str, path: str, payload=None, expect=200):
        t0 = time.perf_counter()
        status, body = client.call(method, path, payload)
        self.samples[kind].append((time.perf_counter() - t0) * 1000)
        if status != expect:
            self.errors += 1
            if len(self.error_samples) < 5:
                self.error_samples.append(f"{method} {path}: {status} {str(body)[:300]}")
            return None
        return body

    def run(self) -> None:
        users = self.job["users"][self.index % len(self.job["users"])]
        base, password = self.job["base"], self.job["password"]
        clients = {role: Client(base, name, password) for role, name in users.items()}
        paths = self.job.get("paths", ["escalate_both", "on_spot"])
        n = self.index
        while time.monotonic() < self.stop_at:
            with _budget_lock:
                if self.budget[0] <= 0:
                    return
                self.budget[0] -= 1
            path = paths[n % len(paths)]
            n += 1
            if self.case(clients, path):
                self.cases += 1

    def case(self, clients, path: str) -> bool:
        case = self.timed(
            clients["officer"],
            "start",
            "POST",
            "/api/v1/process-instances",
            {"definition_key": "dispute_resolution", "variables": REPORT},
            expect=201,
        )
        if case is None:
            return False
        # the tasks a user learnt from their last answer (a start's open tasks, a completion's
        # next_tasks): that user goes on without listing; another user lists the case's tasks
        known, known_by = case["open_tasks"], "officer"
        for element_id, role, data in PATHS[path]:
            task = next((t for t in known if t["element_id"] == element_id), None) if known_by == role else None
            if task is None:
                listed = self.timed(clients[role], "list", "GET", f"/api/v1/tasks?instance_id={case['id']}&limit=10")
                if listed is None:
                    return False
                task = next(
                    (t for t in listed["items"] if t["element_id"] == element_id and t["state"] in ("open", "claimed")),
                    None,
                )
                if task is None:
                    self.errors += 1
                    return False
            done = self.timed(clients[role], "complete", "POST", f"/api/v1/tasks/{task['id']}/complete", {"data": data})
            if done is None:
                return False
            self.completions += 1
            known, known_by = done["next_tasks"], role
        return True


_budget_lock = threading.Lock()


def run(job: dict) -> dict:
    concurrency = int(job["concurrency"])
    stop_at = time.monotonic() + float(job["seconds"])
    budget = [int(job.get("max_cases", 10**9))]
    workers = [Worker(job, i, stop_at, budget) for i in range(concurrency)]
    started = time.perf_counter()
    for w in workers:
        w.start()
    for w in workers:
        w.join(float(job["seconds"]) + 120)
    elapsed = time.perf_counter() - started
    merged: dict[str, list[float]] = {}
    for w in workers:
        for kind, values in w.samples.items():
            merged.setdefault(kind, []).extend(values)
    completions = sum(w.completions for w in workers)
    cases = sum(w.cases for w in workers)
    latency = {
        kind: {
            "n": len(v),
            "p50": percentile(v, 50),
            "p90": percentile(v, 90),
            "p99": percentile(v, 99),
            "max": max(v) if v else None,
        }
        for kind, v in merged.items()
    }
    return {
        "concurrency": concurrency,
        "seconds": elapsed,
        "completions": completions,
        "cases": cases,
        "completions_per_second": completions / elapsed,
        "cases_per_second": cases / elapsed,
        "requests_per_second": sum(len(v) for v in merged.values()) / elapsed,
        "errors": sum(w.errors for w in workers),
        "error_samples": [s for w in workers for s in w.error_samples][:5],
        "latency_ms": latency,
    }


def main() -> None:
    job = json.loads(sys.stdin.read())
    json.dump(run(job), sys.stdout)


if __name__ == "__main__":
    main()
