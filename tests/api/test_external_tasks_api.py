"""External tasks over HTTP: a worker token scoped to topics, Camunda 7's request shapes, the
refusals (403 without the topic, 409 for another worker's lock, 400/422 bad input, never 500), and
schemathesis over the external-task operations with a worker's token."""

from __future__ import annotations

import os
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode

from tests import models
from tests.api.conftest import error_of
from tests.api.test_fuzz_openapi import CHECKS, EXAMPLES
from tests.helpers import database_rows

ROOT = Path(__file__).resolve().parent.parent.parent
TOPIC = "civil.records"
LOCK = 60_000


@pytest.fixture
def worker(api, engine):
    """The case's model deployed, a case waiting at its external task, and a worker's caller."""
    engine.repository.deploy([("records.bpmn", models.external_task())])
    created = api.as_("admin").post(
        "/api-tokens", {"department": "civil_affairs", "name": "records-worker", "topics": [TOPIC]}
    )
    assert created.status_code == 201, created.json
    assert created.json["topics"] == [TOPIC]
    return api.with_token(created.json["token"], "records-worker")


def start(api):
    response = api.as_("wang").post("/process-instances", {"definition_key": "records_check", "variables": {}})
    assert response.status_code == 201, response.json
    return response.json


def fetch(caller, worker_id: str = "w1", **extra):
    body = {"workerId": worker_id, "maxTasks": 5, "topics": [{"topicName": TOPIC, "lockDuration": LOCK}], **extra}
    return caller.post("/external-tasks/fetch-and-lock", body)


def test_fetch_complete_round_trip(api, worker):
    case = start(api)
    response = fetch(worker)
    assert response.status_code == 200
    [task] = response.json
    assert task["processInstanceId"] == case["id"] and task["activityId"] == "check"
    answer = worker.post(
        f"/external-tasks/{task['id']}/complete", {"workerId": "w1", "variables": {"found": {"value": True}}}
    )
    assert answer.status_code == 204, answer.json
    [review] = api.as_("wang").case(case)["open_tasks"]
    assert review["element_id"] == "review"
    error_of(worker.post(f"/external-tasks/{task['id']}/complete", {"workerId": "w1"}), 404)


def test_failure_extend_and_bpmn_error_over_http(api, worker, engine):
    case = start(api)
    [task] = fetch(worker).json
    path = f"/external-tasks/{task['id']}"
    assert worker.post(f"{path}/extend-lock", {"workerId": "w1", "newDuration": 5000}).status_code == 204
    answer = worker.post(f"{path}/failure", {"workerId": "w1", "errorMessage": "down", "retries": 0})
    assert answer.status_code == 204
    [incident] = api.as_("admin").get("/incidents").json["items"]
    assert incident["kind"] == "external_task" and incident["external_task_id"] == task["id"]
    assert fetch(worker).json == []
    assert api.as_("admin").post(f"/incidents/{incident['id']}/retry").status_code == 200
    [again] = fetch(worker, "w2").json
    assert worker.post(f"{path}/bpmn-error", {"workerId": "w2", "errorCode": "NOT_FOUND"}).status_code == 204
    assert [t["element_id"] for t in api.as_("wang").case(case)["open_tasks"]] == ["manual_check"]
    assert again["id"] == task["id"]


def test_refusals_change_nothing(api, worker, engine):
    start(api)
    [task] = fetch(worker).json
    path = f"/external-tasks/{task['id']}"
    plain = api.with_token(engine.tokens.create_api_token("civil_affairs", "plain-system")["token"])
    other = api.with_token(engine.tokens.create_api_token("health", "health-worker", topics=["health.check"])["token"])
    before = database_rows(engine)
    error_of(fetch(plain), 403)
    error_of(fetch(other), 403)
    error_of(other.post(f"{path}/complete", {"workerId": "w1"}), 403)
    error_of(api.as_("wang").post(f"{path}/complete", {"workerId": "w1"}), 403)  # a person is no worker
    error_of(worker.post(f"{path}/complete", {"workerId": "w2"}), 409, "external_task_not_locked")
    error_of(worker.post(f"{path}/extend-lock", {"workerId": "w2", "newDuration": 10}), 409)
    error_of(worker.post(f"{path}/failure", {"workerId": "w2", "retries": 1}), 409)
    error_of(worker.post(f"{path}/bpmn-error", {"workerId": "w1", "errorCode": "OTHER"}), 409, "no_error_boundary")
    error_of(worker.post(f"{path}/complete", {"workerId": "w1", "variables": {"x": 1}}), 422)
    error_of(worker.post(f"{path}/complete", {"workerId": "w1", "variables": {"x": {"value": 1}}, "y": 1}), 422)
    error_of(worker.post("/external-tasks/fetch-and-lock", {"workerId": "w1", "maxTasks": 0, "topics": []}), 422)
    error_of(worker.post("/external-tasks/fetch-and-lock", data=b"{not json", content_type="application/json"), 400)
    error_of(worker.post(f"{path}/complete", data=b"\xff\xfe", content_type="application/json"), 400)
    error_of(worker.post("/external-tasks/not-a-uuid/complete", {"workerId": "w1"}), 404)
    assert database_rows(engine) == before


