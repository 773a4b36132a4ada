"""DMN business rule tasks: the invoice example end to end, each hit policy, the FEEL cells, refusals."""

from __future__ import annotations

import json
from pathlib import Path
from xml.sax.saxutils import escape

import pytest

from engine import decisions
from engine.errors import DeploymentInvalid, ExpressionError, WorkflowFailed
from engine.expressions import Evaluator
from tests.helpers import complete_as, database_rows, open_tasks
from tests.models import document

MODELS = Path(__file__).parent / "models"
INVOICE_DMN = (MODELS / "invoiceBusinessDecisions.dmn").read_bytes()
INVOICE_BPMN = (MODELS / "invoice_decision.bpmn").read_bytes()
APPROVE_FORM = json.loads((MODELS / "approve_invoice.json").read_text())
DMN_NS = "https://www.omg.org/spec/DMN/20191111/MODEL/"


def deploy_invoice(engine, world):
    return engine.repository.deploy(
        [("invoice.bpmn", INVOICE_BPMN), ("invoiceBusinessDecisions.dmn", INVOICE_DMN)],
        world["admin"],
        forms={"approve_invoice": APPROVE_FORM},
    )


def variables(engine, case):
    return engine.runtime.get_instance(case["id"], history=False)["variables"]


# --- the invoice example ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("amount", "category", "groups"),
    [
        (100, "Misc", ["accounting", "sales"]),  # day-to-day expense: both rules of the COLLECT table
        (250, "Misc", ["management"]),  # [250..1000] includes its ends: budget
        (1000, "Misc", ["management"]),
        (1000.5, "Misc", ["management"]),  # > 1000: exceptional
        (99999, "Travel Expenses", ["accounting", "sales"]),  # "-" amount: any
        (1, "Software License Costs", ["management"]),
    ],
)
def test_the_invoice_example_assigns_the_approver_groups_its_decisions_give(engine, world, amount, category, groups):
    deploy_invoice(engine, world)
    case = engine.runtime.start_instance("invoice", world["wang"], {"amount": amount, "invoiceCategory": category})
    assert variables(engine, case)["approverGroups"] == groups
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["approveInvoice"]


def test_the_invoice_example_runs_its_approve_path_to_the_end(engine, world, settings, clock):
    from engine import Engine

    result = deploy_invoice(engine, world)
    assert [d["key"] for d in result["definitions"]] == ["invoice"]
    case = engine.runtime.start_instance("invoice", world["wang"], {"amount": 30, "invoiceCategory": "Misc"})
    other = Engine(settings, clock)  # another process: the spec parsed again from the stored definition
    try:
        complete_as(other, world["zhou"], case, "approveInvoice", {"approved": True})
    finally:
        other.close()
    done = engine.runtime.get_instance(case["id"])
    assert done["status"] == "completed"
    assert done["variables"]["approverGroups"] == ["accounting", "sales"]
    assert "invoiceProcessed" in engine.runtime.diagram_state(case["id"])["completed"]


def test_the_invoice_example_not_approved_ends_unprocessed(engine, world):
    deploy_invoice(engine, world)
    case = engine.runtime.start_instance("invoice", world["wang"], {"amount": 3000, "invoiceCategory": "Misc"})
    assert variables(engine, case)["approverGroups"] == ["management"]
    complete_as(engine, world["zhou"], case, "approveInvoice", {"approved": False})
    assert "invoiceNotProcessed" in engine.runtime.diagram_state(case["id"])["completed"]


def test_no_matching_rule_of_the_invoice_decision_gives_no_group(engine, world):
    deploy_invoice(engine, world)
    case = engine.runtime.start_instance("invoice", world["wang"], {"amount": 30, "invoiceCategory": "Food"})
    assert variables(engine, case)["approverGroups"] == []


def test_a_changed_decision_table_is_a_new_version_the_same_one_is_not(engine, world):
    assert deploy_invoice(engine, world)["definitions"][0]["version"] == 1
    assert deploy_invoice(engine, world)["definitions"][0]["created"] is False
    changed = INVOICE_DMN.replace(b"&lt; 250", b"&lt; 200")  # 220 is now in no class
    again = engine.repository.deploy(
        [("invoice.bpmn", INVOICE_BPMN), ("d.dmn", changed)], world["admin"], forms={"approve_invoice": APPROVE_FORM}
    )
    assert again["definitions"][0]["version"] == 2
    case = engine.runtime.start_instance("invoice", world["wang"], {"amount": 220, "invoiceCategory": "Misc"})
    assert variables(engine, case)["approverGroups"] == []


