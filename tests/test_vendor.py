"""The vendored JavaScript and CSS are exactly the files docs/vendor.md names: every package folder
carries a SHA256SUMS that matches its files byte for byte, lists every file, and ships a LICENSE."""

from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from tests.conftest import ROOT

VENDOR_ROOTS = [ROOT / "web" / "static" / "vendor", ROOT / "tests" / "browser" / "vendor"]
# What the pages and browser tests load: a missing one would fail in the browser, far from the cause.
EXPECTED = [
    "web/static/vendor/htmx.org/2.0.11/htmx.min.js",
    "web/static/vendor/bpmn-js/18.31.1/bpmn-navigated-viewer.production.min.js",
    "web/static/vendor/bpmn-js/18.31.1/assets/diagram-js.css",
    "web/static/vendor/bpmn-js/18.31.1/assets/bpmn-js.css",
    "web/static/vendor/bpmn-js/18.31.1/assets/bpmn-font/css/bpmn.css",
    "web/static/vendor/bpmn-js/18.31.1/assets/bpmn-font/font/bpmn.woff2",
    "web/static/vendor/bpmn-js/18.31.1/bpmn-modeler.production.min.js",
    "web/static/vendor/bpmn-js-properties-panel/5.65.3/bpmn-js-properties-panel.umd.js",
    "web/static/vendor/bpmn-io-properties-panel/3.55.0/assets/properties-panel.css",
    "web/static/vendor/camunda-bpmn-moddle/8.0.1/camunda.json",
    "tests/browser/vendor/axe-core/4.14.1/axe.min.js",
]


def _package_dirs() -> list[Path]:
    return sorted(p.parent for root in VENDOR_ROOTS for p in root.glob("*/*/SHA256SUMS"))


def _sums(package: Path) -> dict[str, str]:
    entries = {}
    for line in (package / "SHA256SUMS").read_text(encoding="utf-8").splitlines():
        digest, name = line.split(maxsplit=1)
        entries[name.lstrip("*")] = digest
    return entries


def test_every_vendored_package_version_folder_has_a_sha256sums_file():
    versions = sorted(p for root in VENDOR_ROOTS for p in root.glob("*/*") if p.is_dir())
    assert versions, "no vendored packages found"
    assert [p for p in versions if not (p / "SHA256SUMS").is_file()] == []


def test_the_files_the_pages_load_are_vendored():
    assert [name for name in EXPECTED if not (ROOT / name).is_file()] == []


@pytest.mark.parametrize("package", _package_dirs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_vendored_files_match_their_sha256sums_exactly(package):
    sums = _sums(package)
    on_disk = sorted(
        p.relative_to(package).as_posix() for p in package.rglob("*") if p.is_file() and p.name != "SHA256SUMS"
    )
    assert sorted(sums) == on_disk, "SHA256SUMS must list every file of the folder and nothing else"
    for name, digest in sums.items():
        assert hashlib.sha256((package / name).read_bytes()).hexdigest() == digest, name


@pytest.mark.parametrize("package", _package_dirs(), ids=lambda p: str(p.relative_to(ROOT)))
def test_every_vendored_package_ships_its_licence(package):
    assert (package / "LICENSE").is_file()
    assert "LICENSE" in _sums(package)


def test_bpmn_js_keeps_the_licence_condition_about_the_watermark():
    licence = (ROOT / "web/static/vendor/bpmn-js/18.31.1/LICENSE").read_text(encoding="utf-8")
    assert "watermark must stay fully visible" in licence


def test_vendor_doc_names_every_vendored_package_and_version():
    doc = (ROOT / "docs" / "vendor.md").read_text(encoding="utf-8")
    for package in _package_dirs():
        assert f"`{package.parent.name}`" in doc and package.name in doc, package
