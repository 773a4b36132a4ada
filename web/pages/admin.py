"""`/admin/...`: the admin console's modeler (bpmn-js with its properties panel), the version list of
each process, the side-by-side diff of two versions and the forms deployed with a model; monitoring
and repair of running cases, their migration to a newer version, users, departments, API tokens and
incidents (docs/admin.md).

The modeler's script (web/static/js/modeler.js) talks to the JSON endpoints below with the session
cookie and the page's CSRF token (X-CSRFToken header): they call the same repository functions as the
API's /process-definitions endpoints and answer the API's JSON error shape, so the script shows each
problem at the element it names.
"""

from __future__ import annotations

import json
import re
from typing import Any, cast
from uuid import UUID

from flask import Blueprint, Response, flash, g, jsonify, redirect, render_template, request, url_for
from flask_babel import gettext as _

from engine.decisions import is_dmn
from engine.errors import DefinitionNotFound, DepartmentNotFound, DeploymentInvalid, EngineError, UserNotFound
from engine.migration import MigrationRefused
from engine.vocabulary import USER_ROLES, DepartmentKind, IncidentStatus, InstanceStatus

from .. import parsing
from ..context import engine
from ..errors import STATUS_BY_KIND, ApiError, error_response
from .formatting import locale_name, render_form

bp = Blueprint("admin", __name__, url_prefix="/admin")
MAX_BODY = 2 * 1024 * 1024  # a model and its forms, as JSON
MAX_PREVIEW = 64 * 1024  # one form's schema
# offered beside a station's time zone field (any IANA name is accepted): China's two, its neighbours', UTC
COMMON_TIME_ZONES = ("Asia/Shanghai", "Asia/Urumqi", "Asia/Hong_Kong", "Asia/Macau", "Asia/Taipei", "UTC")


@bp.get("/definitions")
def definitions():
    return render_template("admin_definitions.html", definitions=engine().repository.list_definitions())


@bp.get("/definitions/<key>")
def versions(key: str):
    items = engine().repository.list_versions(_key(key))
    shown = _int_arg("version") or items[0]["version"]
    if shown not in {v["version"] for v in items}:
        raise DefinitionNotFound("no such version")
    decisions = engine().repository.list_decisions(key, shown)  # read-only: no DMN editor here
    schedule = engine().start_timers.schedule_of(key)  # timer start events: when the next case starts
    return render_template(
        "admin_versions.html", key=key, versions=items, shown=shown, decisions=decisions, schedule=schedule
    )


@bp.get("/definitions/<key>/<int:version>/counts")
def counts(key: str, version: int):
    """A version's XML and, per element, the running cases waiting there and how many are breached."""
    definition = engine().repository.get_definition(_key(key), _version(version), with_xml=True)
    found = engine().monitoring.element_counts(definition["key"], definition["version"])
    return jsonify({"xml": definition["xml"], "elements": found["elements"]})


# --- monitoring and repair ---------------------------------------------------------------------
@bp.get("/cases")
def cases():
    filters = {name: (request.args.get(name) or "").strip()[:200] for name in ("process_key", "status", "station")}
    filters["business_key"] = (request.args.get("business_key") or "").strip()[:100]
    version = _int_arg("version")
    page = max(_int_arg("page") or 1, 1)
    rows = engine().monitoring.cases(
        process_key=filters["process_key"] or None,
        version=version,
        status=filters["status"] if filters["status"] in set(InstanceStatus) else None,
        station=filters["station"] or None,
        business_key=filters["business_key"] or None,
        limit=PAGE_SIZE + 1,
        offset=(page - 1) * PAGE_SIZE,
    )
    return render_template(
        "admin_cases.html",
        rows=rows[:PAGE_SIZE],
        more=len(rows) > PAGE_SIZE,
        page=page,
        filters=filters,
        version=version,
        statuses=list(InstanceStatus),
        definitions=engine().repository.list_definitions(),
        stations=[d for d in engine().identity.list_departments() if d["kind"] == DepartmentKind.STATION],
    )


@bp.get("/cases/<uuid:instance_id>")
def case(instance_id: UUID):
    found = engine().monitoring.case(str(instance_id))
    return render_template(
        "admin_case.html", case=found, variables=json.dumps(found["variables"], ensure_ascii=False, indent=2)
    )