def test_a_decision_that_fails_on_a_value_refuses_the_start_and_writes_nothing(engine, world):
    deploy_invoice(engine, world)
    before = database_rows(engine)
    with pytest.raises(WorkflowFailed) as refused:
        engine.runtime.start_instance("invoice", world["wang"], {"amount": "lots", "invoiceCategory": "Misc"})
    assert "assignApprover" in refused.value.message and "invoiceClassification" in refused.value.message
    assert database_rows(engine) == before


# --- hit policies ---------------------------------------------------------------------------------
def table(rules: list[tuple[str, str]], hit_policy: str | None = "UNIQUE", aggregation: str | None = None) -> str:
    """A one-input (`score`), one-output (`level`) decision `grade`, a rule per (test, output)."""
    policy = f' hitPolicy="{hit_policy}"' if hit_policy else ""
    policy += f' aggregation="{aggregation}"' if aggregation else ""
    body = "".join(
        f'<rule id="r{i}"><inputEntry id="i{i}"><text>{escape(test)}</text></inputEntry>'
        f'<outputEntry id="o{i}"><text>{escape(output)}</text></outputEntry></rule>'
        for i, (test, output) in enumerate(rules, start=1)
    )
    return (
        f'<definitions xmlns="{DMN_NS}" id="grading" name="Grading" namespace="https://fengqiao.example/dmn">'
        f'<decision id="grade" name="Grade"><decisionTable id="t"{policy}>'
        '<input id="in1" label="Score">'
        '<inputExpression id="e1" typeRef="integer"><text>score</text></inputExpression></input>'
        '<output id="out1" name="level" typeRef="string"/>'
        f"{body}</decisionTable></decision></definitions>"
    )


def rule_task(mapping: str = "resultList", key: str = "graded", variable: str = "result") -> str:
    return document(
        f'''<bpmn:process id="{key}" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="decide"/>
  <bpmn:businessRuleTask id="decide" camunda:decisionRef="grade" camunda:resultVariable="{variable}"
      camunda:mapDecisionResult="{mapping}"/>
  <bpmn:sequenceFlow id="f2" sourceRef="decide" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>''',
        key=key,
    )


def decide(engine, world, dmn: str, score, mapping: str = "resultList"):
    engine.repository.deploy([("graded.bpmn", rule_task(mapping)), ("grade.dmn", dmn)], world["admin"])
    case = engine.runtime.start_instance("graded", world["wang"], {"score": score})
    return variables(engine, case)["result"]


OVERLAPPING = [(">= 50", '"pass"'), (">= 80", '"good"'), ("[90..100]", '"excellent"'), ("< 50", '"fail"')]


@pytest.mark.parametrize(
    ("hit_policy", "aggregation", "score", "expected"),
    [
        ("FIRST", None, 95, [{"level": "pass"}]),
        ("FIRST", None, 10, [{"level": "fail"}]),
        ("RULE ORDER", None, 95, [{"level": "pass"}, {"level": "good"}, {"level": "excellent"}]),
        ("COLLECT", None, 85, [{"level": "pass"}, {"level": "good"}]),
        ("COLLECT", "COUNT", 95, [{"level": 3}]),
    ],
)
def test_hit_policies_first_rule_order_and_collect(engine, world, hit_policy, aggregation, score, expected):
    assert decide(engine, world, table(OVERLAPPING, hit_policy, aggregation), score) == expected


def test_collect_sums_the_matched_outputs(engine, world):
    rules = [(">= 0", "10"), (">= 50", "5"), ("> 90", "1")]
    assert decide(engine, world, table(rules, "COLLECT", "SUM"), 95) == [{"level": 16}]
    assert decide(engine, world, table(rules, "COLLECT", "MAX"), 60, "singleEntry") == 10


@pytest.mark.parametrize("hit_policy", ["UNIQUE", None])  # UNIQUE is the default
def test_unique_gives_the_one_matching_rule(engine, world, hit_policy):
    rules = [("< 50", '"fail"'), ("[50..100]", '"pass"')]
    assert decide(engine, world, table(rules, hit_policy), 70, "singleEntry") == "pass"


def test_unique_with_two_matching_rules_fails_naming_them_and_writes_nothing(engine, world):
    engine.repository.deploy([("graded.bpmn", rule_task()), ("grade.dmn", table(OVERLAPPING))], world["admin"])
    before = database_rows(engine)
    with pytest.raises(WorkflowFailed) as refused:
        engine.runtime.start_instance("graded", world["wang"], {"score": 85})
    assert "UNIQUE" in refused.value.message and "1 (r1), 2 (r2)" in refused.value.message
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("mapping", "score", "expected"),
    [
        ("singleResult", 85, {"level": "good"}),
        ("singleEntry", 85, "good"),
        ("collectEntries", 85, ["good"]),
        ("resultList", 85, [{"level": "good"}]),
        ("singleEntry", -1, None),
        ("collectEntries", -1, []),
    ],
)
def test_map_decision_result_as_camunda_does(engine, world, mapping, score, expected):
    rules = [("[0..79]", '"pass"'), ("[80..100]", '"good"')]
    assert decide(engine, world, table(rules), score, mapping) == expected


