"""RuntimeService: start instances, correlate messages, cancel, read instances and their personal data."""

from __future__ import annotations

import json
import re
import uuid
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import aliased

from . import correlation, suspension
from .audit import audit_view
from .correlation import waiting_event
from .errors import (
    AlreadyExists,
    DefinitionNotExecutable,
    DefinitionNotFound,
    Forbidden,
    InstanceNotFound,
    InstanceNotRunning,
    InstanceNotSuspended,
    InvalidInput,
    PersonalField,
    TooLarge,
)
from .names import lookup_names
from .store.driver import DriverQuery
from .store.models import (
    AuditEntry,
    PersonalRecord,
    ProcessDefinition,
    ProcessInstance,
    Sequence,
    User,
)
from .store.record import Record
from .uow import Change
from .validation import check_json, checked_reason
from .vocabulary import BUSINESS_KEY_PATTERN, OPEN_TASK_STATES, Event, InstanceStatus, Role

if TYPE_CHECKING:
    from . import Engine


BUSINESS_KEY = re.compile(BUSINESS_KEY_PATTERN)
MAX_VARIABLES_BYTES = 256 * 1024
CANCEL_ROLES = (Role.SUPERVISOR, Role.ADMIN)


class RuntimeService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- start -----------------------------------------------------------------------------------
    def start_instance(
        self,
        key: str,
        actor,
        variables: dict[str, Any] | None = None,
        business_key: str | None = None,
        version: int | None = None,
        then_catch=None,
        start_event: str | None = None,
    ) -> dict[str, Any]:
        """Start `key` (latest version unless `version`); the case belongs to the actor's station.
        `then_catch(change, workflow)` hands the new workflow an event its start waits for (a signal
        start); it may add rows to the starting transaction (a signal's receipt). A timer start event
        is passed at once: `start_event` (its schedule fell due, engine/start_timers.py), or, started
        by hand, the first one unless the process started at a plain start event."""
        variables = _checked_start(variables, business_key)

        def create(scope, now) -> Change:
            found = _DEFINITION[version is not None].all(scope.connection(), {"key": key, "version": version})
            definition = found[0] if found else None
            if definition is None:
                raise DefinitionNotFound(f"process definition '{key}' does not exist")
            loaded = self.ctx.repository.load(scope, definition.id)
            if loaded.meta.get(key, {}).get("executable", True) is False:
                raise DefinitionNotExecutable(
                    f"process definition '{key}' is not executable (isExecutable=\"false\"): it can be viewed "
                    "and edited but not started; set isExecutable to true and deploy it again"
                )
            start_form = loaded.meta.get(key, {}).get("start_form")
            initiator = loaded.meta.get(key, {}).get("initiator")
            # a start form the engine does not have (deploy warned) takes the variables as they come
            form = (
                self.ctx.repository.form(scope, definition.id, start_form)  # deployed with it, else installed
                if start_form
                else None
            )
            if form is not None:
                plain, personal = form.validate(variables)
            else:
                check_json(variables)
                plain, personal = dict(variables), {}
            key_of_case = business_key or self._next_business_key(scope, now)
            instance = _new_instance(key_of_case, definition.id, key, actor, now)
            if business_key is not None and scope.scalar(
                select(func.count()).where(ProcessInstance.business_key == business_key)
            ):  # a generated key is new by construction
                raise AlreadyExists(f"business key '{business_key}' is already used")
            change = Change(scope, instance, actor, now, loaded=loaded, is_new=True)  # inserted with its state
            workflow = self.ctx.serializer.new(loaded.spec, loaded.subprocess_specs)
            if initiator:  # camunda:initiator names the variable holding who started the case
                plain[initiator] = actor.username
            for task in workflow.get_tasks(state=TaskState.READY):
                task.set_data(**plain)
            workflow.do_engine_steps()
            _pass_timer_start(workflow, loaded.meta.get(key, {}).get("timer_starts", []), start_event)
            if then_catch is not None:
                then_catch(change, workflow)
                workflow.do_engine_steps()
            change.workflow = workflow
            if personal:
                self.ctx.personal.store(change, None, "start", personal)
            change.audit(
                Event.INSTANCE_STARTED,
                definition_id=definition.id,
                process_key=key,
                version=definition.version,
                variables=sorted(plain),
                personal_fields=sorted(personal),
            )
            change.emit(
                Event.INSTANCE_STARTED, process_key=key, version=definition.version, station_id=instance.station_id
            )
            return change

        try:
            return self.ctx.uow.start(
                create,
                then=lambda change: self._full_view(
                    change.scope, change.instance, open_tasks=self.ctx.tasks.opened_by(change)
                ),
            )
        except IntegrityError:
            raise AlreadyExists("business key is already used") from None

    def _next_business_key(self, scope, now) -> str:
        """JF-2026-000123: a per-year counter incremented in the starting transaction."""
        prefix = self.ctx.settings.business_key_prefix
        name = f"business_key:{prefix}:{now.year}"
        statement = _NEXT_VALUE[scope.bind.dialect.name == "postgresql"]
        [(value,)] = statement.all(scope.connection(), {"name": name})
        return f"{prefix}-{now.year}-{value:06d}"

    # --- messages --------------------------------------------------------------------------------
    def correlate_message(
        self,
        name: str,
        actor,
        *,
        business_key: str | None = None,
        instance_id: str | None = None,
        payload: dict[str, Any] | None = None,
        department: str | None = None,
    ) -> dict[str, Any]:
        """Deliver message `name` to the instance waiting for it (a department reporting its result).

        With several waiting events (both departments), `department` picks the one whose task that
        department works; a department system's own key is used when the actor has exactly one.
        """
        payload = {} if payload is None else payload
        if not isinstance(payload, dict):
            raise InvalidInput("payload must be a JSON object", [{"field": "payload", "message": "not an object"}])
        if (business_key is None) == (instance_id is None):
            raise InvalidInput(
                "name exactly one of business_key and instance_id",
                [{"field": "business_key", "message": "business_key or instance_id"}],
            )
        if instance_id is None:
            instance_id = self._instance_id_by_key(str(business_key))
        if department is None and actor.role == Role.SYSTEM and len(actor.departments) == 1:
            department = next(iter(actor.departments))

        def deliver(change: Change):
            if change.instance.status != InstanceStatus.RUNNING:
                raise InstanceNotRunning(f"instance {change.instance.business_key} is {change.instance.status}")
            wait = waiting_event(change, name, department, actor)
            correlation.deliver(self.ctx, change, wait, payload, actor, department)
            return change.instance.id

        self.ctx.uow.run(instance_id, actor, deliver)
        return self.get_instance(instance_id)

    def _instance_id_by_key(self, business_key: str) -> str:
        with self.ctx.db.read() as scope:
            found = scope.scalar(select(ProcessInstance.id).where(ProcessInstance.business_key == business_key))
        if found is None:
            raise InstanceNotFound(f"no process instance has business key '{business_key}'")
        return found

    # --- cancel (terminate), suspend, resume ---------------------------------------------------------
    def cancel_instance(self, instance_id: str, actor, reason: str) -> dict[str, Any]:
        """Terminate (终止) a running or suspended case, with a reason."""
        reason = checked_reason(reason)
        _check_supervisor(actor, "cancel")

        def cancel(change: Change):
            instance = change.instance
            if instance.status not in (InstanceStatus.RUNNING, InstanceStatus.SUSPENDED):
                raise InstanceNotRunning(f"instance {instance.business_key} is {instance.status}")
            _check_station(actor, instance, "cancel")
            if instance.status == InstanceStatus.SUSPENDED:
                suspension.settle_paused(change)
            change.workflow.cancel()
            change.set_instance(status=InstanceStatus.CANCELLED, ended_at=change.now, suspended_at=None)
            change.audit(Event.INSTANCE_CANCELLED, reason=reason)
            change.emit(Event.INSTANCE_CANCELLED, process_key=instance.process_key)

        self.ctx.uow.run(instance_id, actor, cancel)
        return self.get_instance(instance_id)

    terminate_instance = cancel_instance

    def suspend_instance(self, instance_id: str, actor, reason: str) -> dict[str, Any]:
        """Suspend (挂起) a running case with a reason: its tasks wait, its deadlines and timers pause."""
        reason = checked_reason(reason)
        _check_supervisor(actor, "suspend")

        def suspend(change: Change):
            instance = change.instance
            if instance.status != InstanceStatus.RUNNING:
                raise InstanceNotRunning(f"instance {instance.business_key} is {instance.status}")
            _check_station(actor, instance, "suspend")
            tasks = suspension.pause(change)
            change.set_instance(status=InstanceStatus.SUSPENDED, suspended_at=change.now)
            change.audit(Event.INSTANCE_SUSPENDED, reason=reason, tasks=tasks)
            change.emit(Event.INSTANCE_SUSPENDED, process_key=instance.process_key)

        self.ctx.uow.run(instance_id, actor, suspend, load_workflow=False)
        return self.get_instance(instance_id)

    def resume_instance(self, instance_id: str, actor, reason: str) -> dict[str, Any]:
        """Resume (激活) a suspended case: every deadline keeps the time it had left when suspended."""
        reason = checked_reason(reason)
        _check_supervisor(actor, "resume")

        def resume(change: Change):
            instance = change.instance
            if instance.status != InstanceStatus.SUSPENDED:
                raise InstanceNotSuspended(f"instance {instance.business_key} is {instance.status}, not suspended")
            _check_station(actor, instance, "resume")
            paused = max(change.now - (instance.suspended_at or change.now), timedelta(0))
            change.set_instance(status=InstanceStatus.RUNNING, suspended_at=None)
            suspension.unpause(change, paused)
            seconds = int(paused.total_seconds())
            change.audit(Event.INSTANCE_RESUMED, reason=reason, paused_seconds=seconds)
            change.emit(Event.INSTANCE_RESUMED, process_key=instance.process_key, paused_seconds=seconds)

        self.ctx.uow.run(instance_id, actor, resume)
        return self.get_instance(instance_id)

    # --- repair ----------------------------------------------------------------------------------
    def update_variables(self, instance_id: str, actor, variables: dict[str, Any], reason: str) -> dict[str, Any]:
        """An admin fixes non-personal data of a running case (e.g. before retrying an incident)."""
        reason = checked_reason(reason)
        if actor.role not in (Role.ADMIN, Role.SYSTEM):
            raise Forbidden("only an admin may change a case's variables")
        if not isinstance(variables, dict) or not variables:
            raise InvalidInput(
                "variables must be a non-empty JSON object", [{"field": "variables", "message": "not an object"}]
            )
        check_json(variables)
        _check_size(variables)
        _refuse_personal(variables, self.ctx.forms.personal_fields())

        def apply(change: Change):
            if change.instance.status != InstanceStatus.RUNNING:
                raise InstanceNotRunning(f"instance {change.instance.business_key} is {change.instance.status}")
            forms = self._forms_of(change.scope, change.instance.definition_id, change.loaded)
            # the forms deployed with the case's version may mark other fields personal
            _refuse_personal(variables, frozenset().union(*(form.personal_fields for form in forms)))
            for form in forms:
                form.check_fields(variables)
            for task in change.workflow.get_tasks(state=TaskState.READY | TaskState.WAITING):
                task.set_data(**variables)
            change.audit(Event.INSTANCE_VARIABLES_UPDATED, variables=sorted(variables), reason=reason)

        self.ctx.uow.run(instance_id, actor, apply)
        return self.get_instance(instance_id)

    def _forms_of(self, scope, definition_id: int, loaded) -> list:
        """The forms a definition's start events and user tasks name (its called processes too): those
        deployed with the version first, then the installed ones."""
        keys = set()
        for process in loaded.meta.values():
            keys.add(process.get("start_form"))
            keys.update(task.get("form_key") for task in process.get("tasks", {}).values())
        found = (self.ctx.repository.form(scope, definition_id, key) for key in sorted(k for k in keys if k))
        return [form for form in found if form is not None]

    # --- reads -----------------------------------------------------------------------------------
    def get_instance(self, instance_id: str, history: bool = True) -> dict[str, Any]:
        with self.ctx.db.read() as scope:
            instance = scope.get(ProcessInstance, instance_id)
            if instance is None:
                raise InstanceNotFound(f"process instance '{instance_id}' does not exist")
            return self._full_view(scope, instance, history)

    def _full_view(
        self, scope, instance: ProcessInstance, history: bool = True, open_tasks: list[dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """The case with its open tasks (read, unless given: a new case's are the ones its start
        created) and, optionally, its history."""
        view = self._view(scope, instance)
        view["open_tasks"] = (
            open_tasks
            if open_tasks is not None
            else self.ctx.tasks.query_rows(scope, instance_id=instance.id, states=OPEN_TASK_STATES)
        )
        if history:
            entries = _HISTORY.all(scope.connection(), {"instance_id": instance.id})
            view["history"] = [audit_view(e) for e in entries]
        return view

    def diagram_state(self, instance_id: str) -> dict[str, Any]:
        """Element ids for a diagram overlay: what is active (ready or waiting) and what has run."""
        with self.ctx.db.read() as scope:
            instance = scope.get(ProcessInstance, instance_id)
            if instance is None:
                raise InstanceNotFound(f"process instance '{instance_id}' does not exist")
            loaded = self.ctx.repository.load(scope, instance.definition_id)
            workflow = self.ctx.serializer.loads(instance.state, loaded.spec, loaded.subprocess_specs)
        active: set[str] = set()
        completed: set[str] = set()
        for task in workflow.get_tasks(
            state=TaskState.READY | TaskState.WAITING | TaskState.STARTED | TaskState.COMPLETED
        ):
            element = getattr(task.task_spec, "bpmn_id", None)
            if element is None:  # engine-internal specs (Start, End, boundary splits)
                continue
            (completed if task.state == TaskState.COMPLETED else active).add(element)
        return {
            "instance_id": instance_id,
            "process_key": instance.process_key,
            "definition_id": instance.definition_id,
            "active": sorted(active),
            "completed": sorted(completed - active),
        }

    def case_variables(self, instance_ids: list[str]) -> dict[str, dict[str, Any]]:
        """The non-personal variables of several cases in one read (an inbox row's category and risk)."""
        if not instance_ids:
            return {}
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(ProcessInstance.id, ProcessInstance.variables).where(ProcessInstance.id.in_(set(instance_ids)))
            ).all()
            return {row.id: row.variables for row in rows}

    def get_instance_by_business_key(self, business_key: str, history: bool = True) -> dict[str, Any]:
        return self.get_instance(self._instance_id_by_key(business_key), history)

    def list_instances(
        self,
        *,
        status: str | None = None,
        process_key: str | None = None,
        business_key: str | None = None,
        case_owner: str | None = None,
        station_id: int | None = None,
        limit: int = 50,
        offset: int = 0,
    ) -> list[dict[str, Any]]:
        with self.ctx.db.read() as scope:
            query = select(ProcessInstance)
            if status:
                query = query.where(ProcessInstance.status == status)
            if process_key:
                query = query.where(ProcessInstance.process_key == process_key)
            if business_key:
                query = query.where(ProcessInstance.business_key == business_key)
            if station_id is not None:
                query = query.where(ProcessInstance.station_id == station_id)
            if case_owner:
                owner = aliased(User)
                query = query.join(owner, owner.id == ProcessInstance.case_owner_id).where(owner.username == case_owner)
            query = query.order_by(ProcessInstance.started_at.desc(), ProcessInstance.id)
            rows = scope.scalars(query.limit(min(max(limit, 1), 200)).offset(max(offset, 0))).all()
            return self._views(scope, rows)

    def _view(self, scope, instance: ProcessInstance) -> dict[str, Any]:
        return self._views(scope, [instance])[0]

    @staticmethod
    def _views(scope, rows: list[ProcessInstance]) -> list[dict[str, Any]]:
        users, stations, versions = _names(scope, rows)
        return [
            {
                "id": r.id,
                "business_key": r.business_key,
                "process_key": r.process_key,
                "definition_id": r.definition_id,
                "definition_version": versions.get(r.definition_id),
                "status": r.status,
                "case_owner": users.get(r.case_owner_id),
                "station": stations.get(r.station_id),
                "started_by": users.get(r.started_by_id),
                "started_at": r.started_at.isoformat(),
                "ended_at": r.ended_at.isoformat() if r.ended_at else None,
                "variables": r.variables,
                "version": r.version,
            }
            for r in rows
        ]

    def personal_data(self, instance_id: str, actor, purpose: str) -> list[dict[str, Any]]:
        """Decrypt a case's personal data; every read is audited with its purpose."""
        return self.ctx.personal.read(instance_id, actor, purpose)


# Statements of a case start and a case view, built once (building costs more than running on SQLite).
# id and version only: the row's XML is not needed (the parsed spec comes from the cache)
_LATEST = (
    select(ProcessDefinition.id, ProcessDefinition.version)
    .where(ProcessDefinition.key == bindparam("key"))
    .order_by(ProcessDefinition.version.desc())
    .limit(1)
)
_DEFINITION = {
    False: DriverQuery(_LATEST),
    True: DriverQuery(_LATEST.where(ProcessDefinition.version == bindparam("version"))),
}
_NEXT_VALUE = {  # the per-year business-key counter, incremented by one upsert: {is PostgreSQL: statement}
    postgresql: DriverQuery(
        insert(Sequence.__table__)
        .values(name=bindparam("name"), value=1)
        .on_conflict_do_update(index_elements=["name"], set_={"value": Sequence.__table__.c.value + 1})
        .returning(Sequence.__table__.c.value)
    )
    for postgresql, insert in ((True, pg_insert), (False, sqlite_insert))
}
_AUDIT = AuditEntry.__table__
_HISTORY = DriverQuery(select(_AUDIT).where(_AUDIT.c.instance_id == bindparam("instance_id")).order_by(_AUDIT.c.id))


def _pass_timer_start(workflow, timer_starts: list[dict[str, Any]], start_event: str | None) -> None:
    """Camunda's timer start: the schedule starts the case, which does not wait at its start event
    (SpiffWorkflow's would: each occurrence a token in that one case). The other timer starts are
    cancelled, so that one case is one start."""
    ids = {t["element_id"] for t in timer_starts}
    if not ids:
        return
    starts = [t for t in workflow.get_tasks(spec_class=StartEvent) if t.task_spec.bpmn_id in ids]
    waiting = sorted((t for t in starts if t.state == TaskState.WAITING), key=lambda t: t.task_spec.bpmn_id)
    if not waiting:
        return
    if start_event is not None:
        taken = next((t for t in waiting if t.task_spec.bpmn_id == start_event), None)
    else:  # by hand: at a plain start event if one ran, else at the first timer start
        plain_ran = any(
            t.state == TaskState.COMPLETED and t.task_spec.bpmn_id not in ids
            for t in workflow.get_tasks(spec_class=StartEvent)
        )
        taken = None if plain_ran else waiting[0]
    for task in waiting:
        if task is not taken:
            task.cancel()
    if taken is not None:
        if not taken.children:  # a cycle predicts no path: SpiffWorkflow adds it at each occurrence
            for output in taken.task_spec.outputs:
                child = taken._add_child(output, TaskState.FUTURE)
                child.task_spec._predict(child, mask=TaskState.NOT_FINISHED_MASK)
        taken._set_internal_data(event_fired=True)
    workflow.refresh_timers()
    workflow.do_engine_steps()


def _check_supervisor(actor, verb: str) -> None:
    if actor.role not in CANCEL_ROLES:
        raise Forbidden(f"only a supervisor or an admin may {verb} a case")


def _check_station(actor, instance, verb: str) -> None:
    if actor.role == Role.SUPERVISOR and instance.station_id not in (None, actor.station_id):
        raise Forbidden(f"a supervisor {verb}s only the cases of their station")


def _checked_start(variables: dict[str, Any] | None, business_key: str | None) -> dict[str, Any]:
    """A start's variables (a JSON object within the size limit) and business key, checked."""
    variables = {} if variables is None else variables
    if not isinstance(variables, dict):
        raise InvalidInput("variables must be a JSON object", [{"field": "variables", "message": "not an object"}])
    _check_size(variables)
    if business_key is not None and not BUSINESS_KEY.fullmatch(business_key):
        raise InvalidInput(
            "business key must be 1-100 characters of letters, digits and _.:/-",
            [{"field": "business_key", "message": "invalid business key"}],
        )
    return variables


def _new_instance(business_key: str, definition_id: int, key: str, actor, now) -> Record:
    """The row of a case being started (inserted with its first state when the start commits)."""
    return Record(
        ProcessInstance.__table__,
        dict(
            id=str(uuid.uuid4()),
            business_key=business_key,
            definition_id=definition_id,
            process_key=key,
            status=InstanceStatus.RUNNING,
            case_owner_id=None,
            station_id=actor.station_id,
            started_by_id=actor.id,
            started_at=now,
            ended_at=None,
            suspended_at=None,
            variables={},
            state="",
            version=1,
        ),
    )


def _names(scope, rows: list[ProcessInstance]) -> tuple[dict, dict, dict]:
    """Usernames, station keys and definition versions the views of `rows` show: one statement."""
    found = lookup_names(
        scope,
        {
            "v": {r.definition_id for r in rows},
            "u": ({r.case_owner_id for r in rows} | {r.started_by_id for r in rows}) - {None},
            "d": {r.station_id for r in rows} - {None},
        },
    )
    return found["u"], found["d"], found["v"]


def _check_size(variables: dict[str, Any]) -> None:
    """Variables given as plain JSON stay within the size a start form allows."""
    size = len(json.dumps(variables, default=str))
    if size > MAX_VARIABLES_BYTES:
        raise TooLarge(f"variables are {size} bytes; the limit is {MAX_VARIABLES_BYTES}")


__all__ = ["RuntimeService", "PersonalRecord"]


def _refuse_personal(variables: dict[str, Any], personal_fields: frozenset[str]) -> None:
    personal = sorted(set(variables) & personal_fields)
    if personal:
        raise PersonalField(
            f"{', '.join(personal)}: personal fields are set only through the case's forms, which seal them",
            [{"field": name, "message": "a personal field: it is set through the case's forms"} for name in personal],
        )
