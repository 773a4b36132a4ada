"""Opinions, comments and drafts never in clear: a raw dump of the database (SQLite file, pg_dump)
after a case with all three holds none of their personal words (docs/collaboration.md)."""

from __future__ import annotations

from tests.helpers import report_case, task_of
from tests.test_personal_data import forms_of, raw_dump

WORDS = ["王秀英在场", "13655550000", "孙调解员", "13544443333"]


def test_opinions_comments_and_draft_fields_are_not_in_a_database_dump(engine, world):
    wang, li = world["wang"], world["li"]
    case = report_case(engine, wang)
    engine.comments.add(case["id"], wang, "走访时王秀英在场")
    task = task_of(engine, case, "assess_case")
    engine.tasks.complete(
        task["id"], wang, {"resolution": "escalate", "departments": ["civil_affairs"]}, opinion="请联系13655550000"
    )
    held = task_of(engine, case, "handle_civil_affairs")
    engine.tasks.claim(held["id"], li)
    engine.drafts.save(
        held["id"], li, {"summary": "核实中", "handler_name": "孙调解员", "handler_phone": "13544443333"}
    )
    assert [c["kind"] for c in engine.comments.list(case["id"])] == ["comment", "opinion"]
    dump = raw_dump(engine)
    assert case["business_key"].encode() in dump and "核实中".encode() in dump  # real, with the draft's plain field
    for word in WORDS:
        for form in forms_of(word):
            assert form.encode() not in dump, f"{word!r} found in the database dump"
