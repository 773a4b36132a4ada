"""Attachment rules at the engine (issue 23's `sealing` target; over HTTP: tests/api/test_attachments.py):
what adding a file writes (row, audit, event, sealed files), what it refuses without writing anything
(not even a file left in the storage), and what reading a file refuses or audits."""

from __future__ import annotations

import re

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from engine.errors import AttachmentNotFound, InstanceNotFound, InstanceNotRunning, TaskNotFound, TaskNotOpen
from tests.attachment_files import SECRET, has_location, jpeg, pdf_with_secret
from tests.helpers import complete_as, database_rows, report_case, rows_added, task_of


def stored_files(engine) -> list[str]:
    root = engine.attachments.storage.root
    return sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file()) if root.exists() else []


def test_adding_a_photo_to_a_task_writes_its_row_audit_event_and_two_sealed_files(engine, world, clock):
    wang = world["wang"]
    case = report_case(engine, wang)
    task = task_of(engine, case, "assess_case")
    before = database_rows(engine)
    photo = jpeg(location=True)
    added = engine.attachments.add(case["id"], wang, "C:\\照片\\现场.jpg", photo, task_id=task["id"])
    assert added["filename"] == "现场.jpg"
    assert (added["instance_id"], added["task_id"], added["content_type"]) == (case["id"], task["id"], "image/jpeg")
    assert (added["has_thumbnail"], added["location_kept"], added["uploaded_by"]) == (True, False, "wang")
    assert added["uploaded_at"] == clock.now().isoformat() and added["deleted_at"] is None
    [row] = rows_added(engine, before, "attachments")
    assert row["storage_key"] == f"{case['id']}/{added['id']}" and row["uploaded_by_id"] == wang.id
    assert row["key_id"] == engine.vault.key_id and row["size"] == added["size"]
    details = {"attachment_id": added["id"], "content_type": "image/jpeg", "size": added["size"]}
    audit = [
        (r["actor"], r["action"], r["instance_id"], r["task_id"], r["details"])
        for r in rows_added(engine, before, "audit_log")
    ]
    assert audit == [("wang", "attachment.added", case["id"], task["id"], details)]
    [event] = rows_added(engine, before, "outbox")
    assert (event["type"], event["instance_id"], event["task_id"], event["payload"]) == (
        "attachment.added",
        case["id"],
        task["id"],
        details,
    )
    assert stored_files(engine) == sorted([row["storage_key"], row["storage_key"] + ".thumb"])
    meta, data = engine.attachments.read(added["id"], wang)
    assert not has_location(data) and len(data) == added["size"] < len(photo)  # stripped before sealing


