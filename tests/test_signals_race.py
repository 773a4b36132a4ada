"""Signals broadcast by several processes at once: every waiting case catches the signal once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from sqlalchemy import func, select

from engine.store.models import AuditEntry
from tests.helpers import open_tasks
from tests.models import document

ROOT = Path(__file__).resolve().parent.parent
WAITING = document(
    """<bpmn:process id="storm_watch" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="wait_storm"/>
  <bpmn:intermediateCatchEvent id="wait_storm">
    <bpmn:signalEventDefinition signalRef="sig_storm"/>
  </bpmn:intermediateCatchEvent>
  <bpmn:sequenceFlow id="f2" sourceRef="wait_storm" targetRef="secure_site"/>
  <bpmn:userTask id="secure_site" camunda:candidateGroups="officer"/>
  <bpmn:sequenceFlow id="f3" sourceRef="secure_site" targetRef="end"/>
  <bpmn:endEvent id="end"/>
</bpmn:process>""",
    key="storm_watch",
    extra='<bpmn:signal id="sig_storm" name="storm"/>\n',
)
# one broadcasting process: connects, says 'ready', broadcasts on the start line, prints how many it reached
WORKER = """
import sys
from engine import Engine, Settings
engine = Engine(Settings.from_env({"FENGQIAO_DATABASE_URL": sys.argv[1], "FENGQIAO_INSTANCE_PATH": sys.argv[2]}))
zhou = engine.identity.actor("zhou")
engine.repository.list_definitions()
print("ready", flush=True)
sys.stdin.readline()
report = engine.signals.broadcast("storm", zhou, {"wind": 11})
print(sum(r["outcome"] == "delivered" for r in report["instances"]),
      sum(r["outcome"] == "failed" for r in report["instances"]), flush=True)
"""


def test_concurrent_broadcasts_from_processes_deliver_once_to_each_case(engine, world, settings):
    engine.repository.deploy([("storm.bpmn", WAITING)], world["admin"])
    cases = [engine.runtime.start_instance("storm_watch", world["wang"], {}) for _ in range(4)]
    procs = [
        subprocess.Popen(
            [sys.executable, "-c", WORKER, settings.database_url, str(settings.instance_path)],
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(3)
    ]
    for proc in procs:
        assert proc.stdout.readline().strip() == "ready", proc.stderr.read()
    for proc in procs:
        proc.stdin.write("go\n")
        proc.stdin.flush()
    delivered = 0
    for proc in procs:
        out, err = proc.communicate(timeout=300)
        assert proc.returncode == 0, err
        reached, failed = (int(n) for n in out.split())
        assert failed == 0, out
        delivered += reached
    assert delivered == len(cases)  # a case the signal already passed is no longer waiting for it
    with engine.db.read() as scope:
        for case in cases:
            received = scope.scalar(
                select(func.count()).where(AuditEntry.instance_id == case["id"], AuditEntry.action == "signal.received")
            )
            assert received == 1
            assert [t["element_id"] for t in open_tasks(engine, case)] == ["secure_site"]
            assert engine.runtime.get_instance(case["id"], history=False)["variables"] == {"wind": 11}
