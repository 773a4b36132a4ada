"""One renderer for every form the engine knows: the fields of a JSON Schema form as accessible HTML.

`render_form` draws the inputs (not the `<form>` tag, the submit button or the CSRF field: the page
adds those); `parse_form` reads a submission back. Input names, CSS classes, data attributes and the
schema annotations for localised labels are documented in docs/forms.md. Everything from the schema,
the values and the errors is escaped. Pure Python on markupsafe: no Flask.
"""

from __future__ import annotations

import gettext as stdlib_gettext
import json
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, tzinfo
from functools import lru_cache
from pathlib import Path
from typing import Any

from markupsafe import Markup, escape

from .fields import (
    Widget,
    html_pattern,
    input_name,
    is_digits_pattern,
    items_of,
    properties_of,
    type_of,
    widget_of,
    zone_of,
)
from .labels import enum_schema, field_title, form_title, help_of, label_of, option_label, option_value, title_of
from .messages import MESSAGE_WORDS, reword
from .submission import parse_form

__all__ = ["render_form", "parse_form", "field_title", "option_label", "form_title", "MESSAGE_WORDS"]

TRANSLATIONS = Path(__file__).resolve().parent / "translations"
# The marker standing for the item number in a repeatable item's <template>; forms.js replaces it.
INDEX = "__index__"
_INPUT_TYPES = {
    Widget.INTEGER: "number",
    Widget.NUMBER: "number",
    Widget.DATE: "date",
    Widget.DATETIME: "datetime-local",
    Widget.TIME: "time",
    Widget.EMAIL: "email",
    Widget.URL: "url",
    Widget.TEL: "tel",
    Widget.TEXT: "text",
}


def render_form(
    schema: Mapping[str, Any],
    *,
    values: Mapping[str, Any] | None = None,
    errors: list[Mapping[str, Any]] | None = None,
    locale: Any = "zh_CN",
    gettext: Callable[[str], str] | None = None,
    id_prefix: str = "f",
    tz: tzinfo | str | None = None,
) -> Markup:
    """The fieldsets and inputs for every property of `schema`, filled from `values` (defaults when
    None), with `errors` (FormInvalid.details) next to their fields and in a summary on top. `gettext`
    translates the renderer's own words (the page passes flask_babel.gettext); `tz` is the zone of
    date-time fields."""
    ctx = _Context(
        locale=locale,
        gettext=gettext or _catalogue(str(locale)),
        id_prefix=id_prefix,
        zone=zone_of(tz),
        fresh=values is None,
        pending=[(_error_path(e.get("field")), str(e.get("message", ""))) for e in errors or []],
    )
    body = _properties(ctx, schema, (), values or {}, native_required=True, within_personal=False)
    return _summary(ctx) + body


@lru_cache(maxsize=16)
def _catalogue(locale: str) -> Callable[[str], str]:
    """The renderer's own words from forms/translations (compiled .mo) when the page passes none."""
    parts = locale.replace("-", "_").split("_")  # zh_Hans_CN (a babel Locale) looks for zh_CN, then zh
    languages = ["_".join(parts), f"{parts[0]}_{parts[-1]}", parts[0]]
    return stdlib_gettext.translation("messages", TRANSLATIONS, languages=languages, fallback=True).gettext


@dataclass
class _Context:
    locale: Any
    gettext: Callable[[str], str]
    id_prefix: str
    zone: tzinfo
    fresh: bool
    pending: list[tuple[tuple, str]]
    # (anchor id, field title, messages) of the errors shown next to a field, for the summary.
    shown: list[tuple[str, str, list[str]]] = field(default_factory=list)

    def words(self, message: str) -> str:
        return reword(message, self.gettext)

    def id_for(self, path: tuple) -> str:
        return f"{self.id_prefix}-{input_name(path)}"

    def claim(self, path: tuple, anchor: str, title: str) -> list[str]:
        """Take the errors at or below `path` (children claim theirs first)."""
        mine = [m for p, m in self.pending if p[: len(path)] == path]
        self.pending = [(p, m) for p, m in self.pending if p[: len(path)] != path]
        messages = [self.words(m) for m in mine]
        if messages:
            self.shown.append((anchor, title, messages))
        return messages


def _error_path(name: Any) -> tuple:
    """`parties.0.phone` (the engine's form) or `parties/0/phone` as ("parties", 0, "phone")."""
    if not isinstance(name, str) or not name:
        return ("\0",)  # matches no field: goes to the summary
    return tuple(int(p) if p.isdigit() else p for p in re.split(r"[./]", name))


