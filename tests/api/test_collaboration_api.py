"""Opinions, comments, common phrases, drafts and saved views over HTTP (docs/collaboration.md):
what each may do, each refusal with its code and no row changed, and no text outside its sealed row."""

from __future__ import annotations

from sqlalchemy import select

from engine.store.models import Comment, TaskDraft
from tests.api.conftest import error_of
from tests.helpers import PASSWORD, database_rows, rows_added

OPINION = "同意，已与刘桂兰电话沟通"


def comments_of(who, case):
    response = who.get(f"/process-instances/{case['id']}/comments")
    assert response.status_code == 200, response.json
    return response.json["items"]


def refused(engine, response_of, status: int, code: str):
    before = database_rows(engine)
    error = error_of(response_of(), status, code)
    assert database_rows(engine) == before
    return error


def test_an_opinion_given_with_a_completion_shows_in_the_case_sealed_and_outside_events(api, engine):
    wang = api.as_("wang")
    case = wang.report()
    before = database_rows(engine)
    task = wang.task(case, "assess_case")
    response = wang.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}, "opinion": OPINION})
    assert response.status_code == 200, response.json
    [opinion] = comments_of(wang, case)
    assert (opinion["kind"], opinion["text"], opinion["author"], opinion["role"], opinion["task_id"]) == (
        "opinion",
        OPINION,
        "wang",
        "officer",
        task["id"],
    )
    events = [e for e in rows_added(engine, before, "outbox") if e["type"] == "comment.added"]
    assert [e["payload"]["kind"] for e in events] == ["opinion"]
    audit = [e for e in rows_added(engine, before, "audit_log") if e["action"] == "comment.added"]
    assert audit and all(OPINION not in repr(e) for e in events + audit)
    with engine.db.read() as scope:
        sealed = scope.scalars(select(Comment.ciphertext)).one()
    assert "刘桂兰".encode() not in sealed and OPINION.encode() not in sealed
    assert "comment.added" in [e["action"] for e in wang.case(case)["history"]]


def test_an_empty_opinion_is_no_opinion_and_a_too_long_one_is_refused_with_nothing_completed(api, engine):
    wang = api.as_("wang")
    case = wang.report()
    task = wang.task(case, "assess_case")
    refused(
        engine,
        lambda: wang.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}, "opinion": "长" * 2001}),
        422,
        "validation_failed",
    )
    response = wang.post(f"/tasks/{task['id']}/complete", {"data": {"resolution": "on_spot"}, "opinion": "  "})
    assert response.status_code == 200
    assert comments_of(wang, case) == []


def test_case_participants_comment_and_everyone_who_sees_the_case_reads(api, engine):
    wang, zhou, chen = api.as_("wang"), api.as_("zhou"), api.as_("chen")
    case = wang.report()
    for who, text in ((wang, "已约当事人明天上午面谈"), (zhou, "请尽快办理")):
        response = who.post(f"/process-instances/{case['id']}/comments", {"text": text})
        assert response.status_code == 201, response.json
    texts = [(c["author"], c["role"], c["kind"], c["text"]) for c in comments_of(chen, case)]
    assert texts == [
        ("wang", "officer", "comment", "已约当事人明天上午面谈"),
        ("zhou", "supervisor", "comment", "请尽快办理"),
    ]


def test_who_may_not_comment_is_refused_and_nothing_is_written(api, engine):
    wang = api.as_("wang")
    case = wang.report()
    path = f"/process-instances/{case['id']}/comments"
    callers = {name: api.as_(name) for name in ("chen", "liu", "li", "admin", "sun")}
    refused(engine, lambda: callers["chen"].post(path, {"text": "旁观者"}), 403, "forbidden")  # sees, not a participant
    refused(engine, lambda: callers["liu"].post(path, {"text": "别的派出所"}), 404, "not_found")
    refused(engine, lambda: callers["li"].post(path, {"text": "无任务的联络员"}), 404, "not_found")
    refused(engine, lambda: callers["admin"].post(path, {"text": "管理员"}), 403, "forbidden")
    refused(engine, lambda: callers["sun"].get(path), 403, "forbidden")
    refused(engine, lambda: callers["liu"].get(path), 404, "not_found")
    refused(engine, lambda: wang.post(path, {"text": ""}), 422, "validation_failed")
    refused(engine, lambda: wang.post(path, {"text": "   "}), 422, "invalid_input")
    refused(engine, lambda: wang.post(path, {"text": "x", "author": "zhou"}), 422, "validation_failed")


