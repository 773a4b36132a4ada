"""The OpenAPI 3.1 document of /api/v1, generated from the app's routes and the metadata below.

Paths, methods and path parameters come from Flask's url_map, so they cannot drift from the code;
each endpoint's summary, query parameters, request body and responses come from OPERATIONS, keyed
by endpoint name; who may call it comes from web.access.ENDPOINT_ROLES. The same request schemas and
parameters are what web.parsing validates against, so the document is what the server enforces.
tests/api/test_openapi_document.py fails when a route has no entry here or an entry has no route.
Enums (states, roles, kinds) come from engine/vocabulary.py.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable
from typing import Any

from flask import Flask

from engine.vocabulary import (
    BUSINESS_KEY_PATTERN,
    USER_ROLES,
    ChannelKind,
    CommentKind,
    DeliveryState,
    DepartmentKind,
    HumanTaskState,
    IncidentResolution,
    IncidentStatus,
    InstanceStatus,
    SlaState,
)
from webhooks.messages import LANGUAGES
from webhooks.routing import NOTIFIABLE

from . import access, parsing

API = "/api/v1"


def ref(name: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{name}"}


def nullable(schema: dict[str, Any]) -> dict[str, Any]:
    out = dict(schema)
    out["type"] = [schema["type"], "null"]
    return out


STR = {"type": "string"}
INT = {"type": "integer"}
BOOL = {"type": "boolean"}
OBJ = {"type": "object"}
TIME = {"type": "string", "format": "date-time"}
UUID = {"type": "string", "format": "uuid"}
USERNAME = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.@-]{1,63}$"}
KEY = {"type": "string", "pattern": r"^[a-z][a-z0-9_]{1,63}$"}
PROCESS_KEY = {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^/\s]+$"}
BUSINESS_KEY = {"type": "string", "pattern": BUSINESS_KEY_PATTERN}
REASON = {"type": "string", "minLength": 1, "maxLength": 1000}
# external tasks (engine/external_tasks.py)
TOPIC = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,199}$"}
WORKER_ID = {"type": "string", "pattern": r"^[A-Za-z0-9][A-Za-z0-9_.:@/-]{0,199}$"}
MILLIS = {"type": "integer", "minimum": 1, "maximum": 7 * 24 * 3600 * 1000}
TYPED_VARIABLES = {
    "type": "object",
    "maxProperties": 200,
    "additionalProperties": {"type": "object", "required": ["value"], "properties": {"value": {}, "type": STR}},
    "description": 'Camunda\'s typed variables: {"name": {"value": ..., "type": "String"}}; `type` is informative.',
}


EXTERNAL_TASK = {  # as Camunda 7 answers it; fetch-and-lock adds the variables, the list never has them
    "id": UUID,
    "topicName": STR,
    "workerId": nullable(STR),
    "lockExpirationTime": nullable(TIME),
    "processInstanceId": UUID,
    "businessKey": STR,
    "processDefinitionKey": STR,
    "activityId": STR,
    "retries": nullable(INT),
    "errorMessage": nullable(STR),
    "priority": INT,
    "createTime": TIME,
}


def enum(values: Iterable[str]) -> dict[str, Any]:
    """A string schema whose values are the vocabulary's (engine/vocabulary.py), in its order."""
    return {"type": "string", "enum": [str(value) for value in values]}


ROLE = enum(USER_ROLES)
TASK_STATE = enum(HumanTaskState)
SLA_STATE = enum(SlaState)
INSTANCE_STATUS = enum(InstanceStatus)
DEPARTMENT_KIND = enum(DepartmentKind)
CURSOR = {"type": "string", "minLength": 1, "maxLength": 512, "pattern": r"^[A-Za-z0-9_-]+$"}
MAX_ID = 2**53


def obj(
    properties: dict[str, Any], required: list[str] | None = None, *, closed: bool = False, **extra: Any
) -> dict[str, Any]:
    """An object schema; request bodies are `closed` (unknown fields are refused)."""
    schema: dict[str, Any] = {"type": "object", "properties": properties}
    if required:
        schema["required"] = required
    if closed:
        schema["additionalProperties"] = False
    schema.update(extra)
    return schema


def array(items: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"type": "array", "items": items, **extra}


def all_required(properties: dict[str, Any], optional: tuple[str, ...] = ()) -> dict[str, Any]:
    return obj(properties, [k for k in properties if k not in optional])


# --- response schemas --------------------------------------------------------------------------
TASK = all_required(
    {
        "id": UUID,
        "instance_id": UUID,
        "business_key": STR,
        "process_key": STR,
        "element_id": STR,
        "name": nullable(STR),
        "lane": nullable(STR),
        "station_id": nullable(INT),
        "state": TASK_STATE,
        "assignee": nullable(STR),
        "candidate_groups": array(STR),
        "candidate_users": array(STR),
        "owner_task": BOOL,
        "form_key": nullable(STR),
        "priority": INT,
        "created_at": TIME,
        "claimed_at": nullable(TIME),
        "ended_at": nullable(TIME),
        "due_at": nullable(TIME),
        "follow_up_at": nullable(TIME),
        "completed_by": nullable(STR),
        "completed_via": nullable(STR),
        "outcome": nullable(OBJ),
        "warn_at": nullable(TIME),
        "sla_state": nullable(SLA_STATE),
        "urge_count": INT,  # 催办: how often the case owner or a supervisor pressed (docs/operations.md)
        "urged_at": nullable(TIME),
        "extension_due_at": nullable(TIME),  # 延期: the due time asked for, awaiting a supervisor
        "extended_from": nullable(TIME),  # the due time the last approved extension replaced
        "delegated": BOOL,  # 委派: the assignee works for the holder who delegated it, and resolves it back
    }
)
VERSION_NUMBER = {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}
ADMIN_CASE = all_required(
    {
        "id": UUID,
        "business_key": STR,
        "process_key": STR,
        "definition_version": INT,
        "status": INSTANCE_STATUS,
        "station": nullable(STR),
        "started_at": TIME,
        "ended_at": nullable(TIME),
    }
)
INCIDENT = all_required(
    {
        "id": INT,
        "instance_id": nullable(UUID),  # none: a scheduled start that started no case (kind start_timer)
        "business_key": nullable(STR),
        "process_key": nullable(STR),
        "definition_version": nullable(INT),
        "start_timer_id": nullable(INT),
        "due_at": nullable(TIME),
        "timer_id": nullable(INT),
        "element_id": nullable(STR),
        "kind": STR,
        "error": STR,
        "attempts": INT,
        "status": enum(IncidentStatus),
        "resolution": nullable(enum(IncidentResolution)),
        "created_at": TIME,
        "resolved_at": nullable(TIME),
        "external_task_id": nullable(STR),
    }
)
# notifications (webhooks/, docs/notifications.md)
NOTIFIABLE_EVENT = enum(NOTIFIABLE)
CHANNEL = all_required(
    {
        "id": UUID,
        "kind": enum(ChannelKind),
        "hint": STR,
        "events": array(STR),
        "language": nullable(enum(LANGUAGES)),
        "active": BOOL,
        "consecutive_failures": INT,
        "disabled_reason": nullable(STR),
        "created_at": TIME,
        "updated_at": TIME,
    }
)
DELIVERY = all_required(
    {
        "id": INT,
        "event_id": STR,
        "event_type": STR,
        "instance_id": nullable(STR),
        "task_id": nullable(STR),
        "state": enum(DeliveryState),
        "attempts": INT,
        "next_attempt_at": nullable(TIME),
        "last_error": nullable(STR),
        "created_at": TIME,
        "delivered_at": nullable(TIME),
        "channel": all_required(
            {
                "id": UUID,
                "kind": enum(ChannelKind),
                "hint": STR,
                "user": nullable(STR),
                "department": nullable(STR),
                "active": BOOL,
                "consecutive_failures": INT,
                "disabled_reason": nullable(STR),
            }
        ),
    }
)
CHANNEL_FIELDS = {
    "url": {"type": "string", "minLength": 1, "maxLength": 2000, "description": "the robot's webhook URL"},
    "address": {"type": "string", "minLength": 3, "maxLength": 254, "description": "e-mail address"},
    "secret": {"type": "string", "minLength": 1, "maxLength": 200, "description": "DingTalk signing secret"},
    "events": array(NOTIFIABLE_EVENT, maxItems=20, uniqueItems=True),
    "language": nullable(enum(LANGUAGES)),
}
AUDIT_ENTRY = all_required(
    {
        "id": INT,
        "at": TIME,
        "actor": STR,
        "by_system": BOOL,
        "action": STR,
        "instance_id": nullable(STR),
        "task_id": nullable(STR),
        "details": OBJ,
    }
)
PERSONAL_DATA = all_required(
    {
        "visibility": {"type": "string", "enum": ["clear", "masked"]},
        "records": array(all_required({"source": STR, "task_id": nullable(STR), "created_at": TIME, "data": OBJ})),
    }
)
SUMMARY_FIELDS = {
    "id": UUID,
    "business_key": STR,
    "process_key": STR,
    "definition_version": nullable(INT),
    "status": INSTANCE_STATUS,
    "case_owner": nullable(STR),
    "station": nullable(STR),
    "started_by": nullable(STR),
    "started_at": TIME,
    "ended_at": nullable(TIME),
}
INSTANCE = all_required(
    {
        **SUMMARY_FIELDS,
        "variables": OBJ,
        "open_tasks": array(ref("Task")),
        "history": array(ref("AuditEntry")),
        "personal_data": ref("PersonalData"),
    },
    optional=("history", "personal_data"),
)
USER = all_required(
    {"id": INT, "username": STR, "display_name": STR, "role": ROLE, "departments": array(STR), "active": BOOL}
)
# a station's IANA time zone (its reports' days and periods); null: the deployment's FENGQIAO_TIME_ZONE
TIME_ZONE = nullable({"type": "string", "maxLength": 64})
DEPARTMENT = all_required({"id": INT, "key": STR, "name": STR, "kind": DEPARTMENT_KIND, "time_zone": TIME_ZONE})
API_TOKEN_FIELDS = {
    "id": INT,
    "name": STR,
    "department": STR,
    "created_by": nullable(STR),
    "created_at": TIME,
    "revoked_at": nullable(TIME),
    "topics": nullable(array(STR)),
}
DEFINITION = all_required(
    {
        "id": INT,
        "key": STR,
        "version": INT,
        "name": nullable(STR),
        "deployment_id": INT,
        "deployed_at": TIME,
        "resource_name": STR,
        "content_hash": STR,
        "start_form": nullable(STR),
        # isExecutable="false": deployed for viewing and editing, starting it is refused (409)
        "executable": BOOL,
        "status": {"type": "string", "enum": ["executable", "not_executable"]},
    }
)
PROBLEM = all_required({"element_id": nullable(STR), "message": STR})
ATTACHMENT = all_required(
    {
        "id": UUID,
        "instance_id": UUID,
        "task_id": nullable(STR),
        "filename": STR,
        "content_type": STR,
        "size": INT,
        "has_thumbnail": BOOL,
        "location_kept": BOOL,
        "uploaded_by": nullable(STR),
        "uploaded_at": TIME,
        "deleted_at": nullable(TIME),
        "deleted_by": nullable(STR),
        "delete_reason": nullable(STR),
    }
)
UPLOAD = obj(
    {
        "file": array({"type": "string", "format": "binary"}, minItems=1, maxItems=10),
        "task_id": {**UUID, "description": "attach to this task of the case (a liaison: a task they hold)"},
        "keep_location": {"type": "string", "enum": ["true", "false"], "description": "keep the photo's EXIF location"},
    },
    ["file"],
)

