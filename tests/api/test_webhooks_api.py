"""Webhook subscriptions and signed inbound results over HTTP: admin only, bad input refused with
nothing written, the inbound endpoint's order of checks (signature, body, case, wait, form), replays."""

from __future__ import annotations

import json
import threading
import time
import uuid
from datetime import UTC, datetime

import pytest
from standardwebhooks.webhooks import Webhook

from engine import Settings
from tests.api.conftest import API, error_of
from tests.helpers import DEPARTMENT_RESULT, database_rows, escalate, open_tasks, report_case, rows_added
from webhooks import signing

URL = "https://minzheng.example/hooks/fengqiao"
INBOUND = "/webhooks/inbound/civil_affairs"


@pytest.fixture
def settings(database_url, tmp_path) -> Settings:
    return Settings.from_env(
        {
            "FENGQIAO_DATABASE_URL": database_url,
            "FENGQIAO_INSTANCE_PATH": str(tmp_path / "instance"),
            "FENGQIAO_ARGON2_TIME_COST": "1",
            "FENGQIAO_ARGON2_MEMORY_KIB": "1024",
            "FENGQIAO_NOTIFY_ALLOW_HOSTS": "127.0.0.1",
        }
    )


def signed(secret: str, body: bytes | str, webhook_id: str | None = None, at: datetime | None = None) -> dict:
    """Headers made by the standardwebhooks package (independent of webhooks/signing.py)."""
    webhook_id = webhook_id or f"msg_{uuid.uuid4().hex}"
    at = at or datetime.now(UTC)
    try:
        signature = Webhook(secret).sign(webhook_id, at, body.decode() if isinstance(body, bytes) else body)
    except UnicodeDecodeError:  # the package signs text only: a non-UTF-8 body is signed by ours
        signature = signing.sign(secret, webhook_id, int(at.timestamp()), body)  # type: ignore[arg-type]
    return {
        "webhook-id": webhook_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": signature,
        "Content-Type": "application/json",
    }


def post_inbound(client, secret: str, data, department: str = "civil_affairs", **options):
    raw = data if isinstance(data, bytes) else json.dumps(data, ensure_ascii=False).encode()
    headers = options.pop("headers", None) or signed(secret, raw, **options)
    return client.post(f"{API}/webhooks/inbound/{department}", data=raw, headers=headers)


@pytest.fixture
def inbound_secret(api):
    answer = api.as_("admin").post("/webhooks/inbound-secrets/civil_affairs", {})
    assert answer.status_code == 200, answer.json
    return answer.json["secret"]


@pytest.fixture
def escalated(engine, world):
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    return case


# --- subscriptions ------------------------------------------------------------------------------
def test_an_admin_creates_lists_changes_rotates_and_removes_a_subscription(api):
    admin = api.as_("admin")
    created = admin.post(
        "/webhooks/subscriptions", {"department": "civil_affairs", "url": URL, "events": ["escalation.raised"]}
    )
    assert created.status_code == 201, created.json
    subscription = created.json
    assert subscription["secret"].startswith("whsec_") and subscription["hint"] == "minzheng.example"
    shown = {k: v for k, v in subscription.items() if k != "secret"}
    assert admin.get("/webhooks/subscriptions").json["items"] == [shown]
    assert admin.get(f"/webhooks/subscriptions/{subscription['id']}").json == shown
    changed = admin.patch(
        f"/webhooks/subscriptions/{subscription['id']}", {"active": False, "events": ["sla.breached"]}
    )
    assert changed.status_code == 200 and not changed.json["active"] and changed.json["events"] == ["sla.breached"]
    rotated = admin.post(f"/webhooks/subscriptions/{subscription['id']}/rotate-secret", {"grace_seconds": 60})
    assert rotated.status_code == 200 and rotated.json["secret"] != subscription["secret"]
    assert rotated.json["previous_secret_until"] is not None
    assert admin.get(f"/webhooks/subscriptions/{subscription['id']}/deliveries").json == {"items": []}
    assert admin.delete(f"/webhooks/subscriptions/{subscription['id']}").status_code == 204
    assert admin.get("/webhooks/subscriptions").json["items"] == []