def test_a_closed_case_takes_no_more_comments(api, engine):
    wang, zhou = api.as_("wang"), api.as_("zhou")
    case = wang.report()
    assert zhou.post(f"/process-instances/{case['id']}/cancel", {"reason": "重复上报"}).status_code == 200
    refused(
        engine,
        lambda: zhou.post(f"/process-instances/{case['id']}/comments", {"text": "补充"}),
        409,
        "instance_not_running",
    )


def test_common_phrases_are_a_users_own_after_the_station_defaults(api, engine):
    admin, wang, chen = api.as_("admin"), api.as_("wang"), api.as_("chen")
    default = admin.post("/phrases", {"text": "情况属实，同意办理"}).json
    own = wang.post("/phrases", {"text": "已电话联系当事人"}).json
    assert (default["default"], own["default"]) == (True, False)
    assert [p["text"] for p in wang.get("/phrases").json["items"]] == ["情况属实，同意办理", "已电话联系当事人"]
    assert [p["text"] for p in chen.get("/phrases").json["items"]] == ["情况属实，同意办理"]
    refused(engine, lambda: wang.delete(f"/phrases/{default['id']}"), 404, "phrase_not_found")
    refused(engine, lambda: chen.delete(f"/phrases/{own['id']}"), 404, "phrase_not_found")
    refused(engine, lambda: wang.post("/phrases", {"text": ""}), 422, "validation_failed")
    sun = api.as_("sun")
    refused(engine, lambda: sun.get("/phrases"), 403, "forbidden")
    assert wang.delete(f"/phrases/{own['id']}").status_code == 204
    assert [p["text"] for p in wang.get("/phrases").json["items"]] == ["情况属实，同意办理"]


def test_a_draft_is_restored_for_its_holder_and_goes_with_the_completion(api, engine):
    wang = api.as_("wang")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "on_spot"})
    task = wang.task(case, "handle_on_spot")
    path = f"/tasks/{task['id']}/draft"
    saved = wang.put(path, json={"data": {"measures": "已上门调解", "not_a_field": 1}})
    assert saved.status_code == 200, saved.json
    assert wang.get(path).json["data"] == {"measures": "已上门调解"}
    chen, liu = api.as_("chen"), api.as_("liu")
    refused(engine, lambda: chen.get(path), 404, "draft_not_found")
    refused(engine, lambda: chen.put(path, json={"data": {"measures": "x"}}), 403, "not_assignee")
    refused(engine, lambda: liu.put(path, json={"data": {"measures": "x"}}), 404, "not_found")
    assert wang.post(f"/tasks/{task['id']}/complete", {"data": {"result": "resolved"}}).status_code == 200
    error_of(wang.get(path), 404, "draft_not_found")
    with engine.db.read() as scope:
        assert scope.scalars(select(TaskDraft)).all() == []


def test_a_draft_goes_when_the_task_changes_hands(api, engine):
    wang, zhou = api.as_("wang"), api.as_("zhou")
    case = wang.report()
    task = wang.task(case, "assess_case")
    path = f"/tasks/{task['id']}/draft"
    # an open task is claimed before anything is typed into it
    refused(engine, lambda: wang.put(path, json={"data": {"resolution": "on_spot"}}), 409, "task_not_open")
    assert wang.post(f"/tasks/{task['id']}/claim").status_code == 200
    assert wang.put(path, json={"data": {"resolution": "escalate"}}).status_code == 200
    assert wang.post(f"/tasks/{task['id']}/unclaim").status_code == 200
    error_of(wang.get(path), 404, "draft_not_found")
    refused(engine, lambda: wang.put(path, json={"data": {"resolution": "on_spot"}}), 409, "task_not_open")
    assert wang.post(f"/tasks/{task['id']}/claim").status_code == 200
    assert wang.put(path, json={"data": {"resolution": "on_spot"}}).status_code == 200
    moved = zhou.post(f"/process-instances/{case['id']}/case-owner", {"user": "chen", "reason": "休假"})
    assert moved.status_code == 200, moved.json
    chen = api.as_("chen")
    error_of(chen.get(path), 404, "draft_not_found")
    with engine.db.read() as scope:
        assert scope.scalars(select(TaskDraft)).all() == []


