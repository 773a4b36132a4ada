"""Prometheus metrics (issue 17, docs/admin.md): `GET /metrics` for admins only; requests by route and
status, units of work, tasks opened and closed, SLA marks and timers counted as they happen; incidents,
outbox backlog, open and breached tasks read from the database at scrape time."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import timedelta

from prometheus_client.parser import text_string_to_metric_families

from tests.conftest import ROOT


def samples(text: str) -> dict[tuple[str, tuple], float]:
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def get_metrics(caller):
    return caller.client.get("/metrics", headers={"Authorization": f"Bearer {caller.token}"})


def scrape(caller) -> dict[tuple[str, tuple], float]:
    response = get_metrics(caller)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    assert response.mimetype == "text/plain"
    return samples(response.get_data(as_text=True))


def test_metrics_count_requests_tasks_and_sla_marks_and_read_gauges_from_the_database(api, clock):
    admin, wang = api.as_("admin"), api.as_("wang")
    before = scrape(admin)
    case = wang.report(risk_level="red")
    wang.complete(case, "assess_case", {"resolution": "on_spot"})
    clock.advance(timedelta(hours=25))  # handling on the spot is due in 24 hours
    api.client.application.extensions["fengqiao"].timers.fire_all_due()
    api._callers.clear()  # the sessions expired meanwhile: log in again
    after = scrape(api.as_("admin"))

    def grew(name: str, **labels) -> float:
        key = (name, tuple(sorted(labels.items())))
        return after.get(key, 0.0) - before.get(key, 0.0)

    assert grew("fengqiao_tasks_opened_total") == 2  # the assessment, then handling on the spot
    assert grew("fengqiao_tasks_closed_total", how="completed") == 1
    assert grew("fengqiao_sla_events_total", state="breached") == 1
    assert grew("fengqiao_unit_of_work_seconds_count") >= 3
    assert grew("fengqiao_timer_lag_seconds_count") >= 1
    route = "/api/v1/process-instances"
    assert grew("fengqiao_http_requests_total", route=route, method="POST", status="201") == 1
    assert after[("fengqiao_tasks_open", ())] == 1 and after[("fengqiao_tasks_breached", ())] == 1
    assert ("fengqiao_outbox_backlog", ()) in after and ("fengqiao_timer_overdue_seconds", ()) in after


def test_metrics_are_for_admins_only(api):
    assert api.client.get("/metrics").status_code == 401
    assert get_metrics(api.as_("wang")).status_code == 403
    assert get_metrics(api.as_("sun")).status_code == 403


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def test_the_metrics_command_serves_them_without_a_token_on_its_own_address(engine, settings, tmp_path):
    port = free_port()
    env = {**os.environ, "FENGQIAO_DATABASE_URL": settings.database_url, "FENGQIAO_INSTANCE_PATH": str(tmp_path)}
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "metrics", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        text = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                    text = answer.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        assert "fengqiao_outbox_backlog" in text and "fengqiao_incidents_open" in text
    finally:
        process.terminate()
        process.wait(10)


def test_in_multiprocess_mode_the_counts_of_several_processes_add_up(engine, settings, tmp_path):
    """Two worker processes count units of work into PROMETHEUS_MULTIPROC_DIR; the metrics process
    given the same directory answers their sum (prometheus-client's multiprocess mode, as under gunicorn)."""
    shared = tmp_path / "prometheus"
    shared.mkdir()
    env = {
        **os.environ,
        "PROMETHEUS_MULTIPROC_DIR": str(shared),
        "FENGQIAO_DATABASE_URL": settings.database_url,
        "FENGQIAO_INSTANCE_PATH": str(tmp_path),
    }
    work = (
        "from web.metrics import observe_unit_of_work\n"
        "for _ in range({n}):\n"
        "    observe_unit_of_work(0.01, [{{'action': 'task.created', 'details': {{}}}}])\n"
    )
    for n in (3, 4):
        done = subprocess.run([sys.executable, "-c", work.format(n=n)], cwd=ROOT, env=env, capture_output=True)
        assert done.returncode == 0, done.stderr
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, "-m", "cli.main", "metrics", "--bind", f"127.0.0.1:{port}"],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
    )
    try:
        text = ""
        for _ in range(100):
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as answer:
                    text = answer.read().decode()
                break
            except OSError:
                time.sleep(0.2)
        found = samples(text)
        assert found[("fengqiao_tasks_opened_total", ())] == 7
        assert found[("fengqiao_unit_of_work_seconds_count", ())] == 7
        assert ("fengqiao_outbox_backlog", ()) in found
    finally:
        process.terminate()
        process.wait(10)
