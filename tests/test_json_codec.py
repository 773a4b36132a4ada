"""What the engine stores as JSON reads back as it was written: the workflow state and the JSON
columns, encoded with orjson (engine/json_codec.py) where the standard library used to be."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

from SpiffWorkflow.util.task import TaskState
from sqlalchemy import insert, select

from engine import json_codec
from engine.store.models import AuditEntry
from tests.helpers import report_case

BIG = 2**70  # beyond orjson's 64-bit integers


def _saved_and_loaded(engine, case, **data):
    with engine.db.read() as session:
        loaded = engine.repository.load(session, case["definition_id"])
    workflow = engine.serializer.new(loaded.spec, loaded.subprocess_specs)
    task = workflow.get_tasks(state=TaskState.READY)[0]
    task.set_data(**data)
    state = engine.serializer.dumps(workflow)
    again = engine.serializer.loads(state, loaded.spec, loaded.subprocess_specs)
    return state, again.get_task_from_id(task.id).data


def test_typed_task_data_keeps_its_type_through_a_save(engine, world):
    case = report_case(engine, world["wang"])
    when = datetime(2026, 11, 30, 9, 30, tzinfo=UTC)
    state, data = _saved_and_loaded(engine, case, when=when, within=timedelta(hours=24), nested={"at": [when]})
    assert data["when"] == when and isinstance(data["when"], datetime)
    assert data["within"] == timedelta(hours=24)
    assert data["nested"] == {"at": [when]}
    assert '"typename":"datetime"' in state  # SpiffWorkflow's typed value, not orjson's plain string


def test_values_orjson_cannot_encode_are_saved_by_the_standard_library(engine, world):
    case = report_case(engine, world["wang"])
    state, data = _saved_and_loaded(engine, case, count=BIG, labels={1: "一", None: "无"}, note="调解成功")
    assert data["count"] == BIG and isinstance(data["count"], int)
    assert data["labels"] == {"1": "一", "null": "无"}  # keys as json.dumps writes them
    assert data["note"] == "调解成功"


def test_keys_and_text_are_encoded_as_the_standard_library_reads_them():
    value = {"名称": "枫桥", 2: [1.5, -0.0, True, None], "big": BIG}
    assert json.loads(json_codec.dumps(value)) == json.loads(json.dumps(value))
    assert json_codec.dumps({"名称": "枫桥"}) == '{"名称":"枫桥"}'  # UTF-8, not \\u escapes


def test_json_columns_read_back_what_was_written(engine):
    details = {"count": BIG, "名称": "民政局", "flags": [True, None, 0.1], 7: "seven"}
    with engine.db.transaction() as session:
        session.execute(
            insert(AuditEntry.__table__).values(at=datetime.now(UTC), actor="test", action="test.json", details=details)
        )
    with engine.db.read() as session:
        stored = session.scalars(select(AuditEntry.details).where(AuditEntry.action == "test.json")).one()
    assert stored == {"count": BIG, "名称": "民政局", "flags": [True, None, 0.1], "7": "seven"}
