"""The collaboration pages without a browser: an opinion and a comment in the case's timeline, the
common-phrase chips, a draft rendered back into the form, saved views as inbox tabs; refusals
change nothing."""

from __future__ import annotations

from tests.helpers import database_rows


def test_an_opinion_and_a_comment_show_in_the_timeline_with_author_and_role(browse, api):
    wang = api.as_("wang")
    case = wang.report()
    task = wang.task(case, "assess_case")
    page = browse("wang")
    done = page.post(
        f"/tasks/{task['id']}/complete",
        {"resolution": "on_spot", "opinion": "同意就地化解"},
        csrf_from=f"/tasks/{task['id']}",
    )
    assert done.status_code == 302, done.get_data(as_text=True)[:500]
    said = page.post(f"/cases/{case['id']}/comments", {"text": "已约当事人面谈"}, csrf_from=f"/cases/{case['id']}")
    assert said.status_code == 302
    html = page.text(f"/cases/{case['id']}")
    assert "同意就地化解" in html and "已约当事人面谈" in html
    assert "gave an opinion on" in html or "给出意见" in html


def test_an_onlooker_gets_no_comment_form_and_a_refused_post_changes_nothing(browse, api, engine):
    case = api.as_("wang").report()
    chen = browse("chen")
    html = chen.text(f"/cases/{case['id']}")
    assert 'name="text"' not in html
    token = chen.csrf(f"/cases/{case['id']}")  # reading the case page is an audited read: before the snapshot
    before = database_rows(engine)
    refused = chen.client.post(f"/cases/{case['id']}/comments", data={"text": "旁观", "csrf_token": token})
    assert refused.status_code == 403
    assert database_rows(engine) == before


def test_common_phrases_are_offered_as_chips_on_the_form(browse, api):
    api.as_("admin").post("/phrases", {"text": "情况属实，同意办理"})
    wang = api.as_("wang")
    wang.post("/phrases", {"text": "已电话联系当事人"})
    case = wang.report()
    task = wang.task(case, "assess_case")
    wang.post(f"/tasks/{task['id']}/claim")
    html = browse("wang").text(f"/tasks/{task['id']}")
    assert 'data-phrase="情况属实，同意办理"' in html and 'data-phrase="已电话联系当事人"' in html


def test_a_draft_posted_by_the_page_comes_back_in_the_form_on_another_session(browse, api):
    wang = api.as_("wang")
    case = wang.report()
    wang.complete(case, "assess_case", {"resolution": "on_spot"})
    task = wang.task(case, "handle_on_spot")
    first = browse("wang")
    saved = first.post(f"/tasks/{task['id']}/draft", {"measures": "已上门调解两次"}, csrf_from=f"/tasks/{task['id']}")
    assert saved.status_code == 204
    assert "已上门调解两次" in browse("wang").text(f"/tasks/{task['id']}")


def test_a_saved_view_is_a_tab_that_lists_its_tasks(browse, api):
    wang = api.as_("wang")
    case = wang.report()
    page = browse("wang")
    saved = page.post("/views", {"name": "待领取", "list": "claimable", "sla_state": ""})
    assert saved.status_code == 302
    view_id = saved.headers["Location"].split("view=")[1]
    html = page.text(f"/?view={view_id}")
    assert "待领取" in html and case["business_key"] in html
    assert page.get("/?view=999999").status_code == 404