def test_a_location_is_kept_when_the_uploader_asks_and_a_pdf_has_no_thumbnail(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    photo = jpeg(location=True)
    kept = engine.attachments.add(case["id"], wang, "gps.jpg", photo, keep_location=True)
    assert kept["location_kept"] is True and kept["size"] == len(photo)
    assert engine.attachments.read(kept["id"], wang)[1] == photo
    plain = engine.attachments.add(case["id"], wang, "plain.jpg", jpeg(), keep_location=True)
    assert plain["location_kept"] is False  # nothing was there to keep
    pdf = engine.attachments.add(case["id"], wang, "", pdf_with_secret())
    assert (pdf["filename"], pdf["content_type"], pdf["has_thumbnail"]) == ("file", "application/pdf", False)
    assert f"{case['id']}/{pdf['id']}.thumb" not in stored_files(engine)
    with pytest.raises(AttachmentNotFound, match="^the file has no thumbnail$"):
        engine.attachments.read(pdf["id"], wang, thumbnail=True)
    for name in stored_files(engine):
        assert SECRET.encode() not in (engine.attachments.storage.root / name).read_bytes()


def test_a_thumbnail_read_is_not_audited_and_a_whole_file_read_is(engine, world):
    wang, zhou = world["wang"], world["zhou"]
    case = report_case(engine, wang)
    task = task_of(engine, case, "assess_case")
    added = engine.attachments.add(case["id"], wang, "a.jpg", jpeg(), task_id=task["id"])
    before = database_rows(engine)
    engine.attachments.read(added["id"], zhou, thumbnail=True)
    assert database_rows(engine) == before
    engine.attachments.read(added["id"], zhou)
    audit = [
        (r["actor"], r["action"], r["instance_id"], r["task_id"], r["details"])
        for r in rows_added(engine, before, "audit_log")
    ]
    assert audit == [("zhou", "attachment.downloaded", case["id"], task["id"], {"attachment_id": added["id"]})]
    assert rows_added(engine, before, "outbox") == []


def test_a_deleted_file_is_not_read(engine, world):
    wang = world["wang"]
    case = report_case(engine, wang)
    added = engine.attachments.add(case["id"], wang, "a.jpg", jpeg())
    engine.attachments.delete(added["id"], wang, "wrong photo")
    before = database_rows(engine)
    for thumbnail in (False, True):
        with pytest.raises(AttachmentNotFound, match="^the file was deleted$"):
            engine.attachments.read(added["id"], wang, thumbnail=thumbnail)
    assert database_rows(engine) == before


def refused_add(engine, error, says, *args, **kwargs):
    before, files = database_rows(engine), stored_files(engine)
    with pytest.raises(error, match=f"^{re.escape(says)}$"):
        engine.attachments.add(*args, **kwargs)
    assert database_rows(engine) == before
    assert stored_files(engine) == files  # nothing sealed and stored is left behind


def test_a_file_for_no_case_a_closed_case_or_a_closed_or_foreign_task_is_refused_and_nothing_is_stored(engine, world):
    wang = world["wang"]
    refused_add(engine, InstanceNotFound, "process instance 'nope' does not exist", "nope", wang, "a.jpg", jpeg())
    case = report_case(engine, wang)
    other = report_case(engine, wang)
    assess = task_of(engine, case, "assess_case")
    foreign = task_of(engine, other, "assess_case")["id"]
    says = f"task '{foreign}' does not exist"
    refused_add(engine, TaskNotFound, says, case["id"], wang, "a.jpg", jpeg(), task_id=foreign)
    refused_add(engine, TaskNotFound, "task 'nope' does not exist", case["id"], wang, "a.jpg", jpeg(), task_id="nope")
    complete_as(engine, wang, case, "assess_case", {"resolution": "on_spot"})
    says = "files are attached to open tasks only"
    refused_add(engine, TaskNotOpen, says, case["id"], wang, "a.jpg", jpeg(), task_id=assess["id"])
    engine.runtime.cancel_instance(other["id"], world["admin"], "duplicate report")
    says = "files are attached to running cases only"
    refused_add(engine, InstanceNotRunning, says, other["id"], wang, "a.jpg", jpeg())


REFUSE_ROWS = {  # the database refuses every attachment row: on PostgreSQL, until the test ends
    "sqlite": ["CREATE TRIGGER no_room BEFORE INSERT ON attachments BEGIN SELECT RAISE(ABORT, 'no room'); END"],
    "postgresql": [
        "CREATE FUNCTION no_room() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE 'no room'; END $$",
        "CREATE TRIGGER no_room BEFORE INSERT ON attachments FOR EACH ROW EXECUTE FUNCTION no_room()",
    ],
}


@pytest.fixture
def refuse_rows(engine):
    backend = "sqlite" if engine.settings.database_url.startswith("sqlite") else "postgresql"

    def refuse() -> None:
        with engine.db.transaction() as scope:
            for statement in REFUSE_ROWS[backend]:
                scope.execute(text(statement))

    yield refuse
    if backend == "postgresql":  # the test database outlives the test (its tables are only emptied)
        with engine.db.transaction() as scope:
            scope.execute(text("DROP TRIGGER IF EXISTS no_room ON attachments"))
            scope.execute(text("DROP FUNCTION IF EXISTS no_room()"))


def test_a_file_whose_row_is_not_written_leaves_neither_its_file_nor_its_thumbnail_in_the_storage(
    engine, world, refuse_rows
):
    wang = world["wang"]
    case = report_case(engine, wang)
    kept = engine.attachments.add(case["id"], wang, "kept.jpg", jpeg())
    refuse_rows()
    before, files = database_rows(engine), stored_files(engine)
    assert files == [f"{case['id']}/{kept['id']}", f"{case['id']}/{kept['id']}.thumb"]
    with pytest.raises(DBAPIError, match="no room"):
        engine.attachments.add(case["id"], wang, "a.jpg", jpeg())  # a photo: a file and a thumbnail
    assert database_rows(engine) == before
    assert stored_files(engine) == files