def _tag(name: str, attrs: Mapping[str, Any], content: Any = None) -> Markup:
    """An HTML element; attribute values and text content are escaped, Markup content is kept."""
    parts = [name]
    for key, value in attrs.items():
        if value is None or value is False:
            continue
        parts.append(key if value is True else f'{key}="{escape(value)}"')
    opening = f"<{' '.join(parts)}>"
    # One Markup per element: joining Markup objects escapes each operand again and was most of the time.
    return Markup(opening if content is None else f"{opening}{escape(content)}</{name}>")


def _join(parts: list[Any]) -> Markup:
    return Markup("").join(parts)


def _properties(
    ctx: _Context, schema: Mapping[str, Any], path: tuple, values: Any, native_required: bool, within_personal: bool
) -> Markup:
    values = values if isinstance(values, Mapping) else {}
    required = set(schema.get("required", []))
    conditions = _conditions(schema)
    parts = []
    for name, prop in properties_of(schema).items():
        value = values.get(name, prop.get("default")) if ctx.fresh else values.get(name)
        condition = conditions.get(name)
        if condition:
            condition = (input_name((*path, condition[0])), condition[1])
        spec = _Field(
            prop, (*path, name), name in required or condition is not None, native_required, condition, within_personal
        )
        parts.append(_field(ctx, spec, value))
    return _join(parts)


def _conditions(schema: Mapping[str, Any]) -> dict[str, tuple[str, list[Any]]]:
    """Fields required only under a simple `if` (one field equal to a constant or one of an enum):
    {field: (controlling field, values that show it)}. Other conditions show their fields always."""
    found = {}
    branches = [schema, *[b for b in schema.get("allOf", []) if isinstance(b, Mapping)]]
    for branch in branches:
        test, then = branch.get("if"), branch.get("then")
        if not (isinstance(test, Mapping) and isinstance(then, Mapping)):
            continue
        tested = test.get("properties", {})
        if not isinstance(tested, Mapping) or len(tested) != 1:
            continue
        controller, rule = next(iter(tested.items()))
        wanted = [rule["const"]] if "const" in rule else rule.get("enum")
        if isinstance(wanted, list):
            for name in then.get("required", []):
                found[name] = (controller, wanted)
    return found


@dataclass(frozen=True)
class _Field:
    prop: Mapping[str, Any]
    path: tuple
    required: bool
    # False inside repeatable items: the spare empty item must not block the browser's submit.
    native_required: bool
    condition: tuple[str, list[Any]] | None
    # Inside a personal field (a party of the case): no badge of its own, but no autocomplete either.
    within_personal: bool = False

    @property
    def personal(self) -> bool:
        return bool(self.prop.get("x-pii"))

    @property
    def private(self) -> bool:
        """Browsers must not remember what was typed here (shared phones, other residents' data)."""
        return self.personal or self.within_personal


def _field(ctx: _Context, spec: _Field, value: Any) -> Markup:
    widget = widget_of(spec.prop)
    if widget in (Widget.RADIOS, Widget.CHECKBOXES):
        return _choices(ctx, spec, widget, value)
    if widget is Widget.REPEAT:
        return _repeat(ctx, spec, value)
    if widget is Widget.GROUP:
        return _group(ctx, spec, value)
    if widget is Widget.CHECKBOX:
        return _checkbox(ctx, spec, value)
    if widget is Widget.ATTACHMENT:
        return _attachment(ctx, spec)
    return _single(ctx, spec, widget, value)


def _attachment(ctx: _Context, spec: _Field) -> Markup:
    """A field that needs files: its title, hint and errors, and where to attach them (the page's
    attachments section, #attachments); completing the task fills it with the task's files."""
    field_id = ctx.id_for(spec.path)
    messages = ctx.claim(spec.path, field_id, _title(ctx, spec))
    notes, _described = _notes(ctx, spec, field_id, messages)
    label = _tag("p", {"class": "fq-label", "id": field_id}, _label_content(ctx, spec))
    link = _tag("a", {"href": "#attachments"}, ctx.gettext("Attach the files under “Attachments” below."))
    body = _tag("p", {"class": "fq-hint"}, link)
    return _tag("div", _wrapper_attrs(spec, Widget.ATTACHMENT, field_id, bool(messages)), _join([label, notes, body]))


def _title(ctx: _Context, spec: _Field) -> str:
    return title_of(spec.prop, ctx.locale, str(spec.path[-1]))


