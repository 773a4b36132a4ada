"""Attachments over the API: upload from a phone, thumbnails, type by content, location removed
unless kept, sealed at rest (local folder and S3 through a real moto server), visible to exactly
those who see the case's personal data, audited downloads, soft delete with a reason."""

from __future__ import annotations

import io
import uuid

import pytest

from engine import Settings
from tests.api.conftest import error_of
from tests.attachment_files import SECRET, MotoServer, has_location, jpeg, pdf_with_secret, s3_credentials
from tests.helpers import DEPARTMENT_RESULT, database_rows, rows_added


@pytest.fixture(scope="session")
def moto():
    s3_credentials()
    server = MotoServer()
    yield server
    server.stop()


@pytest.fixture
def storage(request):
    return getattr(request, "param", "local")


@pytest.fixture
def settings(database_url, tmp_path, storage, request):
    """The test settings, with attachments in the instance folder or in a fresh bucket of the moto server."""
    env = {
        "FENGQIAO_DATABASE_URL": database_url,
        "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
        "FENGQIAO_ARGON2_TIME_COST": "1",
        "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
        "FENGQIAO_ATTACHMENT_MAX_BYTES": str(2 * 1024 * 1024),
    }
    if storage == "s3":
        server = request.getfixturevalue("moto")
        bucket = f"fq-{uuid.uuid4().hex[:12]}"
        server.client().create_bucket(Bucket=bucket)
        env |= {"FENGQIAO_ATTACHMENT_STORAGE": f"s3://{bucket}/cases", "FENGQIAO_S3_ENDPOINT_URL": server.url}
    return Settings.from_env(env)


def stored_blobs(engine, settings) -> dict[str, bytes]:
    """Every object the attachment storage holds, by key."""
    if settings.attachment_storage.startswith("s3://"):
        bucket = settings.attachment_storage[5:].split("/")[0]
        client = engine.attachments.storage.client  # type: ignore[attr-defined]
        listing = client.list_objects_v2(Bucket=bucket).get("Contents", [])
        return {o["Key"]: client.get_object(Bucket=bucket, Key=o["Key"])["Body"].read() for o in listing}
    root = settings.instance_path / "attachments"
    return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()} if root.exists() else {}


def upload(caller, case, *files, **fields):
    data = {"file": [(io.BytesIO(content), name) for name, content in files], **fields}
    return caller.post(f"/process-instances/{case['id']}/attachments", data=data, content_type="multipart/form-data")


@pytest.fixture
def case(api):
    return api.as_("wang").report()


@pytest.fixture
def escalated(api, case):
    api.as_("wang").complete(case, "assess_case", {"resolution": "escalate", "departments": ["civil_affairs"]})
    return case


@pytest.mark.parametrize("storage", ["local", "s3"], indirect=True)
def test_officer_uploads_photos_sees_thumbnails_and_the_store_holds_no_plaintext(api, engine, settings, case):
    wang = api.as_("wang")
    photo = jpeg()
    response = upload(wang, case, ("门口.jpg", photo), (f"{SECRET}.pdf", pdf_with_secret()))
    assert response.status_code == 201, response.json
    first, second = response.json["items"]
    assert (first["content_type"], first["has_thumbnail"], first["filename"]) == ("image/jpeg", True, "门口.jpg")
    assert (second["content_type"], second["has_thumbnail"]) == ("application/pdf", False)
    listed = wang.get(f"/process-instances/{case['id']}/attachments").json
    assert listed["visibility"] == "clear" and {a["id"] for a in listed["items"]} == {first["id"], second["id"]}
    thumb = wang.get(f"/attachments/{first['id']}/thumbnail")
    assert thumb.status_code == 200 and thumb.mimetype == "image/jpeg"
    from PIL import Image

    assert max(Image.open(io.BytesIO(thumb.data)).size) <= 320
    whole = wang.get(f"/attachments/{second['id']}/content")
    assert whole.status_code == 200 and whole.data == pdf_with_secret()
    assert "attachment;" in whole.headers["Content-Disposition"]
    blobs = stored_blobs(engine, settings)
    assert len(blobs) == 3  # two files and one thumbnail
    for blob in blobs.values():
        assert SECRET.encode() not in blob and b"JFIF" not in blob and b"%PDF" not in blob
    rows = database_rows(engine)
    assert SECRET.encode() not in repr(rows).encode() and SECRET not in repr(rows)


