"""Personal data never in clear: not in workflow state, projections, audit, outbox or anywhere a dump shows."""

from __future__ import annotations

import json
import shutil
import subprocess

import pytest
from cryptography.exceptions import InvalidTag
from sqlalchemy import select, update

from engine.store.models import PersonalRecord
from tests.helpers import REPORT, complete_as, escalate, report_case

SECRETS = ["刘桂兰", "11010119450101123X", "13912345678", "新桥社区7栋101室", "赵经办", "13700001111", "老人说很满意"]


def forms_of(text: str) -> list[str]:
    """A secret as it could appear in a dump: raw UTF-8 or JSON-escaped."""
    return [text, json.dumps(text)[1:-1]]


def walk_a_case(engine, world):
    wang, li = world["wang"], world["li"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs"])
    complete_as(
        engine,
        li,
        case,
        "handle_civil_affairs",
        {"outcome": "resolved", "summary": "已办结", "handler_name": "赵经办", "handler_phone": "13700001111"},
    )
    complete_as(engine, wang, case, "feedback_to_resident", {"satisfaction": "satisfied", "comment": "老人说很满意"})
    return case


def raw_dump(engine) -> bytes:
    url = engine.settings.database_url
    if url.startswith("sqlite"):
        path = url.split("///", 1)[1]
        engine.close()  # checkpoint the WAL into the file
        chunks = []
        for suffix in ("", "-wal", "-shm"):
            try:
                with open(path + suffix, "rb") as handle:
                    chunks.append(handle.read())
            except FileNotFoundError:
                pass
        return b"".join(chunks)
    pg_dump = shutil.which("pg_dump")
    assert pg_dump, "pg_dump is needed for the PostgreSQL dump test"
    dsn = url.replace("postgresql+psycopg://", "postgresql://")
    return subprocess.run([pg_dump, "--data-only", dsn], check=True, capture_output=True).stdout


def test_a_raw_database_dump_contains_no_personal_data(engine, world):
    case = walk_a_case(engine, world)
    dump = raw_dump(engine)
    assert case["business_key"].encode() in dump  # the dump is real and holds the case
    for secret in SECRETS:
        for form in forms_of(secret):
            assert form.encode() not in dump, f"{secret!r} found in the database dump"


def test_personal_data_is_readable_through_the_audited_vault(engine, world):
    case = walk_a_case(engine, world)
    records = engine.runtime.personal_data(case["id"], world["wang"], purpose="回访核实 feedback check")
    by_source = {r["source"]: r["data"] for r in records}
    assert by_source["start"]["parties"] == REPORT["parties"]
    assert by_source["start"]["household"] == REPORT["household"]
    assert by_source["department_result"] == {"handler_name": "赵经办", "handler_phone": "13700001111"}
    assert by_source["feedback_to_resident"] == {"comment": "老人说很满意"}
    reads = [h for h in engine.runtime.get_instance(case["id"])["history"] if h["action"] == "personal_data.read"]
    assert reads[-1]["actor"] == "wang" and reads[-1]["details"]["purpose"].startswith("回访核实")


def test_a_ciphertext_moved_to_another_case_does_not_decrypt(engine, world):
    first = report_case(engine, world["wang"])
    second = report_case(engine, world["wang"])
    with engine.db.transaction() as session:
        source = session.scalars(select(PersonalRecord).where(PersonalRecord.instance_id == first["id"])).one()
        session.execute(
            update(PersonalRecord)
            .where(PersonalRecord.instance_id == second["id"])
            .values(nonce=source.nonce, ciphertext=source.ciphertext)
        )
    with pytest.raises(InvalidTag):
        engine.runtime.personal_data(second["id"], world["wang"], purpose="tamper check")


def test_the_data_key_lives_outside_the_database(engine):
    key_file = engine.settings.instance_path / "data.key"
    assert key_file.exists() and oct(key_file.stat().st_mode & 0o777) == "0o600"
