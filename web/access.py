"""Who may do what: every access rule of the HTTP API, in one place.

Two layers, both enforced server-side on every request:
1. by role, per endpoint (ENDPOINT_ROLES; an endpoint missing here is refused, so a new route is
   closed until someone decides who may call it): a wrong role is a 403;
2. object by object (the functions below): a case or task of another station, or of another
   department's queue, is a 404, because the caller may not know it exists.

The roles (see docs/api.md):
- officer: reports and sees the cases of their station, claims and completes officer tasks, sees
  personal fields of the cases they own, reported or handle (masked otherwise);
- liaison: sees and claims the open tasks of their own departments' queues, sees the tasks they hold
  or completed and the cases of all these, only the case fields a department task needs
  (DEPARTMENT_CONTEXT), personal ones in clear only while holding such a task;
- supervisor: everything of their station, reassigns, cancels;
- admin: deploys definitions, manages users, departments and API tokens; no case data;
- auditor: reads the audit trail; changes nothing;
- system (a department system's API token): reports results (messages) for its own department only.
"""

from __future__ import annotations

from typing import Any

from engine.identity import Actor
from engine.vocabulary import STATION_ROLES, USER_ROLES, HumanTaskState, Role

from .errors import ApiError, forbidden, not_found
from .masking import mask_value

CASE_ROLES = (Role.OFFICER, Role.LIAISON, Role.SUPERVISOR)
HUMANS = USER_ROLES
EVERYONE = (*HUMANS, Role.SYSTEM)
# webhooks.receive authenticates by its Standard Webhooks signature (web/webhooks.py), not a token
PUBLIC = frozenset({"auth.login", "health.healthz", "health.openapi", "static", "webhooks.receive"})