def test_only_an_admin_manages_subscriptions_and_secrets(api, engine):
    callers = [api.as_(name) for name in ("li", "zhou")]
    before = database_rows(engine)
    for caller in callers:
        error_of(caller.get("/webhooks/subscriptions"), 403)
        error_of(caller.post("/webhooks/subscriptions", {"name": "x", "url": URL, "events": ["task.created"]}), 403)
        error_of(caller.post("/webhooks/inbound-secrets/civil_affairs", {}), 403)
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("payload", "status", "field"),
    [
        ({"name": "x", "url": "https://10.0.0.8/hooks", "events": ["task.created"]}, 422, "url"),
        ({"name": "x", "url": "https://169.254.169.254/latest", "events": ["task.created"]}, 422, "url"),
        ({"name": "x", "url": "https://localhost/hooks", "events": ["task.created"]}, 422, "url"),
        ({"name": "x", "url": "https://[::1]/hooks", "events": ["task.created"]}, 422, "url"),
        ({"name": "x", "url": "https://a:b@minzheng.example/x", "events": ["task.created"]}, 422, "url"),
        ({"name": "x", "url": "http://minzheng.example/x", "events": ["task.created"]}, 422, "url"),
        ({"name": "x", "url": "ftp://minzheng.example/x", "events": ["task.created"]}, 422, "url"),
        ({"name": "x", "url": URL, "events": ["task.teleported"]}, 422, "events"),
        ({"name": "x", "url": URL, "events": []}, 422, "events"),
        ({"url": URL, "events": ["task.created"]}, 422, "department"),
        ({"department": "nowhere", "url": URL, "events": ["task.created"]}, 404, None),
    ],
)
def test_a_bad_subscription_is_refused_and_nothing_is_written(api, engine, payload, status, field):
    admin = api.as_("admin")
    before = database_rows(engine)
    error = error_of(admin.post("/webhooks/subscriptions", payload), status)
    if field is not None:
        assert field in {d.get("field") for d in error["details"]} or field in json.dumps(error["details"])
    assert database_rows(engine) == before


def test_unknown_subscriptions_and_deliveries_are_not_found(api, engine):
    admin = api.as_("admin")
    before = database_rows(engine)
    missing = str(uuid.uuid4())
    error_of(admin.get(f"/webhooks/subscriptions/{missing}"), 404, "subscription_not_found")
    error_of(admin.patch(f"/webhooks/subscriptions/{missing}", {"active": False}), 404, "subscription_not_found")
    error_of(admin.post(f"/webhooks/subscriptions/{missing}/rotate-secret", {}), 404, "subscription_not_found")
    error_of(admin.get(f"/webhooks/subscriptions/{missing}/deliveries"), 404, "subscription_not_found")
    error_of(admin.post("/webhooks/deliveries/99/resend", {}), 404, "delivery_not_found")
    error_of(admin.post("/webhooks/inbound-secrets/nowhere", {}), 404)
    assert database_rows(engine) == before


# --- inbound results ----------------------------------------------------------------------------
def test_a_signed_result_moves_the_case_on_and_a_replay_changes_nothing(client, engine, escalated, inbound_secret):
    data = {"business_key": escalated["business_key"], "payload": DEPARTMENT_RESULT}
    headers = signed(inbound_secret, json.dumps(data))
    first = database_rows(engine)
    answer = post_inbound(client, inbound_secret, json.dumps(data).encode(), headers=headers)
    assert answer.status_code == 200, answer.json
    assert answer.json == {
        "instance_id": escalated["id"],
        "business_key": escalated["business_key"],
        "status": "running",
        "replayed": False,
    }
    assert [t["element_id"] for t in open_tasks(engine, escalated)] == ["feedback_to_resident"]
    audit = rows_added(engine, first, "audit_log")
    assert audit and {(r["actor"], r["actor_id"]) for r in audit} == {("webhook:civil_affairs", None)}
    before = database_rows(engine)
    again = post_inbound(client, inbound_secret, json.dumps(data).encode(), headers=headers)
    assert again.status_code == 200 and again.json == {**answer.json, "replayed": True}
    assert database_rows(engine) == before


def test_a_result_may_name_its_case_by_instance_id(client, engine, escalated, inbound_secret):
    answer = post_inbound(client, inbound_secret, {"instance_id": escalated["id"], "payload": DEPARTMENT_RESULT})
    assert answer.status_code == 200, answer.json
    assert (answer.json["business_key"], answer.json["replayed"]) == (escalated["business_key"], False)
    assert [t["element_id"] for t in open_tasks(engine, escalated)] == ["feedback_to_resident"]


