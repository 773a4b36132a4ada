"""Migration: running cases moved from one version of a process to a newer one (issue 17).

SpiffWorkflow 3.2 aligns the task specs of two versions (`SpiffWorkflow.bpmn.util.diff`: by element
id first, then by structure) and moves a workflow onto the new spec (`migrate_workflow`). Here:
- `plan` shows, per running case, which of its active tasks (ready, waiting, started) map to an
  element of the new version and which would disappear; a case with one that disappears is unsafe;
- `migrate` refuses the whole request when any selected case is unsafe (nothing changes), otherwise
  moves each case in its own unit of work (the check runs again under the case's lock, so a case that
  moved on meanwhile is reported, not migrated), audited; the projections follow because the unit of
  work rebuilds them from the migrated workflow: task rows, timers and message waits are keyed by task
  id, and a mapped task keeps its id, its data and (when its element is unchanged) its timers.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from SpiffWorkflow.bpmn.util.diff import SpecDiff, WorkflowDiff, migrate_workflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from .errors import Conflict, DefinitionNotFound, Forbidden, InstanceNotFound, InvalidInput
from .serializer import registry
from .store.models import ProcessDefinition, ProcessInstance
from .uow import Change, owning_process, write_row
from .validation import checked_reason
from .vocabulary import Event, InstanceStatus, Role

if TYPE_CHECKING:
    from . import Engine

ACTIVE = TaskState.READY | TaskState.WAITING | TaskState.STARTED
MAX_CASES = 10_000  # one request's selection (a version's running cases); batches of `batch_size`
PLAN_CHUNK = 100  # case states read and compared per read transaction


class MigrationRefused(Conflict):
    """An active task of a case would disappear on the target version."""

    code = "migration_refused"


class MigrationService:
    def __init__(self, ctx: Engine):
        self.ctx = ctx

    # --- the diff first --------------------------------------------------------------------------
    def plan(self, key: str, source: int, target: int, instance_id: str | None = None) -> dict[str, Any]:
        """Which active tasks of each selected running case map onto `target`, which are removed."""
        old, new = self._versions(key, source, target)
        specs: dict[tuple[int, int], SpecDiff] = {}  # one alignment per pair of specs, shared by the cases
        cases = []
        with self.ctx.db.read() as scope:
            new_loaded = self.ctx.repository.load(scope, new.id)
            old_loaded = self.ctx.repository.load(scope, old.id)
            selected = self._cases(scope, old.id, instance_id)
        for start in range(0, len(selected), PLAN_CHUNK):  # states read a chunk at a time: bounded memory
            chunk = selected[start : start + PLAN_CHUNK]
            with self.ctx.db.read() as scope:
                states = dict(
                    scope.execute(
                        select(ProcessInstance.id, ProcessInstance.state).where(
                            ProcessInstance.id.in_([row.id for row in chunk])
                        )
                    ).all()
                )
            for row in chunk:
                if row.id not in states:
                    continue
                workflow = self.ctx.serializer.loads(states[row.id], old_loaded.spec, old_loaded.subprocess_specs)
                found = _case_diff(workflow, new_loaded, specs)
                cases.append({"id": row.id, "business_key": row.business_key, **found})
        return {
            "key": key,
            "from": source,
            "to": target,
            "elements": self.ctx.repository.diff(key, source, target),
            "cases": cases,
            "safe": all(case["safe"] for case in cases),
        }

    # --- migrating -------------------------------------------------------------------------------
    def migrate(
        self,
        key: str,
        source: int,
        target: int,
        actor,
        *,
        instance_id: str | None = None,
        reason: str | None = None,
        dry_run: bool = False,
        batch_size: int = 50,
    ) -> dict[str, Any]:
        """Move the selected running cases of version `source` to `target`, each in its own unit of work."""
        if getattr(actor, "role", None) not in (Role.ADMIN, Role.SYSTEM):  # the CLI acts as a system
            raise Forbidden("only an admin may migrate cases")
        reason = checked_reason(reason) if reason is not None else None
        plan = self.plan(key, source, target, instance_id)
        unsafe = [case for case in plan["cases"] if not case["safe"]]
        if unsafe:
            raise MigrationRefused(
                f"{len(unsafe)} case(s) have active tasks that version {target} does not have",
                [
                    {"element_id": element, "message": f"case {case['business_key']}: '{element}' would disappear"}
                    for case in unsafe[:50]
                    for element in case["removed"]
                ],
            )
        result: dict[str, Any] = {
            "key": key,
            "from": source,
            "to": target,
            "dry_run": dry_run,
            "migrated": [],
            "skipped": [],
        }
        if dry_run:
            result["migrated"] = [case["business_key"] for case in plan["cases"]]
            return result
        new_id = self._versions(key, source, target)[1].id
        ids = [case["id"] for case in plan["cases"]]
        for start in range(0, len(ids), max(batch_size, 1)):
            for case_id in ids[start : start + max(batch_size, 1)]:
                try:
                    business_key = self.ctx.uow.run(
                        case_id, actor, lambda change: self._move(change, source, target, new_id, reason)
                    )
                    result["migrated"].append(business_key)
                except (MigrationRefused, Conflict) as exc:  # moved on, ended or changed since the plan
                    result["skipped"].append({"id": case_id, "message": exc.message})
        return result

    def _move(self, change: Change, source: int, target: int, new_id: int, reason: str | None) -> str:
        instance = change.instance
        if instance.status != InstanceStatus.RUNNING:
            raise Conflict(f"instance {instance.business_key} is {instance.status}")
        if instance.definition_id == new_id:
            raise Conflict(f"instance {instance.business_key} is on version {target} already")
        new_loaded = self.ctx.repository.load(change.scope, new_id)
        workflow = change.workflow
        found = _case_diff(workflow, new_loaded)
        if not found["safe"]:
            raise MigrationRefused(
                f"case {instance.business_key}: active tasks would disappear: {', '.join(found['removed'])}"
            )
        _move_workflow(workflow, new_loaded)
        _rename_rows(change, new_loaded)
        change.loaded = new_loaded
        change.set_instance(definition_id=new_id)
        details = {"from_version": source, "to_version": target, "mapped": found["mapped"]}
        if reason:
            details["reason"] = reason
        change.audit(Event.INSTANCE_MIGRATED, **details)
        change.emit(Event.INSTANCE_MIGRATED, process_key=instance.process_key, from_version=source, to_version=target)
        return instance.business_key

    # --- reads -----------------------------------------------------------------------------------
    def _versions(self, key: str, source: int, target: int) -> tuple[Any, Any]:
        if source == target:
            raise InvalidInput(
                "choose two different versions", [{"field": "to", "message": "the same as the source version"}]
            )
        with self.ctx.db.read() as scope:
            rows = {
                row.version: row
                for row in scope.execute(
                    select(ProcessDefinition.id, ProcessDefinition.version).where(
                        ProcessDefinition.key == key, ProcessDefinition.version.in_([source, target])
                    )
                ).all()
            }
        for version in (source, target):
            if version not in rows:
                raise DefinitionNotFound(f"process definition '{key}' version {version} does not exist")
        return rows[source], rows[target]

    def _cases(self, scope, definition_id: int, instance_id: str | None) -> list[Any]:
        query = select(ProcessInstance.id, ProcessInstance.business_key).where(
            ProcessInstance.definition_id == definition_id, ProcessInstance.status == InstanceStatus.RUNNING
        )
        if instance_id is not None:
            rows = scope.execute(query.where(ProcessInstance.id == instance_id)).all()
            if not rows:
                raise InstanceNotFound(f"no running case '{instance_id}' on that version")
            return list(rows)
        return list(scope.execute(query.order_by(ProcessInstance.started_at, ProcessInstance.id).limit(MAX_CASES)))


def _diffs(workflow, new_loaded, specs: dict | None = None) -> tuple[Any, dict[Any, Any]]:
    """SpiffWorkflow's `diff_workflow`, with each pair of specs aligned once (`specs`, shared by the
    cases of one plan: the alignment depends only on the two versions, not on the case)."""
    specs = {} if specs is None else specs

    def spec_diff(old, new) -> SpecDiff:
        key = (id(old), id(new))
        if key not in specs:
            specs[key] = SpecDiff(registry(), old, new)
        return specs[key]

    top = WorkflowDiff(workflow, spec_diff(workflow.spec, new_loaded.spec))
    subs = {}
    for sub_id, sub in workflow.subprocesses.items():
        new = new_loaded.subprocess_specs.get(sub.spec.name)
        subs[sub_id] = WorkflowDiff(sub, spec_diff(sub.spec, new)) if new is not None else None
    return top, subs


def _case_diff(workflow, new_loaded, specs: dict | None = None) -> dict[str, Any]:
    """One case's active tasks against the new version: {mapped: {old element: new}, removed, safe}."""
    top, subs = _diffs(workflow, new_loaded, specs)
    mapped: dict[str, str] = {}
    removed: list[str] = []
    sub_ids = {id(sub): sub_id for sub_id, sub in workflow.subprocesses.items()}
    for task in workflow.get_tasks(state=ACTIVE):
        diff = top if task.workflow is workflow else subs.get(sub_ids.get(id(task.workflow)))
        name = _element(task.task_spec)
        target = None if diff is None else diff.alignment.get(task)
        if target is None:
            removed.append(name)
        else:
            mapped[name] = _element(target)
    return {"mapped": dict(sorted(mapped.items())), "removed": sorted(set(removed)), "safe": not removed}