def test_every_download_is_audited_without_the_file_name(api, engine, case):
    wang = api.as_("wang")
    item = upload(wang, case, (f"{SECRET}.pdf", pdf_with_secret())).json["items"][0]
    before = database_rows(engine)
    assert wang.get(f"/attachments/{item['id']}/content").status_code == 200
    audit = rows_added(engine, before, "audit_log")
    assert [(a["action"], a["details"]) for a in audit] == [("attachment.downloaded", {"attachment_id": item["id"]})]
    added = [a for a in engine.history.audit_trail(case["id"]) if a["action"] == "attachment.added"]
    assert added and SECRET not in repr(added)
    events = [e for e in rows_added(engine, {**before, "outbox": []}, "outbox") if e["type"].startswith("attachment.")]
    assert events and SECRET not in repr(events)


def test_type_is_judged_by_content_not_name_and_a_refused_request_stores_nothing(api, engine, settings, case):
    wang = api.as_("wang")
    before = database_rows(engine)
    disguised = b"<html><script>alert(1)</script></html>"
    error = error_of(upload(wang, case, ("ok.jpg", jpeg()), ("photo.jpg", disguised)), 422, "unsupported_content")
    assert error["details"][0]["field"] == "file"
    assert database_rows(engine) == before and stored_blobs(engine, settings) == {}


def test_a_file_over_the_size_limit_is_refused_and_nothing_is_stored(api, engine, settings, case):
    before = database_rows(engine)
    big = jpeg() + b"\0" * (2 * 1024 * 1024)
    response = upload(api.as_("wang"), case, ("big.jpg", big))
    error_of(response, 413)
    assert database_rows(engine) == before and stored_blobs(engine, settings) == {}


def test_location_is_removed_unless_the_officer_keeps_it(api, case):
    wang = api.as_("wang")
    photo = jpeg(location=True)
    assert has_location(photo)
    dropped = upload(wang, case, ("a.jpg", photo)).json["items"][0]
    kept = upload(wang, case, ("b.jpg", photo), keep_location="true").json["items"][0]
    assert (dropped["location_kept"], kept["location_kept"]) == (False, True)
    assert not has_location(wang.get(f"/attachments/{dropped['id']}/content").data)
    assert has_location(wang.get(f"/attachments/{kept['id']}/content").data)


def test_officer_of_another_station_gets_404_for_the_case_files(api, engine, case):
    item = upload(api.as_("wang"), case, ("a.jpg", jpeg())).json["items"][0]
    liu = api.as_("liu")
    before = database_rows(engine)
    error_of(liu.get(f"/process-instances/{case['id']}/attachments"), 404)
    error_of(liu.get(f"/attachments/{item['id']}"), 404)
    error_of(liu.get(f"/attachments/{item['id']}/content"), 404)
    error_of(liu.get(f"/attachments/{item['id']}/thumbnail"), 404)
    error_of(upload(liu, case, ("b.jpg", jpeg())), 404)
    error_of(liu.post(f"/attachments/{item['id']}/delete", {"reason": "不是我的"}), 404)
    assert database_rows(engine) == before


def test_an_officer_of_the_station_who_does_not_handle_the_case_sees_no_files(api, engine, case):
    item = upload(api.as_("wang"), case, ("a.jpg", jpeg())).json["items"][0]
    chen = api.as_("chen")
    before = database_rows(engine)
    assert chen.get(f"/process-instances/{case['id']}/attachments").json == {"visibility": "masked", "items": []}
    error_of(chen.get(f"/attachments/{item['id']}/content"), 404)
    error_of(upload(chen, case, ("b.jpg", jpeg())), 403)
    assert database_rows(engine) == before


