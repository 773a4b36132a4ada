"""Bench 1: engine overhead against the SpiffWorkflow floor.

Per case, the bundled dispute workflow (both paths: on the spot, and escalation to both departments)
is driven (a) through the engine facades on SQLite: start, claim, complete every task to the end
(a user goes on to the task their last answer named; a task another user opened is read from the
inbox projection); (b) by SpiffWorkflow alone, in memory, with the state serialized (spec kept out
of the blob) and deserialized around every step: the floor.
Within a round, cases alternate (a) and (b) one by one, so each ratio compares runs made side by side
(the machine's speed drifts over seconds; a pair of cases takes milliseconds). After the warm-up the
process settles its heap as the product's processes do once loaded (`settle_memory`: what startup
made is left out of later collections); the engine's cases are checked against the inbox projection
after each timed run, as the floor's `is_completed()` check costs nothing.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path
from uuid import UUID

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
from SpiffWorkflow.bpmn.serializer.default.workflow import BpmnWorkflowConverter, WorkflowConverter
from SpiffWorkflow.bpmn.workflow import BpmnWorkflow
from SpiffWorkflow.util.task import TaskState
from sqlalchemy import select

from cli.server import settle_memory

from . import common
from .common import PATHS, REPORT, summary

PERSONAL = ("household", "parties")


# --- the floor: SpiffWorkflow alone -------------------------------------------------------------
class _SpecReferenceConverter(BpmnWorkflowConverter):
    """The library-notes trick: the blob holds a reference; the parsed spec comes from a cache."""

    specs: dict = {}

    def to_dict(self, workflow):
        dct = WorkflowConverter.to_dict(self, workflow)
        dct.pop("spec", None)
        dct["spec_ref"] = workflow.spec.name
        dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
        dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
        return dct

    def from_dict(self, dct):
        spec, subprocess_specs = self.specs[dct.pop("spec_ref")]
        workflow = self.target_class(spec, subprocess_specs, deserializing=True)
        workflow.tasks = self.mapping_from_dict(dct["tasks"], UUID, workflow=workflow)
        workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
        self.set_default_attributes(workflow, dct)
        self.subprocesses_from_dict(dct["subprocesses"], workflow)
        workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
        return workflow


class Floor:
    def __init__(self, xml: str, key: str = "dispute_resolution"):
        parser = BpmnParser()
        parser.add_bpmn_str(xml.encode())
        self.spec, self.subprocess_specs = parser.get_spec(key), parser.get_subprocess_specs(key)
        _SpecReferenceConverter.specs[self.spec.name] = (self.spec, self.subprocess_specs)
        config = dict(DEFAULT_CONFIG)
        config[BpmnWorkflow] = _SpecReferenceConverter
        self.serializer = BpmnWorkflowSerializer(BpmnWorkflowSerializer.configure(config))
        self.blob_bytes = 0

    def case(self, path: str) -> int:
        """Start, then load + complete + save around every user task; returns tasks completed."""
        wf = BpmnWorkflow(self.spec, self.subprocess_specs)
        plain = {k: v for k, v in REPORT.items() if k not in PERSONAL}
        for task in wf.get_tasks(state=TaskState.READY):
            task.set_data(**plain)
        wf.do_engine_steps()
        state = self.serializer.serialize_json(wf)
        for element_id, _role, data in PATHS[path]:
            wf = self.serializer.deserialize_json(state)
            task = next(
                t for t in wf.get_tasks(state=TaskState.READY, manual=True) if t.task_spec.bpmn_id == element_id
            )
            task.set_data(**{k: v for k, v in data.items()})
            wf.run_task_from_id(task.id)
            wf.do_engine_steps()
            state = self.serializer.serialize_json(wf)
        assert wf.is_completed(), f"floor: {path} did not complete"
        self.blob_bytes = len(state)
        return len(PATHS[path])


# --- the engine ------------------------------------------------------------------------------------
class EngineDriver:
    def __init__(self, engine, names):
        self.engine = engine
        self.actors = common.actors(engine, names)
        self.n = 0
        self.cases: list[str] = []  # instance ids driven to the end, checked by `verify`

    def case(self, path: str) -> int:
        engine = self.engine
        self.n += 1
        officer = self.actors["officer"][self.n % len(self.actors["officer"])]
        who = {
            "officer": officer,
            "civil_affairs": self.actors["civil_affairs"][self.n % 4],
            "health": self.actors["health"][self.n % 4],
        }
        case = engine.runtime.start_instance("dispute_resolution", officer, dict(REPORT))
        # as a client does (bench/loadgen.py): a user goes on to the task their last answer named;
        # a task another user opened is read from the inbox projection
        known, known_by = case["open_tasks"], "officer"
        for element_id, role, data in PATHS[path]:
            if known_by != role:
                known = engine.tasks.query(instance_id=case["id"], state=["open", "claimed"])["items"]
            task = next(t for t in known if t["element_id"] == element_id)
            if task["state"] == "open":
                engine.tasks.claim(task["id"], who[role])
            known, known_by = engine.tasks.complete(task["id"], who[role], data)["next_tasks"], role
        assert not known, f"engine: {path} left tasks open"
        self.cases.append(case["id"])
        return len(PATHS[path])

    def verify(self) -> None:
        """Outside the timed runs (the floor's check is `is_completed()`, free): every case driven is
        completed, with no task left open in the inbox projection."""
        runtime, tasks = self.engine.runtime, self.engine.tasks
        for instance_id in self.cases:
            assert runtime.get_instance(instance_id, history=False)["status"] == "completed", instance_id
            assert not tasks.query(instance_id=instance_id, state=["open", "claimed"])["items"], instance_id
        self.cases.clear()


# --- pages written per change ----------------------------------------------------------------------
def pages_per_commit(cases: int = 100) -> dict:
    """SQLite pages each kind of change writes, by table and index: counted, not timed.

    With automatic checkpoints off, every page a commit writes is a frame appended to the WAL file,
    whose header names the page; `dbstat` names the table or index that owns it. The count does not
    depend on how busy the machine is, so it shows what an index or a schema change costs.
    """
    import sqlite3
    import struct

    from sqlalchemy import event

    with common.workdir() as tmp:
        path = tmp / "pages.db"
        engine = common.make_engine(f"sqlite:///{path}", tmp / "instance")
        names = common.build_world(engine)
        engine.db.checkpointer.stop()  # nothing may copy the log away while its frames are counted
        event.listen(engine.db.engine, "connect", lambda dbapi, _r: dbapi.execute("PRAGMA wal_autocheckpoint=0"))
        engine.db.engine.dispose()
        officer = common.actors(engine, names)["officer"][0]
        wal = Path(f"{path}-wal")

        def frame_pages() -> list[int]:
            data = wal.read_bytes()
            size = 24 + engine_page_size
            return [struct.unpack(">I", data[o : o + 4])[0] for o in range(32, len(data) - size + 1, size)]

        def owners() -> dict[int, str]:
            with sqlite3.connect(path) as connection:
                return {page: name for name, page in connection.execute("SELECT name, pageno FROM dbstat")}

        with sqlite3.connect(path) as connection:
            engine_page_size = connection.execute("PRAGMA page_size").fetchone()[0]

        def start():
            return engine.runtime.start_instance("dispute_resolution", officer, dict(REPORT))

        task_ids = [start()["open_tasks"][0]["id"] for _ in range(cases)]
        assess = PATHS["on_spot"][0][2]
        result = {}
        for name, run_all in (
            ("start", lambda: [start() for _ in range(cases)]),
            ("claim", lambda: [engine.tasks.claim(t, officer) for t in task_ids]),
            ("complete", lambda: [engine.tasks.complete(t, officer, assess) for t in task_ids]),
        ):
            before = len(frame_pages())
            run_all()
            written = frame_pages()[before:]
            where = owners()
            by_owner: dict[str, int] = {}
            for page in written:
                owner = "sqlite_schema (header)" if page == 1 else where.get(page, "?")
                by_owner[owner] = by_owner.get(owner, 0) + 1
            result[name] = {
                "pages": len(written) / cases,
                "by_owner": {k: v / cases for k, v in sorted(by_owner.items(), key=lambda kv: -kv[1])},
            }
        engine.close()
    return {"cases": cases, "page_size": engine_page_size, "changes": result}


def run(cases: int = 40, rounds: int = 10, out_dir: Path | None = None, page_cases: int = 100) -> dict:
    """`rounds` side-by-side rounds of `cases` cases per path through floor and engine."""
    from engine.store.models import ProcessDefinition, ProcessInstance

    with common.workdir() as tmp:
        engine = common.make_engine(f"sqlite:///{tmp / 'floor.db'}", tmp / "instance")
        names = common.build_world(engine)
        with engine.db.transaction() as session:
            xml = session.scalars(
                select(ProcessDefinition.xml).where(ProcessDefinition.key == "dispute_resolution")
            ).first()
        floor = Floor(xml)
        driver = EngineDriver(engine, names)
        # warm up both (imports, spec cache, SQLite pages), then settle the heap as the product's
        # processes do once loaded (cli/server.py: startup's objects left out of later collections)
        for path in PATHS:
            floor.case(path)
            driver.case(path)
        settle_memory()
        rows: dict[str, dict[str, list[float]]] = {p: {"floor": [], "engine": [], "ratio": []} for p in PATHS}
        clock = time.perf_counter
        for _ in range(rounds):
            for path in PATHS:
                # case by case, floor and engine in turn: the machine's speed drifts over seconds, and
                # each pair of cases runs within milliseconds of each other
                floor_s = engine_s = 0.0
                tasks = tasks_engine = 0
                for _ in range(cases):
                    t0 = clock()
                    tasks += floor.case(path)
                    t1 = clock()
                    tasks_engine += driver.case(path)
                    t2 = clock()
                    floor_s, engine_s = floor_s + t1 - t0, engine_s + t2 - t1
                driver.verify()
                floor_ms, engine_ms = floor_s * 1000 / tasks, engine_s * 1000 / tasks_engine
                rows[path]["floor"].append(floor_ms)
                rows[path]["engine"].append(engine_ms)
                rows[path]["ratio"].append(engine_ms / floor_ms)
        with engine.db.transaction() as session:
            blob = len(session.scalars(select(ProcessInstance.state).limit(1)).first())
        engine.close()
    return {
        "bench": "floor",
        "backend": "sqlite",
        "cases_per_round": cases,
        "rounds": rounds,
        "paths": {p: {k: summary(v) for k, v in r.items()} | {"raw": r} for p, r in rows.items()},
        "tasks_per_case": {p: len(s) for p, s in PATHS.items()},
        "floor_blob_bytes": floor.blob_bytes,
        "engine_blob_bytes": blob,
        "pages_per_commit": pages_per_commit(page_cases),
    }


def main(argv=None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=40)
    parser.add_argument("--rounds", type=int, default=10)
    args = parser.parse_args(argv)
    print(json.dumps(run(args.cases, args.rounds), indent=2, default=str))


if __name__ == "__main__":
    main()
