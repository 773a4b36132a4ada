"""The task list over HTTP: filters, sorting and keyset pagination with limit + cursor."""

from __future__ import annotations

from datetime import timedelta

from tests.api.conftest import error_of


def test_pages_follow_next_cursor_without_gaps_or_repeats(api):
    wang = api.as_("wang")
    reported = [wang.report(risk_level=level)["id"] for level in ["blue", "red", "yellow"] * 3]
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        page = wang.get("/tasks", query_string=query).json
        seen += page["items"]
        pages += 1
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5 and len(seen) == 9
    assert sorted(t["instance_id"] for t in seen) == sorted(reported)
    due = [t["due_at"] for t in seen]
    assert due == sorted(due)  # sort=due: earliest first


def test_due_filters_and_sort_by_priority(api, clock):
    wang = api.as_("wang")
    for level in ("red", "yellow", "blue"):
        wang.report(risk_level=level)
    soon = (clock.now() + timedelta(hours=3)).isoformat()
    assert [t["due_at"] for t in wang.tasks(due_before=soon)] == [(clock.now() + timedelta(hours=2)).isoformat()]
    assert len(wang.tasks(due_after=soon)) == 2
    assert len(wang.tasks(sort="priority")) == 3


def test_assignee_me_candidate_me_and_state_filters(api):
    wang, chen = api.as_("wang"), api.as_("chen")
    first, second = wang.report(), wang.report()
    wang.post(f"/tasks/{wang.task(first, 'assess_case')['id']}/claim")
    assert [t["instance_id"] for t in wang.tasks(assignee="me")] == [first["id"]]
    assert [t["instance_id"] for t in chen.tasks(candidate="me")] == [second["id"]]
    assert [t["instance_id"] for t in chen.tasks(state="claimed")] == [first["id"]]
    assert [t["instance_id"] for t in chen.tasks(business_key=second["business_key"])] == [second["id"]]


def test_naming_another_user_in_a_filter_is_for_supervisors(api):
    wang = api.as_("wang")
    case = wang.report()
    wang.post(f"/tasks/{wang.task(case, 'assess_case')['id']}/claim")
    error_of(api.as_("chen").get("/tasks", query_string={"assignee": "wang"}), 403)
    assert len(api.as_("zhou").tasks(assignee="wang")) == 1
    error_of(api.as_("zhou").get("/tasks", query_string={"assignee": "nobody"}), 404)


def test_case_list_pages_with_a_cursor_and_filters(api):
    wang = api.as_("wang")
    ids = [wang.report()["id"] for _ in range(5)]
    page = wang.get("/process-instances", query_string={"limit": 3}).json
    rest = wang.get("/process-instances", query_string={"limit": 3, "cursor": page["next_cursor"]}).json
    assert rest["next_cursor"] is None
    assert sorted(c["id"] for c in page["items"] + rest["items"]) == sorted(ids)
    wang.post(f"/tasks/{wang.task({'id': ids[0]}, 'assess_case')['id']}/claim")
    mine = wang.get("/process-instances", query_string={"case_owner": "me"}).json["items"]
    assert [c["id"] for c in mine] == [ids[0]]
    assert wang.get("/process-instances", query_string={"status": "completed"}).json["items"] == []