# a DMN decision a definition version runs (issue 19): a summary; the XML is its own download
DECISION = all_required(
    {
        "id": STR,
        "name": nullable(STR),
        "hit_policy": {"type": "string", "enum": ["UNIQUE", "FIRST", "COLLECT", "RULE ORDER"]},
        "aggregation": nullable({"type": "string", "enum": ["SUM", "MIN", "MAX", "COUNT"]}),
        "inputs": array(all_required({"label": nullable(STR), "expression": nullable(STR)})),
        "outputs": array(STR),
        "rules": INT,
        "required": array(STR),
        "process_key": STR,
        "tasks": array(STR),
        "document": nullable(STR),
    }
)
RESPONSE_SCHEMAS: dict[str, dict[str, Any]] = {
    "Error": obj({"error": all_required({"code": STR, "message": STR, "details": array(OBJ)})}, ["error"]),
    "Task": TASK,
    "CompletedTask": {"allOf": [ref("Task"), all_required({"next_tasks": array(ref("Task"))})]},
    "TaskPage": all_required({"items": array(ref("Task")), "next_cursor": nullable(STR)}),
    "TaskDetail": all_required(
        {
            "task": ref("Task"),
            "form": nullable(OBJ),
            "case": all_required(
                {
                    "id": UUID,
                    "business_key": STR,
                    "process_key": STR,
                    "status": INSTANCE_STATUS,
                    "case_owner": nullable(STR),
                    "variables": OBJ,
                    "personal_data": ref("PersonalData"),
                }
            ),
        }
    ),
    "AuditEntry": AUDIT_ENTRY,
    "AuditPage": all_required({"items": array(ref("AuditEntry")), "next_after_id": nullable(INT)}),
    "PersonalData": PERSONAL_DATA,
    "InstanceSummary": all_required(SUMMARY_FIELDS),
    "Instance": INSTANCE,
    "InstancePage": all_required({"items": array(ref("InstanceSummary")), "next_cursor": nullable(STR)}),
    "Definition": DEFINITION,
    "DefinitionList": all_required({"items": array(ref("Definition"))}),
    "Decision": DECISION,
    "DecisionList": all_required({"items": array(ref("Decision"))}),
    "DeployResult": all_required(
        {
            "deployment_id": nullable(INT),
            "definitions": array(all_required({"key": STR, "version": INT, "id": INT, "created": BOOL})),
            "warnings": array(PROBLEM),
        }
    ),
    "ValidateResult": all_required({"processes": array(STR), "warnings": array(PROBLEM)}),
    "VersionList": all_required(
        {
            "items": array(
                all_required(
                    {
                        **DEFINITION["properties"],
                        "deployed_by": nullable(STR),
                        "comment": nullable(STR),
                        "forms": array(STR),
                        "running_cases": INT,
                    }
                )
            )
        }
    ),
    "DeployedForms": all_required({"version": INT, "forms": OBJ}),
    "DefinitionDiff": all_required(
        {
            "key": STR,
            "from": INT,
            "to": INT,
            "added": array(STR),
            "removed": array(STR),
            "changed": array(all_required({"element_id": STR, "fields": array(STR)})),
        }
    ),
    "User": USER,
    "UserList": all_required({"items": array(ref("User"))}),
    "Department": DEPARTMENT,
    "DepartmentList": all_required({"items": array(ref("Department"))}),
    "ApiToken": all_required(API_TOKEN_FIELDS),
    "ApiTokenCreated": all_required({**API_TOKEN_FIELDS, "token": STR}),
    "ApiTokenList": all_required({"items": array(ref("ApiToken"))}),
    "LoginResult": all_required(
        {"token": STR, "token_type": {"type": "string", "enum": ["Bearer"]}, "expires_at": TIME, "user": ref("User")}
    ),
    "Me": all_required(
        {
            "username": STR,
            "role": STR,
            "departments": array(STR),
            "kind": {"type": "string", "enum": ["user", "system"]},
        }
    ),
    "MessageResult": all_required({"instance_id": UUID, "business_key": STR, "status": INSTANCE_STATUS}),
    "SignalResult": all_required(
        {
            "signal": STR,
            "instances": array(
                obj(
                    {
                        "instance_id": UUID,
                        "business_key": STR,
                        "outcome": enum(("delivered", "failed")),
                        "error": obj({"code": STR, "message": STR}),
                    },
                    ["instance_id", "business_key", "outcome"],
                )
            ),
            "started": array(
                obj(
                    {
                        "process_key": STR,
                        "instance_id": UUID,
                        "business_key": STR,
                        "status": INSTANCE_STATUS,
                        "outcome": enum(("started", "failed")),
                        "error": obj({"code": STR, "message": STR}),
                    },
                    ["process_key", "outcome"],
                )
            ),
        }
    ),
    "DiagramState": all_required(
        {"instance_id": UUID, "process_key": STR, "definition_id": INT, "active": array(STR), "completed": array(STR)}
    ),
    "Incident": INCIDENT,
    # monitoring and migration (admin; docs/admin.md): no owner, no personal field
    "AdminCase": ADMIN_CASE,
    "AdminCaseList": all_required({"items": array(ref("AdminCase"))}),
    "AdminCaseDetail": all_required(
        {
            **ADMIN_CASE["properties"],
            "variables": OBJ,
            "active": array(STR),
            "completed": array(STR),
            "failed": array(STR),
            "timers": array(all_required({"id": INT, "element_id": STR, "kind": STR, "due_at": TIME})),
            "incidents": array(ref("Incident")),
        }
    ),
    "ElementCounts": all_required(
        {
            "key": STR,
            "version": INT,
            "elements": {
                "type": "object",
                "additionalProperties": all_required({"waiting": INT, "breached": INT}),
            },
        }
    ),
    "MigrationPlan": all_required(
        {
            "key": STR,
            "from": INT,
            "to": INT,
            "elements": ref("DefinitionDiff"),
            "safe": BOOL,
            "cases": array(
                all_required(
                    {
                        "id": UUID,
                        "business_key": STR,
                        "mapped": {"type": "object", "additionalProperties": STR},
                        "removed": array(STR),
                        "safe": BOOL,
                    }
                )
            ),
        }
    ),
    "MigrationResult": all_required(
        {
            "key": STR,
            "from": INT,
            "to": INT,
            "dry_run": BOOL,
            "migrated": array(STR),
            "skipped": array(all_required({"id": UUID, "message": STR})),
        }
    ),
    "IncidentList": all_required({"items": array(ref("Incident"))}),
    "LockedExternalTasks": array(all_required({**EXTERNAL_TASK, "variables": OBJ})),
    "ExternalTask": all_required(EXTERNAL_TASK),
    "ExternalTaskList": array(ref("ExternalTask")),
    "Channel": CHANNEL,
    "ChannelList": all_required({"items": array(ref("Channel"))}),
    "Delivery": DELIVERY,
    "DeliveryList": all_required({"items": array(ref("Delivery"))}),
    "DeliveryDetail": all_required(
        {
            **DELIVERY["properties"],
            "attempt_log": array(
                all_required(
                    {"at": TIME, "ok": BOOL, "status_code": nullable(INT), "duration_ms": INT, "error": nullable(STR)}
                )
            ),
        }
    ),
    "Comment": all_required(
        {
            "id": UUID,
            "instance_id": UUID,
            "task_id": nullable(STR),
            "kind": enum(CommentKind),
            "author": STR,
            "role": STR,
            "created_at": TIME,
            "text": STR,
        }
    ),
    "CommentList": all_required({"items": array(ref("Comment"))}),
    "Phrase": all_required({"id": INT, "text": STR, "default": BOOL}),
    "PhraseList": all_required({"items": array(ref("Phrase"))}),
    "Draft": all_required({"task_id": UUID, "data": OBJ, "updated_at": TIME}),
    "SavedView": all_required({"id": INT, "name": STR, "filters": OBJ}),
    "SavedViewList": all_required({"items": array(ref("SavedView"))}),
    "Attachment": ATTACHMENT,
    "AttachmentsAdded": all_required({"items": array(ref("Attachment"))}),
    "AttachmentList": all_required(
        {"visibility": {"type": "string", "enum": ["clear", "masked"]}, "items": array(ref("Attachment"))}
    ),
    "CopySent": all_required({"instance_id": UUID, "business_key": STR, "recipients": array(STR), "copied_at": TIME}),
    "Copy": all_required(
        {
            "id": UUID,
            "instance_id": UUID,
            "business_key": STR,
            "case_status": INSTANCE_STATUS,
            "station": nullable(STR),
            "copied_by": STR,
            "reason": STR,
            "copied_at": TIME,
            "read_at": nullable(TIME),
            "may_open": BOOL,
        }
    ),
    "CopyList": all_required({"items": array(ref("Copy")), "unread": INT}),
    "Health": all_required({"status": {"type": "string", "enum": ["ok"]}, "definitions": INT}),
}

