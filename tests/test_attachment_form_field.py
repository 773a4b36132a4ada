"""A form field that requires files (`"format": "x-attachment"`): drawn as a pointer to the page's
attachments section, never read from the submitted form, and filled on completion with the ids of
the files attached to the task, so `minItems: 1` makes a step require a photo."""

from __future__ import annotations

import dataclasses
import json

import pytest
from lxml import html

from engine import Engine
from engine.errors import FormInvalid
from forms.renderer import parse_form, render_form
from tests.attachment_files import jpeg
from tests.conftest import ROOT
from tests.form_pages import as_multidict
from tests.helpers import build_world, complete_as, database_rows, report_case, task_of

PHOTOS = {
    "type": "array",
    "format": "x-attachment",
    "items": {"type": "string"},
    "minItems": 1,
    "x-title": {"zh_CN": "现场照片", "en": "Photos of the scene"},
}


def with_photos(schema: dict) -> dict:
    return {
        **schema,
        "properties": {**schema["properties"], "photos": PHOTOS},
        "required": [*schema["required"], "photos"],
    }


@pytest.fixture
def photo_engine(settings, clock, tmp_path):
    """The bundled workflows, with the on-the-spot handling form requiring a photo."""
    forms = tmp_path / "forms"
    forms.mkdir()
    schema = json.loads((ROOT / "forms" / "handle_on_spot.json").read_text(encoding="utf-8"))
    (forms / "handle_on_spot.json").write_text(json.dumps(with_photos(schema), ensure_ascii=False), encoding="utf-8")
    eng = Engine(dataclasses.replace(settings, forms_dir=forms), clock)
    eng.deploy_bundled()
    yield eng
    eng.close()


def test_the_field_points_to_the_attachments_and_has_no_input():
    schema = with_photos(json.loads((ROOT / "forms" / "handle_on_spot.json").read_text(encoding="utf-8")))
    root = html.fromstring(str(render_form(schema, locale="zh_CN")))
    field = root.xpath("//*[@data-fq-field='photos']")[0]
    assert "现场照片" in field.text_content() and field.xpath(".//a[@href='#attachments']")
    assert not root.xpath("//*[@name='photos']")
    assert "photos" not in parse_form(schema, as_multidict({"photos": "forged-id", "result": "resolved"}))


def test_a_step_that_requires_a_photo_is_refused_without_one_and_done_with_one(photo_engine):
    world = build_world(photo_engine)
    wang = world["wang"]
    case = report_case(photo_engine, wang)
    complete_as(photo_engine, wang, case, "assess_case", {"resolution": "on_spot"})
    task = task_of(photo_engine, case, "handle_on_spot")
    before = database_rows(photo_engine)
    with pytest.raises(FormInvalid) as refused:
        complete_as(photo_engine, wang, case, "handle_on_spot", {"result": "resolved", "photos": ["forged"]})
    assert [d["field"] for d in refused.value.details] == ["photos"]
    assert database_rows(photo_engine) == before
    photo = photo_engine.attachments.add(case["id"], wang, "现场.jpg", jpeg(), task_id=task["id"])
    done = complete_as(photo_engine, wang, case, "handle_on_spot", {"result": "resolved"})
    assert done["outcome"]["photos"] == [photo["id"]]