ENDPOINT_ROLES: dict[str, tuple[str, ...]] = {
    "auth.logout": EVERYONE,
    "auth.me": EVERYONE,
    "definitions.list": HUMANS,
    "definitions.get": HUMANS,
    "definitions.xml": HUMANS,
    "definitions.decisions": HUMANS,  # reading a definition's DMN tables: as reading its BPMN
    "definitions.decision": HUMANS,
    "definitions.decision_xml": HUMANS,
    "definitions.deploy": (Role.ADMIN,),
    "definitions.validate": (Role.ADMIN,),
    "definitions.versions": (Role.ADMIN,),
    "definitions.forms": (Role.ADMIN,),
    "definitions.diff": (Role.ADMIN,),
    "instances.start": STATION_ROLES,
    "instances.list": STATION_ROLES,
    "instances.get": CASE_ROLES,
    "instances.diagram": CASE_ROLES,
    "instances.cancel": (Role.SUPERVISOR, Role.ADMIN),
    "instances.terminate": (Role.SUPERVISOR, Role.ADMIN),
    "instances.suspend": (Role.SUPERVISOR, Role.ADMIN),
    "instances.resume": (Role.SUPERVISOR, Role.ADMIN),
    "instances.reassign_owner": (Role.SUPERVISOR,),
    "instances.copy": STATION_ROLES,  # the case owner or a supervisor of the station (engine rule)
    "copies.list": HUMANS,  # anyone may be copied to (抄送)
    "copies.read": HUMANS,  # their own copies only (engine rule: another's is a 404)
    "attachments.upload": CASE_ROLES,
    "attachments.list": CASE_ROLES,
    "attachments.get": CASE_ROLES,
    "attachments.content": CASE_ROLES,
    "attachments.thumbnail": CASE_ROLES,
    "attachments.delete": CASE_ROLES,
    "tasks.list": CASE_ROLES,
    "tasks.get": CASE_ROLES,
    "tasks.claim": CASE_ROLES,
    "tasks.unclaim": CASE_ROLES,
    "tasks.complete": CASE_ROLES,
    "tasks.reassign": (Role.SUPERVISOR,),
    "tasks.urge": STATION_ROLES,  # the case owner or a supervisor of the station (engine rule)
    "tasks.withdraw": (Role.OFFICER,),  # the officer who escalated (engine rule); never a liaison
    "tasks.return_": CASE_ROLES,  # the department the task is escalated to (engine rule)
    "tasks.transfer": CASE_ROLES,  # the holder (engine rule)
    "tasks.request_extension": CASE_ROLES,  # the holder (engine rule)
    "tasks.delegate": CASE_ROLES,  # the holder (engine rule)
    "tasks.resolve": CASE_ROLES,  # the delegate (engine rule)
    "tasks.approve_extension": (Role.SUPERVISOR,),
    "tasks.refuse_extension": (Role.SUPERVISOR,),
    "collab.list_comments": CASE_ROLES,
    "collab.add_comment": CASE_ROLES,
    "collab.list_phrases": (*CASE_ROLES, Role.ADMIN),
    "collab.add_phrase": (*CASE_ROLES, Role.ADMIN),
    "collab.remove_phrase": (*CASE_ROLES, Role.ADMIN),
    "collab.get_draft": CASE_ROLES,
    "collab.save_draft": CASE_ROLES,
    "collab.discard_draft": CASE_ROLES,
    "collab.list_views": CASE_ROLES,
    "collab.create_view": CASE_ROLES,
    "collab.remove_view": CASE_ROLES,
    "messages.correlate": (Role.SYSTEM, Role.LIAISON, Role.SUPERVISOR),
    "signals.broadcast": (Role.SUPERVISOR,),  # to the cases of their station (engine rule)
    "history.audit_trail": (Role.AUDITOR,),
    # external-task workers: department systems whose token is scoped to topics (engine/external_tasks.py)
    "external.fetch_and_lock": (Role.SYSTEM,),
    "external.complete": (Role.SYSTEM,),
    "external.failure": (Role.SYSTEM,),
    "external.extend_lock": (Role.SYSTEM,),
    "external.bpmn_error": (Role.SYSTEM,),
    # the list and unlock: an admin, or a worker for its own topics (the engine checks them); retries: an admin
    "external.list": (Role.ADMIN, Role.SYSTEM),
    "external.get": (Role.ADMIN, Role.SYSTEM),
    "external.unlock": (Role.ADMIN, Role.SYSTEM),
    "external.set_retries": (Role.ADMIN,),
    "incidents.list": (Role.ADMIN,),
    "incidents.retry": (Role.ADMIN,),
    "incidents.cancel": (Role.ADMIN,),
    "incidents.dismiss": (Role.ADMIN,),
    "instances.update_variables": (Role.ADMIN,),
    "admin.list_users": (Role.ADMIN,),
    "admin.create_user": (Role.ADMIN,),
    "admin.get_user": (Role.ADMIN,),
    "admin.update_user": (Role.ADMIN,),
    "admin.add_membership": (Role.ADMIN,),
    "admin.remove_membership": (Role.ADMIN,),
    "admin.list_departments": HUMANS,
    "admin.create_department": (Role.ADMIN,),
    "admin.update_department": (Role.ADMIN,),
    "admin.list_api_tokens": (Role.ADMIN,),
    "admin.create_api_token": (Role.ADMIN,),
    "admin.revoke_api_token": (Role.ADMIN,),
    "admin.list_cases": (Role.ADMIN,),
    "admin.get_case": (Role.ADMIN,),
    "admin.element_counts": (Role.ADMIN,),
    "admin.migration_plan": (Role.ADMIN,),
    "admin.migrate": (Role.ADMIN,),
    "metrics.scrape": (Role.ADMIN,),  # Prometheus text (web/metrics.py); also `fengqiao metrics --bind`
    "notifications.list_my_channels": HUMANS,
    "notifications.create_my_channel": HUMANS,
    "notifications.update_my_channel": HUMANS,
    "notifications.delete_my_channel": HUMANS,
    "notifications.list_department_channels": (Role.ADMIN,),
    "notifications.create_department_channel": (Role.ADMIN,),
    "notifications.update_department_channel": (Role.ADMIN,),
    "notifications.delete_department_channel": (Role.ADMIN,),
    "notifications.list_deliveries": (Role.ADMIN,),
    "notifications.get_delivery": (Role.ADMIN,),
    "notifications.resend_delivery": (Role.ADMIN,),
    # issue 18: Standard Webhooks subscriptions and inbound secrets
    "webhooks.list_subscriptions": (Role.ADMIN,),
    "webhooks.create_subscription": (Role.ADMIN,),
    "webhooks.get_subscription": (Role.ADMIN,),
    "webhooks.update_subscription": (Role.ADMIN,),
    "webhooks.delete_subscription": (Role.ADMIN,),
    "webhooks.rotate_secret": (Role.ADMIN,),
    "webhooks.subscription_deliveries": (Role.ADMIN,),
    "webhooks.event_deliveries": (Role.ADMIN,),
    "webhooks.resend": (Role.ADMIN,),
    "webhooks.list_inbound_secrets": (Role.ADMIN,),
    "webhooks.rotate_inbound_secret": (Role.ADMIN,),
    # KPI reports (issue 21): a supervisor's own station, an auditor every station (engine rule)
    "reports.bulletin": (Role.SUPERVISOR, Role.AUDITOR),
    "reports.trend": (Role.SUPERVISOR, Role.AUDITOR),
    "reports.export_bulletin": (Role.SUPERVISOR, Role.AUDITOR),
}