def test_admins_and_workers_list_waiting_tasks_over_http(api, worker, engine, clock):
    first = start(api)
    clock.advance(timedelta(seconds=1))  # the list is oldest first
    second = start(api)
    [task] = fetch(worker, maxTasks=1).json
    admin = api.as_("admin")
    listed = admin.get("/external-tasks").json
    assert [t["processInstanceId"] for t in listed] == [first["id"], second["id"]]
    assert all("variables" not in t for t in listed)
    assert [t["id"] for t in admin.get("/external-tasks?locked=true&workerId=w1").json] == [task["id"]]
    assert [t["processInstanceId"] for t in admin.get("/external-tasks?notLocked=true").json] == [second["id"]]
    by_key = admin.get(f"/external-tasks?businessKey={second['business_key']}&withRetriesLeft=true").json
    assert [t["processInstanceId"] for t in by_key] == [second["id"]]
    assert len(admin.get("/external-tasks?firstResult=1&maxResults=5").json) == 1
    assert [t["id"] for t in worker.get(f"/external-tasks?topicName={TOPIC}").json] == [t["id"] for t in listed]
    assert worker.get(f"/external-tasks/{task['id']}").json["workerId"] == "w1"
    other = api.with_token(engine.tokens.create_api_token("health", "health-worker", topics=["health.check"])["token"])
    assert other.get("/external-tasks").json == []
    error_of(other.get(f"/external-tasks?topicName={TOPIC}"), 403)
    error_of(other.get(f"/external-tasks/{task['id']}"), 403)
    error_of(api.as_("wang").get("/external-tasks"), 403)
    error_of(admin.get("/external-tasks?locked=true&notLocked=true"), 400, "invalid_query")
    error_of(admin.get("/external-tasks?maxResults=0"), 400, "invalid_query")
    error_of(admin.get("/external-tasks?variables=true"), 400, "invalid_query")


def test_unlock_and_retries_over_http(api, worker, engine):
    start(api)
    [task] = fetch(worker).json
    path = f"/external-tasks/{task['id']}"
    admin, supervisor = api.as_("admin"), api.as_("zhou")  # logged in before the snapshot
    before = database_rows(engine)
    error_of(supervisor.post(f"{path}/unlock"), 403)
    error_of(worker.post(f"{path}/unlock", {"workerId": "w2"}), 409, "external_task_not_locked")
    error_of(worker.post(f"{path}/unlock"), 422)  # a worker names the worker id holding the lock
    error_of(worker.put(f"{path}/retries", json={"retries": 2}), 403)
    error_of(admin.put(f"{path}/retries", json={"retries": -1}), 422)
    error_of(admin.put(f"{path}/retries", json={"retries": 2, "x": 1}), 422)
    assert database_rows(engine) == before
    assert worker.post(f"{path}/unlock", {"workerId": "w1"}).status_code == 204
    error_of(admin.post(f"{path}/unlock"), 409, "external_task_not_locked")  # no longer locked
    [again] = fetch(worker, "w2").json
    assert admin.post(f"{path}/unlock").status_code == 204
    assert worker.post(f"{path}/failure", {"workerId": "w2", "retries": 0}).status_code == 409  # unlocked
    [again] = fetch(worker, "w2").json
    assert worker.post(f"{path}/failure", {"workerId": "w2", "retries": 0}).status_code == 204
    assert len(admin.get("/incidents").json["items"]) == 1
    answer = admin.put(f"{path}/retries", json={"retries": 2})
    assert answer.status_code == 200 and answer.json["retries"] == 2
    assert admin.get("/incidents").json["items"] == []
    assert [t["id"] for t in fetch(worker, "w3").json] == [task["id"]]


def test_long_polling_answers_empty_after_the_timeout(worker):
    response = fetch(worker, asyncResponseTimeout=300)
    assert response.status_code == 200 and response.json == []
    error_of(fetch(worker, asyncResponseTimeout=30_001), 422)


def test_the_cli_creates_a_worker_token(engine, settings, world):
    env = {
        **os.environ,
        "FENGQIAO_DATABASE_URL": settings.database_url,
        "FENGQIAO_INSTANCE_PATH": str(settings.instance_path),
    }
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "external-token",
            "create",
            "--department",
            "civil_affairs",
            "--topic",
            TOPIC,
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    actor = engine.tokens.resolve(result.stdout.strip())
    assert actor is not None and actor.topics == frozenset({TOPIC}) and actor.departments == {"civil_affairs"}


@pytest.mark.backends("sqlite")
def test_fuzzing_the_external_task_operations_as_a_worker(app, worker, api):
    start(api)
    task_id = fetch(worker).json[0]["id"]
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app)
    headers = {"Authorization": f"Bearer {worker.token}"}
    failures, covered = [], 0
    for result in schema.get_all_operations():
        operation = result.ok()
        if not operation.path.startswith("/api/v1/external-tasks"):
            continue
        covered += 1
        passes = [(GenerationMode.POSITIVE, None), (GenerationMode.NEGATIVE, None)]
        if operation.path_parameters:
            passes.append((GenerationMode.POSITIVE, {"task_id": task_id}))
        for mode, path in passes:

            @given(case=operation.as_strategy(generation_mode=mode, path_parameters=path))
            @settings(
                max_examples=EXAMPLES,
                deadline=None,
                derandomize=True,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def run(case):
                case.call_and_validate(headers=headers, checks=CHECKS)

            try:
                run()
            except Unsatisfiable:
                continue
            except (Exception, BaseExceptionGroup) as exc:
                failures.append(f"{operation.method.upper()} {operation.path} [{mode.value}]: {exc}")
    assert covered == 9 and not failures, "\n\n".join(failures)
