"""Sealing rules (issue 23's `sealing` mutation target): what the vault binds a sealed value to, how
a sealed file is laid out and refused when damaged, where the data key comes from, and that the
personal records and attachment files a case writes are sealed to their own case, source and file."""

from __future__ import annotations

import base64
import dataclasses
import hashlib
import json
import os
import stat
from datetime import timedelta

import pytest
from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import delete, event, insert, select

from engine.errors import InstanceNotFound
from engine.store.models import Attachment, AuditEntry, PersonalRecord
from engine.vault import CHUNK, FILE_MAGIC, SealedFileError, Vault, VaultError, load_key
from tests.attachment_files import jpeg
from tests.helpers import DEPARTMENT_RESULT, complete_as, database_rows, escalate, report_case, task_of

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
TAG = 16  # AES-GCM's tag, appended to every sealed message
REVERSED = "PRAGMA reverse_unordered_selects = ON"  # SQLite returns unordered rows backwards


# --- the data key ----------------------------------------------------------------------------------
def test_the_data_key_from_the_setting_is_used_as_given(settings):
    given = dataclasses.replace(settings, data_key=base64.b64encode(KEY).decode())
    assert load_key(given) == KEY
    assert not (settings.instance_path / "data.key").exists()  # no key file made beside it


def test_a_data_key_of_another_length_is_refused(settings, tmp_path):
    says = r"^the data key must be 32 bytes \(base64-encoded\)$"
    with pytest.raises(VaultError, match=says):
        load_key(dataclasses.replace(settings, data_key=base64.b64encode(KEY[:16]).decode()))
    short = tmp_path / "short.key"
    short.write_text(base64.b64encode(KEY[:31]).decode())
    with pytest.raises(VaultError, match=says):
        load_key(dataclasses.replace(settings, data_key_file=short))


def test_a_key_file_is_made_once_readable_by_its_owner_only_and_reused(settings, tmp_path):
    path = tmp_path / "keys" / "nested" / "data.key"
    configured = dataclasses.replace(settings, data_key=None, data_key_file=path)
    first = load_key(configured)
    assert len(first) == 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert base64.b64decode(path.read_text()) == first
    assert load_key(configured) == first  # read again, not replaced


def test_a_key_file_named_in_an_existing_folder_is_made_there(settings, tmp_path):
    path = tmp_path / "data.key"  # the folder is there already: making it again is no error
    key = load_key(dataclasses.replace(settings, data_key=None, data_key_file=path))
    assert base64.b64decode(path.read_text()) == key


def test_an_existing_key_file_is_read_with_its_surrounding_whitespace_ignored(settings, tmp_path):
    path = tmp_path / "given.key"
    path.write_text("\n " + base64.b64encode(KEY).decode() + " \n")
    assert load_key(dataclasses.replace(settings, data_key=None, data_key_file=path)) == KEY


def test_without_a_key_setting_the_key_file_lives_in_the_instance_folder(settings):
    bare = dataclasses.replace(settings, data_key=None, data_key_file=None)
    key = load_key(bare)
    assert base64.b64decode((settings.instance_path / "data.key").read_text()) == key


def test_the_key_id_names_the_key_without_revealing_it():
    vault = Vault(KEY)
    assert vault.key_id == hashlib.sha256(KEY).hexdigest()[:16]
    assert Vault(OTHER_KEY).key_id != vault.key_id


# --- personal records ------------------------------------------------------------------------------
def test_a_sealed_record_opens_only_for_its_own_case_and_source_and_key():
    vault = Vault(KEY)
    data = {"name": "刘桂兰", "phone": "13912345678"}
    nonce, sealed = vault.seal("case-1", "report", data)
    assert len(nonce) == 12
    # compact UTF-8 JSON, nothing else, inside: the ciphertext is exactly its length plus the tag
    plain = json.dumps(data, ensure_ascii=False, separators=(",", ":")).encode()
    assert len(sealed) == len(plain) + TAG
    assert AESGCM(KEY).decrypt(nonce, sealed, b"fengqiao/personal/case-1/report") == plain
    assert vault.open("case-1", "report", nonce, sealed) == data
    for instance_id, source in (("case-2", "report"), ("case-1", "task"), ("case-", "1/report")):
        with pytest.raises(InvalidTag):
            vault.open(instance_id, source, nonce, sealed)
    with pytest.raises(InvalidTag):
        Vault(OTHER_KEY).open("case-1", "report", nonce, sealed)


def test_every_seal_takes_a_fresh_nonce():
    vault = Vault(KEY)
    first, second = vault.seal("case-1", "report", {"a": 1}), vault.seal("case-1", "report", {"a": 1})
    assert first[0] != second[0] and first[1] != second[1]


# --- files -----------------------------------------------------------------------------------------
def chunks_of(sealed: bytes) -> list[bytes]:
    body = sealed[12:]
    return [body[i : i + CHUNK + TAG] for i in range(0, len(body), CHUNK + TAG)]


