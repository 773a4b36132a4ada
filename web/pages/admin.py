"""`/admin/...`: the admin console's modeler (bpmn-js with its properties panel), the version list of
each process, the side-by-side diff of two versions and the forms deployed with a model.

The modeler's script (web/static/js/modeler.js) talks to the JSON endpoints below with the session
cookie and the page's CSRF token (X-CSRFToken header): they call the same repository functions as the
API's /process-definitions endpoints and answer the API's JSON error shape, so the script shows each
problem at the element it names.
"""

from __future__ import annotations

import json
from typing import Any, cast

from flask import Blueprint, Response, g, jsonify, render_template, request

from engine.errors import DefinitionNotFound, DeploymentInvalid, EngineError

from .. import parsing
from ..context import engine
from ..errors import STATUS_BY_KIND, ApiError, error_response
from .formatting import render_form

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_BODY = 2 * 1024 * 1024  # a model and its forms, as JSON
MAX_PREVIEW = 64 * 1024  # one form's schema


@bp.get("/definitions")
def definitions():
    return render_template("admin_definitions.html", definitions=engine().repository.list_definitions())


@bp.get("/definitions/<key>")
def versions(key: str):
    items = engine().repository.list_versions(_key(key))
    return render_template("admin_versions.html", key=key, versions=items)


@bp.get("/modeler")
def modeler():
    g.inline_styles = True  # the properties panel's editor (web.pages.CSP_INLINE_STYLES)
    return render_template("admin_modeler.html", key=None, version=None)


@bp.get("/definitions/<key>/<int:version>/edit")
def edit(key: str, version: int):
    definition = engine().repository.get_definition(_key(key), _version(version))
    g.inline_styles = True  # the properties panel's editor (web.pages.CSP_INLINE_STYLES)
    return render_template("admin_modeler.html", key=definition["key"], version=definition["version"])


@bp.get("/definitions/<key>/<int:version>/source")
def source(key: str, version: int):
    """One version's XML and the forms deployed with it, for the modeler and the diff viewers."""
    definition = engine().repository.get_definition(_key(key), _version(version), with_xml=True)
    forms = engine().repository.deployed_forms(definition["key"], definition["version"])
    return jsonify(
        {"key": definition["key"], "version": definition["version"], "xml": definition["xml"], "forms": forms}
    )


@bp.get("/definitions/<key>/diff")
def diff(key: str):
    try:
        old, new = (_version(int(request.args.get(name, ""))) for name in ("from", "to"))
    except ValueError:
        raise ApiError(400, "invalid_query", "choose two versions") from None
    changes = engine().repository.diff(_key(key), old, new)
    return render_template("admin_diff.html", key=key, diff=changes)


@bp.post("/validate")
def validate():
    """The deploy checks as a report: 200 with `errors` (what deploy would refuse, each naming its
    element or form) and `warnings`; a model with problems is what this endpoint is for, not an error."""
    bundle = _bundle()
    try:
        result = engine().repository.validate([("model.bpmn", bundle["bpmn"])], forms=bundle["forms"])
    except DeploymentInvalid as exc:
        details = exc.details or [{"element_id": None, "message": exc.message}]
        return jsonify({"processes": [], "errors": details, "warnings": []})
    except EngineError as exc:
        return error_response(STATUS_BY_KIND.get(exc.kind, 422), exc.code, exc.message, exc.details)
    return jsonify({**result, "errors": []})


@bp.post("/deploy")
def deploy():
    bundle = _bundle()
    return _answer(
        lambda: engine().repository.deploy(
            [("model.bpmn", bundle["bpmn"])], g.actor, forms=bundle["forms"], comment=bundle["comment"]
        )
    )


@bp.post("/forms/preview")
def preview():
    """A posted schema rendered by the workbench's renderer (an HTML fragment), or 422 with the reason."""
    from forms import schema_problems

    raw = request.get_data(cache=False)
    if len(raw) > MAX_PREVIEW:
        return error_response(413, "too_large", f"a form schema is at most {MAX_PREVIEW // 1024} KB")
    try:
        data = parsing.loads(raw)
    except ApiError as exc:
        return error_response(exc.status, exc.code, exc.message)
    if not isinstance(data, dict):
        return error_response(422, "validation_failed", "send {key, schema}")
    key, schema = data.get("key"), data.get("schema")
    problems = schema_problems(key, schema)
    if problems:
        return error_response(
            422, "form_invalid", problems[0], [{"form": str(key)[:64], "message": p} for p in problems]
        )
    return Response(str(render_form(cast(dict[str, Any], schema), id_prefix="preview")), mimetype="text/html")


def _answer(call) -> Response:
    """The repository's answer as JSON, or its refusal in the API's error shape (not an error page)."""
    try:
        return jsonify(call())
    except EngineError as exc:
        return error_response(STATUS_BY_KIND.get(exc.kind, 422), exc.code, exc.message, exc.details)


def _bundle() -> dict[str, Any]:
    """{bpmn, forms, comment} posted by the modeler's script as JSON."""
    raw = request.get_data(cache=False)
    if len(raw) > MAX_BODY:
        raise ApiError(413, "too_large", "the model and its forms are too large")
    try:
        data = json.loads(raw.decode("utf-8")) if raw else None
    except (UnicodeDecodeError, ValueError):
        data = None
    if not isinstance(data, dict) or not isinstance(data.get("bpmn"), str) or not data["bpmn"]:
        raise ApiError(400, "bad_request", "send {bpmn, forms, comment}")
    forms = data.get("forms") or {}
    comment = data.get("comment")
    if not isinstance(forms, dict) or not (comment is None or isinstance(comment, str)):
        raise ApiError(400, "bad_request", "forms must be an object, comment text")
    return {"bpmn": data["bpmn"], "forms": forms, "comment": comment}


def _key(key: str) -> str:
    try:
        parsing.check_text(key, "path")
    except ApiError:
        raise DefinitionNotFound("no such process definition") from None
    return key


def _version(version: int) -> int:
    if not 1 <= version < 2**31:
        raise DefinitionNotFound("no such version")
    return version
