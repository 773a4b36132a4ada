"""The admin's webhooks page (issue 18): create with the secret shown once, pause, rotate, inbound
secret, attempts and re-send, through real sessions; refusals write nothing."""

from __future__ import annotations

import webhooks
from tests.helpers import database_rows, escalate, report_case

URL = "https://minzheng.example/hooks/fengqiao"


def test_the_admin_subscribes_sees_the_secret_once_pauses_and_rotates(browse, engine):
    admin = browse("admin")
    answer = admin.post(
        "/admin/webhooks",
        {"url": URL, "department": "civil_affairs", "events": "escalation.raised"},
        csrf_from="/admin/webhooks",
    )
    assert answer.status_code == 201
    page = answer.get_data(as_text=True)
    (subscription,) = webhooks.install(engine).subscriptions.listing()
    assert 'id="secret-value">whsec_' in page
    listing = admin.text("/admin/webhooks")
    assert "minzheng.example" in listing and "whsec_" not in listing and "/hooks/fengqiao" not in listing
    assert (
        admin.post(
            f"/admin/webhooks/{subscription['id']}/active", {"active": "0"}, csrf_from="/admin/webhooks"
        ).status_code
        == 302
    )
    assert not webhooks.install(engine).subscriptions.get(subscription["id"])["active"]
    rotated = admin.post(f"/admin/webhooks/{subscription['id']}/rotate", csrf_from="/admin/webhooks")
    assert rotated.status_code == 200 and 'id="secret-value">whsec_' in rotated.get_data(as_text=True)
    assert webhooks.install(engine).subscriptions.get(subscription["id"])["previous_secret_until"]
    inbound = admin.post("/admin/webhooks/inbound", {"department": "health"}, csrf_from="/admin/webhooks")
    assert inbound.status_code == 200 and "whsec_" in inbound.get_data(as_text=True)
    assert [row["department"] for row in webhooks.install(engine).subscriptions.inbound_list()] == ["health"]


def test_a_private_url_is_refused_on_the_page_and_nothing_is_written(browse, engine):
    admin = browse("admin")
    token = admin.csrf("/admin/webhooks")
    before = database_rows(engine)
    answer = admin.client.post(
        "/admin/webhooks",
        data={"url": "https://10.0.0.8/hook", "name": "x", "events": "task.created", "csrf_token": token},
    )
    assert answer.status_code == 422 and 'id="webhook-error"' in answer.get_data(as_text=True)
    assert database_rows(engine) == before


def test_the_admin_reads_the_attempts_and_sends_one_again(browse, engine, world):
    hooks = webhooks.install(engine)
    created = hooks.subscriptions.create(
        {"department": "civil_affairs", "url": "https://receiver.invalid/hooks", "events": ["escalation.raised"]},
        world["admin"],
    )
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    hooks.sweep()  # the name does not resolve: a failed attempt
    admin = browse("admin")
    page = admin.text(f"/admin/webhooks/{created['id']}")
    assert "escalation.raised" in page and "refused" in page
    (delivery,) = hooks.webhook_deliveries(subscription_id=created["id"])
    answer = admin.post(
        f"/admin/webhooks/deliveries/{delivery['id']}/resend", csrf_from=f"/admin/webhooks/{created['id']}"
    )
    assert answer.status_code == 302
    assert hooks.webhook_delivery(delivery["id"])["state"] == "pending"


def test_only_the_admin_sees_the_webhooks_page(browse, engine):
    officer = browse("wang")
    assert officer.client.get("/admin/webhooks").status_code == 403