# --- FEEL simple unary tests ------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("cell", "value", "matches"),
    [
        ("< 250", 249.9, True),
        ("< 250", 250, False),
        ("<= 250", 250, True),
        ("> 1000", 1000, False),
        (">= 1000", 1000, True),
        ("[250..1000]", 250, True),
        ("[250..1000]", 1000, True),
        ("]250..1000[", 250, False),
        ("(250..1000)", 999, True),
        ("[1..5[", 5, False),
        ('"Misc"', "Misc", True),
        ('"Misc"', "misc", False),
        ('"budget", "exceptional"', "exceptional", True),
        ('"budget", "exceptional"', "day-to-day expense", False),
        ("1, 2, [10..20]", 15, True),
        ('not("Misc")', "Travel", True),
        ('not("Misc", "Travel")', "Travel", False),
        ("true", True, True),
        ("false", True, False),
        ("null", None, True),
        ("< limit", 5, True),  # a variable as the endpoint
        ("< 250", None, False),  # null compares to nothing
        ('"a, b"', "a, b", True),  # a comma inside a string
        ("-", "anything", True),
        ("", None, True),
    ],
)
def test_feel_simple_unary_tests(cell, value, matches):
    test = decisions.unary_test(cell)
    assert (test is None) == (cell in ("", "-"))
    if test is not None:
        assert bool(Evaluator().evaluate(test, {"cellInput": value, "limit": 10})) is matches


@pytest.mark.parametrize(
    "cell",
    [
        'date("2026-01-01")',
        "> amount * 2",
        "< 5 and > 1",
        "some x in y satisfies x",
        '"unclosed',
        "1,,2",
        "[1..]",
        "= 5",
        "instance of string",
        "__import__",
    ],
)
def test_feel_beyond_simple_unary_tests_is_refused(cell):
    with pytest.raises(ExpressionError):
        decisions.unary_test(cell)


# --- refusals at deploy ---------------------------------------------------------------------------------
def refused(engine, world, files) -> str:
    before = database_rows(engine)
    with pytest.raises(DeploymentInvalid) as caught:
        engine.repository.deploy(files, world["admin"])
    assert database_rows(engine) == before
    text = caught.value.message + " | " + " | ".join(d["message"] for d in caught.value.details)
    assert "Traceback" not in text and "TypeError" not in text
    return text


@pytest.mark.parametrize("policy", ["PRIORITY", "ANY", "OUTPUT ORDER"])
def test_other_hit_policies_are_refused_naming_the_decision(engine, world, policy):
    text = refused(engine, world, [("g.bpmn", rule_task()), ("g.dmn", table(OVERLAPPING, policy))])
    assert f"decision 'grade' (Grade) has hit policy {policy}" in text


def test_feel_beyond_unary_tests_is_refused_naming_the_rule(engine, world):
    dmn = table([("< 5", '"low"'), ('date("2026-01-01")', '"dated"')])
    text = refused(engine, world, [("g.bpmn", rule_task()), ("g.dmn", dmn)])
    assert (
        "decision 'grade' (Grade) rule 2 (r2): input entry 'date(\"2026-01-01\")' is not a FEEL simple unary test"
        in text
    )


def test_an_output_the_evaluator_refuses_is_refused_naming_the_rule(engine, world):
    dmn = table([("< 5", "__import__('os')")])
    assert "decision 'grade' (Grade) rule 1 (r1) output" in refused(
        engine, world, [("g.bpmn", rule_task()), ("g.dmn", dmn)]
    )


def test_a_literal_expression_decision_is_refused(engine, world):
    dmn = (
        f'<definitions xmlns="{DMN_NS}" id="d" name="D" namespace="https://fengqiao.example/dmn">'
        '<decision id="grade" name="Grade"><literalExpression id="l"><text>score * 2</text></literalExpression>'
        "</decision></definitions>"
    )
    text = refused(engine, world, [("g.bpmn", rule_task()), ("g.dmn", dmn)])
    assert "decision 'grade' (Grade) is a literalExpression; only decision tables can run here" in text


