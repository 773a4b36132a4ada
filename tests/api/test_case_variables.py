"""An admin's repair of a running case's variables: non-personal fields only, typed like the case's
forms, no bigger than a start form; a refusal changes nothing."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.store.models import AuditEntry, PersonalRecord, ProcessInstance
from tests.api.conftest import error_of


def snapshot(engine, case_id: str) -> tuple:
    """What a repair could change: the case's state and version, its personal records, the audit trail."""
    with engine.db.read() as session:
        instance = session.get(ProcessInstance, case_id)
        return (
            instance.version,
            instance.state,
            session.scalar(select(func.count()).select_from(PersonalRecord)),
            session.scalar(select(func.count()).select_from(AuditEntry)),
        )


def repair(api, case, variables):
    return api.as_("admin").post(
        f"/process-instances/{case['id']}/variables", {"variables": variables, "reason": "补录 fix"}
    )


@pytest.mark.parametrize("personal", [{"household": "新桥社区9栋202室"}, {"parties": [{"name": "钱某"}]}])
def test_personal_fields_are_refused_on_the_variables_endpoint_and_nothing_changes(api, engine, personal):
    case = api.as_("wang").report()
    api.as_("admin")  # logged in first: a login is audited too
    before = snapshot(engine, case["id"])
    error = error_of(repair(api, case, {"approved": True, **personal}), 422, "personal_field")
    [field] = personal
    assert error["details"] == [{"field": field, "message": "a personal field: it is set through the case's forms"}]
    assert "钱某" not in str(error) and "9栋" not in str(error)
    assert snapshot(engine, case["id"]) == before


@pytest.mark.parametrize(
    "variables",
    [
        {"risk_level": {}},
        {"risk_level": "purple"},
        {"description": ""},
        {"resolution": 7},  # a field of the case's task form (assess_case)
        {"departments": ["no_such_department"]},
    ],
)
def test_variables_that_break_the_case_forms_field_rules_are_422_and_change_nothing(api, engine, variables):
    case = api.as_("wang").report()
    api.as_("admin")  # logged in first: a login is audited too
    before = snapshot(engine, case["id"])
    error = error_of(repair(api, case, variables), 422, "form_invalid")
    assert {d["field"].split(".")[0] for d in error["details"]} == set(variables)
    assert snapshot(engine, case["id"]) == before


def test_variables_larger_than_a_start_form_allows_are_413_and_change_nothing(api, engine):
    case = api.as_("wang").report()
    api.as_("admin")  # logged in first: a login is audited too
    before = snapshot(engine, case["id"])
    error_of(repair(api, case, {"notes": "x" * 300_000}), 413, "too_large")
    assert snapshot(engine, case["id"]) == before


def test_well_typed_form_fields_and_undeclared_variables_are_set(api, engine):
    wang = api.as_("wang")
    case = wang.report()
    fixed = repair(api, case, {"risk_level": "blue", "approved": True})
    assert fixed.status_code == 200, fixed.json
    assert wang.case(case)["variables"]["risk_level"] == "blue"
