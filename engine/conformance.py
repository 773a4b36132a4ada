"""The conformance run: deploy every model in a folder and run the runnable ones to their end.

What a new user would do with models drawn elsewhere, done by the engine itself: deploy each file
(with the companions its MANIFEST row names), start each startable process, complete user tasks
(with the data of an optional sidecar `<file>.json`, else none), correlate the sidecar's messages and
complete its external tasks as a worker would (fetch-and-lock, then complete with the sidecar's data
for the element), fire timers through the clock, and say per file what happened: `refused` (with the engine's
sentence), `deployed` (and why it did not run to its end) or `ran`. A crash is a defect.

The run needs an engine of its own (a throwaway database and a manual clock): it creates the
departments and users the models name.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from . import bpmn
from .errors import DeploymentInvalid, EngineError, Forbidden, NotFound
from .external_tasks import MAX_TASKS
from .identity import ROLES, Actor
from .store.models import Department, ProcessDefinition, User
from .vocabulary import InstanceStatus

OUTCOMES = ("crash", "refused", "deployed", "ran")
EXPECTATIONS = {"run": "ran", "deploy": "deployed", "refuse": "refused"}
MAX_STEPS = 200  # tasks, messages and timers per instance: a loop in a model ends the run, not the machine
RUNNER = "conformance_runner"
EXTERNAL_LOCK_MS = 60_000
STATION = "conformance_station"
_KEY = re.compile(r"^[a-z0-9_]{2,64}$")
_USERNAME = re.compile(r"^[A-Za-z0-9_.@-]{2,64}$")
_PASSWORD = "conformance-run-only"


@dataclass
class Result:
    file: str
    expected: str | None
    outcome: str
    reason: str

    @property
    def meets_expectation(self) -> bool:
        """`run` needs ran; `deploy` needs deployed or ran; `refuse` needs refused (a model expected to
        be refused that deploys may run differently from what its author meant)."""
        if self.outcome == "crash":
            return False
        if self.expected is None:
            return True
        wanted = EXPECTATIONS[self.expected]
        if wanted == "refused":
            return self.outcome == "refused"
        return OUTCOMES.index(self.outcome) >= OUTCOMES.index(wanted)

    def as_dict(self) -> dict[str, Any]:
        return {"file": self.file, "expected": self.expected, "outcome": self.outcome, "reason": self.reason}


def is_model(path: Path) -> bool:
    return path.is_file() and (path.suffix == ".bpmn" or path.name.endswith(".bpmn20.xml"))


def read_manifest(directory: Path) -> dict[str, dict[str, Any]]:
    """MANIFEST.md's table rows `| file | expect | with | source | ... |`: file -> {expect, with}."""
    manifest = directory / "MANIFEST.md"
    if not manifest.is_file():
        return {}
    rows: dict[str, dict[str, Any]] = {}
    for line in manifest.read_text(encoding="utf-8").splitlines():
        cells = [c.strip().strip("`") for c in line.strip().strip("|").split("|")]
        if len(cells) >= 2 and cells[1] in EXPECTATIONS:
            companions = [c.strip().strip("`") for c in cells[2].split(",") if c.strip()] if len(cells) > 2 else []
            rows[cells[0]] = {"expect": cells[1], "with": companions}
    return rows


def run(engine, clock, directory: Path) -> list[Result]:
    """Every model under `directory` (companions deployed with their main file only)."""
    directory = Path(directory)
    manifest = read_manifest(directory)
    companions = {c for row in manifest.values() for c in row["with"]}
    results = []
    _ensure_runner(engine)
    for path in sorted(p for p in directory.rglob("*") if is_model(p)):
        name = str(path.relative_to(directory))
        if name in companions:
            continue
        row = manifest.get(name, {})
        try:
            outcome, reason = _run_one(engine, clock, directory, path, row.get("with", []))
        except Exception as exc:  # the point of the run: any crash is reported, never hidden
            outcome, reason = "crash", f"{type(exc).__name__}: {str(exc)[:200]}"
        results.append(Result(name, row.get("expect"), outcome, reason))
    return results