def test_a_sealed_file_is_magic_a_nonce_prefix_and_numbered_chunks_bound_to_their_place():
    vault = Vault(KEY)
    data = os.urandom(2 * CHUNK + 100)
    sealed = vault.seal_bytes("attachment/c/a", data)
    assert sealed.startswith(FILE_MAGIC)
    prefix = sealed[4:12]
    parts = chunks_of(sealed)
    assert [len(p) for p in parts] == [CHUNK + TAG, CHUNK + TAG, 100 + TAG]
    aead = AESGCM(KEY)
    for index, part in enumerate(parts):
        last = int(index == len(parts) - 1)
        nonce = prefix + index.to_bytes(4, "big")
        plain = aead.decrypt(nonce, part, f"fengqiao/file/attachment/c/a/{index}/{last}".encode())
        assert plain == data[index * CHUNK : (index + 1) * CHUNK]
    assert vault.open_bytes("attachment/c/a", sealed) == data
    assert vault.seal_bytes("attachment/c/a", data)[4:12] != prefix  # a fresh prefix per file


def test_a_file_of_exactly_one_chunk_and_an_empty_file_round_trip():
    vault = Vault(KEY)
    for data in (b"", os.urandom(CHUNK), os.urandom(CHUNK + 1), b"x"):
        sealed = vault.seal_bytes("ctx", data)
        assert len(chunks_of(sealed)) == max(1, -(-len(data) // CHUNK))
        assert vault.open_bytes("ctx", sealed) == data


@pytest.mark.parametrize(
    "damage",
    ["reordered", "last dropped", "truncated", "other context", "other key", "byte flipped", "not sealed", "short"],
)
def test_a_damaged_moved_or_foreign_file_is_refused(damage):
    vault = Vault(KEY)
    sealed = vault.seal_bytes("attachment/c/a", os.urandom(2 * CHUNK + 5))
    head, parts = sealed[:12], chunks_of(sealed)
    context, opener = "attachment/c/a", vault
    if damage == "reordered":
        sealed = head + parts[1] + parts[0] + parts[2]
    elif damage == "last dropped":  # the chunk before it does not say it is the last one
        sealed = head + parts[0] + parts[1]
    elif damage == "truncated":
        sealed = sealed[:-1]
    elif damage == "other context":
        context = "attachment/c/b"
    elif damage == "other key":
        opener = Vault(OTHER_KEY)
    elif damage == "byte flipped":
        sealed = sealed[:20] + bytes([sealed[20] ^ 1]) + sealed[21:]
    elif damage == "not sealed":
        sealed = b"XXXX" + sealed[4:]
    else:
        sealed = FILE_MAGIC + bytes(8 + TAG - 1)  # one byte shorter than an empty file sealed
    with pytest.raises(SealedFileError) as refused:
        opener.open_bytes(context, sealed)
    assert refused.value.code == "sealed_file_damaged"
    if damage in ("not sealed", "short"):
        assert str(refused.value) == "the stored file is not a sealed file"
    else:
        assert str(refused.value) == "the stored file does not decrypt: damaged, moved or sealed with another key"


def test_the_shortest_sealed_file_is_an_empty_one():
    vault = Vault(KEY)
    sealed = vault.seal_bytes("ctx", b"")
    assert len(sealed) == 12 + TAG
    assert vault.open_bytes("ctx", sealed) == b""


# --- what a case writes ----------------------------------------------------------------------------
def test_a_reported_case_seals_its_parties_to_the_case_and_report_with_the_key_id(engine, world):
    case = report_case(engine, world["wang"])
    with engine.db.read() as scope:
        records = scope.scalars(select(PersonalRecord).where(PersonalRecord.instance_id == case["id"])).all()
    assert len(records) == 1
    record = records[0]
    assert record.key_id == engine.vault.key_id
    assert record.task_id is None  # the report, not a task's form
    opened = engine.vault.open(case["id"], record.source, record.nonce, record.ciphertext)
    assert opened["parties"][0]["name"] == "刘桂兰"


def test_reading_personal_data_is_audited_with_purpose_and_count(engine, world, clock):
    case = report_case(engine, world["wang"])
    read = engine.personal.read(case["id"], world["zhou"], "核实身份" * 100)
    assert [r["data"]["parties"][0]["phone"] for r in read] == ["13912345678"]
    assert read[0]["task_id"] is None and read[0]["created_at"] == clock.now().isoformat()
    with engine.db.read() as scope:
        entry = scope.scalars(
            select(AuditEntry).where(AuditEntry.instance_id == case["id"]).order_by(AuditEntry.id.desc())
        ).first()
    assert entry.action == "personal_data.read"
    assert entry.actor == "zhou"
    assert entry.details == {"purpose": ("核实身份" * 100)[:200], "records": 1}


def test_reading_the_personal_data_of_no_case_is_refused_and_changes_nothing(engine, world):
    before = database_rows(engine)
    with pytest.raises(InstanceNotFound, match="process instance 'no-such-case' does not exist"):
        engine.personal.read("no-such-case", world["zhou"], "check")
    assert database_rows(engine) == before


def test_a_read_without_a_purpose_is_audited_with_an_empty_one(engine, world):
    case = report_case(engine, world["wang"])
    engine.personal.read(case["id"], world["zhou"], None)  # type: ignore[arg-type]
    with engine.db.read() as scope:
        entry = scope.scalars(
            select(AuditEntry).where(AuditEntry.instance_id == case["id"]).order_by(AuditEntry.id.desc())
        ).first()
    assert (entry.action, entry.details) == ("personal_data.read", {"purpose": "", "records": 1})


def test_a_cases_personal_records_are_read_oldest_first_whatever_order_the_database_scans_them(engine, world, clock):
    """Neither database promises an order without ORDER BY: SQLite is told to return unordered rows
    backwards (its `reverse_unordered_selects`), and PostgreSQL's oldest record is rewritten so that
    its row moves to the end of the table and its index, after the newer ones."""
    wang, li = world["wang"], world["li"]
    case = report_case(engine, wang)
    escalate(engine, wang, case, ["civil_affairs"])
    clock.advance(timedelta(hours=1))
    handled = task_of(engine, case, "handle_civil_affairs")
    engine.tasks.complete(handled["id"], li, {**DEPARTMENT_RESULT, "handler_name": "赵经办"})
    clock.advance(timedelta(hours=1))
    complete_as(engine, wang, case, "feedback_to_resident", {"satisfaction": "satisfied", "comment": "很满意"})
    table = PersonalRecord.__table__
    with engine.db.transaction() as scope:  # the oldest row written again: its new version comes last
        oldest = scope.execute(select(table).where(table.c.instance_id == case["id"]).order_by(table.c.id)).first()
        scope.execute(delete(table).where(table.c.id == oldest.id))
        scope.execute(insert(table).values(**oldest._mapping))
    if engine.settings.database_url.startswith("sqlite"):
        event.listen(engine.db.engine, "connect", lambda dbapi, _record: dbapi.execute(REVERSED))
        engine.db.engine.dispose()  # the pooled connections were opened without it

    read = engine.personal.read(case["id"], world["zhou"], "核实")
    assert [r["source"] for r in read] == ["start", "department_result", "feedback_to_resident"]
    assert [r["created_at"] for r in read] == sorted(r["created_at"] for r in read)
    assert read[1]["data"] == {"handler_name": "赵经办"}
    assert [r["task_id"] for r in read[:2]] == [None, handled["id"]]  # a task's form records its task


def test_an_attachment_its_thumbnail_and_its_name_are_sealed_each_to_its_own_place(engine, world):
    case = report_case(engine, world["wang"])
    photo = jpeg()
    added = engine.attachments.add(case["id"], world["wang"], "现场照片.jpg", photo)
    key = f"{case['id']}/{added['id']}"
    storage = engine.attachments.storage
    stored, thumb = storage.get(key), storage.get(key + ".thumb")
    with engine.db.read() as scope:
        row = scope.get(Attachment, added["id"])
        sealed_name = row.sealed_name
        assert row.key_id == engine.vault.key_id
    vault = engine.vault
    base = f"attachment/{case['id']}/{added['id']}"
    assert vault.open_bytes(base, stored) == photo
    assert vault.open_bytes(base + "/thumbnail", thumb).startswith(b"\xff\xd8")
    assert vault.open_bytes(base + "/name", sealed_name) == "现场照片.jpg".encode()
    assert "现场照片".encode() not in sealed_name
    # each sealed part opens under its own context only
    for blob, wrong in ((stored, base + "/name"), (thumb, base), (sealed_name, base + "/thumbnail")):
        with pytest.raises(SealedFileError):
            vault.open_bytes(wrong, blob)
    meta, data = engine.attachments.read(added["id"], world["wang"])
    assert (meta["filename"], data) == ("现场照片.jpg", photo)
    meta, small = engine.attachments.read(added["id"], world["wang"], thumbnail=True)
    assert small == vault.open_bytes(base + "/thumbnail", thumb)


def test_a_sealed_file_moved_to_another_attachment_does_not_open(engine, world):
    case = report_case(engine, world["wang"])
    first = engine.attachments.add(case["id"], world["wang"], "a.jpg", jpeg())
    second = engine.attachments.add(case["id"], world["wang"], "b.jpg", jpeg(color=(10, 200, 10)))
    storage = engine.attachments.storage
    storage.put(f"{case['id']}/{second['id']}", storage.get(f"{case['id']}/{first['id']}"))
    before = database_rows(engine)
    with pytest.raises(SealedFileError):
        engine.attachments.read(second["id"], world["wang"])
    assert database_rows(engine) == before  # a refused read is not audited as a download
