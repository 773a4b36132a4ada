"""Settings from FENGQIAO_* variables: a bad value stops start-up with one sentence naming the variable
and the expected form, never a traceback, in the command line and in gunicorn's master."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from engine import Settings

ROOT = Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    ("name", "value", "says"),
    [
        ("FENGQIAO_SWEEP_BATCH", "abc", "a whole number of at least 1"),
        ("FENGQIAO_SWEEP_BATCH", "0", "a whole number of at least 1"),
        ("FENGQIAO_WORKFLOW_CACHE_SIZE", "-1", "a whole number of at least 0"),
        ("FENGQIAO_SMTP_PORT", "70000", "a whole number from 1 to 65535"),
        ("FENGQIAO_DELIVERY_CONCURRENCY", "4.5", "a whole number of at least 1"),
        ("FENGQIAO_SLA_WARN_FRACTION", "1.5", "a number above 0 and at most 1"),
        ("FENGQIAO_SLA_WARN_FRACTION", "0", "a number above 0 and at most 1"),
        ("FENGQIAO_SWEEP_INTERVAL", "nan", "a number above 0"),
        ("FENGQIAO_TIME_ZONE", "Mars/Base", "an IANA time zone such as Asia/Shanghai"),
        ("FENGQIAO_TIME_ZONE", "../../etc/passwd", "an IANA time zone such as Asia/Shanghai"),
        ("FENGQIAO_LOGIN_RATE_LIMIT", "lots", "a rate such as '10 per minute'"),
        ("FENGQIAO_TOKEN_TTL", "xh", "a positive time such as 43200, 720m, 12h or 1d"),
        ("FENGQIAO_TOKEN_TTL", "-5m", "a positive time such as 43200, 720m, 12h or 1d"),
    ],
)
def test_a_bad_setting_is_refused_naming_the_variable_and_the_form(name, value, says):
    with pytest.raises(ValueError) as refused:
        Settings.from_env({name: value})
    assert str(refused.value) == f"{name} must be {says}, not '{value}'"


def test_good_settings_are_read_and_blank_ones_take_the_default():
    settings = Settings.from_env(
        {
            "FENGQIAO_SWEEP_BATCH": " 50 ",
            "FENGQIAO_WORKFLOW_CACHE_SIZE": "0",
            "FENGQIAO_SMTP_PORT": "65535",
            "FENGQIAO_SLA_WARN_FRACTION": "1",
            "FENGQIAO_SWEEP_INTERVAL": "0.1",
            "FENGQIAO_TIME_ZONE": "Asia/Urumqi",
            "FENGQIAO_LOGIN_RATE_LIMIT": "5 per minute;100 per day",
            "FENGQIAO_TOKEN_TTL": "12h",
            "FENGQIAO_DELIVERY_BATCH": "",
        }
    )
    assert (settings.sweep_batch, settings.workflow_cache_size, settings.smtp_port) == (50, 0, 65535)
    assert (settings.sla_warn_fraction, settings.sweep_interval_seconds) == (1.0, 0.1)
    assert (settings.time_zone, settings.login_rate_limit) == ("Asia/Urumqi", "5 per minute;100 per day")
    assert (settings.token_ttl_seconds, settings.delivery_batch) == (12 * 3600, 50)


def _started(command: list[str], tmp_path: Path, **variables: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "FENGQIAO_DATABASE_URL": f"sqlite:///{tmp_path / 'f.db'}", **variables}
    env["FENGQIAO_INSTANCE_PATH"] = str(tmp_path)
    return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=60)


def test_the_command_line_stops_on_a_bad_setting_with_one_line(tmp_path):
    fengqiao = str(Path(sys.executable).with_name("fengqiao"))
    proc = _started([fengqiao, "init"], tmp_path, FENGQIAO_SWEEP_BATCH="abc")
    assert proc.returncode == 1
    assert proc.stderr.strip() == (
        "Error: configuration: FENGQIAO_SWEEP_BATCH must be a whole number of at least 1, not 'abc'"
    )
    assert not (tmp_path / "f.db").exists()  # nothing was set up


def test_gunicorn_stops_on_a_bad_setting_before_any_worker_boots(tmp_path):
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    command = [gunicorn, "-c", "python:cli.gunicorn_config", "-b", "127.0.0.1:0", "web:create_app()"]
    proc = _started(command, tmp_path, FENGQIAO_TIME_ZONE="Mars/Base")
    assert proc.returncode == 1
    assert "Error: configuration: FENGQIAO_TIME_ZONE must be an IANA time zone" in proc.stderr
    assert "Traceback" not in proc.stderr and "Booting worker" not in proc.stderr