def _label_content(ctx: _Context, spec: _Field) -> Markup:
    parts = [_tag("span", {"class": "fq-title"}, _title(ctx, spec))]
    if spec.required:
        parts.append(_tag("span", {"class": "fq-required"}, ctx.gettext("required")))
    if spec.personal:
        parts.append(_tag("span", {"class": "fq-pii"}, ctx.gettext("personal data")))
    return Markup(" ").join(parts)


def _wrapper_attrs(spec: _Field, widget: Widget, field_id: str, invalid: bool, extra: str = "") -> dict[str, Any]:
    classes = ["fq-field", f"fq-field--{widget.value}", extra]
    classes += ["fq-field--invalid"] * invalid + ["fq-field--personal"] * spec.personal
    attrs = {"class": " ".join(c for c in classes if c), "id": f"{field_id}-field"}
    attrs["data-fq-field"] = input_name(spec.path)
    if spec.condition:
        attrs["data-fq-show-when"] = spec.condition[0]
        attrs["data-fq-show-values"] = json.dumps([option_value(v) for v in spec.condition[1]], ensure_ascii=False)
    return attrs


def _notes(ctx: _Context, spec: _Field, field_id: str, messages: list[str]) -> tuple[Markup, str | None]:
    """The hint and the error messages under a label, and the ids the control is described by."""
    parts, ids = [], []
    hint = help_of(spec.prop, ctx.locale)
    if hint:
        parts.append(_tag("p", {"class": "fq-hint", "id": f"{field_id}-hint"}, hint))
        ids.append(f"{field_id}-hint")
    if messages:
        lines = _join([_tag("span", {"class": "fq-error-message"}, m) for m in messages])
        parts.append(_tag("p", {"class": "fq-error", "id": f"{field_id}-error"}, lines))
        ids.append(f"{field_id}-error")
    return _join(parts), " ".join(ids) or None


def _single(ctx: _Context, spec: _Field, widget: Widget, value: Any) -> Markup:
    """A label and one input, textarea or select."""
    field_id = ctx.id_for(spec.path)
    messages = ctx.claim(spec.path, field_id, _title(ctx, spec))
    notes, described = _notes(ctx, spec, field_id, messages)
    attrs = {
        "id": field_id,
        "name": input_name(spec.path),
        "required": spec.required and spec.native_required,
        "autocomplete": "off" if spec.private else None,
        "aria-describedby": described,
        "aria-invalid": "true" if messages else None,
    }
    if widget is Widget.SELECT:
        control = _select(ctx, spec, attrs, value)
    elif widget is Widget.TEXTAREA:
        attrs |= {"class": "fq-input fq-textarea", "rows": 4} | _length_attrs(spec.prop)
        # One newline after the tag: HTML drops it, so a value's own leading newline survives.
        control = _tag("textarea", attrs, Markup("\n") + escape(_text(value)))
    else:
        attrs = {"type": _INPUT_TYPES[widget], "class": "fq-input", **attrs} | _input_attrs(spec.prop, widget)
        attrs["value"] = _input_value(ctx, widget, value)
        control = _tag("input", attrs)
    label = _tag("label", {"class": "fq-label", "for": field_id}, _label_content(ctx, spec))
    return _tag("div", _wrapper_attrs(spec, widget, field_id, bool(messages)), label + notes + control)


def _text(value: Any) -> str:
    return "" if value is None else option_value(value)


def _input_value(ctx: _Context, widget: Widget, value: Any) -> str | None:
    text = _text(value)
    if widget is Widget.DATETIME and text:
        text = _local_datetime(text, ctx.zone)
    return text or None


def _local_datetime(text: str, zone: tzinfo) -> str:
    """An RFC 3339 time as a `datetime-local` value in the station's zone; other text unchanged."""
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        return text
    if moment.tzinfo is not None:
        moment = moment.astimezone(zone)
    return moment.strftime("%Y-%m-%dT%H:%M:%S" if moment.second else "%Y-%m-%dT%H:%M")


def _length_attrs(prop: Mapping[str, Any]) -> dict[str, Any]:
    return {"maxlength": prop.get("maxLength"), "minlength": prop.get("minLength")}