@bp.get("/cases/<uuid:instance_id>/diagram")
def case_diagram(instance_id: UUID):
    found = engine().monitoring.case(str(instance_id))
    definition = engine().repository.get_definition(found["process_key"], found["definition_version"], with_xml=True)
    return jsonify(
        {
            "xml": definition["xml"],
            "active": found["active"],
            "completed": found["completed"],
            "failed": found["failed"],
        }
    )


@bp.post("/cases/<uuid:instance_id>/variables")
def repair(instance_id: UUID):
    """Non-personal variables fixed with a reason (RuntimeService.update_variables, audited)."""
    reason = (request.form.get("reason") or "").strip()[:1001]
    try:
        variables = json.loads(request.form.get("variables") or "")
    except ValueError:
        variables = None
    if not isinstance(variables, dict):
        raise ApiError(422, "validation_failed", "variables must be a JSON object")
    engine().runtime.update_variables(str(instance_id), g.actor, variables, reason)
    flash(_("The variables were changed; the change is in the case's audit trail."), "ok")
    return redirect(url_for("pages.admin.case", instance_id=instance_id))


@bp.get("/incidents")
def incidents():
    status = request.args.get("status") or IncidentStatus.OPEN
    if status not in (*IncidentStatus, "all"):
        status = IncidentStatus.OPEN
    items = engine().timers.list_incidents(status=None if status == "all" else status, limit=500)
    return render_template("admin_incidents.html", incidents=items, status=status)


@bp.post("/incidents/<int(min=1, max=9007199254740992):incident_id>/retry")
def retry_incident(incident_id: int):
    retried = engine().timers.retry_incident(incident_id, g.actor)
    if retried["kind"] == "start_timer":
        flash(_("Incident %(id)s: case %(key)s was started.", id=incident_id, key=retried["business_key"]), "ok")
    else:
        flash(_("Incident %(id)s: the timer is retried now.", id=incident_id), "ok")
    return redirect(_back(url_for("pages.admin.incidents")))


@bp.post("/incidents/<int(min=1, max=9007199254740992):incident_id>/cancel")
def cancel_incident(incident_id: int):
    reason = (request.form.get("reason") or "").strip()[:1001]
    engine().timers.cancel_incident(incident_id, g.actor, reason)
    flash(_("Incident %(id)s: the case was cancelled.", id=incident_id), "ok")
    return redirect(_back(url_for("pages.admin.incidents")))


@bp.post("/incidents/<int(min=1, max=9007199254740992):incident_id>/dismiss")
def dismiss_incident(incident_id: int):
    reason = (request.form.get("reason") or "").strip()[:1001]
    engine().timers.dismiss_incident(incident_id, g.actor, reason)
    flash(_("Incident %(id)s: dismissed; no case was started.", id=incident_id), "ok")
    return redirect(_back(url_for("pages.admin.incidents")))


# --- migration ---------------------------------------------------------------------------------
@bp.get("/definitions/<key>/migrate")
def migration(key: str):
    items = engine().repository.list_versions(_key(key))
    latest = items[0]["version"]
    source = _int_arg("from") or next((v["version"] for v in items[1:] if v["running_cases"]), None)
    target = _int_arg("to") or latest
    plan = None
    if source is not None and source != target:
        plan = engine().migration.plan(key, _version(source), _version(target), _case_arg())
    return render_template(
        "admin_migrate.html", key=key, versions=items, source=source, target=target, plan=plan, refused=None
    )


@bp.post("/definitions/<key>/migrate")
def migrate(key: str):
    source, target = _int_form("from"), _int_form("to")
    instance_id = (request.form.get("instance_id") or "").strip()[:36] or None
    reason = (request.form.get("reason") or "").strip()[:1001] or None
    try:
        result = engine().migration.migrate(
            _key(key), _version(source), _version(target), g.actor, instance_id=instance_id, reason=reason
        )
    except MigrationRefused as exc:
        items = engine().repository.list_versions(key)
        plan = engine().migration.plan(key, source, target, instance_id)
        page = render_template(
            "admin_migrate.html", key=key, versions=items, source=source, target=target, plan=plan, refused=exc
        )
        return page, 409
    flash(_("%(n)s case(s) moved from version %(a)s to %(b)s.", n=len(result["migrated"]), a=source, b=target), "ok")
    if result["skipped"]:
        flash(_("%(n)s case(s) had moved on meanwhile and were left as they were.", n=len(result["skipped"])), "warn")
    return redirect(url_for("pages.admin.migration", key=key, to=target))


