"""Copy (抄送) on the workbench pages (docs/operations.md): the owner copies from the case page, the
recipient finds it under "Copied to me" and marks it read; refusals change nothing."""

from __future__ import annotations

from tests.helpers import database_rows, report_case, task_of


def test_the_owner_copies_from_the_case_page_and_the_recipient_marks_it_read(engine, world, browse):
    case = report_case(engine, world["wang"])
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])  # wang owns it
    wang, chen, li = browse("wang"), browse("chen"), browse("li")
    page = wang.text(f"/cases/{case['id']}")
    assert f'action="/cases/{case["id"]}/copies"' in page
    assert f'action="/cases/{case["id"]}/copies"' not in chen.text(f"/cases/{case['id']}")  # not the owner
    answer = wang.post(f"/cases/{case['id']}/copies", {"reason": "请知悉", "users": "chen，li", "groups": []})
    assert answer.status_code == 302
    assert "抄送" in wang.text(f"/cases/{case['id']}") and "请知悉" in wang.text(f"/cases/{case['id']}")
    mine = chen.text("/copies")
    assert case["business_key"] in mine and f'href="/cases/{case["id"]}"' in mine and "请知悉" in mine
    theirs = li.text("/copies")  # a liaison without a task of the case: the notice, not the link
    assert case["business_key"] in theirs and f'href="/cases/{case["id"]}"' not in theirs
    [copy] = engine.copies.list_for(world["chen"])
    assert chen.post(f"/copies/{copy['id']}/read", csrf_from="/copies").status_code == 302
    assert engine.copies.list_for(world["chen"])[0]["read_at"] is not None
    assert f'action="/copies/{copy["id"]}/read"' not in chen.text("/copies")


def test_copying_from_the_page_needs_a_reason_and_a_recipient_and_others_are_refused(engine, world, browse):
    case = report_case(engine, world["wang"])
    engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])  # wang owns it
    wang, chen, li = browse("wang"), browse("chen"), browse("li")
    before = database_rows(engine)
    assert wang.post(f"/cases/{case['id']}/copies", {"reason": " ", "users": "chen"}).status_code == 422
    assert wang.post(f"/cases/{case['id']}/copies", {"reason": "x", "users": ""}).status_code == 422
    assert chen.post(f"/cases/{case['id']}/copies", {"reason": "x", "users": "li"}).status_code == 403
    assert li.post(f"/cases/{case['id']}/copies", {"reason": "x", "users": "chen"}).status_code == 403
    assert database_rows(engine) == before