# Pages (web/pages) take the roles of the API operation they show or perform: one rule for both.
PAGE_PREFIX = "pages."
PUBLIC_PAGES = frozenset({"pages.session.login", "pages.locale.choose"})
PAGE_ROLES: dict[str, tuple[str, ...]] = {
    "pages.session.logout": HUMANS,
    "pages.home.index": HUMANS,
    "pages.tasks.show": ENDPOINT_ROLES["tasks.get"],
    "pages.tasks.claim": ENDPOINT_ROLES["tasks.claim"],
    "pages.tasks.release": ENDPOINT_ROLES["tasks.unclaim"],
    "pages.tasks.complete": ENDPOINT_ROLES["tasks.complete"],
    "pages.tasks.reassign": ENDPOINT_ROLES["tasks.reassign"],
    "pages.tasks.urge": ENDPOINT_ROLES["tasks.urge"],
    "pages.tasks.withdraw": ENDPOINT_ROLES["tasks.withdraw"],
    "pages.tasks.return_": ENDPOINT_ROLES["tasks.return_"],
    "pages.tasks.transfer": ENDPOINT_ROLES["tasks.transfer"],
    "pages.tasks.transfer_department": ENDPOINT_ROLES["tasks.transfer"],
    "pages.tasks.request_extension": ENDPOINT_ROLES["tasks.request_extension"],
    "pages.tasks.delegate": ENDPOINT_ROLES["tasks.delegate"],
    "pages.tasks.resolve": ENDPOINT_ROLES["tasks.resolve"],
    "pages.tasks.decide_extension": ENDPOINT_ROLES["tasks.approve_extension"],
    "pages.cases.new": ENDPOINT_ROLES["instances.start"],
    "pages.cases.create": ENDPOINT_ROLES["instances.start"],
    "pages.cases.show": ENDPOINT_ROLES["instances.get"],
    "pages.cases.diagram": ENDPOINT_ROLES["instances.diagram"],
    "pages.cases.comment": ENDPOINT_ROLES["collab.add_comment"],
    "pages.tasks.draft": ENDPOINT_ROLES["collab.save_draft"],
    "pages.phrases.show": ENDPOINT_ROLES["collab.list_phrases"],
    "pages.phrases.add": ENDPOINT_ROLES["collab.add_phrase"],
    "pages.phrases.remove": ENDPOINT_ROLES["collab.remove_phrase"],
    "pages.home.save_view": ENDPOINT_ROLES["collab.create_view"],
    "pages.home.remove_view": ENDPOINT_ROLES["collab.remove_view"],
    "pages.cases.cancel": ENDPOINT_ROLES["instances.cancel"],
    "pages.cases.suspend": ENDPOINT_ROLES["instances.suspend"],
    "pages.cases.resume": ENDPOINT_ROLES["instances.resume"],
    "pages.cases.reassign_owner": ENDPOINT_ROLES["instances.reassign_owner"],
    "pages.cases.copy": ENDPOINT_ROLES["instances.copy"],
    "pages.copies.show": ENDPOINT_ROLES["copies.list"],
    "pages.copies.read": ENDPOINT_ROLES["copies.read"],
    "pages.attachments.upload": ENDPOINT_ROLES["attachments.upload"],
    "pages.attachments.content": ENDPOINT_ROLES["attachments.content"],
    "pages.attachments.thumbnail": ENDPOINT_ROLES["attachments.thumbnail"],
    "pages.attachments.delete": ENDPOINT_ROLES["attachments.delete"],
    "pages.record.record": ENDPOINT_ROLES["instances.get"],
    "pages.record.agreement": ENDPOINT_ROLES["instances.get"],
    "pages.board.show": (Role.SUPERVISOR,),
    "pages.audit.show": ENDPOINT_ROLES["history.audit_trail"],
    "pages.notifications.settings": ENDPOINT_ROLES["notifications.list_my_channels"],
    "pages.notifications.add": ENDPOINT_ROLES["notifications.create_my_channel"],
    "pages.notifications.toggle": ENDPOINT_ROLES["notifications.update_my_channel"],
    "pages.notifications.remove": ENDPOINT_ROLES["notifications.delete_my_channel"],
    "pages.notifications.deliveries": ENDPOINT_ROLES["notifications.list_deliveries"],
    "pages.notifications.resend": ENDPOINT_ROLES["notifications.resend_delivery"],
    # issue 18: /admin/webhooks
    "pages.webhooks.show": ENDPOINT_ROLES["webhooks.list_subscriptions"],
    "pages.webhooks.create": ENDPOINT_ROLES["webhooks.create_subscription"],
    "pages.webhooks.toggle": ENDPOINT_ROLES["webhooks.update_subscription"],
    "pages.webhooks.rotate": ENDPOINT_ROLES["webhooks.rotate_secret"],
    "pages.webhooks.inbound": ENDPOINT_ROLES["webhooks.rotate_inbound_secret"],
    "pages.webhooks.attempts": ENDPOINT_ROLES["webhooks.subscription_deliveries"],
    "pages.webhooks.resend": ENDPOINT_ROLES["webhooks.resend"],
    # the admin console (issue 17): admins only, like the definitions API it drives
    "pages.admin.definitions": ENDPOINT_ROLES["definitions.versions"],
    "pages.admin.versions": ENDPOINT_ROLES["definitions.versions"],
    "pages.admin.modeler": ENDPOINT_ROLES["definitions.deploy"],
    "pages.admin.edit": ENDPOINT_ROLES["definitions.deploy"],
    "pages.admin.source": ENDPOINT_ROLES["definitions.forms"],
    "pages.admin.diff": ENDPOINT_ROLES["definitions.diff"],
    "pages.admin.validate": ENDPOINT_ROLES["definitions.validate"],
    "pages.admin.deploy": ENDPOINT_ROLES["definitions.deploy"],
    "pages.admin.preview": ENDPOINT_ROLES["definitions.validate"],
    # monitoring, repair, migration, users and tokens (issue 17, docs/admin.md)
    "pages.admin.counts": ENDPOINT_ROLES["admin.element_counts"],
    "pages.admin.cases": ENDPOINT_ROLES["admin.list_cases"],
    "pages.admin.case": ENDPOINT_ROLES["admin.get_case"],
    "pages.admin.case_diagram": ENDPOINT_ROLES["admin.get_case"],
    "pages.admin.repair": ENDPOINT_ROLES["instances.update_variables"],
    "pages.admin.incidents": ENDPOINT_ROLES["incidents.list"],
    "pages.admin.retry_incident": ENDPOINT_ROLES["incidents.retry"],
    "pages.admin.cancel_incident": ENDPOINT_ROLES["incidents.cancel"],
    "pages.admin.dismiss_incident": ENDPOINT_ROLES["incidents.dismiss"],
    "pages.admin.migration": ENDPOINT_ROLES["admin.migration_plan"],
    "pages.admin.migrate": ENDPOINT_ROLES["admin.migrate"],
    "pages.admin.users": ENDPOINT_ROLES["admin.list_users"],
    "pages.admin.create_user": ENDPOINT_ROLES["admin.create_user"],
    "pages.admin.set_active": ENDPOINT_ROLES["admin.update_user"],
    "pages.admin.membership": ENDPOINT_ROLES["admin.add_membership"],
    "pages.admin.create_department": ENDPOINT_ROLES["admin.create_department"],
    "pages.admin.set_time_zone": ENDPOINT_ROLES["admin.update_department"],
    "pages.admin.tokens": ENDPOINT_ROLES["admin.list_api_tokens"],
    "pages.admin.create_token": ENDPOINT_ROLES["admin.create_api_token"],
    "pages.admin.revoke_token": ENDPOINT_ROLES["admin.revoke_api_token"],
    # /admin/external-tasks (issue 18): the API's admin calls, for people (workers have no login)
    "pages.external_tasks.show": (Role.ADMIN,),
    "pages.external_tasks.unlock": (Role.ADMIN,),
    "pages.external_tasks.retries": ENDPOINT_ROLES["external.set_retries"],
    "pages.reports.show": ENDPOINT_ROLES["reports.bulletin"],
    "pages.reports.export": ENDPOINT_ROLES["reports.export_bulletin"],
}


