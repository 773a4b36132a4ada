"""A pattern validates the whole input: a trailing newline (which Python's `$` lets through) is
refused by API schemas, query parameters, the engine, forms and the command line, and nothing is
written."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.errors import FormInvalid, InvalidInput
from engine.store.models import Department, ProcessInstance, User
from tests.api.conftest import error_of
from tests.helpers import REPORT, report_case

TRAILING = ["NL-2\n", "NL-2\r\n", "\nNL-2"]


def count(engine, model) -> int:
    with engine.db.read() as session:
        return session.scalar(select(func.count()).select_from(model))


@pytest.mark.parametrize("key", TRAILING)
def test_a_business_key_with_a_newline_is_refused_and_no_case_is_created(api, engine, key):
    body = {"definition_key": "dispute_resolution", "business_key": key, "variables": REPORT}
    error_of(api.as_("wang").post("/process-instances", body), 422, "validation_failed")
    error_of(api.as_("wang").get("/tasks", query_string={"business_key": key}), 400, "invalid_query")
    error_of(api.as_("wang").get("/process-instances", query_string={"business_key": key}), 400, "invalid_query")
    with pytest.raises(InvalidInput):
        engine.runtime.start_instance("dispute_resolution", api_actor(engine), REPORT, business_key=key)
    assert count(engine, ProcessInstance) == 0


def api_actor(engine):
    return engine.identity.actor("wang")


def test_a_username_with_a_newline_is_refused_and_cannot_log_in(api, engine):
    before = count(engine, User)
    admin = api.as_("admin")
    body = {"username": "evil\n", "role": "officer", "password": "correct-horse-battery", "departments": ["xinqiao"]}
    error_of(admin.post("/users", body), 422, "validation_failed")
    with pytest.raises(InvalidInput):
        engine.identity.create_user("evil\n", "officer", "correct-horse-battery", ["xinqiao"])
    assert count(engine, User) == before
    error_of(api.login("evil\n", "correct-horse-battery"), 401)


def test_a_department_key_with_a_newline_is_refused(api, engine):
    before = count(engine, Department)
    error_of(api.as_("admin").post("/departments", {"key": "civil\n", "name": "x", "kind": "agency"}), 422)
    with pytest.raises(InvalidInput):
        engine.identity.create_department("civil\n", "x", "agency")
    assert count(engine, Department) == before


def test_a_form_field_pattern_refuses_a_trailing_newline(engine, world):
    party = {**REPORT["parties"][0], "id_number": REPORT["parties"][0]["id_number"] + "\n"}
    with pytest.raises(FormInvalid) as err:
        report_case(engine, world["wang"], parties=[party])
    assert err.value.details[0]["field"] == "parties.0.id_number"
    assert count(engine, ProcessInstance) == 0


def test_the_command_line_refuses_a_username_with_a_newline(tmp_path):
    import os
    import subprocess
    import sys

    from tests.test_cli import ROOT

    env = {**os.environ, "FENGQIAO_INSTANCE_PATH": str(tmp_path), "FENGQIAO_ARGON2_MEMORY_KIB": "1024"}
    env.pop("FENGQIAO_DATABASE_URL", None)

    def run(*args):
        command = [sys.executable, "-m", "cli.main", *args]
        return subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=120)

    assert run("init").returncode == 0
    assert run("departments", "create", "xinqiao", "--name", "新桥", "--kind", "station").returncode == 0
    refused = run("users", "create", "evil\n", "--role", "officer", "--department", "xinqiao")
    assert refused.returncode != 0 and "username" in refused.stderr
    assert "evil" not in run("users", "list").stdout
