"""Handling operations on the workbench pages (docs/operations.md): a supervisor suspends and resumes a
case from its page; everyone sees the suspension on the case and task pages; refusals change nothing."""

from __future__ import annotations

from tests.helpers import PASSWORD, database_rows, escalate, report_case, task_of


def test_the_supervisor_suspends_and_resumes_a_case_from_its_page(engine, world, browse):
    case = report_case(engine, world["wang"])
    task = case["open_tasks"][0]
    zhou, wang = browse("zhou"), browse("wang")
    page = zhou.text(f"/cases/{case['id']}")
    assert f'action="/cases/{case["id"]}/suspend"' in page and "/resume" not in page
    assert f'action="/cases/{case["id"]}/suspend"' not in wang.text(f"/cases/{case['id']}")  # officers do not
    assert zhou.post(f"/cases/{case['id']}/suspend", {"reason": "等待法院开庭"}).status_code == 302
    assert engine.runtime.get_instance(case["id"])["status"] == "suspended"
    for who in (zhou, wang):
        page = who.text(f"/cases/{case['id']}")
        assert "suspended-note" in page and "等待法院开庭" in page and "status-suspended" in page
    assert "state-suspended" in zhou.text(f"/cases/{case['id']}")
    task_page = wang.text(f"/tasks/{task['id']}")
    assert "已暂停：案件已挂起" in task_page and f'action="/tasks/{task["id"]}/claim"' not in task_page
    assert f'action="/cases/{case["id"]}/resume"' in zhou.text(f"/cases/{case['id']}")
    assert zhou.post(f"/cases/{case['id']}/resume", {"reason": "法院已排期"}).status_code == 302
    page = zhou.text(f"/cases/{case['id']}")
    assert engine.runtime.get_instance(case["id"])["status"] == "running" and "suspended-note" not in page
    assert "法院已排期" in page  # the timeline says it in words


def test_suspending_from_the_page_needs_a_reason_and_an_officer_is_refused(engine, world, browse):
    case = report_case(engine, world["wang"])
    zhou, wang = browse("zhou"), browse("wang")
    before = database_rows(engine)
    assert zhou.post(f"/cases/{case['id']}/suspend", {"reason": "  "}).status_code == 422
    assert wang.post(f"/cases/{case['id']}/suspend", {"reason": "court"}).status_code == 403
    assert zhou.post(f"/cases/{case['id']}/resume", {"reason": "go"}).status_code == 409
    assert database_rows(engine) == before


def test_the_owner_urges_from_the_task_page_and_the_liaison_sees_the_flag(engine, world, browse):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    wang, li = browse("wang"), browse("li")
    assert f'action="/tasks/{task["id"]}/urge"' in wang.text(f"/tasks/{task['id']}")
    assert f'action="/tasks/{task["id"]}/urge"' not in li.text(f"/tasks/{task['id']}")
    before = database_rows(engine)
    assert wang.post(f"/tasks/{task['id']}/urge", {"reason": " "}).status_code == 422
    assert li.post(f"/tasks/{task['id']}/urge", {"reason": "x"}).status_code == 403
    assert database_rows(engine) == before
    assert wang.post(f"/tasks/{task['id']}/urge", {"reason": "群众再次来电"}).status_code == 302
    page = li.text(f"/tasks/{task['id']}")
    assert "urged-note" in page and "1 次" in page
    assert "催办了" in wang.text(f"/cases/{case['id']}")  # the timeline, in words


def test_the_owner_withdraws_an_unclaimed_escalation_from_the_task_page(engine, world, browse):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    wang, li = browse("wang"), browse("li")
    assert f'action="/tasks/{task["id"]}/withdraw"' in wang.text(f"/tasks/{task['id']}")
    assert f'action="/tasks/{task["id"]}/withdraw"' not in li.text(f"/tasks/{task['id']}")
    assert li.post(f"/tasks/{task['id']}/withdraw", {"reason": "x"}).status_code == 403
    answer = wang.post(f"/tasks/{task['id']}/withdraw", {"reason": "补充信息"})
    assert answer.status_code == 302
    assert task_of(engine, case, "assess_case")["assignee"] == "wang"
    assert "撤回了移交" in wang.text(f"/cases/{case['id']}")


