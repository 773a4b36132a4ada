"""The workbench pages over the engine: what each role sees and does, and parity with the API."""

from __future__ import annotations

import re
import uuid

import pytest

from tests.helpers import DEPARTMENT_RESULT, escalate, report_case, task_of
from web import access
from web.pages.home import INBOX_LISTS

TASK_LINK = re.compile(r'href="/tasks/([0-9a-f-]{36})"')


def listed(html: str, name: str) -> list[str]:
    """The task ids of one list section of a page, in order."""
    found = re.search(rf'<section class="list" id="list-{name}".*?</section>', html, re.S)
    return TASK_LINK.findall(found.group(0)) if found else []


def some_cases(engine, world):
    """Cases in every state a list can show: claimable, claimed, in a department queue, another station's."""
    first = report_case(engine, world["wang"])
    second = report_case(engine, world["chen"], risk_level="blue")
    engine.tasks.claim(task_of(engine, second, "assess_case")["id"], world["chen"])
    third = report_case(engine, world["wang"], risk_level="yellow")
    escalate(engine, world["wang"], third, ["civil_affairs", "health"])
    engine.tasks.claim(task_of(engine, third, "handle_health")["id"], world["zhao"])
    report_case(engine, world["liu"])
    return first, second, third


@pytest.mark.parametrize("username", ["wang", "chen", "liu", "li", "zhao", "zhou"])
def test_each_roles_inbox_lists_exactly_what_the_api_returns_for_that_user(engine, world, api, browse, username):
    some_cases(engine, world)
    html = browse(username).text("/")
    caller = api.as_(username)
    for name, query in INBOX_LISTS.items():
        assert listed(html, name) == [t["id"] for t in caller.tasks(**query)], name


def test_the_supervisor_board_lists_the_station_open_tasks_the_api_returns(engine, world, api, browse):
    some_cases(engine, world)
    html = browse("zhou").text("/board")
    zhou = api.as_("zhou")
    expected = sorted(t["id"] for state in ("open", "claimed") for t in zhou.tasks(state=state, limit=200))
    assert sorted(listed(html, "open")) == expected and expected


def test_case_page_shows_personal_fields_in_clear_exactly_when_the_api_does(engine, world, api, browse):
    _, _, third = some_cases(engine, world)
    engine.tasks.claim(task_of(engine, third, "handle_civil_affairs")["id"], world["li"])
    for username in ("wang", "chen", "zhou", "li", "zhao"):
        view = api.as_(username).case(third)
        html = browse(username).text(f"/cases/{third['id']}")
        clear = view["personal_data"]["visibility"] == "clear"
        assert ("刘桂兰" in html) is clear, username
        assert ("13912345678" in html) is clear, username
        if not clear:
            assert "139****5678" in html, username


def test_an_officer_of_another_station_gets_404_for_the_case_and_task_pages(engine, world, browse):
    case = report_case(engine, world["wang"])
    liu = browse("liu")
    assert liu.get(f"/cases/{case['id']}").status_code == 404
    assert liu.get(f"/tasks/{case['open_tasks'][0]['id']}").status_code == 404
    assert liu.get(f"/cases/{uuid.uuid4()}").status_code == 404


def test_the_officer_loop_in_pages_with_an_invalid_then_valid_assessment(engine, world, browse):
    wang, li = browse("wang"), browse("li")
    form = wang.text("/cases/new")
    assert 'name="risk_level"' in form and 'name="parties-0-name"' in form
    reported = wang.post(
        "/cases/new",
        {"risk_level": "red", "category": "elderly_care", "description": "独居老人", "parties-0-name": "刘桂兰"},
    )
    assert reported.status_code == 302
    case = engine.runtime.list_instances(limit=1)[0]
    assessment = task_of(engine, case, "assess_case")
    assert wang.post(f"/tasks/{assessment['id']}/claim").status_code == 302
    invalid = wang.post(f"/tasks/{assessment['id']}/complete", {"resolution": "escalate", "assessment": "需要民政"})
    assert invalid.status_code == 422
    assert "需要民政" in invalid.get_data(as_text=True)  # what was typed comes back
    assert engine.tasks.get_task(assessment["id"])["state"] == "claimed"
    done = wang.post(f"/tasks/{assessment['id']}/complete", {"resolution": "escalate", "departments": "civil_affairs"})
    assert done.status_code == 302
    handle = task_of(engine, case, "handle_civil_affairs")
    assert listed(li.text("/"), "claimable") == [handle["id"]]
    assert li.post(f"/tasks/{handle['id']}/claim").status_code == 302
    assert li.post(f"/tasks/{handle['id']}/complete", DEPARTMENT_RESULT).status_code == 302
    feedback = task_of(engine, case, "feedback_to_resident")
    assert listed(wang.text("/"), "mine") == [feedback["id"]]
    assert wang.post(f"/tasks/{feedback['id']}/complete", {"satisfaction": "satisfied"}).status_code == 302
    page = wang.text(f"/cases/{case['id']}")
    assert "status-completed" in page and "上报了案件" in page and "办结了" in page


def test_a_claim_lost_to_a_colleague_is_a_409_page_that_leads_back_to_the_inbox(engine, world, browse):
    case = report_case(engine, world["wang"])
    task = case["open_tasks"][0]
    wang, chen = browse("wang"), browse("chen")
    token = chen.csrf("/")
    assert wang.post(f"/tasks/{task['id']}/claim").status_code == 302
    lost = chen.client.post(f"/tasks/{task['id']}/claim", data={"csrf_token": token})
    text = lost.get_data(as_text=True)
    assert lost.status_code == 409 and "同事已先一步签收" in text and 'href="/"' in text
    assert engine.tasks.get_task(task["id"])["assignee"] == "wang"


