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