# --- request schemas (self-contained: web.parsing validates bodies against them) ----------------
REQUEST_SCHEMAS: dict[str, dict[str, Any]] = {
    "DeployBundle": obj(
        {
            "bpmn": {"type": "string", "minLength": 1, "description": "one BPMN 2.0 document"},
            "forms": {
                "type": "object",
                "maxProperties": 20,
                "additionalProperties": OBJ,
                "description": "form key -> JSON Schema, deployed with the model",
            },
            "comment": {"type": "string", "maxLength": 1000},
        },
        ["bpmn"],
        closed=True,
    ),
    "LoginRequest": obj(
        {
            "username": {"type": "string", "minLength": 1, "maxLength": 200},
            "password": {"type": "string", "minLength": 1, "maxLength": 1024},
        },
        ["username", "password"],
        closed=True,
        examples=[{"username": "officer_wang", "password": "fengqiao-demo"}],
    ),
    "StartInstance": obj(
        {
            "definition_key": PROCESS_KEY,
            "business_key": BUSINESS_KEY,
            "version": {"type": "integer", "minimum": 1, "maximum": 2**31 - 1},
            "variables": {"type": "object", "description": "the start form's fields (personal ones are sealed)"},
        },
        ["definition_key"],
        closed=True,
        examples=[
            {
                "definition_key": "dispute_resolution",
                "variables": {
                    "risk_level": "yellow",
                    "category": "neighbour_dispute",
                    "description": "楼上漏水引发纠纷",
                    "household": "新桥社区3栋501",
                    "parties": [{"name": "张三", "phone": "13800000001"}],
                },
            }
        ],
    ),
    "CancelInstance": obj({"reason": REASON}, ["reason"], closed=True),
    "Migrate": obj(
        {
            "from": VERSION_NUMBER,
            "to": VERSION_NUMBER,
            "instance_id": UUID,
            "reason": REASON,
            "dry_run": BOOL,
        },
        ["from", "to"],
        closed=True,
        description="Every running case of version `from` (or the one `instance_id`), each in its own unit "
        "of work; refused (409 `migration_refused`, nothing changed) when an active task of a selected "
        "case has no element in version `to`.",
        examples=[{"from": 1, "to": 2, "reason": "deadline shortened"}],
    ),
    "ExtensionRequest": obj({"reason": REASON, "due_at": TIME}, ["reason", "due_at"], closed=True),
    "Reason": obj({"reason": REASON}, ["reason"], closed=True),  # a handling operation's body (docs/operations.md)
    "Reassign": obj({"user": {**USERNAME}, "reason": REASON}, ["user", "reason"], closed=True),
    # 转办: to a colleague (`user`) or, a department task, to another department (`department`): one of them
    "Transfer": obj({"user": {**USERNAME}, "department": KEY, "reason": REASON}, ["reason"], closed=True),
    "CopyCase": obj(
        {
            "reason": REASON,
            "users": array(USERNAME, maxItems=50, description="active users, any role"),
            "groups": array(
                KEY,
                maxItems=50,
                description="department keys, or `officer` / `supervisor` (that role at the case's station); "
                "expanded to their active users when the copy is sent",
            ),
        },
        ["reason"],
        closed=True,
        examples=[{"reason": "请社区调委会知悉", "groups": ["community_committee"], "users": ["grid_zhao"]}],
    ),
    "UpdateVariables": obj(
        {
            "variables": {
                "type": "object",
                "minProperties": 1,
                "description": "non-personal variables to set on the running case",
            },
            "reason": REASON,
        },
        ["variables", "reason"],
        closed=True,
        examples=[{"variables": {"approved": True}, "reason": "补录审批结果"}],
    ),
    "CompleteTask": obj(
        {
            "data": {"type": "object", "description": "the task form's fields"},
            "opinion": {"type": "string", "maxLength": 2000, "description": "an opinion (审批意见), sealed"},
        },
        closed=True,
        examples=[{"data": {"resolution": "escalate", "departments": ["civil_affairs"]}, "opinion": "同意上报民政"}],
    ),
    "AddComment": obj(
        {"text": {"type": "string", "minLength": 1, "maxLength": 2000}},
        ["text"],
        closed=True,
        examples=[{"text": "已电话联系当事人，约定明日上门"}],
    ),
    "AddPhrase": obj(
        {"text": {"type": "string", "minLength": 1, "maxLength": 200}},
        ["text"],
        closed=True,
        examples=[{"text": "情况属实，同意办理"}],
    ),
    "SaveDraft": obj(
        {"data": {"type": "object", "description": "the form's fields typed so far (not validated)"}},
        ["data"],
        closed=True,
        examples=[{"data": {"summary": "已走访"}}],
    ),
    "CreateSavedView": obj(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 60},
            "filters": {
                "type": "object",
                "maxProperties": 12,
                "additionalProperties": {"type": ["string", "integer"]},
                "description": "GET /tasks query parameters (not limit or cursor)",
            },
        },
        ["name", "filters"],
        closed=True,
        examples=[{"name": "超时", "filters": {"assignee": "me", "sla_state": "breached"}}],
    ),
    "Message": obj(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "business_key": BUSINESS_KEY,
            "instance_id": UUID,
            "department": KEY,
            "payload": {"type": "object", "description": "the result form's fields"},
        },
        ["name"],
        closed=True,
        description="Name exactly one of business_key and instance_id.",
        examples=[
            {
                "name": "department_result",
                "business_key": "JF-2026-000001",
                "payload": {"outcome": "resolved", "summary": "已纳入低保"},
            }
        ],
    ),
    "Signal": obj(
        {
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "variables": {"type": "object", "description": "set on every case the signal reaches or starts"},
        },
        ["name"],
        closed=True,
        examples=[{"name": "typhoon_warning", "variables": {"level": "orange"}}],
    ),
    "CreateUser": obj(
        {
            "username": USERNAME,
            "role": ROLE,
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
            "departments": array(KEY, maxItems=20, uniqueItems=True),
            "display_name": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        ["username", "role"],
        closed=True,
    ),
    "UpdateUser": obj(
        {
            "active": BOOL,
            "password": {"type": "string", "minLength": 8, "maxLength": 1024},
            "display_name": {"type": "string", "minLength": 1, "maxLength": 200},
        },
        closed=True,
    ),
    "CreateDepartment": obj(
        {
            "key": KEY,
            "name": {"type": "string", "minLength": 1, "maxLength": 200},
            "kind": DEPARTMENT_KIND,
            "time_zone": TIME_ZONE,
        },
        ["key", "name", "kind"],
        closed=True,
    ),
    "UpdateDepartment": obj({"time_zone": TIME_ZONE}, ["time_zone"], closed=True),
    "DeleteAttachment": obj({"reason": REASON}, ["reason"], closed=True),
    "FetchAndLock": obj(
        {
            "workerId": WORKER_ID,
            "maxTasks": {"type": "integer", "minimum": 1, "maximum": 100},
            "topics": array(
                obj({"topicName": TOPIC, "lockDuration": MILLIS}, ["topicName", "lockDuration"], closed=True),
                minItems=1,
                maxItems=50,
            ),
            "asyncResponseTimeout": {"type": "integer", "minimum": 0, "maximum": 30000},
            "usePriority": BOOL,
        },
        ["workerId", "maxTasks", "topics"],
        closed=True,
    ),
    "CompleteExternalTask": obj({"workerId": WORKER_ID, "variables": TYPED_VARIABLES}, ["workerId"], closed=True),
    "ExternalTaskFailure": obj(
        {
            "workerId": WORKER_ID,
            "errorMessage": {"type": "string", "maxLength": 2000},
            "errorDetails": {"type": "string", "maxLength": 2000},
            "retries": {"type": "integer", "minimum": 0, "maximum": 1000},
            "retryTimeout": {"type": "integer", "minimum": 0, "maximum": 7 * 24 * 3600 * 1000},
        },
        ["workerId", "retries"],
        closed=True,
    ),
    "UnlockExternalTask": obj(
        {"workerId": WORKER_ID},
        closed=True,
        description="A worker names the worker id holding the lock; an admin may leave it out.",
    ),
    "SetExternalTaskRetries": obj(
        {"retries": {"type": "integer", "minimum": 0, "maximum": 1000}}, ["retries"], closed=True
    ),
    "ExtendLock": obj({"workerId": WORKER_ID, "newDuration": MILLIS}, ["workerId", "newDuration"], closed=True),
    "ExternalTaskBpmnError": obj(
        {
            "workerId": WORKER_ID,
            "errorCode": {"type": "string", "minLength": 1, "maxLength": 200},
            "errorMessage": {"type": "string", "maxLength": 2000},
            "variables": TYPED_VARIABLES,
        },
        ["workerId", "errorCode"],
        closed=True,
    ),
    "CreateApiToken": obj(
        {"department": KEY, "name": USERNAME, "topics": array(TOPIC, minItems=1, maxItems=50)},
        ["department"],
        closed=True,
        description="With `topics`, the token is an external-task worker's (docs/external-tasks.md).",
    ),
    "CreateChannel": obj(
        {"kind": enum(ChannelKind), **CHANNEL_FIELDS},
        ["kind"],
        closed=True,
        description="wecom and dingtalk need `url` (https; dingtalk also `secret`), email needs `address`. "
        "Private, loopback and link-local targets are refused unless allow-listed.",
        examples=[{"kind": "wecom", "url": "https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=KEY"}],
    ),
    "UpdateChannel": obj({**CHANNEL_FIELDS, "active": BOOL}, closed=True, minProperties=1),
}


