"""Process definitions: list, read, read the XML; deploy and validate BPMN documents (admin)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

from flask import Blueprint, Response, jsonify, request

from . import parsing
from .context import actor, args, created, engine
from .errors import ApiError, not_found

bp = Blueprint("definitions", __name__, url_prefix="/api/v1/process-definitions")

XML_TYPES = ("application/xml", "text/xml")
JSON_TYPES = ("application/json",)
MAX_DOCUMENTS = 20


@bp.get("", endpoint="list")
def list_():
    args()
    return jsonify({"items": engine().repository.list_definitions()})


@bp.get("/<key>")
def get(key: str):
    version = args().get("version")
    return jsonify(engine().repository.get_definition(_key(key), version))


@bp.get("/<key>/xml")
def xml(key: str):
    version = args().get("version")
    definition = engine().repository.get_definition(_key(key), version, with_xml=True)
    return Response(definition["xml"], mimetype="application/xml")


@bp.get("/<key>/decisions")
def decisions(key: str):
    version = args().get("version")
    return jsonify({"items": engine().repository.list_decisions(_key(key), version)})


@bp.get("/<key>/decisions/<decision_id>")
def decision(key: str, decision_id: str):
    """A decision's summary as JSON; its DMN document as uploaded with `Accept: application/xml`."""
    version = args().get("version")
    found = engine().repository.get_decision(_key(key), _id(decision_id), version)
    if request.accept_mimetypes.best_match([*JSON_TYPES, *XML_TYPES]) in XML_TYPES:
        return decision_xml(key, decision_id)
    found.pop("xml")
    return jsonify(found)


@bp.get("/<key>/decisions/<decision_id>/xml")
def decision_xml(key: str, decision_id: str):
    """The DMN document the decision was deployed in, as a download named like the uploaded file."""
    version = args().get("version")
    found = engine().repository.get_decision(_key(key), _id(decision_id), version)
    if found["xml"] is None:
        raise ApiError(
            404, "not_found", f"decision '{decision_id}': its DMN document was not kept (deployed before issue 19)"
        )
    name = (found["document"] or f"{decision_id}.dmn").rsplit("/", 1)[-1]
    return Response(
        found["xml"],
        mimetype="application/xml",
        headers={"Content-Disposition": f"attachment; filename*=UTF-8''{quote(name)}"},
    )


@bp.get("/<key>/versions")
def versions(key: str):
    args()
    return jsonify({"items": engine().repository.list_versions(_key(key))})


@bp.get("/<key>/forms")
def forms(key: str):
    version = args().get("version") or engine().repository.get_definition(_key(key))["version"]
    return jsonify({"version": version, "forms": engine().repository.deployed_forms(_key(key), version)})


@bp.get("/<key>/diff")
def diff(key: str):
    query = args()
    missing = [name for name in ("from", "to") if name not in query]
    if missing:
        raise parsing.bad_request(
            "give the two versions to compare",
            [{"field": name, "message": "required"} for name in missing],
            code="invalid_query",
        )
    return jsonify(engine().repository.diff(_key(key), query["from"], query["to"]))


@bp.post("")
def deploy():
    bundle = _bundle()
    result = engine().repository.deploy(bundle.files, actor(), forms=bundle.forms, comment=bundle.comment)
    return created(result, 201 if any(d["created"] for d in result["definitions"]) else 200)


@bp.post("/validate")
def validate():
    bundle = _bundle()
    return jsonify(engine().repository.validate(bundle.files, forms=bundle.forms))


def _id(decision_id: str) -> str:
    return _segment(decision_id, "decision")


def _key(key: str) -> str:
    return _segment(key, "process definition")


def _segment(value: str, what: str) -> str:
    """A path segment the store can look up (no NUL, no lone surrogate), else 404 for `what`."""
    try:
        parsing.check_text(value, "path")
    except ApiError:
        raise not_found(what) from None
    return value


@dataclass
class Bundle:
    files: list[tuple[str, bytes]]
    forms: dict[str, Any] = field(default_factory=dict)
    comment: str | None = None


def _bundle() -> Bundle:
    """A deployment: BPMN documents, the forms deployed with them and a comment.

    - application/xml: one document (no forms, no comment);
    - application/json: `{bpmn, forms: {key: schema}, comment}`;
    - multipart/form-data: `.bpmn` files, `.json` files (a form each, keyed by the file stem) and a
      `comment` field.
    """
    if request.mimetype in JSON_TYPES:
        data = parsing.loads(request.get_data(cache=False))
        if not isinstance(data, dict) or not isinstance(data.get("bpmn"), str) or not data["bpmn"]:
            raise ApiError(
                422, "validation_failed", "send {bpmn, forms, comment}", [{"field": "bpmn", "message": "required"}]
            )
        forms = data.get("forms") or {}
        comment = data.get("comment")
        if not isinstance(forms, dict):
            raise ApiError(
                422, "validation_failed", "forms must be an object", [{"field": "forms", "message": "not an object"}]
            )
        if comment is not None and not isinstance(comment, str):
            raise ApiError(
                422, "validation_failed", "comment must be text", [{"field": "comment", "message": "not a string"}]
            )
        name = args().get("name") or "upload.bpmn"
        return Bundle([(name, data["bpmn"].encode("utf-8"))], forms, comment)
    documents = _documents()
    forms, files = {}, []
    for filename, data in documents:
        if filename.lower().endswith(".json"):
            key = filename.rsplit("/", 1)[-1][: -len(".json")]
            try:
                forms[key] = parsing.loads(data)
            except ApiError:
                raise ApiError(
                    422,
                    "deployment_invalid",
                    f"form '{key[:64]}': not valid JSON",
                    [{"element_id": None, "form": key[:64], "message": "not valid JSON"}],
                ) from None
        else:
            files.append((filename, data))
    if not files and request.mimetype == "multipart/form-data":
        raise parsing.bad_request("no BPMN document in the multipart body", code="body_required")
    comment = request.form.get("comment") if request.mimetype == "multipart/form-data" else None
    return Bundle(files, forms, comment)


def _documents() -> list[tuple[str, bytes]]:
    """One BPMN document as application/xml, or several as multipart/form-data."""
    name = args().get("name") or "upload.bpmn"
    if request.mimetype in XML_TYPES:
        data = request.get_data(cache=False)
        if not data:
            raise parsing.bad_request("the body is empty: send a BPMN document", code="body_required")
        return [(name, data)]
    if request.mimetype == "multipart/form-data":
        uploads = [f for name in request.files for f in request.files.getlist(name)]
        if not uploads:
            raise parsing.bad_request("no files in the multipart body", code="body_required")
        if len(uploads) > MAX_DOCUMENTS:
            raise ApiError(413, "too_large", f"at most {MAX_DOCUMENTS} documents per deployment")
        documents = []
        for i, upload in enumerate(uploads):
            filename = (upload.filename or f"document-{i + 1}.bpmn").replace("\x00", "")[-200:] or "upload.bpmn"
            documents.append((filename, upload.read()))
        return documents
    raise ApiError(
        415, "unsupported_media_type", "send BPMN as application/xml, application/json or multipart/form-data"
    )
