"""Deploying, validating and versioning process definitions."""

from __future__ import annotations

import pytest
from sqlalchemy import func, select

from engine.errors import DefinitionNotFound, DeploymentInvalid, TooLarge
from engine.store.models import AuditEntry, Deployment, ProcessDefinition
from tests import models
from tests.helpers import report_case, task_of


def counts(engine) -> tuple[int, int]:
    with engine.db.transaction() as session:
        return (
            session.scalar(select(func.count()).select_from(ProcessDefinition)),
            session.scalar(select(func.count()).select_from(Deployment)),
        )


def test_deploy_returns_key_and_version_one(engine):
    result = engine.repository.deploy([("approval.bpmn", models.one_task())])
    assert [(d["key"], d["version"], d["created"]) for d in result["definitions"]] == [("approval", 1, True)]
    assert engine.repository.get_definition("approval")["version"] == 1


def test_identical_redeploy_is_a_no_op(engine):
    engine.repository.deploy([("approval.bpmn", models.one_task())])
    before = counts(engine)
    again = engine.repository.deploy([("renamed.bpmn", models.one_task())])
    assert again["deployment_id"] is None and again["definitions"][0]["created"] is False
    assert counts(engine) == before


def test_definitions_are_counted_by_process_key_as_listed(engine):
    engine.repository.deploy([("approval.bpmn", models.one_task(label="Review v1"))])
    engine.repository.deploy([("approval.bpmn", models.one_task(label="Review v2"))])
    keys = {d["key"] for d in engine.repository.list_definitions()}
    assert "approval" in keys and engine.repository.count_definitions() == len(keys)


def test_changed_xml_makes_a_new_version_and_running_instances_stay_on_theirs(engine, world):
    engine.repository.deploy([("approval.bpmn", models.one_task(label="Review v1"))])
    old = engine.runtime.start_instance("approval", world["wang"], {})
    engine.repository.deploy([("approval.bpmn", models.one_task(label="Review v2"))])
    new = engine.runtime.start_instance("approval", world["wang"], {})
    assert (old["definition_version"], new["definition_version"]) == (1, 2)
    assert task_of(engine, old, "review")["name"] == "Review v1"
    assert task_of(engine, new, "review")["name"] == "Review v2"
    engine.tasks.complete(task_of(engine, old, "review")["id"], world["wang"], {})
    assert engine.runtime.get_instance(old["id"])["status"] == "completed"
    pinned = engine.runtime.start_instance("approval", world["wang"], {}, version=1)
    assert pinned["definition_version"] == 1


def test_bundled_dispute_workflow_redeploy_pins_old_cases(engine, world):
    case = report_case(engine, world["wang"])
    xml = (engine.settings.workflows_dir / "dispute_resolution.bpmn").read_text()
    changed = xml.replace('camunda:dueDate="PT24H"', 'camunda:dueDate="PT36H"', 1)
    assert changed != xml
    result = engine.repository.deploy([("dispute_resolution.bpmn", changed)], allow_scripts=True)
    assert result["definitions"][0]["version"] == 2
    assert engine.runtime.get_instance(case["id"])["definition_version"] == 1


def test_broken_bpmn_is_refused_with_element_id_and_nothing_is_stored(engine):
    before = counts(engine)
    broken = models.gateway("risk_level == ").replace('default="f_default"', "")
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("broken.bpmn", broken)])
    assert any(d["element_id"] == "f_yes" for d in err.value.details)
    assert counts(engine) == before


def test_not_well_formed_xml_is_refused(engine):
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("bad.bpmn", "<bpmn:definitions")])
    assert "well-formed" in err.value.message


def test_schema_invalid_bpmn_is_refused(engine):
    invalid = models.one_task().replace(
        '<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end"><bpmn:bogus/></bpmn:endEvent>'
    )
    with pytest.raises(DeploymentInvalid):
        engine.repository.deploy([("invalid.bpmn", invalid)])