# --- users, departments, API tokens ------------------------------------------------------------
@bp.get("/users")
def users():
    departments = engine().identity.list_departments()
    return render_template(
        "admin_users.html",
        users=engine().identity.list_users(),
        departments=departments,
        roles=list(USER_ROLES),
        kinds=list(DepartmentKind),
        default_time_zone=engine().settings.time_zone,
        common_time_zones=COMMON_TIME_ZONES,
    )


@bp.post("/users")
def create_user():
    form = request.form
    departments = [d for d in form.getlist("departments") if d][:20]
    user = engine().identity.create_user(
        _field("username", 64),
        _field("role", 32),
        _field("password", 200) or None,
        departments,
        _field("display_name", 200) or None,
        actor=g.actor,
    )
    flash(_("User %(name)s was created.", name=user["username"]), "ok")
    return redirect(url_for("pages.admin.users"))


@bp.post("/users/<username>/active")
def set_active(username: str):
    active = request.form.get("active") == "1"
    if not active and username == g.actor.username:
        raise ApiError(422, "validation_failed", "you cannot deactivate your own account")
    engine().identity.update_user(_text(username), active=active, actor=g.actor)
    flash(
        _("%(name)s is active again.", name=username) if active else _("%(name)s was deactivated.", name=username), "ok"
    )
    return redirect(url_for("pages.admin.users"))


@bp.post("/users/<username>/departments")
def membership(username: str):
    department = _field("department", 64)
    if request.form.get("remove") == "1":
        engine().identity.remove_membership(_text(username), department, actor=g.actor)
        flash(_("%(name)s left %(dept)s.", name=username, dept=department), "ok")
    else:
        engine().identity.add_membership(_text(username), department, actor=g.actor)
        flash(_("%(name)s joined %(dept)s.", name=username, dept=department), "ok")
    return redirect(url_for("pages.admin.users"))


@bp.post("/departments")
def create_department():
    created = engine().identity.create_department(
        _field("key", 64), _field("name", 200), _field("kind", 32), actor=g.actor, time_zone=_field("time_zone", 64)
    )
    flash(_("Department %(key)s was created.", key=created["key"]), "ok")
    return redirect(url_for("pages.admin.users"))


@bp.post("/departments/<key>/time-zone")
def set_time_zone(key: str):
    # the field has room for any zone name (the longest IANA names are about 30 characters): a longer one is
    # refused by name, never cut to a valid one
    changed = engine().identity.set_time_zone(_text(key, DepartmentNotFound), _field("time_zone", 65), actor=g.actor)
    if changed["time_zone"]:
        flash(_("%(key)s now counts in %(zone)s.", key=key, zone=changed["time_zone"]), "ok")
    else:
        flash(_("%(key)s counts in the deployment's time zone again.", key=key), "ok")
    return redirect(url_for("pages.admin.users"))


@bp.get("/tokens")
def tokens():
    return render_template(
        "admin_tokens.html",
        tokens=engine().tokens.list_api_tokens(),
        departments=engine().identity.list_departments(),
        created=None,
    )


@bp.post("/tokens")
def create_token():
    """The new token is in this answer only (never stored, never shown again)."""
    created = engine().tokens.create_api_token(_field("department", 64), _field("name", 64) or None, actor=g.actor)
    response = Response(
        render_template(
            "admin_tokens.html",
            tokens=engine().tokens.list_api_tokens(),
            departments=engine().identity.list_departments(),
            created=created,
        ),
        status=201,
    )
    response.headers["Cache-Control"] = "no-store"
    return response


