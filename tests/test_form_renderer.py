"""The form renderer: every schema type drawn as the right accessible control, values and errors put
back, everything escaped, localised labels, and parse_form reading a submission back to the JSON the
engine validates."""

from __future__ import annotations

import ast

import pytest

from engine.errors import FormInvalid
from forms import FormRegistry
from forms.fields import html_pattern
from forms.renderer import MESSAGE_WORDS, field_title, form_title, option_label, parse_form, render_form
from forms.validator import SchemaValidator
from tests.conftest import ROOT
from tests.form_pages import FORMS, as_multidict, catalogue, read_catalogue, schema, submitted, tree, zh_cn_gettext

REGISTRY = FormRegistry()


def one(root, xpath):
    found = root.xpath(xpath)
    assert len(found) == 1, (xpath, len(found))
    return found[0]


def label_text(root, control) -> str:
    """The accessible name a label gives `control` (a <label for> or a wrapping label)."""
    labels = root.xpath(f'//label[@for="{control.get("id")}"]') or list(control.iterancestors("label"))
    assert labels, f"no label for {control.get('name')}"
    return " ".join(labels[0].text_content().split())


# Every shipped form ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", FORMS)
def test_every_shipped_form_renders_each_declared_field_with_a_label(key):
    form = schema(key)
    root = tree(render_form(form))
    ids = [e.get("id") for e in root.iter() if e.get("id")]
    assert len(ids) == len(set(ids)), "ids are unique"
    controls = [
        e for e in root.iter("input", "select", "textarea") if not any(a.tag == "template" for a in e.iterancestors())
    ]
    for control in controls:
        assert label_text(root, control)
    names = {c.get("name").split("-")[0] for c in controls}
    assert names == set(form["properties"])


@pytest.mark.parametrize("key", FORMS)
def test_every_shipped_form_untouched_parses_to_only_its_defaults(key):
    form = schema(key)
    data = parse_form(form, as_multidict(submitted(render_form(form))))
    defaults = {name: prop["default"] for name, prop in form["properties"].items() if "default" in prop}
    assert data == defaults


@pytest.mark.parametrize("key", FORMS)
def test_every_shipped_form_is_titled_in_chinese_and_english(key):
    form = schema(key)
    assert form_title(form, "zh_CN") == form["x-title"]["zh_CN"] != form_title(form, "en") == form["x-title"]["en"]

    def check(props):
        for name, prop in props.items():
            assert set(prop["x-title"]) == {"zh_CN", "en"}, (key, name)
            holder = prop if "enum" in prop else prop.get("items", {})
            if "enum" in holder:
                titles = holder["x-enum-titles"]
                assert list(titles) == [str(v) for v in holder["enum"]], (key, name)
                assert all(set(words) == {"zh_CN", "en"} and all(words.values()) for words in titles.values())
            check(prop.get("items", {}).get("properties", {}))

    check(form["properties"])


def test_localised_labels_are_annotations_the_validator_ignores():
    form = REGISTRY.get("report_case")
    plain, _ = form.validate({"risk_level": "red", "category": "neighbour_dispute", "description": "x"})
    assert plain["category"] == "neighbour_dispute"


# Labels in the user's language ----------------------------------------------------------------------


def test_field_titles_and_option_labels_follow_the_locale():
    report = schema("report_case")
    assert field_title(report, "category", "zh_CN") == "类别"
    assert field_title(report, "category", "en") == "Category"
    assert option_label(report, "category", "neighbour_dispute", "zh_CN") == "邻里纠纷"
    assert option_label(report, "category", "neighbour_dispute", "en") == "Neighbour dispute"
    assert option_label(schema("assess_case"), "departments", "civil_affairs", "zh_CN") == "民政"
    assert field_title(report, "parties-0-phone", "en") == "Phone"
    assert option_label(report, "parties.role", "respondent", "zh_CN") == "被申请人"