@pytest.mark.parametrize("named", ["both", "neither"])
def test_a_result_naming_both_or_neither_case_key_is_refused(client, engine, escalated, inbound_secret, named):
    data = {"payload": DEPARTMENT_RESULT}
    if named == "both":
        data.update(instance_id=escalated["id"], business_key=escalated["business_key"])
    before = database_rows(engine)
    error = error_of(post_inbound(client, inbound_secret, data), 422)
    assert error["message"] == "name exactly one of business_key and instance_id"
    assert error["details"] == [{"field": "business_key", "message": "business_key or instance_id"}]
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("named", "status", "field"),
    [
        ({"business_key": ""}, 422, "business_key"),
        ({"business_key": "J" * 201}, 422, "business_key"),
        ({"business_key": 7}, 422, "business_key"),
        ({"instance_id": 7}, 422, "instance_id"),
        ({"instance_id": ["a"]}, 422, "instance_id"),
        ({"business_key": "J"}, 404, None),  # one character and 200 are keys, of no case here
        ({"business_key": "J" * 200}, 404, None),
        ({"instance_id": "i" * 200}, 404, None),
    ],
)
def test_a_case_key_is_a_string_of_1_to_200_characters(client, engine, inbound_secret, named, status, field):
    before = database_rows(engine)
    error = error_of(post_inbound(client, inbound_secret, {**named, "payload": DEPARTMENT_RESULT}), status)
    if field is not None:
        assert error["message"] == f"{field} must be a string"
        assert error["details"] == [{"field": field, "message": "1-200 characters"}]
    assert database_rows(engine) == before


