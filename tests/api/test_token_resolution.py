"""Bearer-token resolution: the actor a token stands for is read fresh on every request, so a
revocation, a deactivation or a membership change counts on the very next request, whichever
process made it."""

from __future__ import annotations

import pytest
from sqlalchemy import update

from engine import Engine
from engine.identity import Actor
from engine.store.models import User
from tests.api.conftest import error_of
from tests.helpers import PASSWORD, USERS


@pytest.fixture
def other_process(settings, clock, engine):
    """A second engine over the same database: what another server or worker process sees and does."""
    other = Engine(settings, clock)
    yield other
    other.close()


def _set_active(engine, username: str, active: bool) -> None:
    """Change the flag alone, behind the API's back: its sessions stay unrevoked."""
    with engine.db.transaction() as session:
        session.execute(update(User).where(User.username == username).values(active=active))


def test_a_token_stands_for_the_same_actor_as_its_user(engine, world):
    for username, _role, _departments in USERS:
        token = engine.tokens.login(username, PASSWORD)["token"]
        assert engine.tokens.resolve(token) == world[username], username
    assert world["wang"].station_id is not None and world["li"].station_id is None


def test_api_tokens_act_for_their_department_system(engine, world):
    token = engine.tokens.create_api_token("health", "health-his")["token"]
    assert engine.tokens.resolve(token) == Actor.system("health-his", department="health")


@pytest.mark.parametrize(
    "token", [None, "", "fqs_", "fqs_unknown", "fqa_unknown", "xyz_" + "a" * 43, "fqs_" + "a" * 200]
)
def test_unknown_and_malformed_tokens_resolve_to_nobody(engine, world, token):
    assert engine.tokens.resolve(token) is None


def test_an_inactive_user_is_refused_on_the_next_request_even_with_a_live_session(api, engine):
    chen = api.as_("chen")
    assert chen.get("/auth/me").status_code == 200
    _set_active(engine, "chen", False)
    error_of(chen.get("/auth/me"), 401, "unauthorized")
    _set_active(engine, "chen", True)
    assert chen.get("/auth/me").status_code == 200  # the session itself was never revoked


def test_membership_changes_count_on_the_next_request(api):
    li = api.as_("li")
    assert li.get("/auth/me").json["departments"] == ["civil_affairs"]
    assert api.as_("admin").put("/users/li/departments/health").status_code == 200
    assert li.get("/auth/me").json["departments"] == ["civil_affairs", "health"]
    assert api.as_("admin").delete("/users/li/departments/civil_affairs").status_code == 200
    assert li.get("/auth/me").json["departments"] == ["health"]


def test_revocations_and_deactivations_by_another_process_count_on_the_next_request(api, other_process):
    first, second = api.with_token(api.login("wang").json["token"]), api.as_("chen")
    system = api.with_token(other_process.tokens.create_api_token("civil_affairs")["token"])
    for caller in (first, second, system):
        assert caller.get("/auth/me").status_code == 200
    other_process.tokens.revoke(first.token)
    error_of(first.get("/auth/me"), 401)
    other_process.identity.update_user("chen", active=False)
    error_of(second.get("/auth/me"), 401)
    token_id = other_process.tokens.list_api_tokens()[0]["id"]
    other_process.tokens.revoke_api_token(token_id)
    error_of(system.get("/auth/me"), 401)