def query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


LIMIT = {"type": "integer", "minimum": 1, "maximum": 200, "default": 50}
VERSION = query(
    "version", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "a version number; the latest when absent"
)
TRUE_FALSE = {"type": "string", "enum": ["true", "false"]}
WHO = {"type": "string", "pattern": r"^(me|[A-Za-z0-9][A-Za-z0-9_.@-]{1,63})$"}

# Path parameters named by converters other than uuid/int take their schema from here.
PATH_SCHEMAS: dict[str, dict[str, Any]] = {
    "key": PROCESS_KEY,
    "username": USERNAME,
    "department": KEY,
    "decision_id": {"type": "string", "minLength": 1, "maxLength": 200},
}


def op(
    summary: str,
    tag: str,
    ok: tuple[int, str | None],
    *,
    errors: tuple[int, ...] = (),
    body: str | None = None,
    params: list[dict[str, Any]] | None = None,
    description: str = "",
    media: dict[str, Any] | None = None,
    upload: dict[str, Any] | None = None,
) -> dict[str, Any]:
    return {
        "summary": summary,
        "tag": tag,
        "ok": ok,
        "errors": errors,
        "body": body,
        "params": params or [],
        "description": description,
        "media": media,
        "upload": upload,
    }


JSON_ERRORS = (400, 413, 415, 422)  # what a JSON body can provoke

# reports: a period is named as its calendar names it; its kind says which of the three forms it takes
PERIOD = {"type": "string", "pattern": r"^[0-9]{4}(-(W[0-9]{2}|[0-9]{2}|Q[1-4]))?$"}
REPORT_PARAMS = [
    query(
        "kind", {"type": "string", "enum": ["week", "month", "quarter", "year"], "default": "week"}, "the period's kind"
    ),
    query("period", PERIOD, "2026-W48, 2026-11, 2026-Q4 or 2026 (the current one when absent)"),
    query("station", KEY, "one station's key (a supervisor may name only their own)"),
]