def test_the_liaison_returns_from_the_task_page_and_the_owner_sees_why(engine, world, browse):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    wang, li = browse("wang"), browse("li")
    assert f'action="/tasks/{task["id"]}/return"' in li.text(f"/tasks/{task['id']}")
    assert f'action="/tasks/{task["id"]}/return"' not in wang.text(f"/tasks/{task['id']}")
    before = database_rows(engine)
    assert li.post(f"/tasks/{task['id']}/return", {"reason": ""}).status_code == 422
    assert wang.post(f"/tasks/{task['id']}/return", {"reason": "x"}).status_code == 403
    assert database_rows(engine) == before
    assert li.post(f"/tasks/{task['id']}/return", {"reason": "不属于民政职责"}).status_code == 302
    assert engine.tasks.get_task(task["id"])["state"] == "returned"
    page = wang.text(f"/cases/{case['id']}")
    assert "退回了" in page and "不属于民政职责" in page


def test_the_holder_transfers_from_the_task_page(engine, world, browse):
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])
    li = browse("li")
    page = li.text(f"/tasks/{task['id']}")
    assert f'action="/tasks/{task["id"]}/transfer"' in page and 'value="ma"' in page
    assert li.post(f"/tasks/{task['id']}/transfer", {"user": "ma", "reason": ""}).status_code == 422
    assert li.post(f"/tasks/{task['id']}/transfer", {"user": "ma", "reason": "休假"}).status_code == 302
    assert engine.tasks.get_task(task["id"])["assignee"] == "ma"
    assert "转办给 ma" in browse("wang").text(f"/cases/{case['id']}")


def test_the_holder_asks_for_more_time_and_the_supervisor_approves_on_the_task_page(engine, world, browse):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])
    li, zhou = browse("li"), browse("zhou")
    assert f'action="/tasks/{task["id"]}/extension"' in li.text(f"/tasks/{task['id']}")
    before = database_rows(engine)
    assert li.post(f"/tasks/{task['id']}/extension", {"days": "5", "reason": "r"}).status_code == 422
    assert li.post(f"/tasks/{task['id']}/extension", {"days": "3", "reason": ""}).status_code == 422
    assert database_rows(engine) == before
    assert li.post(f"/tasks/{task['id']}/extension", {"days": "3", "reason": "等待体检结果"}).status_code == 302
    page = zhou.text(f"/tasks/{task['id']}")
    assert "extension-note" in page and 'name="decision" value="approve"' in page
    assert "申请延期中" in zhou.text(f"/cases/{case['id']}")
    assert li.post(f"/tasks/{task['id']}/extension/decision", {"decision": "approve", "reason": "x"}).status_code == 403
    reply = zhou.post(f"/tasks/{task['id']}/extension/decision", {"decision": "approve", "reason": "同意"})
    assert reply.status_code == 302
    assert engine.tasks.get_task(task["id"])["extended_from"] == task["due_at"]
    assert "extended-note" in li.text(f"/tasks/{task['id']}") and "批准延期" in zhou.text(f"/cases/{case['id']}")


def test_delegate_and_hand_back_on_the_task_page(engine, world, browse):
    engine.identity.create_user("ma", "liaison", PASSWORD, ["civil_affairs"])
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = engine.tasks.claim(task_of(engine, case, "handle_civil_affairs")["id"], world["li"])
    li, ma = browse("li"), browse("ma")
    assert f'action="/tasks/{task["id"]}/delegate"' in li.text(f"/tasks/{task['id']}")
    assert li.post(f"/tasks/{task['id']}/delegate", {"user": "ma", "reason": "请协助"}).status_code == 302
    page = ma.text(f"/tasks/{task['id']}")
    assert "delegated-note" in page and f'action="/tasks/{task["id"]}/resolve"' in page
    assert ma.post(f"/tasks/{task['id']}/resolve", {"reason": "已入户核实"}).status_code == 302
    assert engine.tasks.get_task(task["id"])["assignee"] == "li"
    assert "委派给 ma" in browse("wang").text(f"/cases/{case['id']}")
