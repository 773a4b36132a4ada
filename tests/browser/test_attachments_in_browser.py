"""Attachments in a real browser: an officer uploads photos from a phone-sized page (with progress),
sees the thumbnails; a liaison sees them while holding the department task and not after; another
station's officer gets 404. Screenshots of the case page: phone and desktop, Chinese and English."""

from __future__ import annotations

import pytest

from tests.attachment_files import jpeg, pdf_with_secret
from tests.helpers import DEPARTMENT_RESULT, escalate, report_case, task_of

from .conftest import DESKTOP, PHONE

pytestmark = pytest.mark.backends("sqlite")


def upload(watched, *files, accepted: bool = True) -> None:
    """Choose `files` (name, type, bytes) and upload them; an accepted upload reloads the page."""
    watched.page.set_input_files(
        "#upload-files", files=[{"name": name, "mimeType": mime, "buffer": data} for name, mime, data in files]
    )
    if accepted:
        with watched.page.expect_navigation():
            watched.page.click("form[data-fq-upload] button[type=submit]")
    else:
        watched.page.click("form[data-fq-upload] button[type=submit]")
        watched.page.wait_for_selector(".upload-failed")
    watched.page.wait_for_load_state("networkidle")


def thumbnails(watched) -> list[dict]:
    """The thumbnails on the page, with the size the browser decoded (0 when the image did not load)."""
    return watched.page.eval_on_selector_all(
        "img.thumb", "els => els.map(e => ({src: e.getAttribute('src'), width: e.naturalWidth, complete: e.complete}))"
    )


def test_officer_uploads_photos_from_a_phone_and_sees_thumbnails(open_as, engine, world):
    case = report_case(engine, world["wang"])
    wang = open_as("wang")
    wang.go(f"/cases/{case['id']}")
    assert "还没有附件" in wang.page.inner_text("#attachments") or wang.page.locator("#attachments .empty").count() == 1
    upload(
        wang,
        ("入户走访.jpg", "image/jpeg", jpeg(1200, 900, location=True)),
        ("楼道.jpg", "image/jpeg", jpeg(640, 480, color=(40, 120, 200))),
        ("调解材料.pdf", "application/pdf", pdf_with_secret()),
    )
    wang.page.wait_for_function("() => document.querySelectorAll('img.thumb').length === 2")
    shown = thumbnails(wang)
    assert len(shown) == 2 and all(t["width"] > 0 for t in shown), shown
    assert "调解材料.pdf" in wang.page.inner_text("#attachments")
    assert wang.axe_violations() == [] and wang.layout_problems() == []
    wang.shot("attachments-case-phone-zh")
    files = engine.attachments.list(case["id"])
    assert [f["location_kept"] for f in files] == [False, False, False]

    desktop = open_as("wang", viewport=DESKTOP, locale="en")
    desktop.go(f"/cases/{case['id']}")
    assert "Attachments" in desktop.page.inner_text("#attachments")
    assert desktop.axe_violations() == []
    desktop.shot("attachments-case-desktop-en")
    phone_en = open_as("wang", viewport=PHONE, locale="en")
    phone_en.go(f"/cases/{case['id']}")
    phone_en.shot("attachments-case-phone-en")
    desktop_zh = open_as("wang", viewport=DESKTOP)
    desktop_zh.go(f"/cases/{case['id']}")
    desktop_zh.shot("attachments-case-desktop-zh")


def test_a_refused_file_shows_why_and_nothing_is_stored(open_as, engine, world):
    case = report_case(engine, world["wang"])
    wang = open_as("wang")
    wang.expected_statuses = {422}
    wang.go(f"/cases/{case['id']}")
    upload(wang, ("假照片.jpg", "image/jpeg", b"<html>not a photo</html>"), accepted=False)
    assert "不是照片" in wang.page.inner_text(".upload-progress")
    assert engine.attachments.list(case["id"]) == []


def test_upload_works_without_javascript(open_as, engine, world):
    case = report_case(engine, world["wang"])
    wang = open_as("wang", javascript=False)
    wang.go(f"/cases/{case['id']}")
    wang.page.set_input_files("#upload-camera", files=[{"name": "p.jpg", "mimeType": "image/jpeg", "buffer": jpeg()}])
    wang.page.click("form[data-fq-upload] button[type=submit]")
    wang.page.wait_for_load_state("networkidle")
    assert len(thumbnails(wang)) == 1
    assert len(engine.attachments.list(case["id"])) == 1


def test_liaison_sees_the_photos_while_holding_the_task_and_not_after_and_another_station_gets_404(
    open_as, engine, world
):
    case = report_case(engine, world["wang"])
    engine.attachments.add(case["id"], world["wang"], "现场.jpg", jpeg())
    escalate(engine, world["wang"], case, ["civil_affairs"])
    task = task_of(engine, case, "handle_civil_affairs")
    li = open_as("li")
    li.go(f"/tasks/{task['id']}")
    assert thumbnails(li) == []
    engine.tasks.claim(task["id"], world["li"])
    li.go(f"/tasks/{task['id']}")
    shown = thumbnails(li)
    assert len(shown) == 1 and shown[0]["width"] > 0
    upload(li, ("回执.jpg", "image/jpeg", jpeg(320, 240)))
    li.page.wait_for_function("() => document.querySelectorAll('img.thumb').length === 2")
    li.shot("attachments-task-liaison-phone-zh")
    assert sorted(str(f["task_id"]) for f in engine.attachments.list(case["id"])) == sorted(["None", task["id"]])
    source = shown[0]["src"]
    engine.tasks.complete(task["id"], world["li"], DEPARTMENT_RESULT)
    li.expected_statuses = {404}
    li.go(f"/tasks/{task['id']}")
    assert thumbnails(li) == []
    assert li.go(source).status == 404
    liu = open_as("liu")
    liu.expected_statuses = {404}
    assert liu.go(source).status == 404
