"""The rendered forms in a real browser (Debian's chromium through playwright): every shipped form at
phone and desktop width with the stylesheet docs/forms.md gives, under a Content-Security-Policy
without inline scripts; forms.js shows conditional fields and adds/removes parties; what the browser
submits parses back to the data. Screenshots go to build/screenshots/forms/ for people to look at."""

from __future__ import annotations

import functools
import http.server
import re
import shutil
import threading

import pytest
from markupsafe import escape

from engine.errors import FormInvalid
from forms import FormRegistry
from forms.fields import html_pattern
from forms.renderer import form_title, parse_form, render_form
from tests.conftest import ROOT
from tests.form_pages import FORMS, as_multidict, schema, zh_cn_gettext

SHOTS = ROOT / "build" / "screenshots" / "forms"
AXE = ROOT / "tests" / "browser" / "vendor" / "axe-core" / "4.14.1" / "axe.min.js"
CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
WIDTHS = {"phone": 375, "desktop": 1280}
REGISTRY = FormRegistry()


def documented_css() -> str:
    """The starting stylesheet of docs/forms.md, so the documented rules are the ones measured."""
    doc = (ROOT / "docs" / "forms.md").read_text(encoding="utf-8")
    return re.findall(r"```css\n(.*?)```", doc, flags=re.S)[-1]


def page_html(title: str, fields, *, script: bool = True) -> str:
    title = escape(title)
    pages_css = sorted((ROOT / "web" / "static" / "css").glob("*.css"))
    links = "".join(f'<link rel="stylesheet" href="/static/css/{p.name}">' for p in pages_css)
    scripts = '<script src="/static/js/forms.js" defer></script>' if script else ""
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f'<title>{title}</title><link rel="stylesheet" href="/forms.css">{links}{scripts}</head>'
        f'<body><main><h1>{title}</h1><form method="post" action="/submit" novalidate>{fields}'
        '<button type="submit" class="fq-button">提交</button></form></main></body></html>'
    )


class _Handler(http.server.SimpleHTTPRequestHandler):
    def end_headers(self):
        self.send_header("Content-Security-Policy", CSP)
        self.send_header("X-Content-Type-Options", "nosniff")
        super().end_headers()

    def log_message(self, *args):  # keep pytest's output clean
        pass


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    """A loopback web server over a folder holding the pages, the documented CSS, the app's static
    files and axe-core (served, so that it loads under the CSP like any script)."""
    root = tmp_path_factory.mktemp("site")
    (root / "static").symlink_to(ROOT / "web" / "static")
    # The documented form rules, plus page rules the layout would give (test-only).
    page_rules = "body { font-family: sans-serif; max-width: 40rem; margin: 0 auto; padding: 0 .75rem; }"
    (root / "forms.css").write_text(documented_css() + page_rules, encoding="utf-8")
    shutil.copy(AXE, root / "axe.min.js")
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def open_page(site, browser):
    """Writes a page into the site and opens it; fails the test on any console error, page error or
    failed request."""
    root, base = site
    problems, contexts = [], []

    def open_(name: str, html: str, width: int = 375):
        (root / f"{name}.html").write_text(html, encoding="utf-8")
        context = browser.new_context(viewport={"width": width, "height": 800}, locale="zh-CN")
        contexts.append(context)
        page = context.new_page()
        page.on("console", lambda m: problems.append(f"console {m.type}: {m.text}") if m.type == "error" else None)
        page.on("pageerror", lambda e: problems.append(f"page error: {e}"))
        page.on("requestfailed", lambda r: problems.append(f"request failed: {r.url}"))
        page.on("response", lambda r: problems.append(f"{r.status}: {r.url}") if r.status >= 400 else None)
        page.goto(f"{base}/{name}.html")
        page.wait_for_load_state("load")
        return page

    yield open_
    for context in contexts:
        context.close()
    assert problems == []


def submitted(page) -> list[tuple[str, str]]:
    """What the browser would send: FormData of the page's form."""
    return [tuple(pair) for pair in page.evaluate("() => Array.from(new FormData(document.forms[0]).entries())")]


def filled(page) -> list[tuple[str, str]]:
    return [(name, value) for name, value in submitted(page) if value]


def refused(key: str) -> dict:
    """render_form's arguments for a submission the engine refused: the data kept, the errors shown."""
    data = {"parties": [{"phone": "12"}]} if key == "report_case" else {}
    try:
        REGISTRY.get(key).validate(data)
    except FormInvalid as error:
        return {"values": data, "errors": error.details}
    raise AssertionError(f"{key} accepted {data}")


@pytest.mark.parametrize("state", ["new", "refused"])
@pytest.mark.parametrize("width", WIDTHS, ids=list(WIDTHS))
@pytest.mark.parametrize("key", FORMS)
def test_each_form_fits_the_screen_with_44px_targets_and_no_serious_accessibility_violations(
    key, width, state, open_page, site
):
    form = schema(key)
    title = form_title(form, "zh_CN")
    fields = render_form(form, gettext=zh_cn_gettext(), **(refused(key) if state == "refused" else {}))
    page = open_page(f"{key}-{width}-{state}", page_html(title, fields), WIDTHS[width])
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SHOTS / f"{key}-{width}-{state}.png"), full_page=True)
    assert page.evaluate("() => document.scrollingElement.scrollWidth <= window.innerWidth")
    small = page.evaluate(
        """() => Array.from(document.querySelectorAll('.fq-input, .fq-select, .fq-option, .fq-button'))
            .filter(e => e.offsetParent !== null)
            .map(e => [e.className, e.getBoundingClientRect().height, e.getBoundingClientRect().width])
            .filter(([, h, w]) => h < 44 || w < 44)"""
    )
    assert small == []
    page.add_script_tag(url=f"{site[1]}/axe.min.js")
    violations = page.evaluate(
        """async () => (await axe.run(document, {resultTypes: ['violations']})).violations
            .filter(v => v.impact === 'serious' || v.impact === 'critical')
            .map(v => v.id + ': ' + v.nodes.map(n => n.target.join(' ')).join(', '))"""
    )
    assert violations == []