@pytest.mark.parametrize(
    ("locale", "expected"), [("zh-Hans-CN", "邻里纠纷"), ("zh", "邻里纠纷"), ("en_GB", "Neighbour dispute")]
)
def test_option_labels_match_the_language_when_the_region_differs(locale, expected):
    assert option_label(schema("report_case"), "category", "neighbour_dispute", locale) == expected


def test_unknown_fields_values_and_locales_fall_back_to_what_the_schema_says():
    report = schema("report_case")
    assert option_label(report, "category", "alien_invasion", "zh_CN") == "alien_invasion"
    assert option_label(report, "nonexistent", "x", "en") == "x"
    assert field_title(report, "nonexistent", "en") == "nonexistent"
    assert field_title(report, "category", "fr") == "类别 Category"  # the plain title as modelled


def test_the_form_is_drawn_in_english_when_asked():
    root = tree(render_form(schema("report_case"), locale="en"))
    assert one(root, '//option[@value="neighbour_dispute"]').text == "Neighbour dispute"
    assert "Risk level" in one(root, '//fieldset[@data-fq-field="risk_level"]/legend').text_content()


# Controls per schema type ---------------------------------------------------------------------------


def test_a_choice_of_few_values_is_radio_buttons_and_of_many_a_select():
    root = tree(render_form(schema("report_case")))
    radios = root.xpath('//input[@name="risk_level"]')
    assert [r.get("type") for r in radios] == ["radio"] * 3
    assert all(r.get("required") is not None for r in radios)
    assert [label_text(root, r) for r in radios] == ["红色（高）", "黄色（中）", "蓝色（低）"]
    select = one(root, '//select[@name="category"]')
    assert select.get("required") is not None
    assert [o.get("value") for o in select.findall("option")][:2] == ["", "neighbour_dispute"]
    assert select.findall("option")[1].text == "邻里纠纷"
    assert label_text(root, select).startswith("类别")


def test_an_optional_choice_offers_not_specified_and_starts_on_its_default():
    root = tree(render_form(schema("report_case")))
    source = root.xpath('//input[@name="source"]')
    assert [s.get("value") for s in source] == ["household_visit", "resident_request", "grid_worker", "volunteer", ""]
    assert [s.get("value") for s in source if s.get("checked") is not None] == ["household_visit"]
    assert all(s.get("required") is None for s in source)


def test_an_array_of_unique_choices_is_checkboxes_in_a_fieldset_with_a_legend():
    root = tree(render_form(schema("department_result"), values={"services": ["elderly_care", "other"]}))
    group = one(root, '//fieldset[@data-fq-field="services"]')
    assert "提供服务" in one(group, "legend").text_content()
    boxes = group.xpath('.//input[@name="services"]')
    assert {b.get("type") for b in boxes} == {"checkbox"} and len(boxes) == 8
    assert [b.get("value") for b in boxes if b.get("checked") is not None] == ["elderly_care", "other"]


def test_strings_get_an_input_or_a_textarea_by_their_max_length():
    root = tree(render_form(schema("report_case")))
    description = one(root, '//*[@name="description"]')
    assert (description.tag, description.get("maxlength"), description.get("required")) == ("textarea", "4000", "")
    community = one(root, '//*[@name="community"]')
    assert (community.tag, community.get("type"), community.get("maxlength")) == ("input", "text", "200")
    assert community.get("required") is None


def test_a_phone_pattern_gets_a_phone_keypad_and_an_id_number_its_pattern():
    root = tree(render_form(schema("report_case")))
    phone = one(root, '//input[@name="parties-0-phone"]')
    assert phone.get("type") == "tel"
    assert phone.get("pattern") == r"^\+?[0-9 \-]{5,20}$"  # `-` escaped: browsers compile with the v flag
    id_number = one(root, '//input[@name="parties-0-id_number"]')
    assert (id_number.get("type"), id_number.get("pattern")) == ("text", "^[0-9]{17}[0-9Xx]$")
    assert "18 位" in one(root, f'//*[@id="{id_number.get("aria-describedby")}"]').text


