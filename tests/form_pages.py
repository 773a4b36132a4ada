"""Helpers for the form renderer's tests: read rendered HTML as a browser would submit it, and the
renderer's zh_CN catalogue without a compile step."""

from __future__ import annotations

import json

import lxml.html

from tests.conftest import ROOT

FORMS = sorted(p.stem for p in (ROOT / "forms").glob("*.json"))
CATALOGUE = ROOT / "forms" / "translations" / "zh_CN" / "LC_MESSAGES" / "messages.po"


def schema(key: str) -> dict:
    return json.loads((ROOT / "forms" / f"{key}.json").read_text(encoding="utf-8"))


def tree(html: str):
    """The rendered fragment as an element tree (wrapped so several top-level elements parse)."""
    return lxml.html.fragment_fromstring(str(html), create_parent="div")


def submitted(html: str) -> list[tuple[str, str]]:
    """The (name, value) pairs a browser sends for the form untouched, in document order: checked
    boxes and radios, the selected option (else the first), text as given; nothing inside a
    <template>, nothing disabled, no buttons."""
    pairs = []
    for element in tree(html).iter("input", "select", "textarea"):
        name = element.get("name")
        if not name or element.get("disabled") is not None or any(a.tag == "template" for a in element.iterancestors()):
            continue
        if element.tag == "select":
            options = element.findall(".//option")
            chosen = [o for o in options if o.get("selected") is not None] or options[:1]
            pairs += [(name, o.get("value", o.text_content())) for o in chosen]
        elif element.tag == "textarea":
            text = element.text or ""
            pairs.append((name, text[1:] if text.startswith("\n") else text))  # HTML drops one newline
        elif element.get("type") in ("radio", "checkbox"):
            if element.get("checked") is not None:
                pairs.append((name, element.get("value", "on")))
        else:
            pairs.append((name, element.get("value", "")))
    return pairs


def as_multidict(pairs: list[tuple[str, str]]):
    from werkzeug.datastructures import MultiDict

    return MultiDict(pairs)


def zh_cn_gettext():
    """gettext over forms/translations' zh_CN catalogue (the page passes flask_babel.gettext)."""
    words = catalogue()
    return lambda message: words.get(message) or message


def read_catalogue():
    """The renderer's zh_CN catalogue as babel reads it (no compile step needed)."""
    from babel.messages.pofile import read_po

    with open(CATALOGUE, "rb") as po:
        return read_po(po, locale="zh_CN")


def catalogue() -> dict[str, str]:
    """msgid -> msgstr of the renderer's zh_CN catalogue."""
    return {m.id: m.string for m in read_catalogue() if m.id}
