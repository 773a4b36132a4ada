"""Real-world BPMN (issue 19): what Camunda, Flowable and BPMN's own notation write runs as written,
or is refused at deploy with a sentence naming the element and the construct."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from lxml import etree
from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser

from engine import bpmn
from engine.errors import DefinitionNotExecutable, DeploymentInvalid, WorkflowFailed
from tests import models
from tests.helpers import PASSWORD, database_rows, open_tasks

FLOWABLE = 'xmlns:flowable="http://flowable.org/bpmn"'
ACTIVITI = 'xmlns:activiti="http://activiti.org/bpmn"'


def doc(body: str, namespaces: str = "", executable: str = ' isExecutable="true"', key: str = "real") -> str:
    header = models.HEADER.format(key=key).replace("<bpmn:definitions ", f"<bpmn:definitions {namespaces} ", 1)
    return f'{header}<bpmn:process id="{key}"{executable}>\n{body}\n</bpmn:process>\n</bpmn:definitions>\n'


def refusal(engine, xml: str, name: str = "model.bpmn") -> list[dict]:
    """Deploy `xml`, expecting a refusal that writes nothing; returns its details."""
    before = database_rows(engine)
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([(name, xml)])
    assert database_rows(engine) == before
    for detail in refused.value.details:
        assert "Error" not in detail["message"] and "Traceback" not in detail["message"]
    return refused.value.details


# --- item 1: sequence flows without ids are not lost ------------------------------------------------
FORK_WITHOUT_FLOW_IDS = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow sourceRef="start" targetRef="fork"/>
  <bpmn:parallelGateway id="fork"/>
  <bpmn:sequenceFlow sourceRef="fork" targetRef="left"/>
  <bpmn:sequenceFlow sourceRef="fork" targetRef="right"/>
  <bpmn:userTask id="left" camunda:candidateGroups="officer"/>
  <bpmn:userTask id="right" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow sourceRef="left" targetRef="join"/>
  <bpmn:sequenceFlow sourceRef="right" targetRef="join"/>
  <bpmn:parallelGateway id="join"/>
  <bpmn:sequenceFlow sourceRef="join" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""


def test_sequence_flows_without_ids_are_kept_and_the_fork_runs_both_ways(engine, world):
    engine.repository.deploy([("fork.bpmn", doc(FORK_WITHOUT_FLOW_IDS))])
    case = engine.runtime.start_instance("real", world["wang"], {})
    tasks = open_tasks(engine, case)
    assert sorted(t["element_id"] for t in tasks) == ["left", "right"]
    for task in tasks:
        engine.tasks.complete(task["id"], world["wang"], {})
    assert engine.runtime.get_instance(case["id"])["status"] == "completed"
    xml = engine.repository.get_definition("real", with_xml=True)["xml"]
    assert 'id="sequenceFlow_fork_left"' in xml  # the generated id is what the stored model shows


def test_an_element_the_parser_drops_is_named_after_parsing():
    xml = doc(FORK_WITHOUT_FLOW_IDS)
    document = bpmn.load_document("fork.bpmn", xml, max_bytes=10**6, allow_scripts=False)
    parser = BpmnParser()
    parser.add_bpmn_xml(etree.fromstring(document.xml.encode()), filename="fork.bpmn")
    spec = parser.get_spec("real")
    process = document.tree().find("bpmn:process", bpmn.NS)
    assert bpmn.graph_problems(process, [spec]) == ([], [])
    fork = next(s for s in spec.task_specs.values() if getattr(s, "bpmn_id", None) == "fork")
    fork.outputs = [o for o in fork.outputs if getattr(o, "bpmn_id", None) != "right"]  # what losing a flow looks like
    problems, _unreached = bpmn.graph_problems(process, [spec])
    assert [(p.element_id, p.message) for p in problems] == [
        (
            "sequenceFlow_fork_right",
            "sequenceFlow 'sequenceFlow_fork_right' from 'fork' to 'right' could not be represented",
        )
    ]


# --- item 2: isExecutable absent runs; "false" deploys but does not start ----------------------------
def test_a_process_without_is_executable_deploys_and_runs(engine, world):
    xml = doc(FORK_WITHOUT_FLOW_IDS, executable="")
    engine.repository.deploy([("plain.bpmn", xml)])
    assert engine.repository.get_definition("real")["status"] == "executable"
    case = engine.runtime.start_instance("real", world["wang"], {})
    assert len(open_tasks(engine, case)) == 2


def test_a_non_executable_process_deploys_for_viewing_and_starting_it_is_refused(engine, world):
    result = engine.repository.deploy([("view.bpmn", doc(FORK_WITHOUT_FLOW_IDS, executable=' isExecutable="false"'))])
    assert any("cannot be started" in w["message"] and w["element_id"] == "real" for w in result["warnings"])
    definition = engine.repository.get_definition("real")
    assert (definition["executable"], definition["status"]) == (False, "not_executable")
    before = database_rows(engine)
    with pytest.raises(DefinitionNotExecutable) as refused:
        engine.runtime.start_instance("real", world["wang"], {})
    assert 'isExecutable="false"' in refused.value.message
    assert database_rows(engine) == before


# --- item 4: BPMN and Flowable/Activiti assignment mean what camunda: means --------------------------
def test_flowable_and_activiti_attributes_assign_as_camunda_does(engine, world, clock):
    body = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
  <bpmn:userTask id="first" flowable:candidateGroups="xinqiao" flowable:dueDate="P2D" flowable:priority="70"/>
  <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second"/>
  <bpmn:userTask id="second" activiti:assignee="chen"/>
  <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    engine.repository.deploy([("flowable.bpmn", doc(body, f"{FLOWABLE} {ACTIVITI}"))])
    case = engine.runtime.start_instance("real", world["wang"], {})
    first = open_tasks(engine, case)[0]
    assert first["candidate_groups"] == ["xinqiao"] and first["priority"] == 70
    assert datetime.fromisoformat(first["due_at"]) == clock.now() + timedelta(days=2)
    engine.tasks.complete(first["id"], world["wang"], {})
    second = open_tasks(engine, case)[0]
    assert second["assignee"] == "chen"


def test_potential_owner_and_human_performer_assign_the_task(engine, world):
    body = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="owned"/>
  <bpmn:userTask id="owned">
    <bpmn:potentialOwner><bpmn:resourceAssignmentExpression>
      <bpmn:formalExpression>user(chen), group(xinqiao)</bpmn:formalExpression>
    </bpmn:resourceAssignmentExpression></bpmn:potentialOwner>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f2" sourceRef="owned" targetRef="performed"/>
  <bpmn:userTask id="performed">
    <bpmn:humanPerformer><bpmn:resourceAssignmentExpression>
      <bpmn:formalExpression>wang</bpmn:formalExpression>
    </bpmn:resourceAssignmentExpression></bpmn:humanPerformer>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f3" sourceRef="performed" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    engine.repository.deploy([("owners.bpmn", doc(body))])
    case = engine.runtime.start_instance("real", world["wang"], {})
    owned = open_tasks(engine, case)[0]
    assert (owned["candidate_groups"], owned["candidate_users"]) == (["xinqiao"], ["chen"])
    engine.tasks.complete(owned["id"], world["chen"], {})
    assert open_tasks(engine, case)[0]["assignee"] == "wang"


def test_an_unknown_candidate_group_is_a_warning_naming_the_task(engine):
    body = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
  <bpmn:userTask id="approve" flowable:candidateGroups="management"/>
  <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    result = engine.repository.validate([("m.bpmn", doc(body, FLOWABLE))])
    assert {"element_id": "approve", "message": "candidate group 'management' is neither a department nor a role"} in (
        result["warnings"]
    )


def test_candidate_groups_match_departments_and_roles_whatever_their_case(engine, world):
    # a Flowable attribute, BPMN's potentialOwner and a lane each name a group in their own case
    body = """
  <bpmn:laneSet id="lanes"><bpmn:lane id="civil" camunda:candidateGroups="Civil_Affairs">
    <bpmn:flowNodeRef>third</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="first"/>
  <bpmn:userTask id="first" flowable:candidateGroups="XinQiao"/>
  <bpmn:sequenceFlow id="f2" sourceRef="first" targetRef="second"/>
  <bpmn:userTask id="second">
    <bpmn:potentialOwner><bpmn:resourceAssignmentExpression>
      <bpmn:formalExpression>group(SUPERVISOR)</bpmn:formalExpression>
    </bpmn:resourceAssignmentExpression></bpmn:potentialOwner>
  </bpmn:userTask>
  <bpmn:sequenceFlow id="f3" sourceRef="second" targetRef="third"/>
  <bpmn:userTask id="third"/>
  <bpmn:sequenceFlow id="f4" sourceRef="third" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    result = engine.repository.deploy([("cased.bpmn", doc(body, FLOWABLE))])
    assert not [w for w in result["warnings"] if "candidate group" in w["message"]]
    case = engine.runtime.start_instance("real", world["wang"], {})
    first = open_tasks(engine, case)[0]
    assert first["candidate_groups"] == ["xinqiao"]
    engine.tasks.complete(first["id"], world["chen"], {})
    second = open_tasks(engine, case)[0]
    assert second["candidate_groups"] == ["supervisor"]
    engine.tasks.complete(second["id"], world["zhou"], {})
    third = open_tasks(engine, case)[0]
    assert third["candidate_groups"] == ["civil_affairs"]
    engine.tasks.complete(third["id"], world["li"], {})
    assert engine.runtime.get_instance(case["id"], history=False)["status"] == "completed"


