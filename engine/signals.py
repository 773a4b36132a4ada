"""Signals: a named BPMN signal broadcast to every case waiting for it.

Unlike a message (one case, one waiting event), a signal reaches every running case of the
caller's station whose model waits for it, and starts a case of every process whose start event
catches it. Each case is its own unit of work: one that fails (its model breaks on the payload, a
concurrent change) is reported and undoes nothing else.

Two senders: a supervisor (`broadcast`, POST /api/v1/signals) and a case's own throw event. A throw
is caught at once by the case's own waiting events (SpiffWorkflow) and recorded as a `signal.raised`
outbox event in the case's unit of work; the relay (`relay_once`, run by the sweeper) delivers it to
the other cases of the thrower's station, each in its own unit of work with a receipt
(`signal_receipts`): a relay that crashes after a delivery and before moving its cursor delivers
again, and the receipt makes the second delivery a no-op.

Which cases to try: the running cases of the station whose deployed version has a catch event for
the signal (read from the parsed spec, cached per version); of these, the ones whose event waits
right now receive it. No projection is kept: a broadcast reads the running cases of one station.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.specs.event_definitions.item_aware_event import SignalEventDefinition
from SpiffWorkflow.bpmn.specs.event_definitions.multiple import MultipleEventDefinition
from SpiffWorkflow.bpmn.specs.mixins.events.start_event import StartEvent
from SpiffWorkflow.bpmn.util import BpmnEvent
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from . import outbox
from .audit import record
from .errors import AlreadyExists, EngineError, Forbidden, InvalidInput
from .identity import Actor
from .store.models import ProcessDefinition, ProcessInstance, RelayCursor, SignalReceipt
from .uow import Change, refresh_timers
from .validation import check_json
from .vocabulary import Event, InstanceStatus, Role

if TYPE_CHECKING:
    from . import Engine

log = logging.getLogger("fengqiao.signals")
MAX_NAME = 200
RELAY = "signals"  # the relay's cursor in relay_cursors
BATCH = 200
THROWN = Event.raised("signal")


class NotWaiting(EngineError):
    code = "not_waiting"
    kind = "conflict"


class AlreadyReceived(NotWaiting):
    """The receipt of this throw is there: an earlier relay delivered it."""

    code = "already_received"


@dataclasses.dataclass(frozen=True)
class Throw:
    """A signal thrown in a case (its `signal.raised` outbox event), to deliver to the other cases."""

    event_id: str
    name: str
    instance_id: str
    business_key: str | None
    process_key: str
    station_id: int | None


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
            outbox.emit(scope, now, Event.SIGNAL_BROADCAST, payload=details)
        return {
            "signal": name,
            "instances": [r for r in delivered if r["outcome"] != "not_waiting"],
            "started": started,
        }

    # --- throws between cases ---------------------------------------------------------------------
    def relay_once(self, batch: int = BATCH) -> int:
        """Deliver the signals thrown in cases since the cursor to the other cases of each thrower's
        station (waiting ones, and processes started on the signal); returns the cases reached.

        The cursor moves after the deliveries: a crash between them delivers again, and the
        receipts make that a no-op. Relays in several processes may deliver one throw at once: the
        receipt's key lets one case take it once."""
        if not outbox.unread(self.ctx.db, RELAY):
            return 0
        now = self.ctx.clock.now()
        with self.ctx.db.read() as scope:
            last = scope.scalar(select(RelayCursor.last_id).where(RelayCursor.name == RELAY)) or 0
            ready = outbox.ready_after(scope, last, now, batch)
            throws = self._throws(scope, [e for e in ready if e.type == THROWN])
        reached = sum(self._relay(throw) for throw in throws)
        if ready:
            with self.ctx.db.transaction() as scope:
                cursor = outbox.locked_cursor(scope, self.ctx.db.is_sqlite, RELAY, now)
                if cursor.last_id < ready[-1].id:  # another relay may have moved it further
                    cursor.last_id, cursor.updated_at = ready[-1].id, now
        return reached

    @staticmethod
    def _throws(scope, events) -> list[Throw]:
        ids = {e.instance_id for e in events if e.instance_id}
        cases = {
            row.id: row
            for row in scope.execute(
                select(ProcessInstance.id, ProcessInstance.process_key, ProcessInstance.station_id).where(
                    ProcessInstance.id.in_(ids)
                )
            )
        }
        return [
            Throw(
                event_id=e.event_id,
                name=e.payload["name"],
                instance_id=e.instance_id,
                business_key=e.payload.get("business_key"),
                process_key=cases[e.instance_id].process_key,
                station_id=cases[e.instance_id].station_id,
            )
            for e in events
            if e.instance_id in cases and isinstance((e.payload or {}).get("name"), str)
        ]

    def _relay(self, throw: Throw) -> int:
        """One throw to the cases in reach: the running cases of the thrower's station (not the
        thrower: it caught its own signal already) and its processes started by the signal (not the
        thrower's own process, which would start itself again and again)."""
        if throw.station_id is None:
            return 0  # a case of no station reaches no other case, as a supervisor of none would
        actor = dataclasses.replace(Actor.system("signal"), station_id=throw.station_id)
        waiting, starting = self._candidates(throw.name, throw.station_id)
        reports = [
            self._deliver(instance_id, business_key, throw.name, {}, actor, throw)
            for instance_id, business_key in waiting
            if instance_id != throw.instance_id
        ] + [self._start(key, throw.name, {}, actor, throw) for key in starting if key != throw.process_key]
        for report in reports:
            if report["outcome"] == "failed":
                log.warning("signal '%s' thrown in %s: %s", throw.name, throw.business_key, report)
        return sum(r["outcome"] in ("delivered", "started") for r in reports)

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

    def _deliver(
        self, instance_id: str, business_key: str, name: str, variables: dict, actor, throw: Throw | None = None
    ) -> dict[str, Any]:
        def deliver(change: Change):
            if change.instance.status != InstanceStatus.RUNNING:
                raise NotWaiting(f"instance {business_key} is {change.instance.status}")
            _check_receipt(change, throw, instance_id)
            workflow = change.workflow
            refresh_timers(workflow)
            event = BpmnEvent(SignalEventDefinition(name), payload=dict(variables))
            if workflow.event_manager.catch(event, internal=False) == 0:
                raise NotWaiting(f"instance {business_key} is not waiting for signal '{name}'")
            workflow.do_engine_steps()
            _add_receipt(change, throw, instance_id)
            thrown = {"thrown_in": throw.business_key} if throw else {}
            change.audit(Event.SIGNAL_RECEIVED, signal=name, fields=sorted(variables), **thrown)
            change.emit(Event.SIGNAL_RECEIVED, signal=name, **thrown)

        report: dict[str, Any] = {"instance_id": instance_id, "business_key": business_key}
        try:
            self.ctx.uow.run(instance_id, actor, deliver)
        except AlreadyReceived:
            return {**report, "outcome": "already_received"}
        except NotWaiting:
            return {**report, "outcome": "not_waiting"}
        except IntegrityError:  # another relay's receipt committed first
            return {**report, "outcome": "already_received"}
        except EngineError as exc:
            return {**report, "outcome": "failed", "error": {"code": exc.code, "message": exc.message}}
        return {**report, "outcome": "delivered"}

    def _start(self, key: str, name: str, variables: dict, actor, throw: Throw | None = None) -> dict[str, Any]:
        target = f"start:{key}"

        def catch(change: Change, workflow) -> None:
            _check_receipt(change, throw, target)
            workflow.catch(BpmnEvent(SignalEventDefinition(name), payload={}))  # the variables start the case
            _add_receipt(change, throw, target)

        try:
            case = self.ctx.runtime.start_instance(key, actor, variables, then_catch=catch)
        except AlreadyReceived:
            return {"process_key": key, "outcome": "already_received"}
        except EngineError as exc:
            if throw is not None and isinstance(exc, AlreadyExists):  # the receipt's key, on a race
                return {"process_key": key, "outcome": "already_received"}
            return {"process_key": key, "outcome": "failed", "error": {"code": exc.code, "message": exc.message}}
        return {
            "process_key": key,
            "instance_id": case["id"],
            "business_key": case["business_key"],
            "status": case["status"],
            "outcome": "started",
        }


def _check_receipt(change: Change, throw: Throw | None, target: str) -> None:
    if throw is not None and change.scope.get(SignalReceipt, (throw.event_id, target)) is not None:
        raise AlreadyReceived(f"signal '{throw.name}' thrown in {throw.business_key} was delivered to {target}")


def _add_receipt(change: Change, throw: Throw | None, target: str) -> None:
    if throw is not None:
        change.scope.add(
            SignalReceipt(
                event_id=throw.event_id, target=target, instance_id=change.instance.id, received_at=change.now
            )
        )


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