def test_liaison_sees_files_while_holding_the_task_and_not_after(api, engine, escalated):
    wang, li = api.as_("wang"), api.as_("li")
    item = upload(wang, escalated, ("现场.jpg", jpeg())).json["items"][0]
    task = li.task(escalated, "handle_civil_affairs")
    error_of(li.get(f"/attachments/{item['id']}/content"), 404)
    error_of(upload(li, escalated, ("x.jpg", jpeg()), task_id=task["id"]), 403)
    li.post(f"/tasks/{task['id']}/claim")
    assert [a["id"] for a in li.get(f"/process-instances/{escalated['id']}/attachments").json["items"]] == [item["id"]]
    assert li.get(f"/attachments/{item['id']}/thumbnail").status_code == 200
    own = upload(li, escalated, ("回执.pdf", pdf_with_secret()), task_id=task["id"])
    assert own.status_code == 201 and own.json["items"][0]["task_id"] == task["id"]
    error_of(upload(li, escalated, ("y.jpg", jpeg())), 403)  # not to the case itself
    li.complete(escalated, "handle_civil_affairs", DEPARTMENT_RESULT)
    error_of(li.get(f"/attachments/{item['id']}/content"), 404)
    assert li.get(f"/process-instances/{escalated['id']}/attachments").json["items"] == []


def test_files_are_attached_to_running_cases_and_open_tasks_only(api, engine, case):
    wang = api.as_("wang")
    done = [t for t in wang.tasks(instance_id=case["id"]) if t["state"] in ("open", "claimed")][0]
    api.as_("zhou").post(f"/process-instances/{case['id']}/cancel", {"reason": "重复上报"})
    before = database_rows(engine)
    error_of(upload(wang, case, ("a.jpg", jpeg())), 409, "instance_not_running")
    error_of(upload(wang, case, ("a.jpg", jpeg()), task_id=done["id"]), 409)
    assert database_rows(engine) == before


def test_delete_is_soft_with_a_reason_by_the_uploader_or_a_supervisor_and_audited(api, engine, case):
    wang, chen, zhou = api.as_("wang"), api.as_("chen"), api.as_("zhou")
    item = upload(wang, case, ("a.jpg", jpeg())).json["items"][0]
    other = upload(wang, case, ("b.jpg", jpeg())).json["items"][0]
    before = database_rows(engine)
    error_of(wang.post(f"/attachments/{item['id']}/delete", {}), 422)
    error_of(wang.post(f"/attachments/{item['id']}/delete", {"reason": ""}), 422)
    error_of(chen.post(f"/attachments/{item['id']}/delete", {"reason": "误传"}), 404)  # masked for chen
    assert database_rows(engine) == before
    deleted = wang.post(f"/attachments/{item['id']}/delete", {"reason": "拍错了"})
    assert deleted.status_code == 200 and deleted.json["delete_reason"] == "拍错了"
    assert rows_added(engine, before, "audit_log")[0]["action"] == "attachment.deleted"
    assert [a["id"] for a in wang.get(f"/process-instances/{case['id']}/attachments").json["items"]] == [other["id"]]
    error_of(wang.get(f"/attachments/{item['id']}/content"), 404)
    error_of(wang.post(f"/attachments/{item['id']}/delete", {"reason": "again"}), 404)
    assert zhou.post(f"/attachments/{other['id']}/delete", {"reason": "涉及无关人员"}).status_code == 200


def test_upload_needs_multipart_and_a_file(api, engine, case):
    wang = api.as_("wang")
    before = database_rows(engine)
    error_of(wang.post(f"/process-instances/{case['id']}/attachments", {"file": "x"}), 415)
    error_of(
        wang.post(f"/process-instances/{case['id']}/attachments", data={}, content_type="multipart/form-data"), 400
    )
    error_of(upload(wang, case, ("a.jpg", jpeg()), task_id="not-a-uuid"), 422)
    error_of(upload(wang, case, ("a.jpg", jpeg()), task_id=str(uuid.uuid4())), 404)
    error_of(upload(wang, case, ("empty.jpg", b"")), 422)
    assert database_rows(engine) == before


def test_admin_and_auditor_may_not_touch_attachments(api, case):
    for user in ("admin", "sun"):
        error_of(api.as_(user).get(f"/process-instances/{case['id']}/attachments"), 403)
        error_of(upload(api.as_(user), case, ("a.jpg", jpeg())), 403)