@pytest.mark.parametrize(
    ("pattern", "attribute"),
    [
        (r"^[0-9]{6}$", r"^[0-9]{6}$"),
        (r"^[-a-z]+$", r"^[\-a-z]+$"),
        (r"^[a-z-]+$", r"^[a-z\-]+$"),
        (r"^[^<>(){}|/]+$", r"^[^\<\>\(\)\{\}\|\/]+$"),
        (r"^[\d.]+$", r"^[\d\.]+$"),
        (r"[0-9]+", None),  # not anchored: JSON Schema searches, HTML matches whole values
        (None, None),
    ],
)
def test_schema_patterns_become_html_patterns_valid_under_the_v_flag(pattern, attribute):
    assert html_pattern(pattern) == attribute


def test_personal_fields_are_marked_and_not_remembered_by_the_browser():
    root = tree(render_form(schema("report_case"), locale="en"))
    household = one(root, '//div[@data-fq-field="household"]')
    assert "fq-field--personal" in household.get("class")
    assert one(household, './/*[@class="fq-pii"]').text == "personal data"
    assert one(household, ".//textarea").get("autocomplete") == "off"
    parties = one(root, '//fieldset[@data-fq-field="parties"]')
    assert one(parties, './legend//*[@class="fq-pii"]') is not None
    assert {i.get("autocomplete") for i in parties.xpath(".//input[@type='text' or @type='tel']")} == {"off"}
    community = one(root, '//input[@name="community"]')
    assert community.get("autocomplete") is None and not root.xpath(
        '//div[@data-fq-field="community"]//*[@class="fq-pii"]'
    )


def test_repeatable_parties_show_the_filled_items_plus_one_empty_and_a_template():
    parties = [{"name": "刘桂兰", "role": "applicant"}, {"name": "张三", "phone": "139 1234 5678"}]
    root = tree(render_form(schema("report_case"), values={"parties": parties}))
    repeat = one(root, '//fieldset[@data-fq-repeat="parties"]')
    assert (repeat.get("data-fq-next"), repeat.get("data-fq-max")) == ("3", "20")
    items = repeat.xpath('./div[@class="fq-items"]/fieldset[@data-fq-item]')
    assert [one(i, './/input[contains(@name, "-name")]').get("value") for i in items] == ["刘桂兰", "张三", None]
    assert [one(i, './/*[@class="fq-item-number"]').text for i in items] == ["1", "2", "3"]
    assert one(root, '//input[@name="parties-0-role" and @checked]').get("value") == "applicant"
    template = one(repeat, "./template")
    assert one(template, './/input[@name="parties-__index__-name"]') is not None
    # No native `required` inside items: the spare empty item must not block the submit button.
    assert not repeat.xpath(".//input[@required]")
    buttons = repeat.xpath(".//button")
    assert buttons and all(b.get("type") == "button" and b.get("hidden") is not None for b in buttons)


def test_a_full_repeatable_list_gets_no_spare_item():
    parties = [{"name": f"当事人{i}"} for i in range(20)]
    root = tree(render_form(schema("report_case"), values={"parties": parties}))
    assert len(root.xpath('//div[@class="fq-items"]/fieldset[@data-fq-item]')) == 20


def test_departments_are_shown_only_when_escalating_and_marked_required_then():
    root = tree(render_form(schema("assess_case")))
    departments = one(root, '//fieldset[@data-fq-field="departments"]')
    assert departments.get("data-fq-show-when") == "resolution"
    assert departments.get("data-fq-show-values") == '["escalate", "joint"]'
    assert departments.get("hidden") is None  # without JavaScript every field shows
    assert one(departments, './/*[@class="fq-required"]') is not None
    assert one(root, '//div[@data-fq-field="assessment"]').get("data-fq-show-when") is None


