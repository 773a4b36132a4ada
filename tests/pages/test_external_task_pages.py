"""The console's external-task page without a browser (docs/admin.md): counts per topic, the list and
its filters and pages, unlock and set retries through the engine functions the API uses (audited the
same), refusals as flash messages that change nothing, admins only, no resident's number shown."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest

from engine.identity import Actor
from tests import models
from tests.helpers import database_rows, rows_added
from web.masking import mask_free_text

RECORDS, HEALTH = "civil.records", "health.visit"
WORKERS = Actor.system("workers", department="civil_affairs", topics=frozenset({RECORDS, HEALTH}))
PAGE = "/admin/external-tasks"
PHONE, ID_NUMBER = "13912345678", "11010119450101123X"


@pytest.fixture
def deployed(engine):
    return deploy_both(engine)


def deploy_both(engine):
    """Two processes, each with an external task: civil.records and health.visit."""
    engine.repository.deploy([("records.bpmn", models.external_task("records_check", RECORDS))])
    engine.repository.deploy([("visits.bpmn", models.external_task("home_visit", HEALTH))])
    return engine


def start(engine, world, key: str = "records_check"):
    return engine.runtime.start_instance(key, world["wang"], {"category": "neighbour"})


def fetch(engine, worker: str = "w1", topic: str = RECORDS, lock_ms: int = 600_000):
    [task] = engine.external_tasks.fetch_and_lock(WORKERS, worker, 1, [{"topicName": topic, "lockDuration": lock_ms}])
    return task


@pytest.fixture
def four(deployed, world):
    return one_in_each_state(deployed, world)


def one_in_each_state(deployed, world):
    """One task in each state: civil.records has a locked, a failed and an available one; health.visit
    an incident. Answers each state's task as the API lists it."""
    for _ in range(3):
        start(deployed, world)
    start(deployed, world, "home_visit")
    locked = fetch(deployed, "w1")
    failed = fetch(deployed, "w2")
    deployed.external_tasks.failure(
        failed["id"], WORKERS, "w2", f"registry refused 户主 {PHONE}, ID {ID_NUMBER}", 2, 60_000
    )
    incident = fetch(deployed, "w3", HEALTH)
    deployed.external_tasks.failure(incident["id"], WORKERS, "w3", "clinic system down", 0)
    rows = {t["id"]: t for t in deployed.external_tasks.query(world["admin"])}
    [available] = set(rows) - {locked["id"], failed["id"], incident["id"]}
    return {
        "available": rows[available],
        "locked": rows[locked["id"]],
        "failed": rows[failed["id"]],
        "incident": rows[incident["id"]],
    }


def rows_of(html: str) -> list[str]:
    return [part.split('"', 1)[0] for part in html.split('data-state="')[1:]]


def test_the_page_counts_each_topic_by_state_and_lists_every_waiting_task(browse, four):
    html = browse("admin").text(PAGE)
    assert sorted(rows_of(html)) == ["available", "failed", "incident", "locked"]
    records = html.split(f'data-topic="{RECORDS}"', 1)[1].split("</li>", 1)[0]
    for state in ("available", "locked", "failed"):
        assert f'data-count="{state}" href="{PAGE}?state={state}&amp;topic={RECORDS}"' in records
        assert re.search(rf'data-count="{state}"[^>]*>[^<]*<b>1</b>', records), state
    assert 'data-count="incident"' not in records and re.search(r'class="count total">[^<]*<b>3</b>', records)
    health = html.split(f'data-topic="{HEALTH}"', 1)[1].split("</li>", 1)[0]
    assert re.search(r'data-count="incident"[^>]*>[^<]*<b>1</b>', health)
    locked = four["locked"]
    assert f'href="/admin/cases/{locked["processInstanceId"]}"' in html and locked["businessKey"] in html
    assert "w1" in html and "check" in html and "records_check" in html


def test_the_console_nav_and_the_admin_home_link_to_the_page(browse, world):
    admin = browse("admin")
    assert f'href="{PAGE}"' in admin.text("/admin/cases") and f'href="{PAGE}"' in admin.text("/")


def test_filters_by_state_topic_and_process_narrow_the_list(browse, four):
    admin = browse("admin")
    for state in ("available", "locked", "failed", "incident"):
        html = admin.text(f"{PAGE}?state={state}")
        assert rows_of(html) == [state], state
        assert f'data-task="{four[state]["id"]}"' in html
    assert sorted(rows_of(admin.text(f"{PAGE}?topic={RECORDS}"))) == ["available", "failed", "locked"]
    assert rows_of(admin.text(f"{PAGE}?process=home_visit")) == ["incident"]
    assert rows_of(admin.text(f"{PAGE}?topic={HEALTH}&state=locked")) == []
    assert sorted(rows_of(admin.text(f"{PAGE}?state=nonsense&topic=a%20b"))) == [
        "available",
        "failed",
        "incident",
        "locked",
    ]  # unknown filter values are ignored, not a 500


def test_the_workers_error_text_is_shown_truncated_with_numbers_masked(browse, four):
    html = browse("admin").text(f"{PAGE}?state=failed")
    assert "registry refused" in html and "139****5678" in html and "110101********123X" in html
    assert PHONE not in html and ID_NUMBER not in html
    assert "clinic system down" in browse("admin").text(f"{PAGE}?state=incident")


