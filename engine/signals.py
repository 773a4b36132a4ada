"""Signals: a named BPMN signal broadcast from outside to every case waiting for it.

Unlike a message (one case, one waiting event), a signal reaches every running case of the
caller's station whose model waits for it, and starts a case of every process whose start event
catches it. Each case is its own unit of work: one that fails (its model breaks on the payload, a
concurrent change) is reported and undoes nothing else.

Which cases to try: the running cases of the station whose deployed version has a catch event for
the signal (read from the parsed spec, cached per version); of these, the ones whose event waits
right now receive it. No projection is kept: a broadcast reads the running cases of one station.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from sqlalchemy import select

from .audit import record
from .errors import EngineError, Forbidden, InvalidInput
from .outbox import emit
from .store.models import ProcessDefinition, ProcessInstance
from .uow import Change, refresh_timers
from .validation import check_json
from .vocabulary import Event, InstanceStatus, Role

if TYPE_CHECKING:
    from . import Engine

MAX_NAME = 200


class NotWaiting(EngineError):
    code = "not_waiting"
    kind = "conflict"


def _catches(spec, name: str) -> bool:
    definition = getattr(spec, "event_definition", None)
    if isinstance(definition, MultipleEventDefinition):
        return any(isinstance(d, SignalEventDefinition) and d.name == name for d in definition.event_definitions)
    return isinstance(definition, SignalEventDefinition) and definition.name == name


def _waits_for(loaded, name: str) -> bool:
    """Whether a definition version has a signal catch event for `name` a running case can wait at
    (intermediate or boundary, in the process or what it calls; not the process's own start)."""
    top = [t for t in loaded.spec.task_specs.values() if not isinstance(t, StartEvent)]
    called = [t for s in loaded.subprocess_specs.values() for t in s.task_specs.values()]
    return any(_catches(t, name) for t in top + called)


def _starts_on(loaded, name: str) -> bool:
    """Whether the process starts on signal `name` (a signal start event)."""
    return any(isinstance(t, StartEvent) and _catches(t, name) for t in loaded.spec.task_specs.values())


class SignalService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    def broadcast(self, name: Any, actor, variables: Any = None) -> dict[str, Any]:
        """Deliver signal `name` (with `variables` for the catching events) to every running case of the
        supervisor's station waiting for it, and start the processes it starts; a report per case."""
        name, variables = _checked(name, variables)
        if actor.role != Role.SUPERVISOR or actor.station_id is None:
            raise Forbidden("only a supervisor broadcasts signals, to the cases of their station")
        waiting, starting = self._candidates(name, actor.station_id)
        delivered = [
            self._deliver(instance_id, business_key, name, variables, actor) for instance_id, business_key in waiting
        ]
        started = [self._start(key, name, variables, actor) for key in starting]
        with self.ctx.db.transaction() as scope:
            now = self.ctx.clock.now()
            details = {
                "signal": name,
                "delivered": sum(r["outcome"] == "delivered" for r in delivered),
                "started": sum(r["outcome"] == "started" for r in started),
                "failed": sum(r["outcome"] == "failed" for r in delivered + started),
                "fields": sorted(variables),
            }
            record(scope, now, actor, Event.SIGNAL_BROADCAST, details=details)
            emit(scope, now, Event.SIGNAL_BROADCAST, payload=details)
        return {
            "signal": name,
            "instances": [r for r in delivered if r["outcome"] != "not_waiting"],
            "started": started,
        }

    def _candidates(self, name: str, station_id: int) -> tuple[list[tuple[str, str]], list[str]]:
        with self.ctx.db.read() as scope:
            rows = scope.execute(
                select(ProcessInstance.id, ProcessInstance.business_key, ProcessInstance.definition_id)
                .where(ProcessInstance.status == InstanceStatus.RUNNING, ProcessInstance.station_id == station_id)
                .order_by(ProcessInstance.started_at, ProcessInstance.id)
            ).all()
            catching: dict[int, bool] = {}
            for definition_id in sorted({r.definition_id for r in rows}):
                catching[definition_id] = _waits_for(self.ctx.repository.load(scope, definition_id), name)
            latest: dict[str, tuple[int, int]] = {}  # process key -> (id, version) of its latest version
            for key, definition_id, version in scope.execute(
                select(ProcessDefinition.key, ProcessDefinition.id, ProcessDefinition.version)
            ):
                if key not in latest or version > latest[key][1]:
                    latest[key] = (definition_id, version)
            starting = [
                key
                for key, (definition_id, _version) in sorted(latest.items())
                if _starts_on(self.ctx.repository.load(scope, definition_id), name)
            ]
        return [(r.id, r.business_key) for r in rows if catching[r.definition_id]], starting

    def _deliver(self, instance_id: str, business_key: str, name: str, variables: dict, actor) -> dict[str, Any]:
        def deliver(change: Change):
            if change.instance.status != InstanceStatus.RUNNING:
                raise NotWaiting(f"instance {business_key} is {change.instance.status}")
            workflow = change.workflow
            refresh_timers(workflow)
            event = BpmnEvent(SignalEventDefinition(name), payload=dict(variables))
            if workflow.event_manager.catch(event, internal=False) == 0:
                raise NotWaiting(f"instance {business_key} is not waiting for signal '{name}'")
            workflow.do_engine_steps()
            change.audit(Event.SIGNAL_RECEIVED, signal=name, fields=sorted(variables))
            change.emit(Event.SIGNAL_RECEIVED, signal=name)

        report: dict[str, Any] = {"instance_id": instance_id, "business_key": business_key}
        try:
            self.ctx.uow.run(instance_id, actor, deliver)
        except NotWaiting:
            return {**report, "outcome": "not_waiting"}
        except EngineError as exc:
            return {**report, "outcome": "failed", "error": {"code": exc.code, "message": exc.message}}
        return {**report, "outcome": "delivered"}

    def _start(self, key: str, name: str, variables: dict, actor) -> dict[str, Any]:
        def catch(workflow) -> None:
            workflow.catch(BpmnEvent(SignalEventDefinition(name), payload={}))  # the variables start the case

        try:
            case = self.ctx.runtime.start_instance(key, actor, variables, then_catch=catch)
        except EngineError as exc:
            return {"process_key": key, "outcome": "failed", "error": {"code": exc.code, "message": exc.message}}
        return {
            "process_key": key,
            "instance_id": case["id"],
            "business_key": case["business_key"],
            "status": case["status"],
            "outcome": "started",
        }


def _checked(name: Any, variables: Any) -> tuple[str, dict[str, Any]]:
    if not isinstance(name, str) or not name.strip() or len(name) > MAX_NAME:
        raise InvalidInput(
            f"name the signal (text of 1 to {MAX_NAME} characters)", [{"field": "name", "message": "required"}]
        )
    variables = {} if variables is None else variables
    if not isinstance(variables, dict):
        raise InvalidInput("variables must be a JSON object", [{"field": "variables", "message": "not an object"}])
    check_json(variables)
    return name.strip(), variables