def is_page(endpoint: str | None) -> bool:
    """Browser pages authenticate by session cookie (web.pages.session), not by bearer token."""
    return endpoint is not None and endpoint.startswith(PAGE_PREFIX)


# The case fields a department task shows its liaison (minimum necessary); `household` and `parties`
# are personal and appear in clear only to the liaison holding one of the case's tasks.
DEPARTMENT_CONTEXT = (
    "category",
    "risk_level",
    "description",
    "source",
    "community",
    "assessment",
    "departments",
    "household",
    "parties",
)


def roles_of(endpoint: str | None) -> tuple[str, ...] | None:
    """The roles that may call `endpoint`; None for public endpoints; () when nobody may."""
    if endpoint in PUBLIC or endpoint in PUBLIC_PAGES:
        return None
    if is_page(endpoint):
        return PAGE_ROLES.get(endpoint or "", ())
    return ENDPOINT_ROLES.get(endpoint or "", ())


def check_role(actor: Actor, endpoint: str | None) -> None:
    roles = roles_of(endpoint)
    if roles is not None and actor.role not in roles:
        raise forbidden(f"the {actor.role} role may not do this")


def may_name_others(actor: Actor) -> bool:
    """Filtering by another user's name (assignee=chen) is for supervisors."""
    return actor.role == Role.SUPERVISOR