def test_the_incidents_page_masks_the_numbers_in_a_workers_error_too(browse, deployed, world):
    start(deployed, world)
    task = fetch(deployed)
    deployed.external_tasks.failure(task["id"], WORKERS, "w1", f"no household for {PHONE}", 0)
    html = browse("admin").text("/admin/incidents")
    assert "no household for 139****5678" in html and PHONE not in html


def test_masking_free_text_hides_ids_phones_long_numbers_and_email_but_keeps_dates_and_codes():
    text = "张三 13912345678 / 139-1234-5678 / 0571-88886666 / 11010119450101123X / 6222021234567890 / a.b@x.cn"
    assert mask_free_text(text) == (
        "张三 139****5678 / 139****5678 / 057****6666 / 110101********123X / 622****7890 / ***@x.cn"
    )
    assert mask_free_text("HTTP 503 at 2026-12-07 14:00, order 123456") == "HTTP 503 at 2026-12-07 14:00, order 123456"
    assert mask_free_text("tel13912345678x, 12345678901234567890") == "tel139****5678x, 123****7890"


def test_unlocking_from_the_console_frees_the_task_and_is_audited_like_the_api(browse, deployed, four, world):
    locked = four["locked"]
    admin = browse("admin")
    before = database_rows(deployed)
    answer = admin.post(f"{PAGE}/{locked['id']}/unlock", {"next": f"{PAGE}?state=locked"}, csrf_from=PAGE)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(f"{PAGE}?state=locked")
    [audit] = rows_added(deployed, before, "audit_log")
    assert audit["action"] == "external_task.unlocked" and audit["actor"] == "admin"
    assert audit["details"]["worker_id"] == "w1"
    assert [e["type"] for e in rows_added(deployed, before, "outbox")] == ["external_task.unlocked"]
    assert "flash-ok" in admin.text(PAGE)
    assert fetch(deployed, "w9")["id"] == locked["id"]


def test_setting_retries_on_an_incident_resolves_it_and_makes_the_task_fetchable(browse, deployed, four, world):
    incident = four["incident"]
    [open_incident] = deployed.timers.list_incidents(instance_id=incident["processInstanceId"])
    admin = browse("admin")
    before = database_rows(deployed)
    answer = admin.post(f"{PAGE}/{incident['id']}/retries", {"retries": "3"}, csrf_from=PAGE)
    assert answer.status_code == 303 and answer.headers["Location"].endswith(PAGE)
    actions = [row["action"] for row in rows_added(deployed, before, "audit_log")]
    assert actions == ["external_task.retries_set", "incident.retried"]
    assert deployed.timers.list_incidents(instance_id=incident["processInstanceId"]) == []
    assert deployed.timers.list_incidents(status="resolved")[0]["id"] == open_incident["id"]
    task = fetch(deployed, "w4", HEALTH)
    assert task["id"] == incident["id"] and task["retries"] == 3


def test_refusals_are_flash_messages_and_change_nothing(browse, deployed, four, world):
    admin = browse("admin")
    available, locked = four["available"], four["locked"]
    deployed.external_tasks.complete(locked["id"], WORKERS, "w1", None)  # completed meanwhile
    before = database_rows(deployed)
    for path, data, words in (
        (f"{PAGE}/{available['id']}/unlock", {}, "not locked any more"),
        (f"{PAGE}/{locked['id']}/unlock", {}, "no longer waits"),
        (f"{PAGE}/{locked['id']}/retries", {"retries": "3"}, "no longer waits"),
        (f"{PAGE}/{available['id']}/retries", {"retries": "abc"}, "whole number"),
        (f"{PAGE}/{available['id']}/retries", {"retries": "1001"}, "whole number"),
        (f"{PAGE}/{available['id']}/retries", {"next": "https://evil.example/"}, "whole number"),
    ):
        answer = admin.post(path, data, csrf_from=PAGE, headers={"Accept-Language": "en"})
        assert answer.status_code == 303 and answer.headers["Location"].endswith(PAGE), path
        page = admin.get(PAGE, headers={"Accept-Language": "en"}).get_data(as_text=True)
        assert 'class="flash flash-warn" role="status">' in page and words in page, (path, data)
    assert database_rows(deployed) == before
    assert admin.client.post(f"{PAGE}/{available['id']}/unlock").status_code == 400  # no CSRF token


def test_only_admins_open_the_page_or_act_on_a_task(browse, deployed, four):
    locked = four["locked"]
    people = {username: browse(username) for username in ("zhou", "wang", "li", "sun")}  # logging in writes
    before = database_rows(deployed)
    for username, person in people.items():
        assert person.get(PAGE).status_code == 403, username
        assert person.post(f"{PAGE}/{locked['id']}/unlock", {}).status_code == 403, username
        assert person.post(f"{PAGE}/{locked['id']}/retries", {"retries": "5"}).status_code == 403, username
    assert browse().get(PAGE).status_code in (302, 303)  # not logged in: to the login page
    assert database_rows(deployed) == before


def test_thousands_of_tasks_are_paged_fifty_at_a_time(browse, deployed, world, clock):
    for _ in range(53):
        start(deployed, world)
        clock.advance(timedelta(seconds=1))
    admin = browse("admin")
    first = admin.text(PAGE)
    assert len(rows_of(first)) == 50 and 'id="next-page"' in first
    second = admin.text(f"{PAGE}?page=2")
    assert len(rows_of(second)) == 3 and 'id="next-page"' not in second
    assert set(rows_of(first)) == {"available"}
    assert len(rows_of(admin.text(f"{PAGE}?page=999999999"))) == 0
    assert re.search(r'data-count="available"[^>]*>[^<]*<b>53</b>', first)