def _run_one(engine, clock, directory: Path, path: Path, companion_names: list[str]) -> tuple[str, str]:
    runner = engine.identity.actor(RUNNER)
    files = [(path.name, path.read_bytes())] + [(Path(c).name, (directory / c).read_bytes()) for c in companion_names]
    try:
        deployed = engine.repository.deploy(files, runner, allow_scripts=True)
    except DeploymentInvalid as exc:
        return "refused", "; ".join(d["message"] for d in exc.details[:3]) or exc.message
    except EngineError as exc:
        return "refused", exc.message
    sidecar = _sidecar(path)
    keys = _startable(engine, deployed, files[1:])
    if not keys:
        return "deployed", "no process of this file can be started"
    _ensure_people(engine, [d["id"] for d in deployed["definitions"]])
    reasons = []
    for key in keys:
        try:
            case = engine.runtime.start_instance(key, runner, dict(sidecar.get("variables", {})))
        except EngineError as exc:
            reasons.append(f"{key}: not started: {exc.message}")
            continue
        stopped = _drive(engine, clock, case["id"], sidecar)
        if stopped:
            reasons.append(f"{key}: {stopped}")
    if reasons:
        return "deployed", "; ".join(reasons)
    return "ran", "ran to its end"


def _sidecar(path: Path) -> dict[str, Any]:
    """`<model>.json`: {"variables": {...}, "tasks": {element_id: data}, "messages": [{"name", "payload"}]}."""
    candidate = path.with_name(path.name.removesuffix(".bpmn20.xml").removesuffix(".bpmn") + ".json")
    return json.loads(candidate.read_text(encoding="utf-8")) if candidate.is_file() else {}


def _startable(engine, deployed: dict[str, Any], companions: list[tuple[str, bytes]]) -> list[str]:
    """The executable processes of the main file (not those of its companions), in key order."""
    called: set[str] = set()
    for name, data in companions:
        try:
            called.update(bpmn.load_document(name, data, max_bytes=len(data) + 1, allow_scripts=True).processes)
        except EngineError:
            continue
    with engine.db.read() as scope:
        rows = [scope.get(ProcessDefinition, d["id"]) for d in deployed["definitions"]]
        return [row.key for row in rows if row.key not in called and row.meta.get(row.key, {}).get("executable", True)]


def _drive(engine, clock, instance_id: str, sidecar: dict[str, Any]) -> str | None:
    """Run one instance to its end; None when it completed, else where it stopped."""
    messages = list(sidecar.get("messages", []))
    task_data = sidecar.get("tasks", {})
    for _ in range(MAX_STEPS):
        instance = engine.runtime.get_instance(instance_id, history=False)
        if instance["status"] != InstanceStatus.RUNNING:
            return None if instance["status"] == InstanceStatus.COMPLETED else f"ended {instance['status']}"
        tasks = instance["open_tasks"]
        if tasks:
            task = tasks[0]
            problem = _complete(engine, task, task_data.get(task["element_id"], {}))
            if problem:
                return f"task '{task['element_id']}' could not be completed: {problem}"
            continue
        external = engine.external_tasks.list(instance_id=instance_id, limit=1)
        if external:
            problem = _work_external(engine, external[0], task_data.get(external[0]["activityId"], {}))
            if problem:
                return f"external task '{external[0]['activityId']}' could not be completed: {problem}"
            continue
        if messages:
            message = messages.pop(0)
            try:
                engine.runtime.correlate_message(
                    message["name"],
                    engine.identity.actor(RUNNER),
                    instance_id=instance_id,
                    payload=message.get("payload", {}),
                )
            except EngineError as exc:
                return f"message '{message['name']}' not correlated: {exc.message}"
            continue
        due = [t for t in engine.timers.pending(instance_id) if t["kind"] == "bpmn"] or engine.timers.pending(
            instance_id
        )
        if due:
            earliest = min(t["due_at"] for t in due)
            wait = datetime.fromisoformat(earliest) - clock.now()
            clock.advance(max(wait, timedelta(0)) + timedelta(seconds=1))
            if not engine.timers.fire_all_due():
                return "a timer fell due but did not fire"
            continue
        return "waits with no open task, message or timer"
    return f"still running after {MAX_STEPS} steps"