@bp.post("/tokens/<int(min=1, max=9007199254740992):token_id>/revoke")
def revoke_token(token_id: int):
    engine().tokens.revoke_api_token(token_id, actor=g.actor)
    flash(_("API token %(id)s was revoked.", id=token_id), "ok")
    return redirect(url_for("pages.admin.tokens"))


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
    """One version's XML and the forms and DMN documents deployed with it, for the modeler (which
    sends them again on a redeploy) and the diff viewers."""
    repository = engine().repository
    definition = repository.get_definition(_key(key), _version(version), with_xml=True)
    forms = repository.deployed_forms(definition["key"], definition["version"])
    dmn = repository.decision_documents(definition["key"], definition["version"])
    return jsonify(
        {
            "key": definition["key"],
            "version": definition["version"],
            "xml": definition["xml"],
            "forms": forms,
            "dmn": dmn,
        }
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
    repository = engine().repository
    decisions: dict[str, Any] = {}
    try:
        bundle = _bundle()
        decisions = repository.decisions_in(bundle["files"])  # the attached tables, read-only on the page
        result = repository.validate(bundle["files"], forms=bundle["forms"])
    except DeploymentInvalid as exc:
        details = exc.details or [{"element_id": None, "message": exc.message}]
        return jsonify({"processes": [], "errors": _localized(details), "warnings": [], "decisions": decisions})
    except EngineError as exc:
        return error_response(STATUS_BY_KIND.get(exc.kind, 422), exc.code, exc.message, exc.details)
    return jsonify({**result, "warnings": _localized(result.get("warnings", [])), "errors": [], "decisions": decisions})


@bp.post("/deploy")
def deploy():
    def deploy_bundle() -> dict[str, Any]:
        bundle = _bundle()  # a .dmn attachment that is no DMN document: refused like a broken model
        return engine().repository.deploy(bundle["files"], g.actor, forms=bundle["forms"], comment=bundle["comment"])

    return _answer(deploy_bundle)


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


PAGE_SIZE = 50
MAX_DMN = 19  # with the model, the API's 20 documents per deployment
MAX_DMN_NAME = 200


@bp.context_processor
def _names() -> dict[str, Any]:
    """Words the console's pages show for the engine's vocabulary, in the user's language."""

    def timer_kind_name(kind: str) -> str:
        names = {"bpmn_timer": _("timer event"), "sla_warning": _("deadline warning"), "sla_breach": _("deadline")}
        return names.get(kind, kind)

    def incident_status_name(status: str) -> str:
        return {"open": _("Open"), "resolved": _("Resolved")}.get(status, status)

    def incident_resolution_name(resolution: str) -> str:
        names = {"retried": _("retried"), "cancelled": _("case cancelled"), "dismissed": _("dismissed")}
        return names.get(resolution, resolution)

    def department_kind_name(kind: str) -> str:
        return {"station": _("police station"), "agency": _("agency")}.get(kind, kind)

    return {
        "timer_kind_name": timer_kind_name,
        "incident_status_name": incident_status_name,
        "incident_resolution_name": incident_resolution_name,
        "department_kind_name": department_kind_name,
    }


def _int_arg(name: str) -> int | None:
    value = request.args.get(name, "")
    return int(value) if value.isdigit() and len(value) < 10 else None


def _int_form(name: str) -> int:
    value = request.form.get(name, "")
    if not (value.isdigit() and len(value) < 10):
        raise ApiError(422, "validation_failed", f"{name}: a version number")
    return int(value)


def _case_arg() -> str | None:
    value = (request.args.get("case") or "").strip()
    try:
        return str(UUID(value)) if value else None
    except ValueError:
        return None


def _field(name: str, limit: int) -> str:
    return (request.form.get(name) or "").strip()[:limit]


def _text(value: str, missing: type[EngineError] = UserNotFound) -> str:
    """A user's (or department's) name from the path; unusable text names nothing."""
    try:
        parsing.check_text(value, "path")
    except ApiError:
        raise missing("no such user" if missing is UserNotFound else "no such department") from None
    return value[:64]


def _back(fallback: str) -> str:
    """Where an action form came from, when that is one of this console's pages."""
    target = request.form.get("next") or ""
    return target if target.startswith("/admin/") and "//" not in target else fallback


# The engine's problem sentences (engine/bpmn.py, engine/repository.py) the modeler shows most, in the
# user's language; any other is shown in English after a lead-in saying so.
_PROBLEMS: list[tuple[re.Pattern[str], Any]] = [
    (
        re.compile(r"candidate group '(?P<x>.*)' is neither a department nor a role"),
        lambda x: _("candidate group '%(x)s' is neither a department nor a role", x=x),
    ),
    (
        re.compile(r"form '(?P<x>.*)' is not installed: the task takes no data"),
        lambda x: _("form '%(x)s' is not installed: the task takes no data", x=x),
    ),
    (re.compile(r"start form '(?P<x>.*)' is not installed"), lambda x: _("start form '%(x)s' is not installed", x=x)),
    (
        re.compile(r"user task has no candidate group, user or assignee: only a supervisor can assign it"),
        lambda: _("user task has no candidate group, user or assignee: only a supervisor can assign it"),
    ),
    (re.compile(r"condition expression is empty"), lambda: _("condition expression is empty")),
    (re.compile(r"timer has no expression"), lambda: _("timer has no expression")),
    (re.compile(r"message has no name"), lambda: _("message has no name")),
    (re.compile(r"expression refused: (?P<x>.*)"), lambda x: _("expression refused: %(x)s", x=x)),
    (
        re.compile(r"script tasks are disabled \(set FENGQIAO_ALLOW_SCRIPT_TASKS to run restricted scripts\)"),
        lambda: _("script tasks are disabled (set FENGQIAO_ALLOW_SCRIPT_TASKS to run restricted scripts)"),
    ),
    (
        re.compile(r"service tasks are not supported \(no connector is configured\)"),
        lambda: _("service tasks are not supported (no connector is configured)"),
    ),
]


def _localized(problems: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Problems with their message in the user's language (the engine's sentence kept as `original`)."""
    if locale_name() == "en":
        return problems
    out = []
    for problem in problems:
        message = str(problem.get("message") or "")
        for pattern, words in _PROBLEMS:
            found = pattern.fullmatch(message)
            if found:
                text = words(**found.groupdict())
                break
        else:
            text = _("In English: %(message)s", message=message)
        out.append({**problem, "message": text, "original": message})
    return out


def _answer(call) -> Response:
    """The repository's answer as JSON, or its refusal in the API's error shape (not an error page)."""
    try:
        return jsonify(call())
    except EngineError as exc:
        return error_response(STATUS_BY_KIND.get(exc.kind, 422), exc.code, exc.message, exc.details)


def _bundle() -> dict[str, Any]:
    """{bpmn, forms, comment, dmn} posted by the modeler's script as JSON; `files` is the model and
    the `.dmn` documents attached to it (`dmn`: [{name, xml}])."""
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
    return {
        "bpmn": data["bpmn"],
        "forms": forms,
        "comment": comment,
        "files": [("model.bpmn", data["bpmn"])] + _dmn(data),
    }


def _dmn(data: dict[str, Any]) -> list[tuple[str, str]]:
    """The attached `.dmn` documents: at most MAX_DMN, each named (a file name, once) with its XML."""
    documents = data.get("dmn") or []
    if not isinstance(documents, list) or len(documents) > MAX_DMN:
        raise ApiError(400, "bad_request", f"dmn must be a list of at most {MAX_DMN} documents")
    files: list[tuple[str, str]] = []
    for document in documents:
        name = document.get("name") if isinstance(document, dict) else None
        xml = document.get("xml") if isinstance(document, dict) else None
        if not isinstance(name, str) or not isinstance(xml, str) or not xml:
            raise ApiError(400, "bad_request", "each dmn document is {name, xml}")
        name = name.replace("\\", "/").rsplit("/", 1)[-1].replace("\x00", "")[-MAX_DMN_NAME:]
        if not name or name == "model.bpmn" or name in {n for n, _ in files}:
            raise ApiError(400, "bad_request", f"the dmn documents need distinct file names ('{name[:64]}')")
        if not is_dmn(xml):
            raise DeploymentInvalid(
                f"{name[:64]}: not a DMN document",
                [{"element_id": None, "message": f"{name[:64]}: the root element must be a DMN definitions"}],
            )
        files.append((name, xml))
    return files


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