# --- tasks -------------------------------------------------------------------------------------
def task_visible(actor: Actor, task: dict[str, Any]) -> bool:
    """Officers and supervisors: their station's tasks. Liaisons: the open tasks waiting in their
    departments' queues and the tasks they hold or completed (what `GET /tasks` lists for them);
    a colleague's held or completed task is not theirs (minimum necessary)."""
    if actor.role in STATION_ROLES:
        return actor.station_id is not None and task["station_id"] == actor.station_id
    if actor.role == Role.LIAISON:
        return (task["state"] == HumanTaskState.OPEN and _in_queues(actor, task)) or actor.username in (
            task["assignee"],
            task["completed_by"],
        )
    return False


def _in_queues(actor: Actor, task: dict[str, Any]) -> bool:
    return bool(actor.departments & set(task["candidate_groups"]))


def check_task(actor: Actor, task: dict[str, Any]) -> dict[str, Any]:
    if not task_visible(actor, task):
        raise not_found("task")
    return task


def check_claim(actor: Actor, task: dict[str, Any]) -> dict[str, Any]:
    """As `check_task`, except that a liaison who lost the race for a task of their queue hears it
    was taken (the engine's 409), as an officer would: they saw it waiting a moment ago."""
    if actor.role == Role.LIAISON and task["state"] == HumanTaskState.CLAIMED and _in_queues(actor, task):
        return task
    return check_task(actor, task)