def test_exclusive_gateway_without_condition_or_default_names_the_gateway(engine):
    xml = models.gateway("x == 1").replace('default="f_default"', "")
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("nodefault.bpmn", xml)])
    assert err.value.details[0]["element_id"] in ("gw", "f_default")


def test_external_entities_are_never_resolved(engine, tmp_path):
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET")
    xxe = f'<?xml version="1.0"?><!DOCTYPE d [<!ENTITY x SYSTEM "file://{secret}">]>' + models.one_task().split(
        "?>", 1
    )[1].replace('name="Review"', 'name="&x;"')
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("xxe.bpmn", xxe)])
    assert "DOCTYPE" in err.value.message
    assert "TOP-SECRET" not in str(err.value.details)


def test_oversized_document_is_refused_before_parsing(engine):
    huge = models.one_task().replace("<bpmn:endEvent", "<!--" + "x" * (3 * 1024 * 1024) + "--><bpmn:endEvent")
    with pytest.raises(TooLarge):
        engine.repository.deploy([("huge.bpmn", huge)])


def test_document_without_executable_process_deploys_but_is_not_startable(engine):
    # issue 19: isExecutable="false" deploys for viewing and editing (tests/test_bpmn_realworld.py)
    xml = models.one_task().replace('isExecutable="true"', 'isExecutable="false"')
    result = engine.repository.deploy([("descriptive.bpmn", xml)])
    assert any("cannot be started" in w["message"] for w in result["warnings"])
    assert engine.repository.get_definition("approval")["status"] == "not_executable"


@pytest.mark.parametrize(
    ("element", "reason"),
    [
        ('<bpmn:serviceTask id="svc"/>', "service tasks"),
        ('<bpmn:businessRuleTask id="rule"/>', "business rule"),
        (
            '<bpmn:intermediateThrowEvent id="comp"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>',
            "compensation",
        ),
    ],
)
def test_unsupported_elements_are_named_at_deploy(engine, element, reason):
    xml = models.one_task().replace('<bpmn:endEvent id="end"/>', '<bpmn:endEvent id="end"/>' + element)
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("unsupported.bpmn", xml)])
    problem = err.value.details[0]
    assert problem["element_id"] in ("svc", "rule", "comp") and reason in problem["message"]


def test_script_tasks_are_refused_unless_allowed(engine, world):
    xml = models.script("score = 2 * 21")
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("script.bpmn", xml)])
    assert err.value.details[0]["element_id"] == "calc"
    engine.repository.deploy([("script.bpmn", xml)], allow_scripts=True)
    case = engine.runtime.start_instance("scripted", world["wang"], {})
    assert case["variables"]["score"] == 42


def test_allowed_scripts_are_still_restricted_to_assignments(engine):
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("script.bpmn", models.script("import os"))], allow_scripts=True)
    assert "assignments" in err.value.details[0]["message"]


def test_call_activity_deploys_with_its_called_process(engine, world):
    result = engine.repository.deploy([("parent.bpmn", models.caller()), ("child.bpmn", models.one_task(key="child"))])
    assert sorted(d["key"] for d in result["definitions"]) == ["child", "parent"]
    case = engine.runtime.start_instance("parent", world["wang"], {})
    task = task_of(engine, case, "review")
    assert task["process_key"] == "child" and task["candidate_groups"] == ["officer"]
    engine.tasks.complete(task["id"], world["wang"], {})
    assert engine.runtime.get_instance(case["id"])["status"] == "completed"


def test_call_activity_to_an_unknown_process_is_refused(engine):
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.deploy([("parent.bpmn", models.caller(called="nowhere"))])
    assert err.value.details[0]["element_id"] == "nowhere"


def test_called_process_deployed_earlier_is_pinned_at_deploy(engine, world):
    engine.repository.deploy([("child.bpmn", models.one_task(key="child", label="Child v1"))])
    engine.repository.deploy([("parent.bpmn", models.caller())])
    engine.repository.deploy([("child.bpmn", models.one_task(key="child", label="Child v2"))])
    case = engine.runtime.start_instance("parent", world["wang"], {})
    assert task_of(engine, case, "review")["name"] == "Child v1"


