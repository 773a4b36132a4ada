"""Localised words of a form schema: titles, help texts and enum labels in the user's language.

They live in the schema as annotations that validation ignores (docs/forms.md):
`"x-title": {"zh_CN": "类别", "en": "Category"}` on the form and on every property,
`"x-enum-titles": {"<value>": {"zh_CN": ..., "en": ...}}` next to an `enum`, and an optional
`"x-help": {"zh_CN": ..., "en": ...}` shown under a field. Missing words fall back to the schema's
plain `title`, then to the field name or the enum value itself, so a form without annotations still
renders.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def pick(words: Any, locale: Any) -> str | None:
    """The entry of `{"zh_CN": ..., "en": ...}` for `locale` ("zh_CN", "zh-Hans-CN", "en_US", a babel
    Locale), matching the language alone when no entry names the region."""
    if not isinstance(words, Mapping) or not words:
        return None
    wanted = str(locale).replace("-", "_")
    if isinstance(words.get(wanted), str):
        return words[wanted]
    language = wanted.split("_", 1)[0].lower()
    for key, text in words.items():
        if str(key).split("_", 1)[0].lower() == language and isinstance(text, str):
            return text
    return None


def option_value(value: Any) -> str:
    """How an enum member travels through an HTML form: strings as they are, others as JSON."""
    if isinstance(value, str):
        return value
    if isinstance(value, bool):
        return "true" if value else "false"
    if value is None:
        return "null"
    return str(value)


def title_of(prop: Mapping[str, Any], locale: Any, fallback: str) -> str:
    """A property's (or a form's) title in `locale`."""
    return pick(prop.get("x-title"), locale) or prop.get("title") or fallback


def help_of(prop: Mapping[str, Any], locale: Any) -> str | None:
    """The hint shown under a field, if the schema gives one."""
    return pick(prop.get("x-help"), locale) or prop.get("description")


def enum_schema(prop: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The schema holding the `enum` of a choice field: the property itself or its array items."""
    if "enum" in prop:
        return prop
    items = prop.get("items")
    if isinstance(items, Mapping) and "enum" in items:
        return items
    return None


def label_of(prop: Mapping[str, Any], value: Any, locale: Any) -> str:
    """The label of one enum value of `prop` (a choice field or an array of choices) in `locale`."""
    key = option_value(value)
    for holder in (prop, enum_schema(prop) or {}):
        titles = holder.get("x-enum-titles")
        if isinstance(titles, Mapping):
            text = pick(titles.get(key), locale)
            if text:
                return text
    return key


def property_at(schema: Mapping[str, Any], name: str) -> Mapping[str, Any] | None:
    """The property schema named `name`: a top-level field, or a path through objects and array
    items written `parties.name`, `parties.0.name` or `parties-0-name`."""
    node: Any = schema
    for part in name.replace("-", ".").replace("/", ".").split("."):
        if part.isdigit() and node.get("type") == "array":
            continue
        if node.get("type") == "array" and isinstance(node.get("items"), Mapping):
            node = node["items"]
        node = node.get("properties", {}).get(part)
        if not isinstance(node, Mapping):
            return None
    return node


def form_title(schema: Mapping[str, Any], locale: Any = "zh_CN") -> str:
    """The form's own title in `locale`."""
    return title_of(schema, locale, "")


def field_title(schema: Mapping[str, Any], name: str, locale: Any = "zh_CN") -> str:
    """The title of field `name` of a form in `locale` (the name itself for an unknown field)."""
    prop = property_at(schema, name)
    return title_of(prop, locale, name) if prop is not None else name


def option_label(schema: Mapping[str, Any], name: str, value: Any, locale: Any = "zh_CN") -> str:
    """The label of `value` of the choice field `name` in `locale` (the value itself when unknown),
    e.g. the category of a case in an inbox row."""
    prop = property_at(schema, name)
    return label_of(prop, value, locale) if prop is not None else option_value(value)