def task_scope(actor: Actor) -> dict[str, Any]:
    """Engine query filters that keep a task list to what the caller may see."""
    if actor.role in STATION_ROLES:
        return {"station_id": actor.station_id if actor.station_id is not None else -1}
    return {"involving": actor}


def check_group_filter(actor: Actor, group: str | None) -> None:
    if group is not None and actor.role == Role.LIAISON and group not in actor.departments:
        raise forbidden("a liaison sees only the queues of their own departments")


# --- cases -------------------------------------------------------------------------------------
def instance_visible(actor: Actor, instance: dict[str, Any], tasks: list[dict[str, Any]] | None = None) -> bool:
    if actor.role in STATION_ROLES:
        return instance["station"] is not None and instance["station"] in actor.departments
    if actor.role == Role.LIAISON:
        return any(task_visible(actor, t) for t in tasks or [])
    return False


def needs_tasks_to_see_cases(actor: Actor) -> bool:
    """A liaison sees a case through its tasks (instance_visible); the others by role and station."""
    return actor.role == Role.LIAISON


def copy_opens(actor: Actor, copy: dict[str, Any], reachable: set[str]) -> bool:
    """Whether a copy's case opens for its recipient: exactly when their role would show it anyway
    (`instance_visible`; a liaison's `reachable` cases are those their tasks reach). A copy never
    grants reading a case: an admin or auditor copied sees the notice, not the case."""
    if actor.role in STATION_ROLES:
        return copy["station"] is not None and copy["station"] in actor.departments
    if actor.role == Role.LIAISON:
        return copy["instance_id"] in reachable
    return False


def check_instance(actor: Actor, instance: dict[str, Any], tasks: list[dict[str, Any]] | None = None) -> None:
    if not instance_visible(actor, instance, tasks):
        raise not_found("process instance")


def handles(actor: Actor, instance: dict[str, Any]) -> bool:
    """Owner, reporter, current holder of one of its tasks, or someone who worked one of them."""
    if actor.username in (instance.get("case_owner"), instance.get("started_by")):
        return True
    if any(t["assignee"] == actor.username for t in instance.get("open_tasks", [])):
        return True
    return any(h["actor"] == actor.username and h["action"].startswith("task.") for h in instance.get("history", []))


def may_comment(actor: Actor, instance: dict[str, Any], tasks: list[dict[str, Any]] | None = None) -> bool:
    """Case participants comment: the station's supervisor; an officer who owns, reported or handles
    it (`handles`); a liaison with one of its tasks in view. Others who see the case only read."""
    if not instance_visible(actor, instance, tasks):
        return False
    if actor.role == Role.SUPERVISOR or actor.role == Role.LIAISON:
        return True
    return actor.role == Role.OFFICER and handles(actor, instance)


def personal_visibility(actor: Actor, instance: dict[str, Any], tasks: list[dict[str, Any]] | None = None) -> str:
    """'clear' or 'masked': how this caller sees the case's personal fields."""
    if actor.role == Role.SUPERVISOR:
        return "clear"
    if actor.role == Role.OFFICER and handles(actor, instance):
        return "clear"
    if actor.role == Role.LIAISON and any(
        t["state"] == HumanTaskState.CLAIMED and t["assignee"] == actor.username and task_visible(actor, t)
        for t in tasks or []
    ):
        return "clear"
    return "masked"


def case_variables(actor: Actor, variables: dict[str, Any]) -> dict[str, Any]:
    if actor.role == Role.LIAISON:
        return {k: v for k, v in variables.items() if k in DEPARTMENT_CONTEXT}
    return variables