def test_release_puts_the_task_back_in_the_queue(engine, world, browse):
    case = report_case(engine, world["wang"])
    task = case["open_tasks"][0]
    wang = browse("wang")
    wang.post(f"/tasks/{task['id']}/claim")
    assert wang.post(f"/tasks/{task['id']}/release").status_code == 302
    assert engine.tasks.get_task(task["id"])["state"] == "open"


def test_role_pages_are_refused_to_other_roles_with_a_403_page(browse, world):
    assert browse("li").get("/board").status_code == 403
    assert browse("wang").get("/audit").status_code == 403
    assert browse("sun").get("/cases/new").status_code == 403
    assert browse("sun").get("/").status_code == 302  # the auditor's home is the trail
    assert browse("sun").get("/audit").status_code == 200
    assert browse("admin").get("/").status_code == 200


def test_every_page_has_an_access_decision(app):
    pages = {r.endpoint for r in app.url_map.iter_rules() if access.is_page(r.endpoint)}
    assert pages - access.PUBLIC_PAGES == set(access.PAGE_ROLES)


def test_the_auditor_filters_the_trail_by_case_user_and_action(engine, world, browse):
    first = report_case(engine, world["wang"])
    report_case(engine, world["chen"])
    sun = browse("sun")
    by_case = sun.text(f"/audit?case={first['business_key']}")
    assert "chen" not in by_case and "instance.started" in by_case
    rows = sun.text("/audit?user=chen&action=instance.started").split("<tbody>")[1]
    assert rows.count("instance.started") == 1 and "chen" in rows and "wang" not in rows
    assert sun.get("/audit?user=a%20b").status_code == 400


def test_the_supervisor_reassigns_a_task_and_the_owner_and_cancels_with_a_reason(engine, world, browse):
    case = report_case(engine, world["wang"])
    task = case["open_tasks"][0]
    zhou = browse("zhou")
    refused = zhou.post(f"/tasks/{task['id']}/reassign", {"user": "chen", "reason": ""})
    assert refused.status_code == 422 and engine.tasks.get_task(task["id"])["assignee"] is None
    assert zhou.post(f"/tasks/{task['id']}/reassign", {"user": "chen", "reason": "休假"}).status_code == 302
    assert engine.tasks.get_task(task["id"])["assignee"] == "chen"
    assert zhou.post(f"/cases/{case['id']}/owner", {"user": "wang", "reason": "辖区调整"}).status_code == 302
    assert engine.runtime.get_instance(case["id"])["case_owner"] == "wang"
    assert zhou.post(f"/cases/{case['id']}/cancel", {"reason": ""}).status_code == 422
    assert engine.runtime.get_instance(case["id"])["status"] == "running"
    assert zhou.post(f"/cases/{case['id']}/cancel", {"reason": "重复上报"}).status_code == 302
    assert engine.runtime.get_instance(case["id"])["status"] == "cancelled"
    assert "重复上报" in zhou.text(f"/cases/{case['id']}")


def test_the_board_counts_a_breached_task_when_time_passes(engine, world, browse, clock):
    case = report_case(engine, world["wang"])
    zhou = browse("zhou")
    assert listed(zhou.text("/"), "breached") == []
    clock.advance(hours=3)  # past the assessment deadline, within the login token lifetime
    html = zhou.text("/")
    assert listed(html, "breached") == [case["open_tasks"][0]["id"]]
    assert 'sla-cell-breached" data-state="breached">1<' in html


def test_a_long_inbox_list_pages_with_the_apis_cursor(engine, world, api, browse):
    for _ in range(INBOX_LISTS["claimable"]["limit"] + 3):
        report_case(engine, world["chen"])
    wang = browse("wang")
    first = wang.text("/")
    more = re.search(r'href="/\?claimable=([^"]+)"', first)
    assert more and len(listed(first, "claimable")) == INBOX_LISTS["claimable"]["limit"]
    second = wang.text(f"/?claimable={more.group(1)}")
    page = api.as_("wang").get("/tasks", query_string={**INBOX_LISTS["claimable"], "cursor": more.group(1)}).json
    assert listed(second, "claimable") == [t["id"] for t in page["items"]] and len(page["items"]) == 3
    assert wang.get("/?claimable=not-a-cursor").status_code == 400


def test_a_liaison_claims_from_the_queue_in_one_click_and_lands_on_the_form(engine, world, browse):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    handle = task_of(engine, case, "handle_civil_affairs")
    li = browse("li")
    queue = li.text("/")
    assert f'action="/tasks/{handle["id"]}/claim"' in queue
    response = li.post(f"/tasks/{handle['id']}/claim")
    assert response.headers["Location"] == f"/tasks/{handle['id']}"
    assert 'name="outcome"' in li.text(f"/tasks/{handle['id']}")


def test_the_timeline_names_a_timer_as_the_system_not_by_its_internal_name(engine, world, browse, clock):
    case = report_case(engine, world["wang"])
    clock.advance(hours=200)
    engine.timers.fire_due()
    history = engine.runtime.get_instance(case["id"])["history"]
    assert {(h["actor"], h["by_system"]) for h in history} == {("wang", False), ("timer", True)}
    wang = browse("wang")
    page = wang.text(f"/cases/{case['id']}")
    assert "<strong>系统定时器</strong>" in page and "<strong>timer</strong>" not in page
    assert "<strong>wang</strong>" in page  # a person stays who they are
    assert wang.post("/locale", {"locale": "en", "next": "/"}).status_code == 302
    assert "<strong>Timer (system)</strong>" in wang.text(f"/cases/{case['id']}")