OPERATIONS: dict[str, dict[str, Any]] = {
    # health and the document itself
    "health.healthz": op("Readiness: the database answers", "health", (200, "Health"), errors=(503,)),
    "health.openapi": op("This OpenAPI document", "health", (200, None)),
    # auth
    "auth.login": op(
        "Log in with a username and password",
        "auth",
        (200, "LoginResult"),
        errors=(*JSON_ERRORS, 401, 429),
        body="LoginRequest",
        description="Returns an opaque bearer token that expires at `expires_at`. Failed attempts "
        "are rate-limited per client address and per username (429).",
    ),
    "auth.logout": op("Revoke the token of this request", "auth", (204, None)),
    "auth.me": op("Who the token belongs to", "auth", (200, "Me")),
    # definitions
    "definitions.list": op("The latest version of every process definition", "definitions", (200, "DefinitionList")),
    "definitions.get": op(
        "A process definition (latest, or ?version=n)",
        "definitions",
        (200, "Definition"),
        errors=(400, 404),
        params=[VERSION],
    ),
    "definitions.xml": op(
        "The BPMN XML of a process definition",
        "definitions",
        (200, None),
        errors=(400, 404),
        params=[VERSION],
        media={"application/xml": {"schema": STR}},
    ),
    "definitions.decisions": op(
        "The DMN decisions a process definition runs (latest, or ?version=n)",
        "definitions",
        (200, "DecisionList"),
        errors=(400, 404),
        params=[VERSION],
        description="Each decision of the version's business rule tasks and of the processes it calls: "
        "hit policy, inputs, outputs, the number of rules, the tasks that call it and the `.dmn` document "
        "it was deployed in (`document`, null for a version deployed before documents were kept).",
    ),
    "definitions.decision": op(
        "One DMN decision of a process definition; its DMN document with Accept: application/xml",
        "definitions",
        (200, "Decision"),
        errors=(400, 404),
        params=[VERSION],
        media={
            "application/json": {"schema": ref("Decision")},
            "application/xml": {"schema": STR},
        },
        description="JSON by default; with `Accept: application/xml` the same as `/xml`.",
    ),
    "definitions.decision_xml": op(
        "The DMN document a decision was deployed in, as uploaded (a download)",
        "definitions",
        (200, None),
        errors=(400, 404),
        params=[VERSION],
        media={"application/xml": {"schema": STR}},
        description="`Content-Disposition: attachment` with the uploaded file name. 404 for a version "
        "deployed before the documents were kept (redeploy it with its `.dmn`).",
    ),
    "definitions.versions": op(
        "Every version of a process definition, newest first, with its deployer, comment, forms and "
        "running cases (admin)",
        "definitions",
        (200, "VersionList"),
        errors=(400, 404),
    ),
    "definitions.forms": op(
        "The forms deployed with a version (latest, or ?version=n) (admin)",
        "definitions",
        (200, "DeployedForms"),
        errors=(400, 404),
        params=[VERSION],
        description="`forms` maps form keys to JSON Schemas; `{}` when the version uses only the "
        "installed forms (forms/).",
    ),
    "definitions.diff": op(
        "The model elements added, removed and changed between two versions (admin)",
        "definitions",
        (200, "DefinitionDiff"),
        errors=(400, 404),
        params=[
            query("from", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "the older version (required)"),
            query("to", {"type": "integer", "minimum": 1, "maximum": 2**31 - 1}, "the newer version (required)"),
        ],
    ),
    "definitions.deploy": op(
        "Deploy BPMN documents (admin)",
        "definitions",
        (201, "DeployResult"),
        errors=(400, 413, 415, 422),
        params=[
            query(
                "name",
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^/\\]+$"},
                "file name of a single application/xml document",
            )
        ],
        description="One document as `application/xml`; or `application/json` `{bpmn, forms, comment}` "
        "(forms: `{key: JSON Schema}` deployed with the model, looked up before the installed forms); or "
        "several files as `multipart/form-data` (any field names; `.json` files are forms keyed by their "
        "file stem; a `comment` field). Answers 201 when a new version was created, 200 when every "
        "process was unchanged. An invalid model is a 422 whose details are `{element_id, message}`; an "
        "invalid form a 422 whose details name the `form`.",
    ),
    "definitions.validate": op(
        "Check BPMN documents without deploying them (admin)",
        "definitions",
        (200, "ValidateResult"),
        errors=(400, 413, 415, 422),
        params=[
            query(
                "name",
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^/\\]+$"},
                "file name of a single application/xml document",
            )
        ],
    ),
    # instances
    "instances.start": op(
        "Report a case: start a process instance",
        "instances",
        (201, "Instance"),
        errors=(*JSON_ERRORS, 404, 409),
        body="StartInstance",
    ),
    "instances.list": op(
        "Cases of the caller's station",
        "instances",
        (200, "InstancePage"),
        errors=(400, 422),
        params=[
            query("status", INSTANCE_STATUS, "running, suspended, completed or cancelled"),
            query("definition_key", PROCESS_KEY, "process definition key"),
            query("business_key", BUSINESS_KEY, "exact business key"),
            query("case_owner", WHO, "`me` or a username"),
            query("limit", {**LIMIT, "maximum": 100}, "page size (1-100, default 50)"),
            query("cursor", CURSOR, "`next_cursor` of the previous page"),
        ],
    ),
    "instances.get": op(
        "A case: status, owner, variables, open tasks, history", "instances", (200, "Instance"), errors=(404,)
    ),
    "instances.cancel": op(
        "Cancel a case (supervisor of its station, admin)",
        "instances",
        (200, "InstanceSummary"),
        errors=(*JSON_ERRORS, 404, 409),
        body="CancelInstance",
    ),
    "instances.terminate": op(
        "Terminate (终止) a running or suspended case, with a reason (supervisor of its station, admin)",
        "instances",
        (200, "InstanceSummary"),
        errors=(*JSON_ERRORS, 404, 409),
        body="CancelInstance",
        description="The same command as `cancel`, under the name case workers use.",
    ),
    "instances.suspend": op(
        "Suspend (挂起) a running case, with a reason (supervisor of its station, admin)",
        "instances",
        (200, "InstanceSummary"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
        description="Its tasks can be neither claimed nor completed, its deadlines pause and its timers "
        "do not fire until it is resumed (docs/operations.md).",
    ),
    "instances.resume": op(
        "Resume (激活) a suspended case, with a reason (supervisor of its station, admin)",
        "instances",
        (200, "InstanceSummary"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
        description="Every deadline and timer keeps the time it had left when the case was suspended.",
    ),
    "instances.copy": op(
        "Copy (抄送) a running or suspended case to users or groups, with a reason (case owner, supervisor)",
        "instances",
        (201, "CopySent"),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="CopyCase",
        description="A read-only notice: recipients see it in `GET /copies`; the case itself opens for "
        "them only as their role allows. At least one user or group; 409 `instance_not_running` for a "
        "closed case. Event `case.copied` carries the recipients' ids only (docs/operations.md).",
    ),
    "instances.reassign_owner": op(
        "Move first-contact responsibility to another officer (supervisor)",
        "instances",
        (200, "Instance"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reassign",
    ),
    # tasks
    "tasks.list": op(
        "Tasks the caller may see, filtered, sorted and paged",
        "tasks",
        (200, "TaskPage"),
        errors=(400, 404, 422),
        params=[
            query("assignee", WHO, "`me` (others: supervisors only)"),
            query("candidate", WHO, "open tasks `me` may claim (others: supervisors only)"),
            query(
                "group",
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^[^\s]+$"},
                "open tasks in one candidate group's queue",
            ),
            query("state", TASK_STATE, "open, claimed, completed, cancelled, suspended or returned"),
            query("instance_id", UUID, "tasks of one case"),
            query("business_key", BUSINESS_KEY, "tasks of one case, by business key"),
            query("due_before", TIME, "due strictly before (RFC 3339 with time zone)"),
            query("due_after", TIME, "due at or after (RFC 3339 with time zone)"),
            query("risk_level", {"type": "string", "enum": ["red", "yellow", "blue"]}, "the case's risk level"),
            query("category", KEY, "the case's category (the report form's key, e.g. neighbour_dispute)"),
            query(
                "community",
                {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"^\S(.*\S)?$"},
                "the case's community",
            ),
            query(
                "due_within",
                {"type": "integer", "minimum": 1, "maximum": 8760},
                "due within this many hours from now (overdue ones too; a saved view's due window)",
            ),
            query(
                "sla_state",
                SLA_STATE,
                "on_time, warning, breached (open tasks, judged now), met or missed (closed tasks)",
            ),
            query(
                "sort",
                {"type": "string", "enum": ["due", "priority", "created"], "default": "due"},
                "due (earliest first), priority (highest first) or created",
            ),
            query("limit", LIMIT, "page size (1-200, default 50)"),
            query("cursor", CURSOR, "`next_cursor` of the previous page (keyset pagination)"),
        ],
    ),
    "tasks.get": op(
        "A task with its form schema and the case data it may show", "tasks", (200, "TaskDetail"), errors=(404,)
    ),
    "tasks.claim": op(
        "Claim an open task",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        description="Claiming an officer task of an unowned case makes the caller its case "
        "owner (first-contact responsibility). A lost race is a 409.",
    ),
    "tasks.unclaim": op(
        "Give a claimed task back to its queue", "tasks", (200, "Task"), errors=(*JSON_ERRORS, 404, 409)
    ),
    "tasks.complete": op(
        "Complete a task with its form data",
        "tasks",
        (200, "CompletedTask"),
        errors=(*JSON_ERRORS, 404, 409),
        body="CompleteTask",
        description="An open task the caller may claim is claimed in the same transaction. "
        "Invalid form data is a 422 naming each field. The answer is the task, "
        "with `next_tasks`: the tasks this completion opened that the caller "
        "may see (the officer's next form, say).",
    ),
    "tasks.urge": op(
        "Urge (催办) the handler of an open task, with a reason (the case owner, a supervisor of the station)",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
        description="The task counts the urge (`urge_count`, `urged_at`) and a `task.urged` event "
        "tells its handler (docs/operations.md).",
    ),
    "tasks.withdraw": op(
        "Withdraw (撤回) an escalation no liaison has claimed (the officer who escalated), with a reason",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
        description="`task_id` is one of the department tasks the escalation opened: all of them close and "
        "the escalating task is the officer's again, with its original start and due time; the answer is "
        "that task. 409 `task_already_claimed` once a liaison claimed one (docs/operations.md).",
    ),
    "tasks.return_": op(
        "Return (退回) an escalated task with a reason (its department: a candidate, or the holder)",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
        description="The task closes as `returned`; the escalating task is the case owner's again, to "
        "re-route (another department, more information, or on the spot). 409 `task_already_claimed` "
        "while another department of the same escalation holds its task (docs/operations.md).",
    ),
    "tasks.transfer": op(
        "Transfer (转办) a task to a colleague of its queue or to another department, with a reason",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Transfer",
        description="`user`: to a colleague of its queue (the holder). `department`: a department task to "
        "another department's queue, open again (the holder, or a candidate of the open task). Exactly "
        "one of them, else 422. The deadline keeps running from the original start. The case owner's "
        "tasks are not transferred (a supervisor reassigns the case) (docs/operations.md).",
    ),
    "tasks.request_extension": op(
        "Ask for a later due time (延期), with a reason (the holder)",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="ExtensionRequest",
        description="The due time stands until a supervisor decides; the task shows the time asked for "
        "(`extension_due_at`). 409 `extension_pending` while one waits (docs/operations.md).",
    ),
    "tasks.approve_extension": op(
        "Approve a task's extension (supervisor of the case's station), with a reason",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
        description="`due_at` becomes the time asked for; `extended_from` keeps the one it replaced.",
    ),
    "tasks.refuse_extension": op(
        "Refuse a task's extension (supervisor of the case's station), with a reason",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
    ),
    "tasks.delegate": op(
        "Delegate (委派) a held task to a colleague of its queue, with a reason (its holder)",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reassign",
        description="The colleague does the work and resolves it back; the holder confirms by completing "
        "it. While delegated (`delegated`), completing, releasing and transferring answer 409 `task_delegated`.",
    ),
    "tasks.resolve": op(
        "Resolve a delegated task back to the holder who delegated it, with a note (the delegate)",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reason",
    ),
    "tasks.reassign": op(
        "Give a task to someone else (supervisor)",
        "tasks",
        (200, "Task"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Reassign",
    ),
    # copies (抄送, docs/operations.md)
    "copies.list": op(
        "Copied to me: the caller's copies, newest first, and how many are unread",
        "copies",
        (200, "CopyList"),
        errors=(400,),
        params=[
            query("unread", {"type": "string", "enum": ["true", "false"]}, "`true`: only the unread ones"),
            query("limit", LIMIT, "at most (1-200, default 50)"),
        ],
        description="`may_open` says whether the case opens for the caller: a copy never widens what a role may read.",
    ),
    "copies.read": op(
        "Mark one of my copies read (again: unchanged)", "copies", (200, "Copy"), errors=(*JSON_ERRORS, 404)
    ),
    # collaboration (docs/collaboration.md)
    "collab.list_comments": op(
        "A case's opinions and comments, oldest first", "collaboration", (200, "CommentList"), errors=(404,)
    ),
    "collab.add_comment": op(
        "Comment on a case (its participants)",
        "collaboration",
        (201, "Comment"),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="AddComment",
        description="The text is sealed at rest; the `comment.added` event carries only its id and kind.",
    ),
    "collab.list_phrases": op(
        "The station-wide default phrases and the caller's own", "collaboration", (200, "PhraseList")
    ),
    "collab.add_phrase": op(
        "Add a common phrase (an admin's are the station-wide defaults)",
        "collaboration",
        (201, "Phrase"),
        errors=JSON_ERRORS,
        body="AddPhrase",
    ),
    "collab.remove_phrase": op("Remove one of the caller's phrases", "collaboration", (204, None), errors=(404,)),
    "collab.get_draft": op("The caller's draft of a task they hold", "collaboration", (200, "Draft"), errors=(404,)),
    "collab.save_draft": op(
        "Save the form typed so far as the holder's draft",
        "collaboration",
        (200, "Draft"),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="SaveDraft",
        description="Only declared fields are kept; personal ones are sealed. The draft goes when the "
        "task is completed, released or given to someone else.",
    ),
    "collab.discard_draft": op("Throw the draft away", "collaboration", (204, None), errors=(403, 404, 409)),
    "collab.list_views": op("The caller's saved inbox views", "collaboration", (200, "SavedViewList")),
    "collab.create_view": op(
        "Save inbox filters under a name",
        "collaboration",
        (201, "SavedView"),
        errors=(*JSON_ERRORS, 403, 409),
        body="CreateSavedView",
    ),
    "collab.remove_view": op("Remove a saved view", "collaboration", (204, None), errors=(404,)),
    # attachments
    "attachments.upload": op(
        "Attach photos, recordings or PDF documents to a case or one of its tasks",
        "attachments",
        (201, "AttachmentsAdded"),
        errors=(400, 403, 404, 409, 413, 415, 422),
        upload=UPLOAD,
        description="`multipart/form-data`, one or several `file` fields (20 MB each by default, "
        "FENGQIAO_ATTACHMENT_MAX_BYTES). The type is judged by the content; a photo's EXIF location is "
        "removed unless `keep_location=true`. All files are stored or none. Who sees the case's personal "
        "data in clear may attach; a liaison only to a task they hold (`task_id`).",
    ),
    "attachments.list": op(
        "A case's attachments (empty unless the caller sees its personal data in clear)",
        "attachments",
        (200, "AttachmentList"),
        errors=(404,),
    ),
    "attachments.get": op("An attachment's metadata", "attachments", (200, "Attachment"), errors=(404,)),
    "attachments.content": op(
        "Download an attachment (audited)",
        "attachments",
        (200, None),
        errors=(404, 503),
        media={"*/*": {"schema": {"type": "string", "format": "binary"}}},
        description="The file with the content type found at upload; images inline, others as a download.",
    ),
    "attachments.thumbnail": op(
        "A JPEG thumbnail of an image attachment",
        "attachments",
        (200, None),
        errors=(404, 503),
        media={"image/jpeg": {"schema": {"type": "string", "format": "binary"}}},
    ),
    "attachments.delete": op(
        "Delete an attachment (soft, with a reason; its uploader or a supervisor)",
        "attachments",
        (200, "Attachment"),
        errors=(*JSON_ERRORS, 404, 409),
        body="DeleteAttachment",
    ),
    # messages
    "messages.correlate": op(
        "Report a department's result to the case waiting for it",
        "messages",
        (200, "MessageResult"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Message",
        description="What a department system calls (with its API token) to report its result; a liaison "
        "may report for their own department. `department` picks the waiting department task "
        "when several wait.",
    ),
    # signals
    "signals.broadcast": op(
        "Broadcast a signal to the cases of the station waiting for it (supervisor)",
        "signals",
        (200, "SignalResult"),
        errors=(*JSON_ERRORS, 403),
        body="Signal",
        description="Every running case of the caller's station waiting at a signal catch event of this "
        "name receives it, each in its own transaction (one failing undoes no other; see `outcome`); "
        "every process whose start event catches it is started in the station.",
    ),
    # audit trail
    "history.audit_trail": op(
        "The audit trail (auditor)",
        "history",
        (200, "AuditPage"),
        errors=(400,),
        params=[
            query("instance_id", UUID, "entries of one case"),
            query(
                "after_id",
                {"type": "integer", "minimum": 0, "maximum": MAX_ID},
                "entries after this id (`next_after_id` of the previous page)",
            ),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 1000, "default": 200},
                "page size (1-1000, default 200)",
            ),
        ],
    ),
    # incidents
    "incidents.list": op(
        "Incidents: timers and external tasks that kept failing, scheduled starts that started no case (admin)",
        "incidents",
        (200, "IncidentList"),
        errors=(400,),
        params=[
            query(
                "status",
                enum([*IncidentStatus, "all"]) | {"default": IncidentStatus.OPEN.value},
                "open (default), resolved or all",
            ),
            query("instance_id", UUID, "incidents of one case"),
            query(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                "at most this many (1-500, default 100)",
            ),
        ],
    ),
    "incidents.retry": op(
        "Retry an incident: its timer with fresh attempts, due now; a scheduled start's case started now (admin)",
        "incidents",
        (200, "Incident"),
        errors=(*JSON_ERRORS, 404, 409),
        description="A `start_timer` incident starts its case in the transaction that resolves it, with the "
        "version whose schedule stands for its start event; 409 while there is still no station for it, or "
        "when no deployed version has that start event any more.",
    ),
    "incidents.cancel": op(
        "Give up an incident: cancel its case (admin)",
        "incidents",
        (200, "Incident"),
        errors=(*JSON_ERRORS, 404, 409),
        body="CancelInstance",
        description="409 for a `start_timer` incident: it has no case; dismiss it.",
    ),
    "incidents.dismiss": op(
        "Give up a scheduled start that started no case, with a reason (admin)",
        "incidents",
        (200, "Incident"),
        errors=(*JSON_ERRORS, 404, 409),
        body="CancelInstance",
        description="Only a `start_timer` incident (409 for one with a case: retry it or cancel the case).",
    ),
    "instances.diagram": op(
        "Active and completed element ids of a case, for its diagram",
        "instances",
        (200, "DiagramState"),
        errors=(404,),
        description="Highlight them on `GET /process-definitions/{key}/xml` in bpmn-js "
        "(`canvas.addMarker(id, 'active-task')`).",
    ),
    "instances.update_variables": op(
        "Fix non-personal variables of a running case (admin, audited)",
        "instances",
        (200, "InstanceSummary"),
        errors=(*JSON_ERRORS, 404, 409),
        body="UpdateVariables",
        description="Personal (`x-pii`) fields are refused (422 `personal_field`): forms collect and seal them. "
        "Fields a form of the case declares are checked against it; 256 KiB at most.",
    ),
    # admin
    "admin.list_users": op("Users", "admin", (200, "UserList")),
    "admin.create_user": op(
        "Create a user", "admin", (201, "User"), errors=(*JSON_ERRORS, 404, 409), body="CreateUser"
    ),
    "admin.get_user": op("A user", "admin", (200, "User"), errors=(404,)),
    "admin.update_user": op(
        "Deactivate, reactivate, rename or reset the password of a user",
        "admin",
        (200, "User"),
        errors=(*JSON_ERRORS, 404),
        body="UpdateUser",
        description="Deactivating a user or setting a new password revokes their sessions.",
    ),
    "admin.add_membership": op("Add a user to a department", "admin", (200, "User"), errors=(404, 422)),
    "admin.remove_membership": op("Remove a user from a department", "admin", (200, "User"), errors=(404, 422)),
    "admin.list_departments": op("Departments: police stations and agencies", "admin", (200, "DepartmentList")),
    "admin.create_department": op(
        "Create a department", "admin", (201, "Department"), errors=(*JSON_ERRORS, 409), body="CreateDepartment"
    ),
    "admin.update_department": op(
        "Set or clear a station's time zone",
        "admin",
        (200, "Department"),
        errors=(*JSON_ERRORS, 404),
        body="UpdateDepartment",
        description="An IANA name (Asia/Urumqi); null for the deployment's FENGQIAO_TIME_ZONE. An unknown "
        "zone, or a zone for an agency, is a 422. The station's cases are re-bucketed into its new local "
        "days (docs/reports.md).",
    ),
    "admin.list_api_tokens": op(
        "API tokens of department systems (never the tokens themselves)", "admin", (200, "ApiTokenList")
    ),
    # external tasks (docs/external-tasks.md)
    "external.list": op(
        "Waiting external tasks, without variables (admin; a worker: its token's topics)",
        "external-tasks",
        (200, "ExternalTaskList"),
        errors=(400, 403),
        params=[
            query("topicName", TOPIC, "one topic (a worker: one of its token's)"),
            query("workerId", WORKER_ID, "locked by this worker (the lock may have expired)"),
            query("locked", TRUE_FALSE, "`true`: only tasks with an unexpired lock"),
            query(
                "notLocked", TRUE_FALSE, "`true`: only tasks without one (fetchable, or waiting out a retry timeout)"
            ),
            query("withRetriesLeft", TRUE_FALSE, "`true`: no failure yet, or retries left"),
            query("noRetriesLeft", TRUE_FALSE, "`true`: retries ran out (an incident is open)"),
            query("processInstanceId", UUID, "tasks of one case"),
            query("businessKey", BUSINESS_KEY, "tasks of one case, by its business key"),
            query(
                "firstResult", {"type": "integer", "minimum": 0, "maximum": 1_000_000, "default": 0}, "skip this many"
            ),
            query(
                "maxResults",
                {"type": "integer", "minimum": 1, "maximum": 500, "default": 100},
                "at most this many (1-500, default 100)",
            ),
        ],
        description="Oldest first. A JSON array, as Camunda 7's `GET /external-task` answers; page with "
        "`firstResult` and `maxResults`. A worker's token sees only its topics (403 for another topic).",
    ),
    "external.get": op(
        "One waiting external task, without variables (admin; a worker: of its token's topics)",
        "external-tasks",
        (200, "ExternalTask"),
        errors=(403, 404),
    ),
    "external.unlock": op(
        "Release an external task's lock: fetchable again at once (admin, or the worker holding it)",
        "external-tasks",
        (204, None),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="UnlockExternalTask",
        description="A worker sends `workerId`, which must hold the lock. 409 `external_task_not_locked` "
        "(nothing changes) when the task has no unexpired lock or another worker holds it.",
    ),
    "external.set_retries": op(
        "Set an external task's retries (admin): above 0 resolves its incident, 0 opens one",
        "external-tasks",
        (200, "ExternalTask"),
        errors=(*JSON_ERRORS, 403, 404),
        body="SetExternalTaskRetries",
        description="Above 0 the task's open incident (retries ran out) is resolved as retried and the task "
        "is fetchable at once; 0 opens an incident unless one is open.",
    ),
    "external.fetch_and_lock": op(
        "Fetch and lock external tasks of the token's topics (a worker)",
        "external-tasks",
        (200, "LockedExternalTasks"),
        errors=(*JSON_ERRORS, 403),
        body="FetchAndLock",
        description="Locks up to `maxTasks` unlocked or expired tasks of the topics for `workerId`, "
        "highest priority first. With `asyncResponseTimeout` (ms, at most 30000) it waits for a task "
        "when none is there. The token must be scoped to every topic named (403 otherwise).",
    ),
    "external.complete": op(
        "Complete an external task the worker holds",
        "external-tasks",
        (204, None),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="CompleteExternalTask",
        description="409 when the worker does not hold the lock (another does, or it expired); "
        "422 with field details when the variables do not fit the task's form.",
    ),
    "external.failure": op(
        "Report an external task's failure: retries left, retry timeout; at 0 an incident",
        "external-tasks",
        (204, None),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="ExternalTaskFailure",
    ),
    "external.extend_lock": op(
        "Extend the lock the worker holds",
        "external-tasks",
        (204, None),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="ExtendLock",
    ),
    "external.bpmn_error": op(
        "Throw a BPMN error at an external task: its error boundary event takes over",
        "external-tasks",
        (204, None),
        errors=(*JSON_ERRORS, 403, 404, 409),
        body="ExternalTaskBpmnError",
        description="409 (nothing changes) when no error boundary event on the task catches the code.",
    ),
    "admin.create_api_token": op(
        "Create an API token for a department system; shown once",
        "admin",
        (201, "ApiTokenCreated"),
        errors=(*JSON_ERRORS, 404),
        body="CreateApiToken",
    ),
    "admin.revoke_api_token": op("Revoke an API token", "admin", (204, None), errors=(404,)),
    "admin.list_cases": op(
        "Cases by definition, version, status, station and business key (admin; no personal data)",
        "admin",
        (200, "AdminCaseList"),
        errors=(400,),
        params=[
            query("process_key", PROCESS_KEY, "one process"),
            query("version", VERSION_NUMBER, "one version of it"),
            query("status", INSTANCE_STATUS, "running, suspended, completed, cancelled"),
            query("station", KEY, "the station's department key"),
            query("business_key", BUSINESS_KEY, "one case"),
            query("limit", LIMIT, "page size (1-200, default 50)"),
            query("offset", {"type": "integer", "minimum": 0, "maximum": 100000, "default": 0}, "skip this many"),
        ],
    ),
    "admin.get_case": op(
        "A case for repair: diagram state, pending timers, incidents, non-personal variables (admin)",
        "admin",
        (200, "AdminCaseDetail"),
        errors=(404,),
    ),
    "admin.element_counts": op(
        "Running cases waiting at each element of a version, and how many are breached (admin)",
        "admin",
        (200, "ElementCounts"),
        errors=(400, 404),
        params=[VERSION],
    ),
    "admin.migration_plan": op(
        "Which active tasks of the running cases of a version map onto another, which would disappear (admin)",
        "admin",
        (200, "MigrationPlan"),
        errors=(400, 404, 422),
        params=[
            query("from", VERSION_NUMBER, "the version the cases run on (required)"),
            query("to", VERSION_NUMBER, "the version to move them to (required)"),
            query("instance_id", UUID, "one case"),
        ],
    ),
    "metrics.scrape": op(
        "Prometheus metrics (admin)",
        "admin",
        (200, None),
        media={"text/plain": {"schema": STR}},
        description="The text exposition format: request, unit-of-work, task, SLA and timer counters and "
        "gauges read from the database at scrape time (docs/admin.md). `fengqiao metrics --bind` serves "
        "the same without a token on an address of its own.",
    ),
    "admin.migrate": op(
        "Migrate running cases to another version (admin, audited)",
        "admin",
        (200, "MigrationResult"),
        errors=(*JSON_ERRORS, 404, 409),
        body="Migrate",
    ),
    # notifications
    "notifications.list_my_channels": op("My notification channels", "notifications", (200, "ChannelList")),
    "notifications.create_my_channel": op(
        "Add a notification channel for me (WeCom, DingTalk robot, e-mail)",
        "notifications",
        (201, "Channel"),
        errors=(*JSON_ERRORS,),
        body="CreateChannel",
    ),
    "notifications.update_my_channel": op(
        "Change, pause or re-enable one of my channels",
        "notifications",
        (200, "Channel"),
        errors=(*JSON_ERRORS, 404),
        body="UpdateChannel",
    ),
    "notifications.delete_my_channel": op("Remove one of my channels", "notifications", (204, None), errors=(404,)),
    "notifications.list_department_channels": op(
        "A department's notification channels (admin)", "notifications", (200, "ChannelList"), errors=(404,)
    ),
    "notifications.create_department_channel": op(
        "Add a channel for a department's group (admin)",
        "notifications",
        (201, "Channel"),
        errors=(*JSON_ERRORS, 404),
        body="CreateChannel",
    ),
    "notifications.update_department_channel": op(
        "Change a department's channel (admin)",
        "notifications",
        (200, "Channel"),
        errors=(*JSON_ERRORS, 404),
        body="UpdateChannel",
    ),
    "notifications.delete_department_channel": op(
        "Remove a department's channel (admin)", "notifications", (204, None), errors=(404,)
    ),
    "notifications.list_deliveries": op(
        "Notification deliveries by state (admin); `failing` by default",
        "notifications",
        (200, "DeliveryList"),
        errors=(400,),
        params=[
            query(
                "state",
                enum([*DeliveryState, "failing"]) | {"default": "failing"},
                "failing (given up, or retrying after 3 failures), pending, delivered or failed",
            ),
            query("limit", {"type": "integer", "minimum": 1, "maximum": 500, "default": 100}, "at most (1-500)"),
        ],
    ),
    "notifications.get_delivery": op(
        "A delivery with every attempt (admin)", "notifications", (200, "DeliveryDetail"), errors=(404,)
    ),
    "notifications.resend_delivery": op(
        "Send a delivery again now, with a fresh round of retries (admin)",
        "notifications",
        (200, "DeliveryDetail"),
        errors=(*JSON_ERRORS, 404),
    ),
    # KPI reports (issue 21, docs/reports.md)
    "reports.bulletin": op(
        "The period's bulletin: figures for everyone in scope, per station, department and officer, "
        "the plan's targets beside them, and the open backlog now",
        "reports",
        (200, None),
        errors=(404, 422),
        params=REPORT_PARAMS,
        description="A supervisor sees their own station (naming another is a 403); an auditor every "
        "station or the one named. Periods are calendar periods in the configured time zone (ISO weeks, "
        "Monday first). No personal data: counts, shares and durations; officers by username.",
    ),
    "reports.trend": op(
        "The headline figures of consecutive weeks, months or quarters",
        "reports",
        (200, None),
        errors=(404, 422),
        params=[
            REPORT_PARAMS[0],
            query("until", PERIOD, "the last period of the series (the current one when absent)"),
            query("count", {"type": "integer", "minimum": 1, "maximum": 24, "default": 12}, "how many periods"),
            REPORT_PARAMS[2],
        ],
    ),
    "reports.export_bulletin": op(
        "The bulletin as CSV or XLSX: one row per station, department and officer, with targets and met",
        "reports",
        (200, None),
        errors=(404, 422),
        params=[*REPORT_PARAMS, query("format", {"type": "string", "enum": ["csv", "xlsx"]}, "csv (default) or xlsx")],
        media={
            "text/csv": {"schema": STR},
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet": {
                "schema": {"type": "string", "format": "binary"}
            },
        },
    ),
}


# --- Standard Webhooks (issue 18, web/webhooks.py, docs/webhooks.md) ----------------------------
from webhooks.events import TYPES as WEBHOOK_TYPES  # noqa: E402

WEBHOOK_SUBSCRIPTION = all_required(
    {
        "id": UUID,
        "name": STR,
        "department": nullable(STR),
        "hint": STR,
        "events": array(STR),
        "active": BOOL,
        "consecutive_failures": INT,
        "disabled_reason": nullable(STR),
        "previous_secret_until": nullable(TIME),
        "created_at": TIME,
        "updated_at": TIME,
    }
)
WEBHOOK_ATTEMPT = all_required(
    {"at": TIME, "ok": BOOL, "status_code": nullable(INT), "duration_ms": INT, "error": nullable(STR)}
)
WEBHOOK_DELIVERY = all_required(
    {
        "id": INT,
        "webhook_id": STR,
        "event_type": STR,
        "instance_id": nullable(STR),
        "task_id": nullable(STR),
        "subscription": all_required({"id": UUID, "name": STR, "active": BOOL}),
        "state": enum(DeliveryState),
        "attempts": INT,
        "next_attempt_at": nullable(TIME),
        "last_error": nullable(STR),
        "created_at": TIME,
        "delivered_at": nullable(TIME),
        "attempt_log": array(WEBHOOK_ATTEMPT),
    }
)
INBOUND_SECRET = all_required(
    {"department": STR, "previous_secret_until": nullable(TIME), "created_at": TIME, "updated_at": TIME}
)
RESPONSE_SCHEMAS.update(
    {
        "WebhookSubscription": WEBHOOK_SUBSCRIPTION,
        "WebhookSubscriptionCreated": obj(
            {**WEBHOOK_SUBSCRIPTION["properties"], "secret": STR},
            [*WEBHOOK_SUBSCRIPTION["required"], "secret"],
            description="`secret` (whsec_...) is shown here once",
        ),
        "WebhookSubscriptionList": all_required({"items": array(ref("WebhookSubscription"))}),
        "WebhookDelivery": WEBHOOK_DELIVERY,
        "WebhookDeliveryList": all_required({"items": array(ref("WebhookDelivery"))}),
        "InboundSecret": INBOUND_SECRET,
        "InboundSecretCreated": obj(
            {**INBOUND_SECRET["properties"], "secret": STR}, [*INBOUND_SECRET["required"], "secret"]
        ),
        "InboundSecretList": all_required({"items": array(ref("InboundSecret"))}),
        "InboundResult": all_required(
            {"instance_id": STR, "business_key": nullable(STR), "status": nullable(STR), "replayed": BOOL}
        ),
    }
)
WEBHOOK_URL = {"type": "string", "minLength": 1, "maxLength": 2000}
WEBHOOK_EVENTS = array(enum(WEBHOOK_TYPES), minItems=1, maxItems=len(WEBHOOK_TYPES))
GRACE = {"type": "integer", "minimum": 0, "maximum": 7 * 86400}
REQUEST_SCHEMAS.update(
    {
        "CreateWebhookSubscription": obj(
            {
                "url": WEBHOOK_URL,
                "events": WEBHOOK_EVENTS,
                "department": KEY,
                "name": {"type": "string", "minLength": 1, "maxLength": 100},
            },
            ["url", "events"],
            closed=True,
            description="A department's subscription (events concerning it) or an integration's by `name` "
            "(every event of its types). Private, loopback and link-local URLs are refused unless allow-listed.",
            examples=[
                {
                    "department": "civil_affairs",
                    "url": "https://minzheng.example/hooks",
                    "events": ["escalation.raised"],
                }
            ],
        ),
        "UpdateWebhookSubscription": obj(
            {"url": WEBHOOK_URL, "events": WEBHOOK_EVENTS, "active": BOOL}, closed=True, minProperties=1
        ),
        "RotateSecret": obj({"grace_seconds": GRACE}, closed=True),
    }
)
WEBHOOK_ADMIN_ERRORS = (*JSON_ERRORS, 404)
OPERATIONS.update(
    {
        "webhooks.list_subscriptions": op(
            "Webhook subscriptions (admin)", "webhooks", (200, "WebhookSubscriptionList")
        ),
        "webhooks.create_subscription": op(
            "Subscribe a department's or an integration's system to events; the secret is shown once",
            "webhooks",
            (201, "WebhookSubscriptionCreated"),
            errors=WEBHOOK_ADMIN_ERRORS,
            body="CreateWebhookSubscription",
        ),
        "webhooks.get_subscription": op("A webhook subscription (admin)", "webhooks", (200, "WebhookSubscription")),
        "webhooks.update_subscription": op(
            "Change, pause or re-enable a subscription (admin)",
            "webhooks",
            (200, "WebhookSubscription"),
            errors=WEBHOOK_ADMIN_ERRORS,
            body="UpdateWebhookSubscription",
        ),
        "webhooks.delete_subscription": op("Remove a subscription (admin)", "webhooks", (204, None)),
        "webhooks.rotate_secret": op(
            "A new signing secret, shown once; the previous one also signs for `grace_seconds` (default a day)",
            "webhooks",
            (200, "WebhookSubscriptionCreated"),
            errors=WEBHOOK_ADMIN_ERRORS,
            body="RotateSecret",
        ),
        "webhooks.subscription_deliveries": op(
            "A subscription's deliveries with every attempt, newest first (admin)",
            "webhooks",
            (200, "WebhookDeliveryList"),
            params=[query("limit", LIMIT, "at most (1-200)")],
        ),
        "webhooks.event_deliveries": op(
            "One event's deliveries (by webhook-id) with every attempt (admin)",
            "webhooks",
            (200, "WebhookDeliveryList"),
        ),
        "webhooks.resend": op(
            "Send a webhook delivery again now, same webhook-id, fresh retries (admin)",
            "webhooks",
            (200, "WebhookDelivery"),
            errors=WEBHOOK_ADMIN_ERRORS,
        ),
        "webhooks.list_inbound_secrets": op(
            "Departments that may post signed results (admin; secrets are never shown again)",
            "webhooks",
            (200, "InboundSecretList"),
        ),
        "webhooks.rotate_inbound_secret": op(
            "Set or rotate a department's inbound secret, shown once (admin)",
            "webhooks",
            (200, "InboundSecretCreated"),
            errors=WEBHOOK_ADMIN_ERRORS,
            body="RotateSecret",
        ),
        "webhooks.receive": op(
            "A department's system reports its result for a case, signed per Standard Webhooks",
            "webhooks",
            (200, "InboundResult"),
            errors=(400, 401, 404, 409, 413, 422),
            description="No bearer token: the request is authenticated by `webhook-id`, `webhook-timestamp` "
            "and `webhook-signature` under the department's inbound secret, checked before anything else "
            '(401). Body: `{"business_key"|"instance_id", "payload"}` (the department_result form). '
            "A replay of a webhook-id answers 200 with `replayed: true` and changes nothing.",
        ),
    }
)

STATUS_TEXT = {
    400: "Malformed request: not JSON, bad query parameters",
    401: "No token, or an expired or revoked one",
    403: "The caller's role may not do this",
    404: "No such object, or one the caller may not know exists",
    409: "The state moved on: already claimed, completed, not running, a race lost",
    413: "The body is too large",
    415: "Wrong media type",
    422: "Invalid fields (details name each one)",
    429: "Too many attempts",
    503: "Not ready: the database does not answer",
}

_CONVERTER = re.compile(r"<(?:(?P<conv>[a-zA-Z_]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")


def _path_and_params(rule) -> tuple[str, list[dict[str, Any]]]:
    params = []
    for match in _CONVERTER.finditer(rule.rule):
        conv, name = match.group("conv") or "default", match.group("name")
        schema: dict[str, Any]
        if conv == "uuid":
            schema = UUID
        elif conv == "int":
            schema = {"type": "integer", "minimum": 1, "maximum": MAX_ID}
        else:
            schema = PATH_SCHEMAS.get(name, {"type": "string"})
        params.append({"name": name, "in": "path", "required": True, "schema": schema})
    return _CONVERTER.sub(lambda m: "{" + m.group("name") + "}", rule.rule), params


def api_rules(app: Flask):
    """The routes the document describes: /healthz, /metrics and everything under /api/v1."""
    return [
        r
        for r in app.url_map.iter_rules()
        if r.endpoint != "static" and (r.rule.startswith(API + "/") or r.rule in ("/healthz", "/metrics"))
    ]


def _error(status: int) -> dict[str, Any]:
    return {"description": STATUS_TEXT.get(status, "Error"), "content": {"application/json": {"schema": ref("Error")}}}


class OpenApi:
    """The document, built once per app, and the lookups web.parsing needs."""

    def __init__(self, app: Flask):
        self._by_endpoint: dict[str, dict[str, Any]] = {}
        # request-body validators, compiled once: a body without a schema may only be `{}`
        self._validators = {name: parsing.compile_schema(schema) for name, schema in REQUEST_SCHEMAS.items()}
        self._no_body = parsing.compile_schema(parsing.EMPTY)
        self.document = self._build(app)

    def operation(self, endpoint: str | None) -> dict[str, Any]:
        """An endpoint's metadata, its `parameters`, its `query` (name -> schema) and its body `validator`."""
        return self._by_endpoint[endpoint or ""]

    def _build(self, app: Flask) -> dict[str, Any]:
        paths: dict[str, dict[str, Any]] = {}
        for rule in sorted(api_rules(app), key=lambda r: r.rule):
            meta = OPERATIONS[rule.endpoint]
            path, path_params = _path_and_params(rule)
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                operation = self._operation(rule.endpoint, meta, path_params)
                paths.setdefault(path, {})[method.lower()] = operation
                parameters = operation.get("parameters", [])
                self._by_endpoint[rule.endpoint] = {
                    **meta,
                    "parameters": parameters,
                    "query": {p["name"]: p["schema"] for p in parameters if p["in"] == "query"},
                    "validator": self._validators[meta["body"]] if meta["body"] else self._no_body,
                }
        return {
            "openapi": "3.1.0",
            "info": {
                "title": "Fengqiao (枫桥) API",
                "version": "1.0.0",
                "description": "Community-police dispute handling on BPMN: report, handle, escalate, feed back. "
                "Every endpoint except /healthz, /api/v1/openapi.json and login needs "
                '`Authorization: Bearer <token>`. Errors are `{"error": {"code", "message", '
                '"details"}}`. See docs/api.md.',
            },
            "servers": [{"url": "/"}],
            "security": [{"bearerAuth": []}],
            "tags": [
                {"name": t}
                for t in (
                    "auth",
                    "definitions",
                    "instances",
                    "tasks",
                    "attachments",
                    "messages",
                    "signals",
                    "history",
                    "incidents",
                    "external-tasks",
                    "admin",
                    "notifications",
                    "webhooks",
                    "collaboration",
                    "copies",
                    "reports",
                    "health",
                )
            ],
            "paths": paths,
            "components": {
                "securitySchemes": {
                    "bearerAuth": {
                        "type": "http",
                        "scheme": "bearer",
                        "description": "a session token from /api/v1/auth/login, or a department system's API token",
                    }
                },
                "schemas": {**copy.deepcopy(RESPONSE_SCHEMAS), **copy.deepcopy(REQUEST_SCHEMAS)},
            },
        }

    @staticmethod
    def _operation(endpoint: str, meta: dict[str, Any], path_params: list[dict[str, Any]]) -> dict[str, Any]:
        roles = access.roles_of(endpoint)
        public = roles is None
        status, schema = meta["ok"]
        success: dict[str, Any] = {"description": "OK" if status < 300 else "Created"}
        if meta["media"]:
            success["content"] = meta["media"]
        elif schema:
            success["content"] = {"application/json": {"schema": ref(schema)}}
        elif status == 204:
            success["description"] = "Done; no content"
        else:
            success["content"] = {"application/json": {"schema": OBJ}}
        responses: dict[str, Any] = {str(status): success}
        if endpoint == "definitions.deploy":
            responses["200"] = {
                "description": "Every process was unchanged",
                "content": {"application/json": {"schema": ref("DeployResult")}},
            }
        errors = set(meta["errors"])
        if not public:
            errors |= {401, 403}
        if path_params:
            errors.add(404)
        if meta["params"]:
            errors.add(400)
        for code in sorted(errors):
            responses[str(code)] = _error(code)
        operation: dict[str, Any] = {
            "operationId": endpoint.replace(".", "_"),
            "summary": meta["summary"],
            "tags": [meta["tag"]],
            "responses": responses,
        }
        description = meta["description"]
        if roles is not None:
            description = (description + "\n\n" if description else "") + "Roles: " + ", ".join(roles) + "."
            operation["x-roles"] = list(roles)
        else:
            operation["security"] = []
        if description:
            operation["description"] = description
        parameters = path_params + meta["params"]
        if parameters:
            operation["parameters"] = parameters
        if meta["body"]:
            operation["requestBody"] = {
                "required": meta["body"] not in ("CompleteTask",),
                "content": {"application/json": {"schema": ref(meta["body"])}},
            }
        elif meta["upload"]:
            operation["requestBody"] = {
                "required": True,
                "content": {"multipart/form-data": {"schema": meta["upload"]}},
            }
        elif endpoint in ("definitions.deploy", "definitions.validate"):
            operation["requestBody"] = {
                "required": True,
                "content": {
                    "application/xml": {"schema": STR},
                    "application/json": {"schema": ref("DeployBundle")},
                    "multipart/form-data": {
                        "schema": obj({"files": array({"type": "string", "format": "binary"}), "comment": STR})
                    },
                },
            }
        return operation