TYPES = {
    "type": "object",
    "required": ["count", "agreed"],
    "properties": {
        "count": {"type": "integer", "minimum": 1, "maximum": 9, "title": "Count"},
        "over": {"type": "integer", "exclusiveMinimum": 0, "exclusiveMaximum": 10},
        "ratio": {"type": "number", "minimum": 0, "multipleOf": 0.5},
        "amount": {"type": "number"},
        "agreed": {"type": "boolean", "title": "Agreed"},
        "visit_day": {"type": "string", "format": "date"},
        "visit_at": {"type": "string", "format": "date-time"},
        "email": {"type": "string", "format": "email"},
        "postcode": {"type": "string", "pattern": "^[0-9]{6}$"},
        "tags": {"type": "array", "items": {"type": "string", "maxLength": 20}, "title": "Tags"},
        "address": {
            "type": "object",
            "title": "Address",
            "required": ["city"],
            "properties": {"city": {"type": "string"}, "floor": {"type": "integer"}},
        },
    },
}


def test_numbers_booleans_dates_and_nested_objects_get_matching_inputs():
    root = tree(render_form(TYPES))

    def attrs(name, *keys):
        element = one(root, f'//*[@name="{name}"]')
        return tuple(element.get(k) for k in keys)

    assert attrs("count", "type", "min", "max", "step", "inputmode", "required") == (
        "number",
        "1",
        "9",
        "1",
        "numeric",
        "",
    )
    assert attrs("over", "min", "max") == ("1", "9")
    assert attrs("ratio", "step", "min", "inputmode") == ("0.5", "0", "decimal")
    assert attrs("amount", "step") == ("any",)
    assert attrs("agreed", "type", "value", "required") == ("checkbox", "true", None)
    assert attrs("visit_day", "type") == ("date",)
    assert attrs("visit_at", "type") == ("datetime-local",)
    assert attrs("email", "type") == ("email",)
    assert attrs("postcode", "type", "inputmode") == ("text", "numeric")
    assert attrs("tags-0", "type", "maxlength") == ("text", "20")
    assert attrs("address-city", "required") == ("",)
    assert "Address" in one(root, '//fieldset[@data-fq-field="address"]/legend').text_content()


# Values and errors ----------------------------------------------------------------------------------


def test_values_refill_every_kind_of_input():
    values = {"risk_level": "yellow", "category": "hardship", "description": "\n第一行\n第二行", "source": "volunteer"}
    root = tree(render_form(schema("report_case"), values=values))
    assert one(root, '//input[@name="risk_level" and @checked]').get("value") == "yellow"
    assert one(root, '//select[@name="category"]/option[@selected]').get("value") == "hardship"
    assert one(root, '//input[@name="source" and @checked]').get("value") == "volunteer"
    assert dict(submitted(render_form(schema("report_case"), values=values)))["description"] == "\n第一行\n第二行"


def test_errors_are_shown_next_to_their_fields_and_described_for_screen_readers():
    errors = [
        {"field": "description", "message": "this field is required"},
        {"field": "parties.0.phone", "message": "invalid value (fails 'pattern')"},
        {"field": "departments.0", "message": "'police' is not one of ['civil_affairs', 'health']"},
    ]
    root = tree(render_form(schema("report_case"), values={"parties": [{"name": "甲"}]}, errors=errors, locale="en"))
    description = one(root, '//textarea[@name="description"]')
    assert description.get("aria-invalid") == "true"
    assert one(root, f'//*[@id="{description.get("aria-describedby")}"]').text_content() == "This field is required."
    phone = one(root, '//input[@name="parties-0-phone"]')
    described = phone.get("aria-describedby").split()
    assert phone.get("aria-invalid") == "true"
    assert "The format is not valid." in [one(root, f'//*[@id="{i}"]').text_content() for i in described]
    summary = one(root, '//div[@class="fq-summary" and @role="alert"]')
    assert [a.get("href") for a in summary.xpath(".//a")] == ["#f-description", "#f-parties-0-phone"]
    # departments is not a field of this form: its error is listed in the summary, not lost.
    assert summary.xpath(".//li")[-1].text_content() == "Choose one of the options."


