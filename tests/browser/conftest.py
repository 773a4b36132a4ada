"""Browser tests: Debian's chromium driven by Playwright against the app served on loopback.

The app runs over the test engine (SQLite, manual clock) in a werkzeug server thread; every page a
test opens is watched for JavaScript errors, CSP violations, failed requests and 4xx/5xx answers it
did not expect. Screenshots go to FENGQIAO_BROWSER_ARTIFACTS (default build/browser/).
`make test` installs chromium when missing (`make chromium`); `playwright install` is not used.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import pytest
from werkzeug.serving import make_server

from tests.conftest import ROOT
from tests.helpers import PASSWORD
from web import create_app

PHONE = {"width": 375, "height": 812}
PHONE_390 = {"width": 390, "height": 844}  # a current phone, the width reviewers look at
DESKTOP = {"width": 1280, "height": 800}
ARTIFACTS = Path(os.environ.get("FENGQIAO_BROWSER_ARTIFACTS") or ROOT / "build" / "browser")
AXE = ROOT / "tests" / "browser" / "vendor" / "axe-core" / "4.14.1" / "axe.min.js"

# Browser tests start a real browser: once per backend would double the slowest tier for no new
# behaviour (the pages' database work is the API's, tested on both backends in tests/pages and tests/api).
pytestmark = pytest.mark.backends("sqlite")


@pytest.fixture
def server(engine, world):
    """The app on a free loopback port; yields its base URL."""
    app = create_app(engine)
    httpd = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_port}"
    httpd.shutdown()
    thread.join(5)


class Watched:
    """A browser context (one user's session) whose pages record every problem they meet."""

    def __init__(self, browser, base: str, viewport: dict, locale: str = "zh-CN", javascript: bool = True):
        self.base = base
        self.context = browser.new_context(
            viewport=viewport, locale=locale, base_url=base, java_script_enabled=javascript
        )
        self.page = self.context.new_page()
        self.problems: list[str] = []
        self.expected_statuses: set[int] = set()
        self.page.on("console", self._console)
        self.page.on("pageerror", lambda exc: self.problems.append(f"page error: {exc}"))
        self.page.on("requestfailed", self._failed)
        self.page.on("response", self._response)

    def _console(self, message) -> None:
        expected = any(f"status of {status} " in message.text for status in self.expected_statuses)
        if message.type == "error" and not expected:
            self.problems.append(f"console error: {message.text} ({message.location.get('url')})")

    def _failed(self, request) -> None:
        if request.failure != "net::ERR_ABORTED":  # a click navigated on before a download finished
            self.problems.append(f"request failed: {request.url} {request.failure}")

    def _response(self, response) -> None:
        if response.status >= 400 and response.status not in self.expected_statuses:
            self.problems.append(f"HTTP {response.status}: {response.url}")

    def login(self, username: str, password: str = PASSWORD) -> None:
        self.page.goto("/login")
        self.page.fill("#username", username)
        self.page.fill("#password", password)
        self.page.click("button[type=submit]")
        self.page.wait_for_load_state()

    def go(self, path: str):
        response = self.page.goto(path)
        self.page.wait_for_load_state("networkidle")
        return response

    def shot(self, name: str) -> Path:
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        path = ARTIFACTS / f"{name}.png"
        self.page.screenshot(path=str(path), full_page=True)
        return path

    def axe_violations(self) -> list[str]:
        """axe-core's serious and critical violations on the current page (evaluated outside the CSP)."""
        self.page.evaluate("() => {" + AXE.read_text(encoding="utf-8") + "\n}")
        result = self.page.evaluate("() => axe.run(document, {resultTypes: ['violations']})")
        return [
            f"{v['id']} ({v['impact']}): {[n['target'] for n in v['nodes']][:3]}"
            for v in result["violations"]
            if v["impact"] in ("serious", "critical")
        ]

    def layout_problems(self) -> list[str]:
        """Phone rules: no horizontal scrolling, touch targets at least 44 px high and wide."""
        problems = []
        width = self.page.evaluate("() => document.documentElement.scrollWidth")
        viewport = self.page.viewport_size["width"]
        if width > viewport:
            problems.append(f"scrolls sideways: {width} > {viewport}")
        small = self.page.evaluate(
            """() => [...document.querySelectorAll(
                 'a.button, button, .nav a, .row-link, .choice, select, textarea,'
                 + ' input:not([type=hidden]):not([type=radio]):not([type=checkbox])')]
               .filter(e => e.offsetParent !== null)
               .map(e => [e.outerHTML.slice(0, 80), e.getBoundingClientRect()])
               .filter(([_, r]) => r.height < 44 || r.width < 44)
               .map(([html, r]) => `${html} ${Math.round(r.width)}x${Math.round(r.height)}`)"""
        )
        return problems + small

    def sideways_scrolling(self) -> list[str]:
        """What scrolls sideways: the page itself, or a box in it (the top bar's tabs, a table in its .table-wrap)."""
        return self.page.evaluate(
            """() => {
                 const root = document.documentElement, found = [];
                 if (root.scrollWidth > window.innerWidth)
                   found.push(`page: ${root.scrollWidth} > ${window.innerWidth}`);
                 for (const e of document.querySelectorAll('body *')) {
                   if (e.offsetParent !== null && e.scrollWidth > e.clientWidth + 1
                       && ['auto', 'scroll'].includes(getComputedStyle(e).overflowX))
                     found.push(`${e.outerHTML.slice(0, 80)}: ${e.scrollWidth} > ${e.clientWidth}`);
                 }
                 return found;
               }"""
        )

    def close(self) -> None:
        self.context.close()


@pytest.fixture
def open_as(browser, server):
    """`open_as("wang")`: a logged-in, watched browser context (phone size unless told otherwise)."""
    contexts: list[Watched] = []

    def make(username: str | None = None, viewport: dict = PHONE, locale: str = "zh-CN", javascript: bool = True):
        watched = Watched(browser, server, viewport, locale, javascript)
        contexts.append(watched)
        if username:
            watched.login(username)
        return watched

    yield make
    problems = [p for w in contexts for p in w.problems]
    for watched in contexts:
        watched.close()
    assert problems == [], problems