def _input_attrs(prop: Mapping[str, Any], widget: Widget) -> dict[str, Any]:
    if widget in (Widget.INTEGER, Widget.NUMBER):
        integer = widget is Widget.INTEGER
        low, high = prop.get("minimum"), prop.get("maximum")
        if low is None and isinstance(prop.get("exclusiveMinimum"), int | float):
            low = prop["exclusiveMinimum"] + 1 if integer else prop["exclusiveMinimum"]
        if high is None and isinstance(prop.get("exclusiveMaximum"), int | float):
            high = prop["exclusiveMaximum"] - 1 if integer else prop["exclusiveMaximum"]
        step = prop.get("multipleOf") or (1 if integer else "any")
        return {"inputmode": "numeric" if integer else "decimal", "min": low, "max": high, "step": step}
    attrs = _length_attrs(prop) | {"pattern": html_pattern(prop.get("pattern"))}
    if widget is Widget.DATETIME:
        attrs["step"] = 1  # seconds are allowed: a stored value with seconds is not a browser error
    if widget is Widget.TEXT and is_digits_pattern(prop.get("pattern")):
        attrs["inputmode"] = "numeric"
    return attrs


def _select(ctx: _Context, spec: _Field, attrs: dict[str, Any], value: Any) -> Markup:
    chosen = _text(value)
    options = [_tag("option", {"value": ""}, ctx.gettext("Please choose"))]
    for member in spec.prop.get("enum", []):
        key = option_value(member)
        label = label_of(spec.prop, member, ctx.locale)
        options.append(_tag("option", {"value": key, "selected": key == chosen}, label))
    return _tag("select", {"class": "fq-select", **attrs}, _join(options))


def _choices(ctx: _Context, spec: _Field, widget: Widget, value: Any) -> Markup:
    """A fieldset of radio buttons (one enum value) or checkboxes (an array of enum values)."""
    field_id = ctx.id_for(spec.path)
    multiple = widget is Widget.CHECKBOXES
    members = list((enum_schema(spec.prop) or {}).get("enum", []))
    chosen = {_text(v) for v in value} if multiple and isinstance(value, list) else {_text(value)}
    options = [(option_value(m), label_of(spec.prop, m, ctx.locale)) for m in members]
    if not multiple and not spec.required:
        # A radio cannot be unticked: an optional choice gets an explicit "not specified".
        options.append(("", ctx.gettext("Not specified")))
    messages = ctx.claim(spec.path, f"{field_id}-0", _title(ctx, spec))
    notes, described = _notes(ctx, spec, field_id, messages)
    buttons = []
    for index, (key, label) in enumerate(options):
        checked = key in chosen or (key == "" and not chosen - {""})
        control = _tag(
            "input",
            {
                "type": "checkbox" if multiple else "radio",
                "class": "fq-option-input",
                "id": f"{field_id}-{index}",
                "name": input_name(spec.path),
                "value": key,
                "checked": checked,
                "required": not multiple and spec.required and spec.native_required,
                "aria-invalid": "true" if messages else None,
            },
        )
        text = _tag("span", {"class": "fq-option-label"}, label)
        buttons.append(_tag("label", {"class": "fq-option", "for": f"{field_id}-{index}"}, control + text))
    legend = _tag("legend", {"class": "fq-label"}, _label_content(ctx, spec))
    attrs = _wrapper_attrs(spec, widget, field_id, bool(messages), "fq-group") | {"aria-describedby": described}
    return _tag("fieldset", attrs, legend + notes + _tag("div", {"class": "fq-options"}, _join(buttons)))


def _checkbox(ctx: _Context, spec: _Field, value: Any) -> Markup:
    """A boolean: one checkbox; unticked submits nothing, which parse_form reads as false."""
    field_id = ctx.id_for(spec.path)
    messages = ctx.claim(spec.path, field_id, _title(ctx, spec))
    notes, described = _notes(ctx, spec, field_id, messages)
    control = _tag(
        "input",
        {
            "type": "checkbox",
            "class": "fq-option-input",
            "id": field_id,
            "name": input_name(spec.path),
            "value": "true",
            "checked": value is True,
            "aria-describedby": described,
            "aria-invalid": "true" if messages else None,
        },
    )
    text = _tag("span", {"class": "fq-option-label"}, _label_content(ctx, spec))
    label = _tag("label", {"class": "fq-option", "for": field_id}, control + text)
    return _tag("div", _wrapper_attrs(spec, Widget.CHECKBOX, field_id, bool(messages)), label + notes)