def test_two_copies_racing_take_effect_once(app, engine, escalated, inbound_secret):
    raw = json.dumps({"business_key": escalated["business_key"], "payload": DEPARTMENT_RESULT}).encode()
    headers = signed(inbound_secret, raw)
    answers = []

    def post() -> None:
        answers.append(app.test_client().post(f"{API}{INBOUND}", data=raw, headers=headers))

    threads = [threading.Thread(target=post) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(a.status_code for a in answers) == [200] * 4, [a.json for a in answers]
    assert sorted(a.json["replayed"] for a in answers) == [False, True, True, True]
    assert [t["element_id"] for t in open_tasks(engine, escalated)] == ["feedback_to_resident"]


def _other_secret(api, department: str) -> str:
    return api.as_("admin").post(f"/webhooks/inbound-secrets/{department}", {}).json["secret"]


@pytest.mark.parametrize(
    "case",
    ["no signature", "wrong secret", "another department's secret", "stale", "future", "no secret", "unknown"],
)
def test_an_unverified_result_is_401_before_anything_else(api, client, engine, escalated, inbound_secret, case):
    data = json.dumps({"business_key": escalated["business_key"], "payload": DEPARTMENT_RESULT}).encode()
    department = "civil_affairs"
    secret = inbound_secret
    headers = signed(secret, data)
    if case == "no signature":
        del headers["webhook-signature"]
    elif case == "wrong secret":
        headers = signed("whsec_" + "A" * 43 + "=", data)
    elif case == "another department's secret":
        headers = signed(_other_secret(api, "health"), data)
    elif case == "stale":
        headers = signed(secret, data, at=datetime.fromtimestamp(time.time() - 600, UTC))
    elif case == "future":
        headers = signed(secret, data, at=datetime.fromtimestamp(time.time() + 600, UTC))
    elif case == "no secret":
        department = "health"  # signed with civil affairs' secret, health has none
    else:
        department = "nowhere"
    before = database_rows(engine)
    error = error_of(
        client.post(f"{API}/webhooks/inbound/{department}", data=data, headers=headers), 401, "signature_invalid"
    )
    if case in ("wrong secret", "no secret", "unknown"):  # a department without a secret looks like a wrong one
        assert error["message"] == "no signature matches"
    assert database_rows(engine) == before


@pytest.mark.parametrize(
    ("raw", "header", "value", "says"),
    [
        (b"\xff\xfe not utf-8", None, None, "the body is not UTF-8"),
        (b"{not json", None, None, "the body is not JSON"),
        (b"[1, 2]", None, None, "the body must be a JSON object"),
        (b"{}", "webhook-timestamp", "yesterday", "webhook-timestamp must be whole seconds since 1970"),
        (b"{}", "webhook-id", "\u00e9" * 3, "webhook-id must be 1-200 printable characters"),
    ],
)
def test_a_malformed_request_is_400(client, engine, inbound_secret, raw, header, value, says):
    headers = signed(inbound_secret, raw)
    if header is not None:
        headers[header] = value
    before = database_rows(engine)
    assert error_of(client.post(f"{API}{INBOUND}", data=raw, headers=headers), 400)["message"] == says
    assert database_rows(engine) == before


def test_an_unknown_case_is_404_and_a_case_not_waiting_is_409(client, engine, world, escalated, inbound_secret):
    before = database_rows(engine)
    missing = post_inbound(client, inbound_secret, {"business_key": "JF-NOPE", "payload": DEPARTMENT_RESULT})
    assert error_of(missing, 404)["message"] == "no such case"
    other = report_case(engine, world["wang"])
    escalate(engine, world["wang"], other, ["health"])
    before = database_rows(engine)
    waiting_for_health = {"business_key": other["business_key"], "payload": DEPARTMENT_RESULT}
    error_of(post_inbound(client, inbound_secret, waiting_for_health), 409)
    assert database_rows(engine) == before
    engine.runtime.cancel_instance(escalated["id"], world["zhou"], "重复报案")
    before = database_rows(engine)
    cancelled = {"business_key": escalated["business_key"], "payload": DEPARTMENT_RESULT}
    error = error_of(post_inbound(client, inbound_secret, cancelled), 409)
    assert error["message"] == f"instance {escalated['business_key']} is cancelled"
    assert database_rows(engine) == before


def test_a_result_that_fails_the_form_is_422_with_field_details(client, engine, escalated, inbound_secret):
    before = database_rows(engine)
    bad = {"business_key": escalated["business_key"], "payload": {"outcome": "teleported"}}
    error = error_of(post_inbound(client, inbound_secret, bad), 422)
    assert error["details"] and any("outcome" in json.dumps(d) or "summary" in json.dumps(d) for d in error["details"])
    assert database_rows(engine) == before


def test_an_inbound_secret_rotation_accepts_both_secrets_for_the_grace_period(api, client, engine, world):
    admin = api.as_("admin")
    old = admin.post("/webhooks/inbound-secrets/civil_affairs", {}).json["secret"]
    new = admin.post("/webhooks/inbound-secrets/civil_affairs", {"grace_seconds": 3600}).json["secret"]
    listed = admin.get("/webhooks/inbound-secrets").json["items"]
    assert [row["department"] for row in listed] == ["civil_affairs"] and "secret" not in listed[0]
    for secret in (old, new):
        case = report_case(engine, world["wang"])
        escalate(engine, world["wang"], case, ["civil_affairs"])
        answer = post_inbound(client, secret, {"business_key": case["business_key"], "payload": DEPARTMENT_RESULT})
        assert answer.status_code == 200, answer.json
    admin.post("/webhooks/inbound-secrets/civil_affairs", {"grace_seconds": 0})
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    error_of(post_inbound(client, new, {"business_key": case["business_key"], "payload": DEPARTMENT_RESULT}), 401)


def test_a_payload_that_is_not_an_object_is_422_and_a_missing_one_is_empty(client, engine, escalated, inbound_secret):
    before = database_rows(engine)
    listed = {"business_key": escalated["business_key"], "payload": ["resolved"]}
    error = error_of(post_inbound(client, inbound_secret, listed), 422)
    assert (error["message"], error["details"]) == (
        "payload must be a JSON object",
        [{"field": "payload", "message": "not an object"}],
    )
    # no payload is an empty one: refused by the department's form, field by field, as `{}` is
    missing = error_of(post_inbound(client, inbound_secret, {"business_key": escalated["business_key"]}), 422)
    empty = error_of(
        post_inbound(client, inbound_secret, {"business_key": escalated["business_key"], "payload": {}}), 422
    )
    assert missing == empty and missing["message"] != "payload must be a JSON object"
    assert database_rows(engine) == before
