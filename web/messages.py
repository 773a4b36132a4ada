"""Messages: a department (its system with an API token, or its liaison) reports a result to a case."""

from __future__ import annotations

from flask import Blueprint, jsonify

from engine.vocabulary import Role

from . import access
from .context import actor, body, engine

bp = Blueprint("messages", __name__, url_prefix="/api/v1/messages")


@bp.post("")
def correlate():
    data = body()
    who = actor()
    department = access.message_department(who, data.get("department"))
    instance_id, business_key = data.get("instance_id"), data.get("business_key")
    if (instance_id is None) != (business_key is None) and who.role == Role.SUPERVISOR:
        # a supervisor reads every case of the station, also one waiting at an event with no open task
        case = (
            engine().runtime.get_instance(str(instance_id), history=False)
            if instance_id is not None
            else engine().runtime.get_instance_by_business_key(str(business_key), history=False)
        )
        access.check_message_target(who, department, [], case)
    elif (instance_id is None) != (business_key is None):  # both or neither: the engine explains
        tasks = engine().tasks.query(instance_id=instance_id, business_key=business_key, limit=200)["items"]
        access.check_message_target(who, department, tasks)
    case = engine().runtime.correlate_message(
        data["name"],
        who,
        business_key=business_key,
        instance_id=instance_id,
        payload=data.get("payload") or {},
        department=department,
    )
    return jsonify({"instance_id": case["id"], "business_key": case["business_key"], "status": case["status"]})
