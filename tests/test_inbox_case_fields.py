"""The inbox's business-field filters (risk level, category, community) read the task rows' copies of
the case's variables: same answers as checking each task's case, kept in step when the variables change."""

from __future__ import annotations

import random
from datetime import timedelta

from engine.case_fields import CASE_FIELDS
from tests.helpers import complete_as, escalate, report_case

RISKS = ("red", "yellow", "blue")
CATEGORIES = ("elderly_care", "hardship", "neighbour_dispute")
COMMUNITIES = ("新桥社区", "东风社区", "Riverside")


def ids(page):
    return [t["id"] for t in page["items"]]


def _generated_cases(engine, world, clock, count=12):
    """Cases of random business fields at both stations; some escalated (department tasks, a completed
    assessment), one with no community at all."""
    chance = random.Random(22)
    for i in range(count):
        officer = world["wang"] if i % 3 else world["liu"]
        fields = {"risk_level": chance.choice(RISKS), "category": chance.choice(CATEGORIES)}
        if i != 5:
            fields["community"] = chance.choice(COMMUNITIES)
        case = report_case(engine, officer, **fields)
        if i % 4 == 1:
            escalate(engine, officer, case, ["civil_affairs"] if i % 8 == 1 else ["civil_affairs", "health"])
        clock.advance(minutes=chance.randint(1, 30))


def _walk(engine, actor, **query):
    seen, cursor = [], None
    while True:
        page = engine.tasks.query(actor, limit=2, cursor=cursor, **query)
        seen += ids(page)
        cursor = page["next_cursor"]
        if cursor is None:
            return seen


def _brute_force(engine, actor, wanted, **query):
    """The same query without the business fields, kept to the tasks whose case has them (in order)."""
    rows = engine.tasks.query(actor, limit=200, **query)["items"]
    cases = {r["instance_id"] for r in rows}
    variables = {c: engine.runtime.get_instance(c, history=False)["variables"] for c in cases}
    return [r["id"] for r in rows if all(variables[r["instance_id"]].get(k) == v for k, v in wanted.items())]


def test_field_filters_equal_a_brute_force_filter_in_every_query_shape(engine, world, clock):
    _generated_cases(engine, world, clock)
    shapes = {
        "equalities only": {},
        "open tasks": {"state": ["open", "claimed"]},
        "completed tasks": {"state": "completed"},
        "a station": {"station_id": world["wang"].station_id},
        "claimable by me": {"candidate": "me"},
        "a department's queue": {"group": "civil_affairs"},
        "involving me": {"involving": world["wang"]},
        "a due window": {"due_before": clock.now() + timedelta(days=30)},
        "by priority": {"sort": "priority"},
    }
    wanted_sets = [
        {"risk_level": "red"},
        {"category": "hardship"},
        {"community": "新桥社区"},
        {"risk_level": "yellow", "community": "Riverside"},
        {"risk_level": "blue", "category": "elderly_care", "community": "东风社区"},
        {"risk_level": "purple"},
    ]
    checked = 0
    for name, query in shapes.items():
        actor = world["li"] if "group" in query else world["wang"]
        for wanted in wanted_sets:
            expected = _brute_force(engine, actor, wanted, **query)
            assert _walk(engine, actor, case_fields=wanted, **query) == expected, (name, wanted)
            checked += len(expected)
    assert checked > 30  # the generated cases put tasks behind most filters


def test_the_task_rows_follow_a_repair_of_the_case_variables(engine, world):
    case = report_case(engine, world["wang"], risk_level="red", community="新桥社区")
    escalate(engine, world["wang"], case, ["civil_affairs"])  # one completed task, one open
    tasks = sorted(ids(engine.tasks.query(instance_id=case["id"])))
    assert len(tasks) == 2
    engine.runtime.update_variables(case["id"], world["admin"], {"risk_level": "blue", "community": "东风社区"}, "typo")
    assert sorted(ids(engine.tasks.query(case_fields={"risk_level": "blue", "community": "东风社区"}))) == tasks
    assert ids(engine.tasks.query(case_fields={"risk_level": "red"})) == []
    assert ids(engine.tasks.query(case_fields={"community": "新桥社区"})) == []


def test_a_completion_that_changes_a_field_moves_the_case_tasks_with_it(engine, world):
    from tests import models

    # review, then a script re-grades the case, then a follow-up: both tasks follow the new grade
    regrade = models.document(
        """<bpmn:process id="regrade" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:userTask id="review" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="calc"/>
  <bpmn:scriptTask id="calc" scriptFormat="python"><bpmn:script>risk_level = 'red'</bpmn:script></bpmn:scriptTask>
  <bpmn:sequenceFlow id="f3" sourceRef="calc" targetRef="follow_up"/>
  <bpmn:userTask id="follow_up" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f4" sourceRef="follow_up" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
        key="regrade",
    )
    engine.repository.deploy([("regrade.bpmn", regrade)], allow_scripts=True)
    case = engine.runtime.start_instance("regrade", world["wang"], {"risk_level": "blue"})
    assert len(ids(engine.tasks.query(case_fields={"risk_level": "blue"}))) == 1
    complete_as(engine, world["wang"], case, "review", {})
    tasks = sorted(ids(engine.tasks.query(instance_id=case["id"])))
    assert len(tasks) == 2
    assert sorted(ids(engine.tasks.query(case_fields={"risk_level": "red"}))) == tasks
    assert ids(engine.tasks.query(case_fields={"risk_level": "blue"})) == []


def test_each_field_filter_reads_its_index(engine, world):
    from engine.tasks.inbox import InboxFilter, _filtered
    from tests.test_schema import _plan

    for name in CASE_FIELDS:
        found = InboxFilter(case_fields={name: "x"}, due_before=engine.clock.now(), limit=50)
        statement = _filtered(found, engine.clock.now())
        assert f"ix_tasks_{name}_due" in _plan(engine, statement, {}), name


def test_the_migration_copies_the_fields_of_existing_cases_onto_their_tasks(engine, world, database_url):
    from alembic import command
    from alembic.script import ScriptDirectory
    from sqlalchemy import create_engine, text

    from engine.store.db import alembic_config

    graded = report_case(engine, world["wang"], risk_level="yellow", community="新桥社区")
    escalate(engine, world["wang"], graded, ["health"])  # a completed task and an open one
    plain = report_case(engine, world["wang"], risk_level="blue", category="hardship")  # no community
    engine.db.engine.dispose()  # no pooled connection holds the table while it is altered
    config = alembic_config(database_url)
    before = ScriptDirectory.from_config(config).get_revision("0013").down_revision
    command.downgrade(config, str(before))
    command.upgrade(config, "head")
    db = create_engine(database_url)
    try:
        with db.connect() as connection:
            rows = connection.execute(
                text("SELECT instance_id, risk_level, category, community FROM human_tasks ORDER BY instance_id")
            ).all()
    finally:
        db.dispose()
    copied = {(i, r, c, m) for i, r, c, m in rows}
    assert copied == {
        (graded["id"], "yellow", "elderly_care", "新桥社区"),
        (plain["id"], "blue", "hardship", None),
    }
    assert len(rows) == 3