def test_departments_appear_only_when_the_officer_escalates(open_page):
    page = open_page("assess", page_html("研判案件", render_form(schema("assess_case"), gettext=zh_cn_gettext())))
    departments = page.locator('[data-fq-field="departments"]')
    assert departments.is_hidden()
    page.get_by_label("移交部门处置").check()
    assert departments.is_visible()
    page.get_by_label("民政").check()
    assert filled(page) == [("resolution", "escalate"), ("departments", "civil_affairs")]
    page.get_by_label("就地化解").check()
    assert departments.is_hidden()
    # A hidden field sends nothing: no stale departments with an on-the-spot resolution.
    assert filled(page) == [("resolution", "on_spot")]


def test_without_javascript_every_field_shows_and_no_dead_buttons(open_page):
    page = open_page("assess-nojs", page_html("研判案件", render_form(schema("assess_case")), script=False))
    assert page.locator('[data-fq-field="departments"]').is_visible()
    page = open_page("report-nojs", page_html("案件上报", render_form(schema("report_case")), script=False))
    assert page.locator('input[name="parties-0-name"]').is_visible()
    assert page.locator("[data-fq-add]:visible, [data-fq-remove]:visible").count() == 0


def test_officer_adds_and_removes_parties_and_the_submission_is_valid(open_page):
    page = open_page("report", page_html("案件上报", render_form(schema("report_case"), gettext=zh_cn_gettext())))
    page.get_by_label("蓝色（低）").check()
    page.get_by_label("类别").select_option("neighbour_dispute")
    page.get_by_label("情况描述").fill("楼上漏水\n协商未果")
    page.locator('input[name="parties-0-name"]').fill("刘桂兰")
    page.locator('input[name="parties-0-phone"]').fill("139 1234 5678")
    page.get_by_role("button", name="添加 当事人").click()
    assert page.evaluate("() => document.activeElement.name") == "parties-1-name"
    page.keyboard.type("张三")
    page.get_by_role("button", name="添加 当事人").click()
    numbers = page.locator(".fq-items .fq-item-number")
    assert numbers.all_text_contents() == ["1", "2", "3"]
    page.locator("[data-fq-item]").nth(0).get_by_role("button", name="删除").click()
    assert numbers.all_text_contents() == ["1", "2"]
    data = parse_form(schema("report_case"), as_multidict(submitted(page)))
    assert data == {
        "risk_level": "blue",
        "category": "neighbour_dispute",
        "description": "楼上漏水\n协商未果",
        "source": "household_visit",
        "parties": [{"name": "张三"}],
    }
    REGISTRY.get("report_case").validate(data)


def test_the_add_button_hides_at_max_items(open_page):
    limited = {"type": "object", "properties": {"items": {"type": "array", "maxItems": 2, "items": {"type": "string"}}}}
    page = open_page("limited", page_html("limit", render_form(limited)))
    add = page.locator("[data-fq-add]")
    assert add.is_visible()
    add.click()
    assert add.is_hidden()
    assert [n for n, _ in submitted(page)] == ["items-0", "items-1"]


def test_what_the_browser_submits_for_a_refilled_form_parses_back_to_the_same_data(open_page):
    data = {
        "risk_level": "red",
        "category": "other",
        "description": "\n开头换行\r\n<script>alert(1)</script>",
        "household": "某小区 3 幢",
        "parties": [{"name": "甲", "role": "respondent", "id_number": "11010519491231002X"}, {"name": "乙"}],
    }
    form = schema("report_case")
    page = open_page("refill", page_html("案件上报", render_form(form, values=data)))
    expected = {**data, "description": data["description"].replace("\r\n", "\n")}
    assert parse_form(form, as_multidict(submitted(page))) == expected


def test_the_pattern_attributes_compile_and_check_in_the_browser(open_page):
    page = open_page("patterns", page_html("案件上报", render_form(schema("report_case"))))
    phone = page.locator('input[name="parties-0-phone"]')
    phone.fill("abc")
    assert phone.evaluate("e => e.validity.patternMismatch")
    phone.fill("+86 139-1234-5678")
    assert not phone.evaluate("e => e.validity.patternMismatch")
    id_number = page.locator('input[name="parties-0-id_number"]')
    id_number.fill("11010519491231002x")
    assert not id_number.evaluate("e => e.validity.patternMismatch")
    awkward = [html_pattern(p) for p in (r"^[-a-z]+$", r"^[a-z-]+$", r"^[^<>(){}|/]+$", r"^[\d.]+$")]
    compiles = "ps => ps.map(p => { try { new RegExp(p, 'v'); return true } catch (e) { return String(e) } })"
    assert page.evaluate(compiles, awkward) == [True] * 4
