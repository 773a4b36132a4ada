"""Fixtures for the workbench pages: the app over the test engine and browsers-without-a-browser (the
Flask test client with its own cookie jar) that log in through the login form, CSRF token and all."""

from __future__ import annotations

import re

import pytest

from tests.api.conftest import Api
from tests.helpers import PASSWORD
from web import create_app

CSRF = re.compile(r'name="csrf_token" value="([^"]+)"')


class PageUser:
    """One browser session: a test client with its cookies, logged in through /login."""

    def __init__(self, app, username: str | None = None):
        self.client = app.test_client()
        self.username = username
        if username is not None:
            response = self.login(username)
            assert response.status_code == 302, response.get_data(as_text=True)[:500]

    def csrf(self, path: str = "/login") -> str:
        page = self.client.get(path, follow_redirects=True)
        found = CSRF.search(page.get_data(as_text=True))
        assert found, f"no CSRF token on {path}"
        return found.group(1)

    def login(self, username: str, password: str = PASSWORD):
        token = self.csrf("/login")
        return self.client.post("/login", data={"username": username, "password": password, "csrf_token": token})

    def get(self, path: str, **kwargs):
        return self.client.get(path, **kwargs)

    def text(self, path: str) -> str:
        response = self.client.get(path)
        assert response.status_code == 200, (path, response.status_code, response.get_data(as_text=True)[:300])
        return response.get_data(as_text=True)

    def post(self, path: str, data: dict | None = None, csrf_from: str = "/", **kwargs):
        """POST a page form with a CSRF token taken from a page of this session."""
        return self.client.post(path, data={**(data or {}), "csrf_token": self.csrf(csrf_from)}, **kwargs)


@pytest.fixture
def app(engine):
    return create_app(engine)


@pytest.fixture
def api(app, world) -> Api:
    return Api(app.test_client())


@pytest.fixture
def browse(app, world):
    """`browse("wang")`: a logged-in page session of that test user."""
    return lambda username=None: PageUser(app, username)
