"""Task forms on pages: a minimal stand-in for forms.renderer (issue 16's shared renderer, built on
another branch) with the same four functions, so pages switch to it by changing one import."""

from __future__ import annotations

import re
from typing import Any

from markupsafe import Markup, escape

_CJK = re.compile(r"[\u3400-\u9fff]")


def _split(title: str, locale: str) -> str:
    """'风险等级 Risk level' -> '风险等级' (zh) or 'Risk level' (en)."""
    parts = title.split(" ", 1)
    if len(parts) == 2 and _CJK.search(parts[0]) and not _CJK.search(parts[1]):
        return parts[0] if locale.startswith("zh") else parts[1]
    return title


def field_title(schema: dict[str, Any], name: str, locale: str) -> str:
    prop = schema.get("properties", {}).get(name, {})
    return _split(prop.get("title", name), locale)


def option_label(schema: dict[str, Any], name: str, value: Any, locale: str) -> str:
    return str(value).replace("_", " ")


def _input(name: str, prop: dict[str, Any], value: Any, required: bool, locale: str, gettext) -> str:
    kind, title = prop.get("type"), escape(_split(prop.get("title", name), locale))
    mark = f' <span class="required">{escape(gettext("required"))}</span>' if required else ""
    pii = f' <span class="pii">{escape(gettext("personal data"))}</span>' if prop.get("x-pii") else ""
    if "enum" in prop:
        options = "".join(
            f'<label class="choice"><input type="radio" name="{name}" value="{escape(v)}"'
            f"{' checked' if value == v else ''}> {escape(option_label({}, name, v, locale))}</label>"
            for v in prop["enum"]
        )
        return f'<fieldset class="field"><legend>{title}{mark}{pii}</legend>{options}</fieldset>'
    if kind == "array" and "enum" in prop.get("items", {}):
        chosen = value or []
        options = "".join(
            f'<label class="choice"><input type="checkbox" name="{name}" value="{escape(v)}"'
            f"{' checked' if v in chosen else ''}> {escape(option_label({}, name, v, locale))}</label>"
            for v in prop["items"]["enum"]
        )
        return f'<fieldset class="field"><legend>{title}{mark}{pii}</legend>{options}</fieldset>'
    text = escape("" if value is None else value)
    if kind == "string" and prop.get("maxLength", 0) > 200:
        control = f'<textarea id="f-{name}" name="{name}" rows="4">{text}</textarea>'
    else:
        control = f'<input id="f-{name}" name="{name}" value="{text}">'
    return f'<div class="field"><label for="f-{name}">{title}{mark}{pii}</label>{control}</div>'


def render_form(schema, *, values=None, errors=None, locale="zh_CN", gettext=None, id_prefix="f") -> Markup:
    gettext = gettext or (lambda s: s)
    values, html = values or {}, []
    required = set(schema.get("required", []))
    by_field: dict[str, list[str]] = {}
    for error in errors or []:
        by_field.setdefault((error.get("field") or "").split(".")[0].split("/")[0], []).append(error["message"])
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            items = values.get(name) or [{}]
            for index, item in enumerate(items):
                sub = {f"{name}-{index}-{k}": v for k, v in item.items()}
                for key, child in prop["items"].get("properties", {}).items():
                    child = {**child, "x-pii": prop.get("x-pii")}
                    html.append(
                        _input(f"{name}-{index}-{key}", child, sub.get(f"{name}-{index}-{key}"), False, locale, gettext)
                    )
            continue
        html.append(_input(name, prop, values.get(name), name in required, locale, gettext))
        for message in by_field.get(name, []):
            html.append(f'<p class="field-error" role="alert">{escape(message)}</p>')
    for message in by_field.get("", []):
        html.append(f'<p class="field-error" role="alert">{escape(message)}</p>')
    return Markup("".join(html))


def parse_form(schema: dict[str, Any], form) -> dict[str, Any]:
    data: dict[str, Any] = {}
    for name, prop in schema.get("properties", {}).items():
        if prop.get("type") == "array" and prop.get("items", {}).get("type") == "object":
            items = []
            for index in range(prop.get("maxItems", 20)):
                item = {k: form.get(f"{name}-{index}-{k}") for k in prop["items"].get("properties", {})}
                item = {k: v for k, v in item.items() if v}
                if item:
                    items.append(item)
            if items:
                data[name] = items
        elif prop.get("type") == "array":
            chosen = [v for v in form.getlist(name) if v]
            if chosen:
                data[name] = chosen
        elif form.get(name):
            data[name] = form.get(name)
    return data
