"""Prometheus metrics (`GET /metrics`, docs/admin.md "Metrics").

Two kinds, so that several gunicorn workers give one consistent answer:
- counted in the process as things happen (prometheus-client): requests by route and status, the time
  of each unit of work, tasks opened and closed, SLA warnings and breaches, timers fired and their lag.
  Under gunicorn set PROMETHEUS_MULTIPROC_DIR (an empty directory, emptied at each start): every
  worker then writes its counts there and any worker's scrape adds them up (prometheus-client's
  multiprocess mode); without it each process answers its own counts;
- read from the database at scrape time (the same in every process): open incidents by kind, the
  outbox backlog, open and breached tasks, pending timers and the oldest overdue one's lag.

`/metrics` takes an admin's bearer token; `fengqiao metrics --bind 127.0.0.1:9464` serves the same
text without a token on an address of its own (for a Prometheus on the host or a private network).
"""

from __future__ import annotations

import os
import time
from datetime import datetime
from typing import Any

from flask import Blueprint, Flask, Response, current_app, g, request
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

bp = Blueprint("metrics", __name__)

# the process's own counters (in multiprocess mode prometheus-client keeps their values in files)
REGISTRY = CollectorRegistry(auto_describe=True)
REQUESTS = Counter(
    "fengqiao_http_requests",
    "HTTP requests answered, by route and status",
    ["route", "method", "status"],
    registry=REGISTRY,
)
REQUEST_SECONDS = Histogram(
    "fengqiao_http_request_seconds",
    "Time to answer an HTTP request, by route",
    ["route"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
    registry=REGISTRY,
)
UOW_SECONDS = Histogram(
    "fengqiao_unit_of_work_seconds",
    "Time of one committed unit of work (lock, load, change, project, write, commit)",
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5),
    registry=REGISTRY,
)
TASKS_OPENED = Counter("fengqiao_tasks_opened", "User tasks created", registry=REGISTRY)
TASKS_CLOSED = Counter("fengqiao_tasks_closed", "User tasks completed or cancelled", ["how"], registry=REGISTRY)
SLA_EVENTS = Counter("fengqiao_sla_events", "SLA marks reached: warning or breached", ["state"], registry=REGISTRY)
TIMERS_FIRED = Counter("fengqiao_timers_fired", "BPMN timer events fired", registry=REGISTRY)
TIMER_LAG = Histogram(
    "fengqiao_timer_lag_seconds",
    "How late a timer or SLA mark fired after its due time",
    buckets=(0.1, 0.5, 1, 2, 5, 10, 30, 60, 300, 1800),
    registry=REGISTRY,
)

# label children bound once: a lookup by label values takes a lock and costs more than the increment
_CLOSED = {
    action: TASKS_CLOSED.labels(how)
    for action, how in (("task.completed", "completed"), ("task.cancelled", "cancelled"))
}
_SLA = {
    action: SLA_EVENTS.labels(state) for action, state in (("sla.warning", "warning"), ("sla.breached", "breached"))
}


def observe_unit_of_work(seconds: float, audit_rows: list[dict[str, Any]]) -> None:
    """The engine's observer (engine/uow/transaction.py): a committed unit of work and what it did."""
    UOW_SECONDS.observe(seconds)
    for row in audit_rows:
        action = row["action"]
        if action == "task.created":
            TASKS_OPENED.inc()
        elif action in _CLOSED:
            _CLOSED[action].inc()
        elif action == "timer.fired":
            TIMERS_FIRED.inc()
            _lag(row["details"], "due_at")
        elif action in _SLA:
            _SLA[action].inc()
            _lag(row["details"], "warn_at" if action == "sla.warning" else "due_at")


def _lag(details: dict[str, Any], due_key: str) -> None:
    due, fired = details.get(due_key), details.get("fired_at")
    if due and fired:
        TIMER_LAG.observe(max((datetime.fromisoformat(fired) - datetime.fromisoformat(due)).total_seconds(), 0.0))


class DatabaseGauges(Collector):
    """Gauges read from the database at scrape time (engine/monitoring.py `gauges`)."""

    def __init__(self, engine):
        self.engine = engine

    def collect(self):
        found = self.engine.monitoring.gauges()
        incidents = GaugeMetricFamily("fengqiao_incidents_open", "Open incidents, by kind", labels=["kind"])
        for kind, count in sorted(found["incidents_open"].items()):
            incidents.add_metric([kind], count)
        yield incidents
        yield GaugeMetricFamily(
            "fengqiao_outbox_backlog", "Outbox events not yet published", value=found["outbox_backlog"]
        )
        yield GaugeMetricFamily("fengqiao_tasks_open", "Open user tasks", value=found["tasks_open"])
        yield GaugeMetricFamily(
            "fengqiao_tasks_breached", "Open user tasks past their due time", value=found["tasks_breached"]
        )
        yield GaugeMetricFamily(
            "fengqiao_timers_pending", "Pending timers and SLA marks", value=found["timers_pending"]
        )
        yield GaugeMetricFamily(
            "fengqiao_timer_overdue_seconds",
            "How long the oldest pending timer is past its due time (0 when none is late)",
            value=found["timer_lag_seconds"],
        )


def exposition(engine) -> bytes:
    """The metrics text: the counters (all workers' in multiprocess mode) and the database gauges."""
    registry = CollectorRegistry()
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
    else:
        registry.register(_Own())
    registry.register(DatabaseGauges(engine))
    return generate_latest(registry)


class _Own(Collector):
    def collect(self):
        return REGISTRY.collect()


@bp.get("/metrics")
def scrape():
    return Response(exposition(current_app.extensions["fengqiao"]), mimetype=CONTENT_TYPE_LATEST)


def _started() -> None:
    g.metrics_started = time.perf_counter()


def _answered(response):
    rule = request.url_rule
    route = rule.rule if rule is not None else "unmatched"  # the route's pattern, never the raw path
    REQUESTS.labels(route, request.method, str(response.status_code)).inc()
    started = g.get("metrics_started")
    if started is not None:
        REQUEST_SECONDS.labels(route).observe(time.perf_counter() - started)
    return response


def init_app(app: Flask, engine) -> None:
    app.register_blueprint(bp)
    app.before_request(_started)
    app.after_request(_answered)
    if observe_unit_of_work not in engine.observers:
        engine.observers.append(observe_unit_of_work)