def test_a_requirement_the_document_cannot_satisfy_is_refused(engine, world):
    dmn = table([("< 5", '"low"')]).replace(
        '<decisionTable id="t"',
        '<informationRequirement id="ir"><requiredDecision href="#elsewhere"/></informationRequirement>'
        '<decisionTable id="t"',
    )
    text = refused(engine, world, [("g.bpmn", rule_task()), ("g.dmn", dmn)])
    assert "requires decision 'elsewhere', which this document does not define" in text
    bkm = table([("< 5", '"low"')]).replace(
        '<decisionTable id="t"',
        '<knowledgeRequirement id="kr"><requiredKnowledge href="#bkm"/></knowledgeRequirement><decisionTable id="t"',
    )
    assert "business knowledge model" in refused(engine, world, [("g.bpmn", rule_task()), ("g.dmn", bkm)])


def test_a_business_rule_task_without_its_decision_is_refused(engine, world):
    assert "deploy its .dmn file with the model" in refused(engine, world, [("g.bpmn", rule_task())])
    no_ref = rule_task().replace('camunda:decisionRef="grade"', "")
    assert "business rule task names no decision" in refused(engine, world, [("g.bpmn", no_ref)])
    java = rule_task().replace('camunda:decisionRef="grade"', 'camunda:class="org.example.Rules"')
    assert "Java delegates cannot run here" in refused(engine, world, [("g.bpmn", java)])
    several = (
        table([("< 5", '"low"')])
        .replace(
            '<output id="out1" name="level" typeRef="string"/>',
            '<output id="out1" name="level"/><output id="out2" name="note"/>',
        )
        .replace(
            '<outputEntry id="o1"><text>"low"</text></outputEntry>',
            '<outputEntry id="o1"><text>"low"</text></outputEntry><outputEntry id="o1b"><text>"x"</text></outputEntry>',
        )
    )
    assert "needs one output" in refused(engine, world, [("g.bpmn", rule_task("singleEntry")), ("g.dmn", several)])


def test_a_deployment_of_decisions_alone_or_twice_is_refused(engine, world):
    assert "no BPMN model" in refused(engine, world, [("g.dmn", table([("< 5", '"low"')]))])
    dmn = table([("< 5", '"low"')])
    assert "defined in two DMN documents" in refused(
        engine, world, [("g.bpmn", rule_task()), ("a.dmn", dmn), ("b.dmn", dmn)]
    )


def test_hostile_dmn_documents_are_refused(engine, world):
    doctype = '<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e SYSTEM "file:///etc/passwd">]>' + table([("< 5", "&e;")])
    assert "DOCTYPE" in refused(engine, world, [("g.bpmn", rule_task()), ("g.dmn", doctype)])
    broken = table([("< 5", '"low"')])[:-20]
    assert "not well-formed" in refused(engine, world, [("g.bpmn", rule_task()), ("g.dmn", broken)])


# --- over HTTP ----------------------------------------------------------------------------------------------
def test_the_dmn_file_deploys_with_the_bpmn_in_one_multipart_request(engine, world):
    import io

    from tests.helpers import PASSWORD
    from web import create_app

    client = create_app(engine).test_client()
    token = client.post("/api/v1/auth/login", json={"username": "admin", "password": PASSWORD}).json["token"]
    headers = {"Authorization": f"Bearer {token}"}

    def upload(*files):
        data = {"files": [(io.BytesIO(content), name) for name, content in files]}
        return client.post(
            "/api/v1/process-definitions", headers=headers, data=data, content_type="multipart/form-data"
        )

    before = database_rows(engine)
    alone = upload(("invoice.bpmn", INVOICE_BPMN))
    assert alone.status_code == 422 and alone.json["error"]["code"] == "deployment_invalid"
    assert "deploy its .dmn file with the model" in alone.json["error"]["details"][0]["message"]
    assert database_rows(engine) == before
    form = json.dumps(APPROVE_FORM).encode()
    response = upload(("invoice.bpmn", INVOICE_BPMN), ("decisions.xml", INVOICE_DMN), ("approve_invoice.json", form))
    assert response.status_code == 201, response.json
    assert [(d["key"], d["version"]) for d in response.json["definitions"]] == [("invoice", 1)]
    case = engine.runtime.start_instance("invoice", world["wang"], {"amount": 500, "invoiceCategory": "Misc"})
    assert variables(engine, case)["approverGroups"] == ["management"]


def test_a_file_is_dmn_by_the_namespace_of_its_root_element():
    assert decisions.is_dmn(INVOICE_DMN)
    assert decisions.is_dmn(table([("< 5", '"low"')]).replace("<definitions xmlns=", "<dmn:definitions xmlns:dmn="))
    assert not decisions.is_dmn(INVOICE_BPMN)
    declares = INVOICE_BPMN.replace(b"<definitions ", f'<definitions xmlns:dmn="{DMN_NS}" '.encode())
    assert not decisions.is_dmn(declares)  # a BPMN document that merely declares DMN's namespace
    assert not decisions.is_dmn(b"not xml at all")
