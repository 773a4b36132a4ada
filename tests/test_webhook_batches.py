"""Deliveries in batches (issue 18's rate): one RQ job per batch of deliveries, a job that tops its
batch up with other due deliveries and never with one that is not due or is leased, and requests that
share a kept-alive connection to the receiver (sent again once on a new connection when the receiver
closed the idle one)."""

from __future__ import annotations

import dataclasses
import threading
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from sqlalchemy import select, update

import webhooks
from engine import Engine, jobs
from engine.jobs import run_worker
from engine.store.models import DeliveryAttempt, NotificationDelivery
from engine.vocabulary import DeliveryState
from tests.conftest import REDIS_URL
from tests.helpers import escalate, report_case
from tests.test_webhooks import attempts, deliveries, subscribe
from tests.test_webhooks import receivers as receivers  # noqa: F401 - the receiver processes
from tests.test_webhooks import settings as settings  # noqa: F401 - allow-lists loopback
from webhooks import transport


def _rows(engine) -> list[tuple]:
    with engine.db.read() as scope:
        return [
            (d.id, d.state, d.attempts, d.next_attempt_at, d.locked_until)
            for d in scope.scalars(select(NotificationDelivery).order_by(NotificationDelivery.id))
        ]


def _relayed(engine, world, receiver, hooks) -> list[int]:
    subscribe(hooks, world, receiver, list(webhooks.events.TYPES), department=None)
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    created = hooks.webhook_relay.run_once()
    assert len(created) >= 3
    return created


def test_a_batch_tops_up_with_due_free_deliveries_and_leaves_the_rest_untouched(
    engine,
    world,
    clock,
    receivers,
):
    receiver = receivers()
    hooks = webhooks.install(engine)
    created = _relayed(engine, world, receiver, hooks)
    later, leased, *due = created
    now = clock.now()
    with engine.db.transaction() as scope:
        scope.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == later)
            .values(next_attempt_at=now + timedelta(minutes=5))
        )
        scope.execute(
            update(NotificationDelivery)
            .where(NotificationDelivery.id == leased)
            .values(locked_until=now + timedelta(minutes=5))
        )
    untouched = [row for row in _rows(engine) if row[0] in (later, leased)]

    outcomes = hooks.deliverer.deliver_many([], top_up=len(created))

    assert outcomes == {delivery_id: "delivered" for delivery_id in due}
    assert [row for row in _rows(engine) if row[0] in (later, leased)] == untouched
    assert sorted(r["id"] for r in receiver.received()) == sorted(d.event_id for d in deliveries(engine) if d.id in due)
    assert {a.delivery_id for a in attempts(engine)} == set(due)


def test_a_claimed_delivery_is_not_claimed_again_by_another_batch(engine, world, clock, receivers):
    hooks = webhooks.install(engine)
    created = _relayed(engine, world, receivers(), hooks)
    held = hooks.deliverer._claim_many(created[:1])
    assert [c.delivery_id for c in held] == created[:1]
    before = [row for row in _rows(engine) if row[0] == created[0]]

    taken = hooks.deliverer._claim_many(created[:1], top_up=len(created))

    assert [c.delivery_id for c in taken] == created[1:]  # the others, never the held one
    assert [row for row in _rows(engine) if row[0] == created[0]] == before


def test_the_relay_queues_one_job_per_batch_and_a_worker_delivers_each_once(
    engine,
    world,
    settings,
    clock,
    receivers,
    redis_db,
):
    receiver = receivers()
    subscribe(webhooks.install(engine), world, receiver, list(webhooks.events.TYPES), department=None)
    case = report_case(engine, world["wang"])
    escalate(engine, world["wang"], case, ["civil_affairs"])
    queued = Engine(dataclasses.replace(settings, redis_url=REDIS_URL, delivery_batch=2), clock)
    try:
        hooks = webhooks.install(queued)
        assert hooks.sweep() == 0  # relayed and queued; nothing is overdue for the sweep itself
        pending = deliveries(engine)
        assert len(pending) >= 3 and {d.state for d in pending} == {DeliveryState.PENDING}
        assert queued.jobs.queue.count == -(-len(pending) // 2)
        run_worker(queued, burst=True)
    finally:
        jobs._worker_engine = None
        queued.close()
    assert {d.state for d in deliveries(engine)} == {DeliveryState.DELIVERED}
    assert sorted(r["id"] for r in receiver.received()) == sorted(d.event_id for d in pending)
    with engine.db.read() as scope:
        assert len(scope.scalars(select(DeliveryAttempt.id)).all()) == len(pending)


class _KeepAlive(BaseHTTPRequestHandler):
    """HTTP/1.1 with keep-alive; `drop_after_answer` closes each connection after its answer
    without saying so (as a receiver's idle timeout does)."""

    protocol_version = "HTTP/1.1"
    seen: list[int] = []
    drop_after_answer = False

    def do_POST(self):  # noqa: N802 - the stdlib's name
        self.rfile.read(int(self.headers.get("Content-Length") or 0))
        self.seen.append(self.client_address[1])
        self.send_response(204)
        self.send_header("Content-Length", "0")
        self.end_headers()
        if self.drop_after_answer:
            self.close_connection = True

    def log_message(self, *args):
        pass


@pytest.fixture
def keep_alive_server():
    def start(drop_after_answer: bool) -> tuple[str, list[int]]:
        handler = type("Handler", (_KeepAlive,), {"seen": [], "drop_after_answer": drop_after_answer})
        server = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        servers.append(server)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        return f"http://127.0.0.1:{server.server_address[1]}/hooks", handler.seen

    servers: list[ThreadingHTTPServer] = []
    yield start
    transport.POOL.clear()
    for server in servers:
        server.shutdown()
        server.server_close()


def _post(url: str) -> transport.Outcome:
    return transport.post_json(url, b"{}", ("127.0.0.1",), 5, False)


def test_requests_to_one_receiver_share_a_kept_alive_connection(keep_alive_server):
    url, seen = keep_alive_server(drop_after_answer=False)
    assert all(_post(url).ok for _ in range(3))
    assert len(seen) == 3 and len(set(seen)) == 1


def test_a_connection_the_receiver_closed_is_replaced_and_the_request_sent_once(keep_alive_server):
    url, seen = keep_alive_server(drop_after_answer=True)
    assert _post(url).ok
    assert _post(url).ok  # on the pooled connection the receiver closed, then once on a new one
    assert len(seen) == 2 and len(set(seen)) == 2