def test_an_error_on_a_choice_group_marks_the_group_and_each_option():
    errors = [{"field": "departments", "message": "this field is required"}]
    root = tree(render_form(schema("assess_case"), values={"resolution": "escalate"}, errors=errors, locale="en"))
    group = one(root, '//fieldset[@data-fq-field="departments"]')
    assert "fq-field--invalid" in group.get("class")
    assert one(root, f'//*[@id="{group.get("aria-describedby")}"]').text_content() == "This field is required."
    assert {i.get("aria-invalid") for i in group.xpath(".//input")} == {"true"}


WORDED = {
    "type": "object",
    "properties": {
        **TYPES["properties"],
        "code": {"type": "string", "pattern": "^[A-Z]+$", "maxLength": 2},
        "choice": {"enum": ["a", "b"]},
        "phone": {"type": "string", "pattern": "^[0-9]+$", "x-pii": True},
        "picks": {"type": "array", "items": {"enum": ["a", "b"]}, "minItems": 1, "maxItems": 1, "uniqueItems": True},
    },
}


@pytest.mark.parametrize(
    ("data", "field", "words"),
    [
        ({"count": "three"}, "count", "请输入整数。"),
        ({"amount": "lots"}, "amount", "请输入数字。"),
        ({"count": 10}, "count", "超出允许范围。"),
        ({"over": 0}, "over", "超出允许范围。"),
        ({"code": "ABC"}, "code", "内容过长。"),
        ({"code": "a"}, "code", "格式不正确。"),
        ({"visit_day": "2026-02-30"}, "visit_day", "格式不正确。"),
        ({"choice": "c"}, "choice", "请从选项中选择。"),
        ({"phone": "secret-13912345678"}, "phone", "格式不正确。"),
        ({"picks": []}, "picks", "请至少选择或填写一项。"),
        ({"picks": ["a", "b"]}, "picks", "项目过多。"),
        ({"address": {}}, "address.city", "此项为必填项。"),
        ({"ratio": 0.3}, "ratio", "填写的内容无效。"),
    ],
)
def test_the_engines_error_messages_are_shown_in_the_users_words(data, field, words):
    from forms import Form

    form = Form("worded", WORDED, frozenset({"phone"}), SchemaValidator(WORDED))
    with pytest.raises(FormInvalid) as refused:
        form.validate({"count": 1, "agreed": True, **data})
    assert [d["field"] for d in refused.value.details] == [field]
    root = tree(render_form(WORDED, values=data, errors=refused.value.details, gettext=zh_cn_gettext()))
    summary = one(root, '//div[@class="fq-summary"]//li').text_content()
    assert summary.endswith(words)
    assert "secret" not in summary and "three" not in summary


def test_messages_the_renderer_does_not_know_are_shown_as_the_engine_wrote_them():
    root = tree(render_form(WORDED, errors=[{"field": None, "message": "unknown field(s): colour"}]))
    assert one(root, '//div[@class="fq-summary"]//li').text_content() == "unknown field(s): colour"


def test_slash_separated_error_paths_find_their_field_too():
    errors = [{"field": "parties/0/name", "message": "too long"}]
    root = tree(render_form(schema("report_case"), values={"parties": [{"name": "x"}]}, errors=errors))
    assert one(root, '//input[@name="parties-0-name"]').get("aria-invalid") == "true"


def test_the_renderers_own_words_come_from_its_catalogue():
    errors = [{"field": "description", "message": "this field is required"}]
    root = tree(render_form(schema("report_case"), errors=errors, gettext=zh_cn_gettext()))
    assert one(root, '//*[@id="f-description-error"]').text_content() == "此项为必填项。"
    assert {e.text for e in root.xpath('//*[@class="fq-required"]')} == {"必填"}
    assert {e.text for e in root.xpath('//*[@class="fq-pii"]')} == {"个人信息"}
    assert one(root, '//select[@name="category"]/option[@value=""]').text == "请选择"
    assert one(root, '//div[@class="fq-summary"]/p').text == "请更正以下内容："
    assert one(root, '//div[@class="fq-summary"]//a').text == "情况描述：此项为必填项。"