def _complete(engine, task: dict[str, Any], data: dict[str, Any]) -> str | None:
    """Complete as whoever may: the runner (a supervisor in every group), else the named users."""
    names = [
        RUNNER,
        f"{RUNNER}_officer",
        task.get("assignee"),
        *task.get("candidate_users", []),
        *(_group_user(g) for g in task.get("candidate_groups", [])),
    ]
    last = "nobody may complete it"
    for name in [n for n in dict.fromkeys(names) if n]:
        try:
            actor = engine.identity.actor(name)
        except NotFound:
            continue
        try:
            engine.tasks.complete(task["id"], actor, data)
            return None
        except (Forbidden, NotFound) as exc:
            last = exc.message
        except EngineError as exc:
            return exc.message
    return last


def _work_external(engine, task: dict[str, Any], data: dict[str, Any]) -> str | None:
    """What a worker of the task's topic does: fetch and lock (as any worker would, by topic), then
    complete this instance's task with the data as Camunda-typed variables. Tasks of the topic that
    other instances hold are left locked; the run visits one instance at a time."""
    topic = task["topicName"]
    actor = Actor.system(RUNNER, topics=frozenset({topic}))
    try:
        locked = engine.external_tasks.fetch_and_lock(
            actor, RUNNER, MAX_TASKS, [{"topicName": topic, "lockDuration": EXTERNAL_LOCK_MS}]
        )
        if task["id"] not in {t["id"] for t in locked}:
            return "it was not fetched (locked by another worker or out of retries)"
        engine.external_tasks.complete(
            task["id"], actor, RUNNER, {name: {"value": value} for name, value in data.items()}
        )
    except EngineError as exc:
        return exc.message
    return None


def _ensure_runner(engine) -> None:
    with engine.db.read() as scope:
        present = scope.scalar(select(User.id).where(User.username == RUNNER))
        station = scope.scalar(select(Department.id).where(Department.key == STATION))
    if station is None:
        engine.identity.create_department(STATION, "Conformance station", "station")
    if present is None:
        engine.identity.create_user(RUNNER, "supervisor", _PASSWORD, [STATION])
        engine.identity.create_user(f"{RUNNER}_officer", "officer", _PASSWORD, [STATION])


def _ensure_people(engine, definition_ids: list[int]) -> None:
    """Departments for the candidate groups and users for the candidate users and assignees the
    models name; the runner joins every group."""
    groups: set[str] = set()
    users: set[str] = set()
    with engine.db.read() as scope:
        for definition_id in definition_ids:
            meta = scope.get(ProcessDefinition, definition_id).meta
            for process in meta.values():
                for task in process.get("tasks", {}).values():
                    groups.update(g for g in task.get("groups", []) if _KEY.fullmatch(g) and g not in ROLES)
                    users.update(u for u in task.get("users", []) if _USERNAME.fullmatch(u))
                    if task.get("assignee") and not task.get("assignee_is_expression"):
                        users.add(task["assignee"])
        known_groups = set(scope.scalars(select(Department.key)))
        known_users = set(scope.scalars(select(User.username)))
    for group in sorted(groups - known_groups):
        engine.identity.create_department(group, group, "agency")
        engine.identity.create_user(_group_user(group), "liaison", _PASSWORD, [group])
    for user in sorted(users - known_users):
        engine.identity.create_user(user, "officer", _PASSWORD, [STATION])


def _group_user(group: str) -> str:
    """The user the run makes for a candidate group it created (a liaison of that agency)."""
    return f"{RUNNER}_{group}"[:64]


def table(results: list[Result]) -> str:
    """The Markdown table of a run (docs/conformance.md holds the one of tests/conformance)."""
    lines = ["| file | expected | outcome | reason |", "|---|---|---|---|"]
    for r in results:
        reason = r.reason.replace("|", "\\|").replace("\n", " ")
        mark = "" if r.meets_expectation else " ✗"
        lines.append(f"| {r.file} | {r.expected or '-'} | {r.outcome}{mark} | {reason} |")
    ran = sum(r.outcome == "ran" for r in results)
    deployed = sum(r.outcome == "deployed" for r in results)
    refused = sum(r.outcome == "refused" for r in results)
    lines.append("")
    lines.append(
        f"{len(results)} models: {ran} ran to their end, {deployed} deployed without running to their end, "
        f"{refused} refused, {sum(r.outcome == 'crash' for r in results)} crashed; "
        f"{sum(not r.meets_expectation for r in results)} did worse than expected."
    )
    return "\n".join(lines)