def test_personal_fields_of_a_draft_are_sealed(api, engine):
    wang, li = api.as_("wang"), api.as_("li")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    task = li.task(case, "handle_civil_affairs")
    assert li.post(f"/tasks/{task['id']}/claim").status_code == 200
    data = {"summary": "已核实", "handler_name": "赵建国", "handler_phone": "13700001111"}
    assert li.put(f"/tasks/{task['id']}/draft", json={"data": data}).status_code == 200
    assert li.get(f"/tasks/{task['id']}/draft").json["data"] == data
    with engine.db.read() as scope:
        row = scope.scalars(select(TaskDraft)).one()
    assert row.data == {"summary": "已核实"}
    assert "赵建国".encode() not in row.ciphertext and b"13700001111" not in row.ciphertext


def test_saved_views_are_a_users_own_and_survive_logout(api, engine, client):
    wang = api.as_("wang")
    view = wang.post("/saved-views", {"name": "我的超时", "filters": {"assignee": "me", "sla_state": "breached"}})
    assert view.status_code == 201, view.json
    assert wang.post("/auth/logout").status_code == 204
    token = client.post("/api/v1/auth/login", json={"username": "wang", "password": PASSWORD}).json["token"]
    again = api.with_token(token, "wang")
    assert again.get("/saved-views").json["items"] == [view.json]
    chen = api.as_("chen")
    assert chen.get("/saved-views").json["items"] == []
    refused(engine, lambda: again.post("/saved-views", {"name": "我的超时", "filters": {}}), 409, "already_exists")
    for filters, status, code in (
        ({"sla_state": "late"}, 422, "validation_failed"),
        ({"limit": 5}, 422, "validation_failed"),
        ({"assignee": "chen"}, 403, "forbidden"),
    ):
        refused(engine, lambda f=filters: again.post("/saved-views", {"name": "坏", "filters": f}), status, code)
    refused(engine, lambda: chen.delete(f"/saved-views/{view.json['id']}"), 404, "saved_view_not_found")
    assert again.delete(f"/saved-views/{view.json['id']}").status_code == 204


def test_a_due_window_in_hours_moves_with_the_clock(api, engine, clock):
    wang = api.as_("wang")
    case = wang.report()  # red: claim due in 2 hours
    view = wang.post("/saved-views", {"name": "两小时内", "filters": {"candidate": "me", "due_within": 1}}).json
    assert view["filters"] == {"candidate": "me", "due_within": "1"}
    assert [t["instance_id"] for t in wang.tasks(candidate="me", due_within=1)] == []
    clock.advance(hours=1.5)
    assert [t["instance_id"] for t in wang.tasks(candidate="me", due_within=1)] == [case["id"]]
    error_of(wang.get("/tasks", query_string={"due_within": 0}), 400, "invalid_query")


def test_the_inbox_filters_by_the_cases_risk_category_and_community_and_a_view_keeps_them(api, engine):
    wang = api.as_("wang")
    red = wang.report(community="东湖社区")
    blue = wang.report(risk_level="blue", category="neighbour_dispute", community="新桥社区")
    claimable = {"candidate": "me"}
    assert [t["instance_id"] for t in wang.tasks(**claimable, risk_level="red")] == [red["id"]]
    assert [t["instance_id"] for t in wang.tasks(**claimable, community="新桥社区")] == [blue["id"]]
    assert [t["instance_id"] for t in wang.tasks(**claimable, category="neighbour_dispute", risk_level="red")] == []
    view = wang.post("/saved-views", {"name": "东湖红色", "filters": {"risk_level": "red", "community": "东湖社区"}})
    assert view.status_code == 201, view.json
    error_of(wang.get("/tasks", query_string={"risk_level": "purple"}), 400, "invalid_query")


def test_a_draft_goes_when_its_task_is_cancelled_with_the_case(api, engine):
    wang, zhou = api.as_("wang"), api.as_("zhou")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "on_spot"})
    task = wang.task(case, "handle_on_spot")
    assert wang.put(f"/tasks/{task['id']}/draft", json={"data": {"measures": "进行中"}}).status_code == 200
    assert zhou.post(f"/process-instances/{case['id']}/cancel", {"reason": "重复上报"}).status_code == 200
    with engine.db.read() as scope:
        assert scope.scalars(select(TaskDraft)).all() == []
