"""Fixtures for the HTTP API: the Flask app over the test engine (SQLite and PostgreSQL), a client,
and `api`, which logs in the test world's users for real and drives the domain over HTTP."""

from __future__ import annotations

from typing import Any

import pytest

from tests.helpers import PASSWORD, REPORT
from web import create_app

API = "/api/v1"


class Caller:
    """One logged-in caller: every request carries its bearer token."""

    def __init__(self, client, token: str, username: str):
        self.client, self.token, self.username = client, token, username

    def _call(self, method: str, path: str, **kwargs):
        headers = {"Authorization": f"Bearer {self.token}", **kwargs.pop("headers", {})}
        return self.client.open(API + path, method=method, headers=headers, **kwargs)

    def get(self, path: str, **kwargs):
        return self._call("GET", path, **kwargs)

    def post(self, path: str, json: Any = None, **kwargs):
        if json is not None:
            kwargs["json"] = json
        return self._call("POST", path, **kwargs)

    def patch(self, path: str, json: Any = None, **kwargs):
        return self._call("PATCH", path, json=json, **kwargs)

    def put(self, path: str, **kwargs):
        return self._call("PUT", path, **kwargs)

    def delete(self, path: str, **kwargs):
        return self._call("DELETE", path, **kwargs)

    # --- the domain, driven over HTTP ---------------------------------------------------------
    def report(self, **overrides) -> dict[str, Any]:
        response = self.post(
            "/process-instances", {"definition_key": "dispute_resolution", "variables": {**REPORT, **overrides}}
        )
        assert response.status_code == 201, response.json
        return response.json

    def tasks(self, **query) -> list[dict[str, Any]]:
        response = self.get("/tasks", query_string=query)
        assert response.status_code == 200, response.json
        return response.json["items"]

    def task(self, case: dict[str, Any], element_id: str) -> dict[str, Any]:
        found = [
            t
            for t in self.tasks(instance_id=case["id"])
            if t["element_id"] == element_id and t["state"] in ("open", "claimed")
        ]
        assert len(found) == 1, f"{self.username} sees {[t['element_id'] for t in found]}"
        return found[0]

    def complete(self, case: dict[str, Any], element_id: str, data: dict[str, Any]) -> dict[str, Any]:
        response = self.post(f"/tasks/{self.task(case, element_id)['id']}/complete", {"data": data})
        assert response.status_code == 200, response.json
        return response.json

    def case(self, case: dict[str, Any]) -> dict[str, Any]:
        response = self.get(f"/process-instances/{case['id']}")
        assert response.status_code == 200, response.json
        return response.json


class Api:
    def __init__(self, client):
        self.client = client
        self._callers: dict[str, Caller] = {}

    def login(self, username: str, password: str = PASSWORD):
        return self.client.post(f"{API}/auth/login", json={"username": username, "password": password})

    def as_(self, username: str) -> Caller:
        """A caller logged in as `username` (one real login per test and user)."""
        if username not in self._callers:
            response = self.login(username)
            assert response.status_code == 200, response.json
            self._callers[username] = Caller(self.client, response.json["token"], username)
        return self._callers[username]

    def with_token(self, token: str, name: str = "token") -> Caller:
        return Caller(self.client, token, name)

    def anonymous(self, method: str, path: str, **kwargs):
        return self.client.open(API + path, method=method, **kwargs)


@pytest.fixture
def app(engine):
    return create_app(engine)


@pytest.fixture
def client(app):
    return app.test_client()


@pytest.fixture
def api(client, world) -> Api:
    return Api(client)


def error_of(response, status: int, code: str | None = None) -> dict[str, Any]:
    """Assert the one error shape and status; return the error object."""
    assert response.status_code == status, (response.status_code, response.get_data(as_text=True)[:500])
    assert response.mimetype == "application/json"
    body = response.json
    assert set(body) == {"error"} and set(body["error"]) == {"code", "message", "details"}, body
    assert isinstance(body["error"]["details"], list)
    if code is not None:
        assert body["error"]["code"] == code, body
    text = response.get_data(as_text=True)
    assert "Traceback" not in text and 'File "' not in text
    return body["error"]
