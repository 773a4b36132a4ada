"""The joint meeting (联席会议) on the workbench pages: the owner chooses it on the assessment form, each
department's liaison signs on its own task page or returns it (declines); the SLA board counts
returns and urges per department and lists extensions waiting for a decision."""

from __future__ import annotations

from datetime import datetime, timedelta

from tests.helpers import escalate, report_case, task_of

OPINION = {"joint_opinion": "同意联合调处", "joint_measures": "派员参加"}


def joint_case(engine, world, wang, mode="all"):
    case = report_case(engine, world["wang"])
    assessment = engine.tasks.claim(task_of(engine, case, "assess_case")["id"], world["wang"])
    page = wang.text(f"/tasks/{assessment['id']}")
    assert "联席会议（多部门会签）" in page and "或签：任一部门签署即可" in page
    data = {"resolution": "joint", "departments": ["civil_affairs", "health"], "joint_mode": mode}
    assert wang.post(f"/tasks/{assessment['id']}/complete", data).status_code == 302
    tasks = engine.runtime.get_instance(case["id"], history=False)["open_tasks"]
    return case, {t["candidate_groups"][0]: t for t in tasks}


def test_each_liaison_signs_on_their_own_task_page(engine, world, browse):
    wang, li, zhao = browse("wang"), browse("li"), browse("zhao")
    case, tasks = joint_case(engine, world, wang)
    civil, health = tasks["civil_affairs"], tasks["health"]
    assert f'action="/tasks/{civil["id"]}/claim"' in li.text(f"/tasks/{civil['id']}")
    assert li.post(f"/tasks/{civil['id']}/claim").status_code == 302
    page = li.text(f"/tasks/{civil['id']}")
    assert "联席会议会签" in page and "部门意见" in page and 'name="joint_opinion"' in page
    assert f'action="/tasks/{civil["id"]}/return"' in page  # declining is the return form
    assert li.get(f"/tasks/{health['id']}").status_code == 404  # the other department's instance is not theirs
    assert li.post(f"/tasks/{civil['id']}/complete", {"joint_measures": "x"}).status_code == 422
    assert engine.tasks.get_task(civil["id"])["state"] == "claimed"  # nothing signed
    assert li.post(f"/tasks/{civil['id']}/complete", OPINION).status_code == 302
    assert zhao.post(f"/tasks/{health['id']}/return", {"reason": "不属于卫健职责"}).status_code == 302
    assert task_of(engine, case, "assess_case")["assignee"] == "wang"  # not agreed: re-assess
    page = wang.text(f"/cases/{case['id']}")
    assert "拒绝会签" in page and "不属于卫健职责" in page


def test_the_board_counts_returns_and_urges_per_department_and_lists_pending_extensions(engine, world, browse):
    wang, zhou = browse("wang"), browse("zhou")
    assert 'id="returns-urges"' not in zhou.text("/board")
    returned = report_case(engine, world["wang"])
    escalate(engine, world["wang"], returned, ["civil_affairs"])
    engine.tasks.return_task(task_of(engine, returned, "handle_civil_affairs")["id"], world["li"], "不属于民政职责")
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["health"])
    health = task_of(engine, case, "handle_health")
    engine.tasks.urge(health["id"], world["wang"], "请尽快")
    engine.tasks.urge(health["id"], world["zhou"], "再次催办")
    held = engine.tasks.claim(health["id"], world["zhao"])
    asked = datetime.fromisoformat(held["due_at"]) + timedelta(days=3)
    engine.tasks.request_extension(health["id"], world["zhao"], asked, "等待体检结果")
    page = zhou.text("/board")
    assert 'id="returns-urges"' in page
    civil_row = page.split('data-group="civil_affairs"')[1].split("</tr>")[0]
    health_row = page.split('data-group="health"')[1].split("</tr>")[0]
    assert 'data-kind="returns">1<' in civil_row and 'data-kind="urges">0<' in civil_row
    assert 'data-kind="returns">0<' in health_row and 'data-kind="urges">2<' in health_row
    assert f'data-task="{health["id"]}"' in page.split('id="list-extensions"')[1]
    # another station's supervisor sees none of it
    assert 'id="returns-urges"' not in browse("qian").text("/board")
    assert wang.get("/board").status_code in (200, 302, 403)


def test_a_liaison_transfers_the_task_to_another_department_from_its_page(engine, world, browse):
    wang, li = browse("wang"), browse("li")
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    page = li.text(f"/tasks/{task['id']}")
    assert f'action="/tasks/{task["id"]}/transfer-department"' in page and "转办其他部门" in page
    assert '<option value="health">卫健委</option>' in page.split('/transfer-department"')[1].split("</form>")[0]
    assert "transfer-department" not in wang.text(f"/tasks/{task['id']}")  # the owner does not
    assert (
        li.post(f"/tasks/{task['id']}/transfer-department", {"department": "health", "reason": ""}).status_code == 422
    )
    answer = li.post(f"/tasks/{task['id']}/transfer-department", {"department": "health", "reason": "属卫健职责"})
    assert answer.status_code == 302
    assert engine.tasks.get_task(task["id"])["candidate_groups"] == ["health"]
    assert "转办给卫健委" in wang.text(f"/cases/{case['id']}")


def test_an_instance_no_longer_needed_reads_as_cancelled_not_withdrawn_on_the_case_page(engine, world, browse):
    wang, li = browse("wang"), browse("li")
    case, tasks = joint_case(engine, world, wang, mode="any")
    civil = tasks["civil_affairs"]
    assert li.post(f"/tasks/{civil['id']}/claim").status_code == 302
    assert li.post(f"/tasks/{civil['id']}/complete", OPINION).status_code == 302  # any one signs: enough
    page = wang.text(f"/cases/{case['id']}")
    assert "已撤销" in page and "已撤回" not in page  # nobody withdrew it: the meeting no longer needed it
