"""The `fengqiao` command on the embedded default, as an operator runs it."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture
def run(tmp_path):
    env = {
        **os.environ,
        "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
        "FENGQIAO_ARGON2_TIME_COST": "1",
        "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
    }
    env.pop("FENGQIAO_DATABASE_URL", None)

    def invoke(*args, stdin: str | None = None):
        return subprocess.run(
            [sys.executable, "-m", "cli.main", *args],
            cwd=ROOT,
            env=env,
            input=stdin,
            capture_output=True,
            text=True,
            timeout=120,
        )

    return invoke


def test_init_is_idempotent_and_uses_sqlite_under_instance(run, tmp_path):
    first = run("init")
    assert first.returncode == 0, first.stderr
    assert "dispute_resolution version 1: deployed" in first.stdout
    assert (tmp_path / "instance" / "fengqiao.db").exists()
    second = run("init")
    assert "dispute_resolution version 1: unchanged" in second.stdout


def test_departments_and_users_are_created_from_the_command_line(run):
    run("init")
    assert run("departments", "create", "xinqiao", "--name", "新桥派出所", "--kind", "station").returncode == 0
    created = run(
        "users",
        "create",
        "wang",
        "--role",
        "officer",
        "--department",
        "xinqiao",
        "--password-stdin",
        stdin="a-long-password\n",
    )
    assert created.returncode == 0, created.stderr
    assert '"role": "officer"' in created.stdout
    assert "wang" in run("users", "list").stdout


def test_cli_errors_are_one_clear_line_without_traceback(run):
    run("init")
    result = run("users", "create", "wang", "--role", "officer", "--department", "nowhere")
    assert result.returncode == 1
    assert "error: department 'nowhere' does not exist" in result.stderr
    assert "Traceback" not in result.stderr


def test_deploy_reports_element_errors(run, tmp_path):
    run("init")
    broken = tmp_path / "broken.bpmn"
    broken.write_text("<bpmn:definitions xmlns:bpmn='http://www.omg.org/spec/BPMN/20100524/MODEL'/>")
    result = run("deploy", str(broken))
    assert result.returncode == 1 and "no executable process" in result.stderr


def test_demo_walks_the_closed_loop(run):
    result = run("demo")
    assert result.returncode == 0, result.stderr
    out = result.stdout
    steps = ("上报 reported", "首接", "升级 escalated", "卫健 the health department's system", "反馈", "supervisor")
    for step in steps:
        assert step in out
    assert out.count("→ case completed") == 2


def test_a_scheduled_start_that_made_no_case_is_listed_retried_and_dismissed_from_the_command_line(
    run, tmp_path, monkeypatch
):
    from engine import Engine, Settings
    from tests import models

    def timed(key: str, starters: str = "") -> str:
        xml = models.timed("2020-01-01T00:00:00+00:00", attached="start", definition="timeDate", key=key)
        return xml.replace(f'<bpmn:process id="{key}"', f'<bpmn:process id="{key}" {starters}')

    assert run("init").returncode == 0
    for key in ("xinqiao", "dongfeng"):  # two stations, and the command line deploys as no one's member
        assert run("departments", "create", key, "--name", key, "--kind", "station").returncode == 0
    monkeypatch.setenv("FENGQIAO_INSTANCE_PATH", str(tmp_path / "instance"))
    monkeypatch.delenv("FENGQIAO_DATABASE_URL", raising=False)
    engine = Engine(Settings.from_env())
    try:
        for key in ("timed", "nightly"):
            engine.repository.deploy([(f"{key}.bpmn", timed(key))])
        assert engine.start_timers.fire_all_due() == 0  # both fell due: no station, two incidents
        first, second = (str(i["id"]) for i in engine.timers.list_incidents())
    finally:
        engine.close()
    listing = run("incidents", "list").stdout.splitlines()
    assert [line.split()[:5] for line in listing] == [
        [first, "open", "start_timer", "timed", "v1"],
        [second, "open", "start_timer", "nightly", "v1"],
    ]
    assert "due=2020-01-01T00:00:00+00:00" in listing[0] and "no station" in listing[0]
    cancelled = run("incidents", "cancel", first, "--reason", "give up")
    assert cancelled.returncode == 1 and "dismiss it" in cancelled.stderr
    still = run("incidents", "retry", first)
    assert still.returncode == 1 and "still no station" in still.stderr
    fixed = tmp_path / "timed.bpmn"
    fixed.write_text(timed("timed", 'camunda:candidateStarterGroups="xinqiao"'), encoding="utf-8")
    assert "timed version 2: deployed" in run("deploy", str(fixed)).stdout
    retried = run("incidents", "retry", first)
    assert retried.returncode == 0 and f"incident {first}: case " in retried.stdout and "started" in retried.stdout
    assert run("incidents", "dismiss", second, "--reason", "").returncode == 1
    dismissed = run("incidents", "dismiss", second, "--reason", "测试流程 test schedule")
    assert dismissed.returncode == 0 and f"incident {second}: dismissed" in dismissed.stdout
    assert run("incidents", "list").stdout == ""
    resolved = [line.split()[:3] for line in run("incidents", "list", "--all").stdout.splitlines()]
    assert resolved == [[first, "resolved", "start_timer"], [second, "resolved", "start_timer"]]
