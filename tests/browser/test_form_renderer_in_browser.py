"""The rendered forms in a real browser: every shipped form, new and refused, at phone and desktop
width with the stylesheets (the one docs/forms.md gives, then web/static/css), under a
Content-Security-Policy without inline scripts; forms.js shows conditional fields and adds/removes
parties; what the browser submits parses back to the data. Screenshots: build/browser/form-*.png.

The forms are served from a folder (no app, no login): the renderer is tested apart from the pages."""

from __future__ import annotations

import functools
import http.server
import re
import threading

import pytest
from markupsafe import escape

from engine.errors import FormInvalid
from forms import FormRegistry
from forms.fields import html_pattern
from forms.renderer import form_title, parse_form, render_form
from tests.browser.conftest import DESKTOP, PHONE, Watched
from tests.conftest import ROOT
from tests.form_pages import FORMS, as_multidict, schema, zh_cn_gettext

CSP = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; frame-ancestors 'none'"
VIEWPORTS = {"phone": PHONE, "desktop": DESKTOP}
REGISTRY = FormRegistry()


def documented_css() -> str:
    """The starting stylesheet of docs/forms.md, so the documented rules are the ones measured."""
    doc = (ROOT / "docs" / "forms.md").read_text(encoding="utf-8")
    return re.findall(r"```css\n(.*?)```", doc, flags=re.S)[-1]


def page_html(title: str, fields) -> str:
    title = escape(title)
    pages_css = sorted((ROOT / "web" / "static" / "css").glob("*.css"))
    links = "".join(f'<link rel="stylesheet" href="/static/css/{p.name}">' for p in pages_css)
    return (
        '<!doctype html><html lang="zh-CN"><head><meta charset="utf-8">'
        '<meta name="viewport" content="width=device-width, initial-scale=1"><link rel="icon" href="data:,">'
        f'<title>{title}</title><link rel="stylesheet" href="/forms.css">{links}'
        '<script src="/static/js/forms.js" defer></script></head>'
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
    """A loopback web server over a folder holding the pages, the documented CSS and the app's
    static files."""
    root = tmp_path_factory.mktemp("site")
    (root / "static").symlink_to(ROOT / "web" / "static")
    (root / "forms.css").write_text(documented_css(), encoding="utf-8")
    handler = functools.partial(_Handler, directory=str(root))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield root, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


@pytest.fixture
def open_page(site, browser):
    """Writes a page into the site and opens it in a watched context (tests/browser/conftest.py);
    fails the test on any console error, page error, failed request or 4xx/5xx."""
    root, base = site
    opened: list[Watched] = []

    def open_(name: str, html: str, viewport: dict = PHONE, javascript: bool = True) -> Watched:
        (root / f"{name}.html").write_text(html, encoding="utf-8")
        watched = Watched(browser, base, viewport, javascript=javascript)
        opened.append(watched)
        watched.page.goto(f"/{name}.html")
        watched.page.wait_for_load_state("load")
        return watched

    yield open_
    problems = [p for w in opened for p in w.problems]
    for watched in opened:
        watched.close()
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
@pytest.mark.parametrize("size", VIEWPORTS)
@pytest.mark.parametrize("key", FORMS)
def test_each_form_fits_the_screen_with_44px_targets_and_no_serious_accessibility_violations(
    key, size, state, open_page
):
    form = schema(key)
    title = form_title(form, "zh_CN")
    fields = render_form(form, gettext=zh_cn_gettext(), **(refused(key) if state == "refused" else {}))
    watched = open_page(f"{key}-{size}-{state}", page_html(title, fields), VIEWPORTS[size])
    watched.shot(f"form-{key}-{size}-{state}")
    assert watched.layout_problems() == []
    # Each option's label is the tap target, not the small box inside it.
    small_options = watched.page.evaluate(
        """() => [...document.querySelectorAll('.fq-option')].filter(e => e.offsetParent !== null)
            .map(e => e.getBoundingClientRect()).filter(r => r.height < 44 || r.width < 44).length"""
    )
    assert small_options == 0
    assert watched.axe_violations() == []


def test_departments_appear_only_when_the_officer_escalates(open_page):
    page = open_page("assess", page_html("研判案件", render_form(schema("assess_case"), gettext=zh_cn_gettext()))).page
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
    html = page_html("研判案件", render_form(schema("assess_case")))
    page = open_page("assess-nojs", html, javascript=False).page
    assert page.locator('[data-fq-field="departments"]').is_visible()
    html = page_html("案件上报", render_form(schema("report_case")))
    page = open_page("report-nojs", html, javascript=False).page
    assert page.locator('input[name="parties-0-name"]').is_visible()
    assert page.locator("[data-fq-add]:visible, [data-fq-remove]:visible").count() == 0


def test_officer_adds_and_removes_parties_and_the_submission_is_valid(open_page):
    page = open_page("report", page_html("案件上报", render_form(schema("report_case"), gettext=zh_cn_gettext()))).page
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


def test_a_condition_inside_an_added_item_follows_that_item(open_page):
    visits = {
        "type": "object",
        "properties": {
            "visits": {
                "type": "array",
                "items": {
                    "type": "object",
                    "properties": {
                        "kind": {"enum": ["home", "other"], "title": "Kind"},
                        "detail": {"type": "string", "title": "Detail"},
                    },
                    "if": {"properties": {"kind": {"const": "other"}}, "required": ["kind"]},
                    "then": {"required": ["detail"]},
                },
            }
        },
    }
    page = open_page("visits", page_html("visits", render_form(visits, locale="en"))).page
    page.locator("[data-fq-add]").click()
    second = page.locator("[data-fq-item]").nth(1)
    assert second.locator('[data-fq-show-when="visits-1-kind"]').is_hidden()
    second.locator('input[value="other"]').check()
    assert second.locator('[data-fq-show-when="visits-1-kind"]').is_visible()
    assert page.locator('[data-fq-show-when="visits-0-kind"]').is_hidden()  # the first item is unaffected
    second.locator('input[name="visits-1-detail"]').fill("market")
    assert parse_form(visits, as_multidict(submitted(page))) == {"visits": [{"kind": "other", "detail": "market"}]}


def test_the_add_button_hides_at_max_items(open_page):
    limited = {"type": "object", "properties": {"items": {"type": "array", "maxItems": 2, "items": {"type": "string"}}}}
    page = open_page("limited", page_html("limit", render_form(limited))).page
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
    page = open_page("refill", page_html("案件上报", render_form(form, values=data))).page
    expected = {**data, "description": data["description"].replace("\r\n", "\n")}
    assert parse_form(form, as_multidict(submitted(page))) == expected


def test_the_pattern_attributes_compile_and_check_in_the_browser(open_page):
    page = open_page("patterns", page_html("案件上报", render_form(schema("report_case")))).page
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