def test_a_mixed_case_group_no_department_has_warns_and_a_department_created_later_receives_it(engine, world):
    body = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
  <bpmn:userTask id="approve" flowable:candidateGroups="SASWorkflowGroup"/>
  <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    result = engine.repository.deploy([("sas.bpmn", doc(body, FLOWABLE))])
    assert {
        "element_id": "approve",
        "message": "candidate group 'sasworkflowgroup' is neither a department nor a role",
    } in result["warnings"]
    engine.identity.create_department("sasworkflowgroup", "SAS workflow group", "agency")
    engine.identity.create_user("sas_liaison", "liaison", PASSWORD, ["sasworkflowgroup"])
    case = engine.runtime.start_instance("real", world["wang"], {})
    task = open_tasks(engine, case)[0]
    assert task["candidate_groups"] == ["sasworkflowgroup"]
    engine.tasks.complete(task["id"], engine.identity.actor("sas_liaison"), {})
    assert engine.runtime.get_instance(case["id"], history=False)["status"] == "completed"


def test_a_candidate_group_expression_keeps_its_variable_name_as_written():
    xml = doc(
        """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
  <bpmn:userTask id="approve" camunda:candidateGroups="${ownerDept}, Health"/>
  <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    )
    process = etree.fromstring(xml.encode()).find("bpmn:process", bpmn.NS)
    meta = bpmn._process_meta(process, {}, [], [])
    assert meta["tasks"]["approve"]["groups"] == ["${ownerDept}", "health"]


# --- item 5: date expressions; a bad timer value is a clear refusal, never a 500 ----------------------
@pytest.mark.parametrize(
    "due",
    ["${dateTime().plusDays(2).toDate()}", '= now() + duration("P2D")', "${now().plusHours(48)}"],
)
def test_due_dates_written_as_juel_or_feel_date_expressions(engine, world, clock, due):
    engine.repository.deploy(
        [("due.bpmn", models.one_task(task_attrs=f"camunda:candidateGroups=\"officer\" camunda:dueDate='{due}'"))]
    )
    case = engine.runtime.start_instance("approval", world["wang"], {})
    assert datetime.fromisoformat(open_tasks(engine, case)[0]["due_at"]) == clock.now() + timedelta(days=2)


def test_a_feel_timer_date_fires_when_the_clock_reaches_it(engine, world, clock):
    engine.repository.deploy(
        [("timed.bpmn", models.timed('= now() + duration("PT1H")', attached="catch", definition="timeDate"))]
    )
    case = engine.runtime.start_instance("timed", world["wang"], {})
    assert open_tasks(engine, case) == []
    clock.advance(timedelta(minutes=61))
    assert engine.timers.fire_due() == 1
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["review"]


def test_a_timer_whose_variable_holds_an_unparsable_duration_is_refused_in_a_sentence(engine, world):
    engine.repository.deploy([("timed.bpmn", models.timed("${wait}", attached="catch"))])
    before = database_rows(engine)
    with pytest.raises(WorkflowFailed) as failed:
        engine.runtime.start_instance("timed", world["wang"], {"wait": "5 minutes"})
    assert "'5 minutes' is not an ISO 8601 duration" in failed.value.message
    assert "Invalid duration" not in failed.value.message
    assert database_rows(engine) == before


# --- item 6: evenly spaced cron cycles run; crons with gaps are refused in a sentence --------------------
def test_a_daily_cron_boundary_fires_at_its_station_clock_time_and_repeats(engine, world, clock):
    # 12:00 in the station's zone (Asia/Shanghai, UTC+8) is 04:00 UTC; the clock starts at 01:00 UTC
    xml = models.timed("0 0 12 * * ?", attached="task", definition="timeCycle", boundary_interrupting=False)
    engine.repository.deploy([("cron.bpmn", xml)])
    case = engine.runtime.start_instance("timed", world["wang"], {})
    due = [t["due_at"] for t in engine.timers.pending(case["id"]) if t["kind"] == "bpmn_timer"]
    assert due == [clock.now().replace(hour=4).isoformat()]
    clock.advance(timedelta(hours=3, seconds=1))
    assert engine.timers.fire_due() >= 1
    due = [t["due_at"] for t in engine.timers.pending(case["id"]) if t["kind"] == "bpmn_timer"]
    assert due == [(clock.now().replace(hour=4, second=0) + timedelta(days=1)).isoformat()]


def test_a_cron_with_gaps_is_refused_saying_only_evenly_spaced_ones_run(engine):
    details = refusal(engine, models.timed("0 0 9 ? * MON-FRI", attached="task", definition="timeCycle"))
    assert [d["message"] for d in details] == [
        "cron timer cycles with gaps ('0 0 9 ? * MON-FRI') cannot run here: only evenly spaced ones do (every "
        "5 minutes, every day at 12:00); write ISO 8601 repeating intervals such as R/2026-01-01T08:00:00+08:00/P1D"
    ]


def test_a_cron_cycle_on_an_intermediate_catch_event_is_refused(engine):
    details = refusal(engine, models.timed("0 0/5 * * * ?", attached="catch", definition="timeCycle"))
    assert details[0]["message"].endswith(
        "a cron cycle repeats only on a timer start or boundary event; wait here with timeDuration or timeDate"
    )


# --- item 7: QName references ------------------------------------------------------------------------
def test_a_prefixed_message_reference_deploys_and_the_message_is_delivered(engine, world):
    xml = (
        models.HEADER.format(key="inv").replace(
            "<bpmn:definitions ", '<bpmn:definitions xmlns:tns="https://fengqiao.example/test" ', 1
        )
        + """<bpmn:message id="newInvoice" name="newInvoice"/>
<bpmn:process id="real" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait">
    <bpmn:messageEventDefinition messageRef="tns:newInvoice"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="review" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process></bpmn:definitions>"""
    )
    engine.repository.deploy([("invoice.bpmn", xml)])
    case = engine.runtime.start_instance("real", world["wang"], {})
    engine.runtime.correlate_message("newInvoice", world["zhou"], instance_id=case["id"])
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["review"]


# --- item 10: refusals that teach ----------------------------------------------------------------------
def task_doc(task: str) -> str:
    return doc(f"""
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="work"/>
  {task}
  <bpmn:sequenceFlow id="f2" sourceRef="work" targetRef="end"/>
  <bpmn:endEvent id="end"/>""")


@pytest.mark.parametrize(
    ("task", "sentence"),
    [
        (
            '<bpmn:serviceTask id="work" camunda:class="org.example.Archive"/>',
            "serviceTask 'work' uses camunda:class: Java delegates cannot run here; model it as an external task "
            '(camunda:type="external")',
        ),
        (
            '<bpmn:serviceTask id="work" camunda:delegateExpression="${archive}"/>',
            "serviceTask 'work' uses camunda:delegateExpression: Java delegates cannot run here; model it as an "
            'external task (camunda:type="external")',
        ),
        (
            '<bpmn:scriptTask id="work" scriptFormat="groovy"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>',
            "scriptTask 'work' is written in Groovy: Groovy scripts cannot run here; only restricted "
            "'name = expression' scripts do",
        ),
        (
            '<bpmn:scriptTask id="work" scriptFormat="javascript"><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>',
            "scriptTask 'work' is written in JavaScript: JavaScript scripts cannot run here; only restricted "
            "'name = expression' scripts do",
        ),
        (
            '<bpmn:scriptTask id="work" scriptFormat="python" camunda:resource="deployment://archive.py"/>',
            "scriptTask 'work' reads its script from camunda:resource='deployment://archive.py', a file that is "
            "not deployed here; write the script inline in the task",
        ),
        (
            '<bpmn:userTask id="work"><bpmn:extensionElements><camunda:inputOutput>'
            '<camunda:inputParameter name="x"><camunda:script scriptFormat="groovy">1</camunda:script>'
            "</camunda:inputParameter></camunda:inputOutput></bpmn:extensionElements></bpmn:userTask>",
            "userTask 'work': camunda:inputParameter 'x' is a Groovy script: Groovy scripts cannot run here; "
            "write a ${…} expression instead",
        ),
    ],
)
def test_unsupported_constructs_are_refused_naming_element_and_construct(engine, task, sentence):
    assert [d["message"] for d in refusal(engine, task_doc(task))] == [sentence]


def test_a_script_task_without_a_script_is_refused_at_deploy_rather_than_failing_when_reached(engine):
    before = database_rows(engine)
    with pytest.raises(DeploymentInvalid) as refused:
        engine.repository.deploy([("empty.bpmn", task_doc('<bpmn:scriptTask id="work" scriptFormat="python"/>'))],
                                 allow_scripts=True)  # fmt: skip
    assert [d["message"] for d in refused.value.details] == ["scriptTask 'work' has no script"]
    assert database_rows(engine) == before


def test_data_stores_and_compensation_are_refused_by_name(engine):
    body = """
  <bpmn:dataStoreReference id="archive"/>
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="undo"/>
  <bpmn:intermediateThrowEvent id="undo"><bpmn:compensateEventDefinition/></bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="undo" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    messages = {d["element_id"]: d["message"] for d in refusal(engine, doc(body))}
    assert messages == {
        "archive": "dataStoreReference 'archive': data stores have no implementation",
        "undo": "intermediateThrowEvent 'undo': compensation is not supported",
    }


def test_a_java_listener_on_a_throw_event_is_a_warning_naming_it(engine):
    body = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="done"/>
  <bpmn:intermediateThrowEvent id="done"><bpmn:extensionElements>
    <camunda:executionListener class="org.example.Notify" event="end"/></bpmn:extensionElements>
  </bpmn:intermediateThrowEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="done" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    result = engine.repository.validate([("l.bpmn", doc(body))])
    assert {
        "element_id": "done",
        "message": "intermediateThrowEvent 'done': the executionListener (camunda:executionListener class, "
        "event 'end') is ignored: listeners do not run here",
    } in result["warnings"]


def test_an_internal_parser_failure_is_told_without_its_exception_text(engine):
    # a message without a name made SpiffWorkflow raise a TypeError; it is refused before, by name
    xml = (
        models.HEADER.format(key="m")
        + """<bpmn:message id="msg"/>
<bpmn:process id="real" isExecutable="true">
  <bpmn:startEvent id="start"><bpmn:messageEventDefinition messageRef="msg"/></bpmn:startEvent>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process></bpmn:definitions>"""
    )
    details = refusal(engine, xml)
    assert details == [{"element_id": "msg", "message": "message has no name"}]


def test_an_error_ref_naming_no_error_is_its_error_code_as_in_camunda(engine, world):
    body = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sub"/>
  <bpmn:subProcess id="sub">
    <bpmn:startEvent id="sub_start"/>
    <bpmn:sequenceFlow id="s1" sourceRef="sub_start" targetRef="fail"/>
    <bpmn:endEvent id="fail"><bpmn:errorEventDefinition errorRef="myError"/></bpmn:endEvent>
  </bpmn:subProcess>
  <bpmn:boundaryEvent id="caught" attachedToRef="sub">
    <bpmn:errorEventDefinition errorRef="myError"/>
  </bpmn:boundaryEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="caught" targetRef="handle"/>
  <bpmn:userTask id="handle" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="handle" targetRef="end"/>
  <bpmn:sequenceFlow id="f4" sourceRef="sub" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    engine.repository.deploy([("errors.bpmn", doc(body))])
    case = engine.runtime.start_instance("real", world["wang"], {})
    assert [t["element_id"] for t in open_tasks(engine, case)] == ["handle"]


def test_an_event_referring_to_a_message_the_document_lacks_is_refused_by_name(engine):
    body = """
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait"/>
  <bpmn:intermediateCatchEvent id="wait">
    <bpmn:messageEventDefinition messageRef="tns:nowhere"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait" targetRef="end"/>
  <bpmn:endEvent id="end"/>"""
    assert refusal(engine, doc(body)) == [
        {
            "element_id": "wait",
            "message": "intermediateCatchEvent 'wait' refers to message 'tns:nowhere', which the document does not "
            "define (add a bpmn:message with that id)",
        }
    ]


# --- JUEL and date forms in the restricted evaluator ----------------------------------------------------
@pytest.mark.parametrize(
    ("juel", "python"),
    [
        ("${x ? 'PT1H' : 'PT2H'}", "('PT1H' if x else 'PT2H')"),
        ("${a ? b ? 1 : 2 : 3}", "((1 if b else 2) if a else 3)"),
        ("${f(a ? 1 : 2, [1,2])}", "f((1 if a else 2), [1, 2])"),
        ("${amount gt 1000 && level eq 'red'}", "amount > 1000 and level == 'red'"),
        ("${s == 'a ? b : c' || n mod 2 ne 0}", "s == 'a ? b : c' or n % 2 != 0"),
    ],
)
def test_juel_conditionals_and_word_operators_are_translated_at_deploy(juel, python):
    from engine import expressions

    assert expressions.normalize(juel) == python


def test_date_functions_stay_inside_the_evaluators_bounds():
    from engine import expressions
    from engine.errors import ExpressionError

    evaluator = expressions.Evaluator()
    for hostile in ("now().plusYears(10**9)", "now().plusDays(10**20)", 'duration("P" + "9" * 400 + "D")'):
        with pytest.raises(ExpressionError):
            evaluator.evaluate(hostile, {})
    for refused in ("now()._shift('Days', 1)", "now().replace(year=1)", "dateTime().astimezone()"):
        with pytest.raises(ExpressionError):
            evaluator.evaluate(refused, {})
    with pytest.raises(ExpressionError, match="is a function, not a value"):
        evaluator.evaluate("duration", {})
    assert evaluator.evaluate('date("2026-12-01") + duration("P1DT2H")', {}) == "2026-12-02T02:00:00+00:00"