def test_without_a_gettext_the_renderer_reads_its_compiled_catalogue(tmp_path, monkeypatch):
    from babel.messages.mofile import write_mo

    from forms import renderer

    compiled = tmp_path / "zh_CN" / "LC_MESSAGES"
    compiled.mkdir(parents=True)
    with open(compiled / "messages.mo", "wb") as mo:
        write_mo(mo, read_catalogue())
    monkeypatch.setattr(renderer, "TRANSLATIONS", tmp_path)
    renderer._catalogue.cache_clear()  # noqa: SLF001 - the cache holds catalogues per locale
    try:
        chinese = tree(render_form(schema("report_case"), locale="zh_Hans_CN"))
        english = tree(render_form(schema("report_case"), locale="en"))
    finally:
        renderer._catalogue.cache_clear()  # noqa: SLF001
    assert {e.text for e in chinese.xpath('//*[@class="fq-required"]')} == {"必填"}
    assert {e.text for e in english.xpath('//*[@class="fq-required"]')} == {"required"}


def test_every_word_of_the_renderer_has_a_chinese_translation():
    source = (ROOT / "forms" / "renderer.py").read_text(encoding="utf-8")
    calls = [
        node.args[0].value
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Call)
        and getattr(node.func, "attr", None) == "gettext"
        and node.args
        and isinstance(node.args[0], ast.Constant)
    ]
    assert len(calls) >= 6
    words = catalogue()
    assert [w for w in [*calls, *MESSAGE_WORDS.values()] if not words.get(w)] == []


def test_the_id_prefix_keeps_two_forms_on_one_page_apart():
    first, second = (tree(render_form(schema("assess_case"), id_prefix=p)) for p in ("a", "b"))
    ids = {e.get("id") for e in first.iter() if e.get("id")}
    assert ids and not ids & {e.get("id") for e in second.iter() if e.get("id")}
    assert one(first, '//textarea[@name="assessment"]').get("id") == "a-assessment"


# Escaping -------------------------------------------------------------------------------------------

XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(2)>"


def test_titles_labels_values_and_errors_are_escaped():
    hostile = {
        "type": "object",
        "title": XSS,
        "properties": {
            "kind": {
                "type": "string",
                "enum": ["a", XSS],
                "x-title": {"zh_CN": XSS},
                "x-enum-titles": {"a": {"zh_CN": XSS}},
            },
            "note": {"type": "string", "title": XSS, "x-help": {"zh_CN": XSS}, "pattern": f"^{XSS}$"},
            "long": {"type": "string", "maxLength": 5000},
            "many": {"type": "array", "items": {"type": "object", "properties": {"x": {"type": "string"}}}},
        },
    }
    html = str(
        render_form(
            hostile,
            values={"note": XSS, "long": "</textarea>" + XSS, "many": [{"x": XSS}], "kind": XSS},
            errors=[{"field": "note", "message": XSS}, {"field": None, "message": XSS}],
            id_prefix='x"><script>',
        )
    )
    root = tree(html)
    assert not root.xpath("//script | //img") and "<script" not in html
    assert one(root, '//input[@name="note"]').get("value") == XSS
    assert one(root, '//textarea[@name="long"]').text == "\n</textarea>" + XSS
    assert one(root, '//input[@name="many-0-x"]').get("value") == XSS
    assert XSS in one(root, '//div[@class="fq-summary"]').text_content()


# parse_form -----------------------------------------------------------------------------------------


def test_parse_form_keeps_only_declared_fields_typed_and_drops_empty_optional_ones():
    form = {
        "csrf_token": ["abc"],
        "is_admin": ["true"],
        "count": ["3"],
        "over": [""],
        "ratio": ["1.5"],
        "amount": ["-2e3"],
        "agreed": ["true"],
        "visit_day": ["2026-12-06"],
        "email": ["   "],
        "tags-0": ["甲"],
        "tags-2": ["乙"],
        "tags-1": [""],
        "address-city": ["杭州"],
        "address-floor": [""],
    }
    data = parse_form(TYPES, form)
    assert data == {
        "count": 3,
        "ratio": 1.5,
        "amount": -2000.0,
        "agreed": True,
        "visit_day": "2026-12-06",
        "tags": ["甲", "乙"],
        "address": {"city": "杭州"},
    }


