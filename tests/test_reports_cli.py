"""`fengqiao report weekly|monthly|quarterly|yearly` (issue 21): the same bulletin as the API, printed,
as CSV or JSON, or written as XLSX; a bad period is an error exit that names it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import UTC, datetime

from openpyxl import load_workbook

from tests.test_cli import ROOT
from tests.test_reports import simulate


def _run(settings, *args):
    env = {
        **os.environ,
        "FENGQIAO_DATABASE_URL": settings.database_url,
        "FENGQIAO_INSTANCE_PATH": str(settings.instance_path),
        "FENGQIAO_ARGON2_TIME_COST": "1",
        "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
    }
    return subprocess.run(
        [sys.executable, "-m", "cli.main", "report", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_command_line_prints_the_bulletin_the_api_serves(engine, world, clock, settings, tmp_path):
    simulate(engine, world, clock, count=8)
    clock.set(datetime.now(UTC))  # the command runs on the real clock
    expected = engine.reports.bulletin(None, "week", "2026-W48", "xinqiao")
    printed = _run(settings, "weekly", "--station", "xinqiao", "--week", "2026-W48", "--format", "json")
    assert printed.returncode == 0, printed.stderr
    got = json.loads(printed.stdout)
    assert got["summary"] == json.loads(json.dumps(expected["summary"], default=str))
    assert got["station"] == "xinqiao" and got["period"]["label"] == "2026-W48"

    text = _run(settings, "weekly", "--station", "xinqiao", "--week", "2026-W48")
    assert text.returncode == 0, text.stderr
    assert text.stdout.startswith("week 2026-W48 (Asia/Shanghai) xinqiao")
    assert any(
        line.split()[:3] == ["total", "xinqiao", str(expected["summary"]["cases_reported"])]
        for line in text.stdout.splitlines()
    )

    target = tmp_path / "november.xlsx"
    written = _run(settings, "monthly", "--month", "2026-11", "--format", "xlsx", "--output", str(target))
    assert written.returncode == 0, written.stderr
    rows = list(load_workbook(target).active.iter_rows(values_only=True))
    monthly = engine.reports.bulletin(None, "month", "2026-11")
    assert rows[1][:3] == ("total", "*", monthly["summary"]["cases_reported"])


def test_a_bad_period_or_station_is_an_error_exit_that_names_it(engine, world, settings):
    bad = _run(settings, "monthly", "--month", "2026-13")
    assert bad.returncode != 0 and "'2026-13' is not a month" in bad.stderr
    unknown = _run(settings, "weekly", "--station", "nowhere")
    assert unknown.returncode != 0 and "no station 'nowhere'" in unknown.stderr


def test_a_bad_target_stops_the_command_with_the_variable_named(engine, settings):
    proc = subprocess.run(
        [sys.executable, "-m", "cli.main", "report", "weekly", "--week", "2026-W48"],
        cwd=ROOT,
        env={
            **os.environ,
            "FENGQIAO_DATABASE_URL": settings.database_url,
            "FENGQIAO_INSTANCE_PATH": str(settings.instance_path),
            "FENGQIAO_REPORT_TARGET_ON_SPOT": "eighty-five",
        },
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert proc.returncode == 1
    assert "FENGQIAO_REPORT_TARGET_ON_SPOT" in proc.stderr and "eighty-five" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_rebuild_fills_the_rollups_and_the_bulletin_agrees(engine, world, clock, settings):
    simulate(engine, world, clock, count=6)
    proc = _run(settings, "rebuild")
    assert proc.returncode == 0, proc.stderr
    assert "rolled up" in proc.stdout
    assert engine.reports.rollups.queued() == 0
    fast = engine.reports.bulletin(None, "month", "2026-11")
    reference = engine.reports.bulletin(None, "month", "2026-11", reference=True)
    assert fast["summary"]["cases_reported"] == reference["summary"]["cases_reported"] > 0
    assert fast["departments"] and [d["escalations"] for d in fast["departments"]] == [
        d["escalations"] for d in reference["departments"]
    ]