def personal_view(
    actor: Actor, records: list[dict[str, Any]], visibility: str, tasks: list[dict[str, Any]] | None = None
) -> dict[str, Any]:
    """The decrypted records the caller may see, masked unless `visibility` is 'clear'."""
    if actor.role == Role.LIAISON:
        own = _own_tasks(actor, tasks)
        kept = []
        for record in records:
            if record["source"] == "start":
                data = {k: v for k, v in record["data"].items() if k in DEPARTMENT_CONTEXT}
                kept.append({**record, "data": data})
            elif record["task_id"] in own:
                kept.append(record)
        records = kept
    if visibility != "clear":
        records = [{**r, "data": mask_value(r["data"])} for r in records]
    return {"visibility": visibility, "records": records}


def _own_tasks(actor: Actor, tasks: list[dict[str, Any]] | None) -> set[str]:
    """The ids of the case's tasks a liaison may see: whose records and files are theirs to see."""
    return {t["id"] for t in tasks or [] if task_visible(actor, t)}


# --- attachments ---------------------------------------------------------------------------------
# Attachments are personal data: the same rule as the personal fields (personal_visibility), the same
# minimum necessary for a liaison (the case's own files and those of their department's tasks).
def attachments_view(
    actor: Actor, items: list[dict[str, Any]], visibility: str, tasks: list[dict[str, Any]] | None = None
) -> list[dict[str, Any]]:
    """The files the caller may see: none unless `visibility` is 'clear'."""
    if visibility != "clear":
        return []
    if actor.role == Role.LIAISON:
        own = _own_tasks(actor, tasks)
        return [a for a in items if a["task_id"] is None or a["task_id"] in own]
    return items


def attachment_not_found() -> ApiError:
    return not_found("attachment")


def check_attach(actor: Actor, visibility: str, task_id: str | None, tasks: list[dict[str, Any]] | None) -> None:
    """Who sees the personal data attaches files; a liaison only to a task they hold."""
    if visibility != "clear":
        raise forbidden("only those who handle the case may attach files to it")
    if actor.role == Role.LIAISON and not any(
        t["id"] == task_id and t["state"] == HumanTaskState.CLAIMED and t["assignee"] == actor.username
        for t in tasks or []
    ):
        raise forbidden("a liaison attaches files to a task they hold")


def check_delete_attachment(actor: Actor, attachment: dict[str, Any]) -> None:
    """The uploader deletes their own files; a supervisor any file of their station's cases."""
    if actor.role != Role.SUPERVISOR and attachment["uploaded_by"] != actor.username:
        raise forbidden("only the uploader or a supervisor may delete a file")


def liaison_tasks(actor: Actor, tasks: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [t for t in tasks if task_visible(actor, t)]


# --- messages ----------------------------------------------------------------------------------
def message_department(actor: Actor, department: str | None) -> str | None:
    """The department a message is reported for: a system's or liaison's own, never another's."""
    if actor.role in (Role.SYSTEM, Role.LIAISON):
        if department is not None and department not in actor.departments:
            raise forbidden("you may report results only for your own department")
        if department is None and len(actor.departments) == 1:
            department = next(iter(actor.departments))
        if department is None:
            raise ApiError(
                422,
                "validation_failed",
                "name the department you report for",
                [{"field": "department", "message": "one of " + ", ".join(sorted(actor.departments))}],
            )
    return department


def check_message_target(
    actor: Actor, department: str | None, tasks: list[dict[str, Any]], case: dict[str, Any] | None = None
) -> None:
    """The case must be one the caller may know: of the supervisor's station (the case itself when
    given: it may wait at an event with no task open), or with a task of the department."""
    if actor.role == Role.SUPERVISOR:
        if case is not None:
            ok = instance_visible(actor, case)
        else:
            ok = any(t["station_id"] == actor.station_id for t in tasks)
    else:
        wanted = {department} if department else set(actor.departments)
        ok = any(wanted & set(t["candidate_groups"]) for t in tasks)
    if not ok:
        raise not_found("process instance")