def test_parse_form_reads_an_unticked_box_as_false_and_keeps_numbers_it_cannot_read():
    data = parse_form(TYPES, {"count": "three", "amount": "nan", "over": "1e400"})
    assert data == {"count": "three", "amount": "nan", "over": "1e400", "agreed": False}
    errors = {".".join(map(str, e.absolute_path)) for e in SchemaValidator(TYPES).iter_errors(data)}
    assert {"count", "amount", "over"} <= errors


def test_parse_form_puts_local_times_in_the_station_zone():
    data = parse_form(TYPES, {"visit_at": "2026-12-06T09:30"}, tz="Asia/Shanghai")
    assert data["visit_at"] == "2026-12-06T09:30:00+08:00"
    assert parse_form(TYPES, {"visit_at": "2026-02-30T09:30"})["visit_at"] == "2026-02-30T09:30"
    root = tree(render_form(TYPES, values={"visit_at": "2026-12-06T01:30:00+00:00"}, tz="Asia/Shanghai"))
    assert one(root, '//input[@name="visit_at"]').get("value") == "2026-12-06T09:30"


def test_parse_form_turns_browser_line_breaks_into_newlines():
    data = parse_form(schema("report_case"), {"description": "第一行\r\n第二行\r第三行"})
    assert data["description"] == "第一行\n第二行\n第三行"


def test_parse_form_reads_parties_in_order_skipping_removed_and_blank_items():
    form = as_multidict(
        [
            ("parties-3-name", "王五"),
            ("parties-0-name", "张三"),
            ("parties-0-phone", "139 1234 5678"),
            ("parties-0-role", "applicant"),
            ("parties-5-name", ""),
            ("parties-5-role", ""),
            ("parties-x-name", "ignored"),
            ("parties-99999999-name", "ignored"),
        ]
    )
    assert parse_form(schema("report_case"), form)["parties"] == [
        {"name": "张三", "phone": "139 1234 5678", "role": "applicant"},
        {"name": "王五"},
    ]


def test_parse_form_reads_checkboxes_and_the_engine_accepts_the_result():
    form = as_multidict([("resolution", "escalate"), ("departments", "civil_affairs"), ("departments", "health")])
    data = parse_form(schema("assess_case"), form)
    assert data == {"resolution": "escalate", "departments": ["civil_affairs", "health"]}
    assert REGISTRY.get("assess_case").validate(data)[0] == data


def test_escalating_without_departments_parses_to_the_error_the_page_shows():
    data = parse_form(schema("assess_case"), {"resolution": ["escalate"], "departments": [""]})
    assert data == {"resolution": "escalate"}
    with pytest.raises(FormInvalid) as refused:
        REGISTRY.get("assess_case").validate(data)
    root = tree(render_form(schema("assess_case"), values=data, errors=refused.value.details))
    assert one(root, '//fieldset[@data-fq-field="departments"]').get("aria-describedby") == "f-departments-error"


def test_a_missing_name_inside_a_party_is_reported_at_that_party():
    with pytest.raises(FormInvalid) as refused:
        REGISTRY.get("report_case").validate(
            {"risk_level": "red", "category": "other", "description": "d", "parties": [{"phone": "13912345678"}]}
        )
    assert refused.value.details == [{"field": "parties.0.name", "message": "this field is required"}]


def test_an_unknown_key_inside_a_party_is_reported_at_that_party():
    with pytest.raises(FormInvalid) as refused:
        REGISTRY.get("report_case").validate(
            {"risk_level": "red", "category": "other", "description": "d", "parties": [{"name": "甲", "age": 3}]}
        )
    assert refused.value.details == [{"field": "parties.0.age", "message": "unknown field(s): age"}]