def _group(ctx: _Context, spec: _Field, value: Any) -> Markup:
    """A nested object: its fields in a fieldset."""
    field_id = ctx.id_for(spec.path)
    inner = _properties(ctx, spec.prop, spec.path, value, spec.native_required, spec.private)
    messages = ctx.claim(spec.path, field_id, _title(ctx, spec))
    notes, described = _notes(ctx, spec, field_id, messages)
    legend = _tag("legend", {"class": "fq-label"}, _label_content(ctx, spec))
    attrs = _wrapper_attrs(spec, Widget.GROUP, field_id, bool(messages), "fq-group") | {"aria-describedby": described}
    return _tag("fieldset", attrs, legend + notes + inner)


def _repeat(ctx: _Context, spec: _Field, value: Any) -> Markup:
    """An array of objects (or of plain values): one fieldset per item, the filled ones plus one
    spare empty item, add/remove buttons that forms.js shows and a <template> it copies."""
    field_id = ctx.id_for(spec.path)
    filled = value if isinstance(value, list) else []
    limit = spec.prop.get("maxItems")
    count = len(filled) + (1 if limit is None or len(filled) < limit else 0)
    items = [_item(ctx, spec, index, filled[index] if index < len(filled) else None) for index in range(count)]
    template = _item(ctx, spec, INDEX, None)
    messages = ctx.claim(spec.path, field_id, _title(ctx, spec))
    notes, described = _notes(ctx, spec, field_id, messages)
    add = _tag(
        "button",
        {"type": "button", "class": "fq-button fq-add", "data-fq-add": True, "hidden": True},
        Markup(" ").join([escape(ctx.gettext("Add")), _tag("span", {"class": "fq-add-what"}, _title(ctx, spec))]),
    )
    attrs = _wrapper_attrs(spec, Widget.REPEAT, field_id, bool(messages), "fq-group")
    attrs |= {"aria-describedby": described, "data-fq-repeat": input_name(spec.path), "data-fq-next": count}
    attrs["data-fq-max"] = limit
    legend = _tag("legend", {"class": "fq-label"}, _label_content(ctx, spec))
    body = _tag("div", {"class": "fq-items"}, _join(items))
    return _tag("fieldset", attrs, legend + notes + body + _tag("template", {"class": "fq-template"}, template) + add)


def _item(ctx: _Context, spec: _Field, index: int | str, value: Any) -> Markup:
    path = (*spec.path, index)
    item_id = ctx.id_for(path)
    item_schema = items_of(spec.prop)
    fresh, ctx.fresh = ctx.fresh, value is None  # a new item shows the item schema's defaults
    if type_of(item_schema) == "object" or "properties" in item_schema:
        inner = _properties(ctx, item_schema, path, value, native_required=False, within_personal=spec.private)
    else:
        # A list of plain values: each item is one input titled like the list.
        titled = {"title": spec.prop.get("title"), "x-title": spec.prop.get("x-title"), **item_schema}
        inner = _field(ctx, _Field(titled, path, True, False, None, spec.private), value)
    ctx.fresh = fresh
    messages = ctx.claim(path, item_id, _title(ctx, spec)) if index != INDEX else []
    notes, described = _notes(ctx, _Field({}, path, False, False, None), item_id, messages)
    number = index + 1 if isinstance(index, int) else INDEX
    legend = _tag(
        "legend",
        {"class": "fq-item-legend"},
        _tag("span", {"class": "fq-item-title"}, _title(ctx, spec))
        + Markup(" ")
        + _tag("span", {"class": "fq-item-number"}, number),
    )
    remove = _tag(
        "button",
        {"type": "button", "class": "fq-button fq-remove", "data-fq-remove": True, "hidden": True},
        ctx.gettext("Remove"),
    )
    attrs = {"class": "fq-item", "id": f"{item_id}-item", "data-fq-item": True, "aria-describedby": described}
    return _tag("fieldset", attrs, legend + notes + inner + remove)


def _summary(ctx: _Context) -> Markup:
    """Every error on top, each linked to its field; errors that name no field are listed as they are."""
    if not ctx.shown and not ctx.pending:
        return Markup("")
    line = ctx.gettext("%(field)s: %(message)s")
    lines = [
        _tag("li", {}, _tag("a", {"href": f"#{anchor}"}, line % {"field": title, "message": " ".join(messages)}))
        for anchor, title, messages in ctx.shown
    ]
    lines += [_tag("li", {}, ctx.words(m)) for _, m in ctx.pending]
    heading = _tag("p", {"class": "fq-summary-title"}, ctx.gettext("Please correct the following:"))
    return _tag("div", {"class": "fq-summary", "role": "alert"}, heading + _tag("ul", {}, _join(lines)))
