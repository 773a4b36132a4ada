"""Round trip, property-based: any valid data of a shipped form, drawn by render_form and submitted
untouched, comes back from parse_form exactly (what an officer sees re-shown after an error is what
was sent)."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from forms import FormRegistry
from forms.renderer import parse_form, render_form
from tests.form_pages import FORMS, as_multidict, schema, submitted

REGISTRY = FormRegistry()
# Printable text as typed on a phone, line breaks included; no CR (browsers send CRLF, parse_form
# turns it into LF) and nothing blank (an input left blank is "not given").
TEXT = st.characters(categories=("L", "N", "P", "S", "Zs"), exclude_characters="\r") | st.just("\n")


def _text(prop: dict[str, Any]) -> st.SearchStrategy[str]:
    if "pattern" in prop:
        strings = st.from_regex(prop["pattern"], fullmatch=True)
    else:
        strings = st.text(TEXT, min_size=prop.get("minLength", 1) or 1, max_size=min(prop.get("maxLength", 60), 60))
    return strings.filter(lambda s: s.strip() and len(s) <= prop.get("maxLength", 10**6))


def _value(prop: dict[str, Any]) -> st.SearchStrategy[Any]:
    if "enum" in prop:
        return st.sampled_from(prop["enum"])
    if prop.get("type") == "array":
        items = prop["items"]
        limit = min(prop.get("maxItems", 3), 3)
        if "enum" in items:  # checkboxes come back in the order they are drawn
            chosen = st.lists(st.sampled_from(items["enum"]), min_size=1, max_size=limit, unique=True)
            return chosen.map(lambda values: sorted(values, key=items["enum"].index))
        return st.lists(_value(items), min_size=1, max_size=limit)
    if prop.get("type") == "object":
        return _object(prop)
    return _text(prop)


def _object(prop: dict[str, Any]) -> st.SearchStrategy[dict[str, Any]]:
    required = set(prop.get("required", []))
    fields = {name: _value(p) for name, p in prop["properties"].items()}
    return st.fixed_dictionaries(
        {k: v for k, v in fields.items() if k in required},
        optional={k: v for k, v in fields.items() if k not in required},
    )


@pytest.mark.parametrize("key", FORMS)
def test_valid_data_rendered_and_submitted_untouched_parses_back_to_itself(key):
    form = schema(key)
    validator = REGISTRY.get(key).validator

    @settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_object(form))
    def round_trip(data):
        assume(not list(validator.iter_errors(data)))
        pairs = submitted(render_form(form, values=data))
        assert parse_form(form, as_multidict(pairs)) == data

    round_trip()
