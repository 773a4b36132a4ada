"""Process definitions: list, read, read the XML; deploy and validate BPMN documents (admin)."""

from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from . import parsing
from .context import actor, args, created, engine
from .errors import ApiError, not_found

bp = Blueprint("definitions", __name__, url_prefix="/api/v1/process-definitions")

XML_TYPES = ("application/xml", "text/xml")
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


@bp.post("")
def deploy():
    files = _documents()
    result = engine().repository.deploy(files, actor())
    return created(result, 201 if any(d["created"] for d in result["definitions"]) else 200)


@bp.post("/validate")
def validate():
    return jsonify(engine().repository.validate(_documents()))


def _key(key: str) -> str:
    try:
        parsing.check_text(key, "path")
    except ApiError:
        raise not_found("process definition") from None
    return key


def _documents() -> list[tuple[str, bytes]]:
    """One BPMN document as application/xml, or several as multipart/form-data."""
    name = args().get("name") or "upload.bpmn"
    if request.mimetype in XML_TYPES:
        data = request.get_data(cache=False)
        if not data:
            raise parsing.bad_request("the body is empty: send a BPMN document", code="body_required")
        return [(name, data)]
    if request.mimetype == "multipart/form-data":
        uploads = [f for field in request.files for f in request.files.getlist(field)]
        if not uploads:
            raise parsing.bad_request("no files in the multipart body", code="body_required")
        if len(uploads) > MAX_DOCUMENTS:
            raise ApiError(413, "too_large", f"at most {MAX_DOCUMENTS} documents per deployment")
        documents = []
        for i, upload in enumerate(uploads):
            filename = (upload.filename or f"document-{i + 1}.bpmn").replace("\x00", "")[-200:] or "upload.bpmn"
            documents.append((filename, upload.read()))
        return documents
    raise ApiError(415, "unsupported_media_type", "send BPMN as application/xml or multipart/form-data")
