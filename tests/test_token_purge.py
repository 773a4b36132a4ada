"""Expired and revoked login tokens are deleted by the sweeper when it has nothing else to do;
live sessions and department systems' API tokens (revoked ones stay listed) are kept."""

from __future__ import annotations

import threading
import time

from sqlalchemy import select

from engine.jobs import Sweeper
from engine.store.models import AuditEntry, AuthToken
from tests.helpers import PASSWORD


def token_names(engine) -> list[tuple[str, str, bool]]:
    with engine.db.read() as session:
        rows = session.scalars(select(AuthToken).order_by(AuthToken.id)).all()
        return [(r.kind, r.name, r.revoked_at is not None) for r in rows]


def audit_count(engine) -> int:
    with engine.db.read() as session:
        return len(session.scalars(select(AuditEntry.id)).all())


def a_world_of_tokens(engine, clock):
    """An expired session, a revoked session, a live session, a live and a revoked API token."""
    expired = engine.tokens.login("wang", PASSWORD)
    clock.advance(seconds=engine.settings.token_ttl_seconds + 1)
    revoked = engine.tokens.login("chen", PASSWORD)
    engine.tokens.revoke(revoked["token"])
    live = engine.tokens.login("zhou", PASSWORD)
    engine.tokens.create_api_token("health", "health-his")
    old_api = engine.tokens.create_api_token("civil_affairs", "civil-his")
    engine.tokens.revoke_api_token(old_api["id"])
    return expired, live


def test_purging_deletes_expired_and_revoked_sessions_only(engine, world, clock):
    expired, live = a_world_of_tokens(engine, clock)
    audited = audit_count(engine)
    assert engine.tokens.purge_expired() == 2
    assert token_names(engine) == [
        ("session", "zhou", False),
        ("api", "health-his", False),
        ("api", "civil-his", True),
    ]
    assert engine.tokens.resolve(expired["token"]) is None
    assert engine.tokens.resolve(live["token"]).username == "zhou"
    assert audit_count(engine) == audited  # the logins and logouts stay in the audit trail
    assert engine.tokens.purge_expired() == 0


def test_the_sweeper_purges_in_its_idle_time_at_most_every_purge_interval(engine, world, clock):
    _expired, live = a_world_of_tokens(engine, clock)
    sweeper = Sweeper(engine, interval=0.05)
    sweeper.sweep()
    assert len(token_names(engine)) == 3
    engine.tokens.revoke(live["token"])  # zhou logs out
    sweeper.sweep()  # too soon after the last purge
    assert ("session", "zhou", True) in token_names(engine)
    clock.advance(minutes=10)
    sweeper.sweep()
    assert [name for _kind, name, _revoked in token_names(engine)] == ["health-his", "civil-his"]


def test_a_sweep_that_fired_timers_leaves_the_purge_for_an_idle_one(engine, world, clock):
    from tests.helpers import report_case

    report_case(engine, world["wang"])  # its SLA marks fall due within days
    a_world_of_tokens(engine, clock)
    clock.advance(days=30)
    sweeper = Sweeper(engine, interval=0.05)
    assert sweeper.sweep() > 0 and len(token_names(engine)) == 5
    assert sweeper.sweep() == 0 and len(token_names(engine)) == 2  # 30 days on, zhou's session expired too


def test_the_sweeper_thread_purges_when_no_timer_is_due(engine, world, clock):
    a_world_of_tokens(engine, clock)
    sweeper = Sweeper(engine, interval=0.05).start()
    try:
        deadline = time.monotonic() + 10
        while len(token_names(engine)) != 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        sweeper.stop()
    assert len(token_names(engine)) == 3
    assert not any(t.name == "fengqiao-sweeper" for t in threading.enumerate())
