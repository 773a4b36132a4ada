"""External tasks (Camunda 7's external-task REST API shape): a department system's worker fetches
and locks the service tasks of its topics, then completes them, reports a failure or a BPMN error,
or extends its lock. Its API token is scoped to topics (docs/external-tasks.md). Admins (and workers,
for their own topics) list the waiting tasks, unlock them and set their retries."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, jsonify

from . import parsing
from .context import actor, args, body, engine, no_content

bp = Blueprint("external", __name__, url_prefix="/api/v1/external-tasks")


@bp.get("", endpoint="list")
def list_():
    query = args()
    locked, not_locked = query.get("locked") == "true", query.get("notLocked") == "true"
    left, none_left = query.get("withRetriesLeft") == "true", query.get("noRetriesLeft") == "true"
    if (locked and not_locked) or (left and none_left):
        raise parsing.bad_request(
            "locked/notLocked and withRetriesLeft/noRetriesLeft exclude each other", code="invalid_query"
        )
    tasks = engine().external_tasks.query(
        actor(),
        topic=query.get("topicName"),
        worker_id=query.get("workerId"),
        locked=True if locked else False if not_locked else None,
        retries_left=True if left else False if none_left else None,
        instance_id=query.get("processInstanceId"),
        business_key=query.get("businessKey"),
        first=query.get("firstResult", 0),
        limit=query.get("maxResults", 100),
    )
    return jsonify(tasks)


@bp.get("/<uuid:task_id>")
def get(task_id: UUID):
    return jsonify(engine().external_tasks.get(str(task_id), actor()))


@bp.post("/<uuid:task_id>/unlock")
def unlock(task_id: UUID):
    data = body(required=False)
    engine().external_tasks.unlock(str(task_id), actor(), data.get("workerId"))
    return no_content()


@bp.put("/<uuid:task_id>/retries")
def set_retries(task_id: UUID):
    return jsonify(engine().external_tasks.set_retries(str(task_id), actor(), body()["retries"]))


@bp.post("/fetch-and-lock")
def fetch_and_lock():
    data = body()
    locked = engine().external_tasks.fetch_and_lock(
        actor(), data["workerId"], data["maxTasks"], data["topics"], data.get("asyncResponseTimeout", 0)
    )
    return jsonify(locked)


@bp.post("/<uuid:task_id>/complete")
def complete(task_id: UUID):
    data = body()
    engine().external_tasks.complete(str(task_id), actor(), data["workerId"], data.get("variables"))
    return no_content()


@bp.post("/<uuid:task_id>/failure")
def failure(task_id: UUID):
    data = body()
    engine().external_tasks.failure(
        str(task_id),
        actor(),
        data["workerId"],
        data.get("errorMessage"),
        data["retries"],
        data.get("retryTimeout", 0),
        data.get("errorDetails"),
    )
    return no_content()


@bp.post("/<uuid:task_id>/extend-lock")
def extend_lock(task_id: UUID):
    data = body()
    engine().external_tasks.extend_lock(str(task_id), actor(), data["workerId"], data["newDuration"])
    return no_content()


@bp.post("/<uuid:task_id>/bpmn-error")
def bpmn_error(task_id: UUID):
    data = body()
    engine().external_tasks.bpmn_error(
        str(task_id), actor(), data["workerId"], data["errorCode"], data.get("errorMessage"), data.get("variables")
    )
    return no_content()
