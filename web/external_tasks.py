"""External tasks (Camunda 7's external-task REST API shape): a department system's worker fetches
and locks the service tasks of its topics, then completes them, reports a failure or a BPMN error,
or extends its lock. Its API token is scoped to topics (docs/external-tasks.md)."""

from __future__ import annotations

from uuid import UUID

from flask import Blueprint, jsonify

from .context import actor, body, engine, no_content

bp = Blueprint("external", __name__, url_prefix="/api/v1/external-tasks")


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