def test_lane_names_the_candidate_group(engine, world):
    engine.repository.deploy([("lanes.bpmn", models.lanes())])
    case = engine.runtime.start_instance("laned", world["wang"], {})
    task = task_of(engine, case, "visit")
    assert task["candidate_groups"] == ["health"] and task["lane"] == "卫健"
    engine.tasks.claim(task["id"], world["zhao"])


def test_camunda_human_task_attributes_are_read_from_the_xml(engine, world, clock):
    attrs = (
        'camunda:candidateUsers="chen" camunda:assignee="wang" camunda:priority="80" '
        'camunda:dueDate="2026-12-24T09:00:00+08:00" camunda:formKey="handle_on_spot"'
    )
    engine.repository.deploy([("attrs.bpmn", models.one_task(key="attrs", task_attrs=attrs))])
    task = task_of(engine, engine.runtime.start_instance("attrs", world["wang"], {}), "review")
    assert (task["assignee"], task["state"], task["priority"]) == ("wang", "claimed", 80)
    assert task["due_at"] == "2026-12-24T01:00:00+00:00"
    assert task["candidate_users"] == ["chen"] and task["form_key"] == "handle_on_spot"


def test_deploy_is_audited(engine):
    engine.repository.deploy([("approval.bpmn", models.one_task())])
    with engine.db.transaction() as session:
        actions = session.scalars(select(AuditEntry.action)).all()
    assert actions.count("definition.deployed") == 2  # the bundled workflow and this one


def test_validate_is_a_dry_run(engine):
    before = counts(engine)
    assert engine.repository.validate([("approval.bpmn", models.one_task())])["processes"] == ["approval"]
    assert counts(engine) == before


def test_unknown_definition_is_not_found(engine, world):
    with pytest.raises(DefinitionNotFound):
        engine.repository.get_definition("nope")
    with pytest.raises(DefinitionNotFound):
        engine.runtime.start_instance("nope", world["wang"], {})


@pytest.mark.parametrize("length", [400, 12_000])
def test_a_model_too_deep_to_parse_is_refused_with_a_sentence_and_nothing_is_stored(engine, length):
    xml = models.linear(length)
    before = counts(engine)
    for check in (engine.repository.validate, engine.repository.deploy):
        with pytest.raises(DeploymentInvalid) as err:
            check([("linear.bpmn", xml)])
        [problem] = err.value.details
        assert problem["element_id"] == "t299"
        assert "Recursion" not in problem["message"] and "call activities" in problem["message"]
    assert counts(engine) == before


def test_a_model_as_deep_as_allowed_deploys_and_runs(engine, world):
    engine.repository.deploy([("linear.bpmn", models.linear(298))])  # 300 elements in a row
    case = engine.runtime.start_instance("linear", world["wang"], {})
    # plain tasks pass through (as in Camunda 7 and Flowable): the case runs the whole path at once
    assert engine.runtime.get_instance(case["id"], history=False)["status"] == "completed"
    assert {"t0", "t297", "end"} <= set(engine.runtime.diagram_state(case["id"])["completed"])
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.validate([("linear.bpmn", models.linear(299))])
    assert err.value.details[0]["element_id"] == "end"


def test_the_parsers_own_recursion_limit_is_also_a_sentence(engine, monkeypatch):
    from engine import bpmn

    monkeypatch.setattr(bpmn, "MAX_FLOW_DEPTH", 100_000)  # past the first check: the parser's limit answers
    with pytest.raises(DeploymentInvalid) as err:
        engine.repository.validate([("linear.bpmn", models.linear(2_000))])
    assert "too deep" in err.value.details[0]["message"] and "Recursion" not in str(err.value.details)


def test_start_form_names_the_latest_versions_start_form_and_refuses_an_unknown_process(engine):
    assert engine.repository.start_form("dispute_resolution") == "report_case"
    with pytest.raises(DefinitionNotFound):
        engine.repository.start_form("no_such_process")