def _rename_rows(change: Change, new_loaded) -> None:
    """An open task whose element SpiffWorkflow aligned by structure to one of another id (renamed):
    its row takes the new element's id, name and form; it keeps its id, holder and queue."""
    for task in change.workflow.get_tasks(state=TaskState.READY, manual=True):
        task_id = str(task.id)
        if task_id not in change.ready_before:
            continue
        row = change.held_task_row(task_id)
        element = _element(task.task_spec)
        if row.element_id == element:
            continue
        meta = new_loaded.task_meta(owning_process(task, new_loaded.meta), element) or {}
        name = meta.get("name") or task.task_spec.bpmn_name
        write_row(change.scope, row, {"element_id": element, "name": name, "form_key": meta.get("form_key")})


def _element(spec) -> str:
    return getattr(spec, "bpmn_id", None) or spec.name


def _move_workflow(workflow, new_loaded) -> None:
    """`migrate_workflow` on the case and its subprocesses; each active task keeps its data (and its
    timers' state where its element is unchanged), which SpiffWorkflow's reset would replace."""
    top, subs = _diffs(workflow, new_loaded)
    changed = {task.id for diff in (top, *subs.values()) if diff is not None for task in diff.changed}
    kept = {
        task.id: (task.data, task.internal_data, task.id not in changed) for task in workflow.get_tasks(state=ACTIVE)
    }
    migrate_workflow(top, workflow, new_loaded.spec)
    for sub_id, sub in list(workflow.subprocesses.items()):
        diff = subs.get(sub_id)
        if diff is not None:
            migrate_workflow(diff, sub, new_loaded.subprocess_specs[sub.spec.name])
    workflow.subprocess_specs = new_loaded.subprocess_specs
    for task_id, (data, internal, unchanged) in kept.items():
        task = _task(workflow, task_id)
        if task is None:
            continue
        task.data = data
        if unchanged:
            task.internal_data = internal
    workflow.do_engine_steps()


def _task(workflow, task_id):
    """The task of that id in the case or one of its subprocesses (reset may have removed it)."""
    for owner in (workflow, *workflow.subprocesses.values()):
        if task_id in owner.tasks:
            return owner.tasks[task_id]
    return None
