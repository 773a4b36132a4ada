"""Authentication: logins, opaque hashed tokens that expire and can be revoked, API tokens of
department systems, the 401s, and rate-limited login attempts."""

from __future__ import annotations

import hashlib
from datetime import datetime, timedelta

from sqlalchemy import select

from engine.store.models import AuthToken
from tests.api.conftest import error_of
from tests.helpers import PASSWORD


def test_login_returns_an_opaque_token_its_expiry_and_the_user(api, clock):
    response = api.login("wang")
    assert response.status_code == 200
    body = response.json
    assert body["token_type"] == "Bearer" and body["token"].startswith("fqs_") and len(body["token"]) > 40
    assert datetime.fromisoformat(body["expires_at"]) == clock.now() + timedelta(hours=12)
    assert body["user"] == {
        "id": body["user"]["id"],
        "username": "wang",
        "display_name": "wang",
        "role": "officer",
        "departments": ["xinqiao"],
        "active": True,
    }
    assert api.with_token(body["token"]).get("/auth/me").json == {
        "username": "wang",
        "role": "officer",
        "departments": ["xinqiao"],
        "kind": "user",
    }


def test_tokens_are_stored_only_as_sha256_hashes(api, engine):
    token = api.login("wang").json["token"]
    with engine.db.transaction() as session:
        hashes = session.scalars(select(AuthToken.token_hash)).all()
    assert hashlib.sha256(token.encode()).hexdigest() in hashes and token not in hashes


def test_wrong_password_and_unknown_user_get_the_same_401(api):
    wrong = error_of(api.login("wang", "wrong-password"), 401, "invalid_credentials")
    unknown = error_of(api.login("nobody", PASSWORD), 401, "invalid_credentials")
    assert wrong == unknown


def test_failed_logins_are_audited_without_the_password(api, engine):
    api.login("wang", "wrong-password")
    failed = [e for e in engine.history.audit_trail() if e["action"] == "auth.login_failed"]
    assert failed and failed[-1]["details"] == {"username": "wang"}
    assert "wrong-password" not in str(engine.history.audit_trail())


def test_every_endpoint_but_login_health_and_openapi_needs_a_bearer_token(api, client):
    error_of(api.anonymous("GET", "/tasks"), 401, "unauthorized")
    response = api.anonymous("GET", "/process-instances")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error_of(api.anonymous("GET", "/tasks", headers={"Authorization": "Basic d2FuZzpwdw=="}), 401)
    error_of(api.anonymous("GET", "/tasks", headers={"Authorization": "Bearer "}), 401)
    error_of(api.anonymous("GET", "/tasks", headers={"Authorization": "Bearer fqs_not-a-real-token"}), 401)
    error_of(api.anonymous("GET", "/tasks", headers={"Authorization": "Bearer " + "x" * 5000}), 401)
    assert client.get("/healthz").status_code == 200
    assert client.get("/api/v1/openapi.json").status_code == 200


def test_a_session_token_expires_after_its_lifetime(api, clock):
    wang = api.as_("wang")
    clock.advance(hours=11, minutes=59)
    assert wang.get("/auth/me").status_code == 200
    clock.advance(minutes=1)
    error_of(wang.get("/auth/me"), 401, "unauthorized")


def test_logout_revokes_the_token_and_only_that_token(api):
    first = api.with_token(api.login("wang").json["token"])
    second = api.with_token(api.login("wang").json["token"])
    assert first.post("/auth/logout").status_code == 204
    error_of(first.get("/auth/me"), 401)
    assert second.get("/auth/me").status_code == 200
    assert any(e["action"] == "auth.logout" for e in api.as_("sun").get("/audit-trail").json["items"])


def test_deactivating_a_user_revokes_their_sessions_and_refuses_new_logins(api):
    chen = api.as_("chen")
    response = api.as_("admin").patch("/users/chen", {"active": False})
    assert response.status_code == 200 and response.json["active"] is False
    error_of(chen.get("/auth/me"), 401)
    error_of(api.login("chen"), 401)


def test_a_new_password_ends_old_sessions(api):
    chen = api.as_("chen")
    assert api.as_("admin").patch("/users/chen", {"password": "a-brand-new-password"}).status_code == 200
    error_of(chen.get("/auth/me"), 401)
    assert api.login("chen", "a-brand-new-password").status_code == 200


def test_api_token_is_shown_once_acts_for_its_department_and_can_be_revoked(api, world):
    admin = api.as_("admin")
    created = admin.post("/api-tokens", {"department": "health", "name": "health-his"})
    assert created.status_code == 201
    view = created.json
    token = view.pop("token")
    assert token.startswith("fqa_")
    listed = admin.get("/api-tokens").json["items"]
    assert listed == [view] and "token" not in listed[0]
    system = api.with_token(token)
    assert system.get("/auth/me").json == {
        "username": "health-his",
        "role": "system",
        "departments": ["health"],
        "kind": "system",
    }
    assert admin.delete(f"/api-tokens/{view['id']}").status_code == 204
    error_of(system.get("/auth/me"), 401)
    assert admin.get("/api-tokens").json["items"][0]["revoked_at"] is not None
    error_of(admin.delete("/api-tokens/999999"), 404, "token_not_found")


def test_api_tokens_do_not_expire_with_the_session_lifetime(api, engine, clock):
    system = api.with_token(engine.tokens.create_api_token("civil_affairs")["token"])
    clock.advance(days=400)
    assert system.get("/auth/me").status_code == 200


def test_repeated_failed_logins_are_rate_limited_but_good_ones_are_not_counted(api):
    for _ in range(5):
        assert api.login("wang").status_code == 200  # successes do not count
    statuses = [api.login("wang", f"guess-{i}").status_code for i in range(12)]
    assert statuses[:10] == [401] * 10 and statuses[10:] == [429, 429]
    limited = error_of(api.login("wang", "guess"), 429, "too_many_requests")
    assert limited["message"]
    assert api.login("wang").status_code == 429  # the address is cooling down


def test_login_body_is_validated(api, client):
    error_of(client.post("/api/v1/auth/login", json={"username": "wang"}), 422, "validation_failed")
    error_of(
        client.post("/api/v1/auth/login", json={"username": "wang", "password": PASSWORD, "otp": "1"}),
        422,
        "validation_failed",
    )
    error_of(
        client.post("/api/v1/auth/login", data="username=wang", content_type="application/x-www-form-urlencoded"),
        415,
        "unsupported_media_type",
    )


def test_failed_logins_for_one_username_are_limited_across_client_addresses(client):
    def attempt(i: int, username: str = "zhou"):
        return client.post(
            "/api/v1/auth/login",
            json={"username": username, "password": f"guess-{i}"},
            environ_base={"REMOTE_ADDR": f"192.0.2.{i + 1}"},
        )

    statuses = [attempt(i).status_code for i in range(11)]
    assert statuses[:10] == [401] * 10 and statuses[10] == 429
    assert attempt(20, username="chen").status_code == 401  # other accounts are unaffected
