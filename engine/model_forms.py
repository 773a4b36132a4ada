"""Forms a model declares itself: Camunda's `camunda:formData` fields and Flowable's (Activiti's)
`formProperty`, read as the form of their user task.

In Camunda 7 and Flowable a user task with such fields takes exactly those values when its form is
submitted. Here a task takes data only through a JSON Schema form (forms/), so at deploy the fields
of a user task without a form key become one, deployed with the model under a key derived from its
content (`model_<hash>`), and the task names it: the task page renders it, completion validates
against it, and the stored model says which form the task uses.

- `id` (Flowable's `variable` when given) is the variable; `name` / `label` the field's title;
- types: `string` and `date` (text), `long` (integer), `double` (number), `boolean`, `enum` (one of
  the `value` ids); any other type is text;
- `required="true"` (Flowable) or the `required` constraint (Camunda) makes the field required;
- a field that cannot be written (`writable="false"`, the `readonly` constraint) is not part of it.

A user task with a form key keeps its form, and its fields are a warning (bpmn.py); fields on a start
event are a warning too (a case's start data is what its starter sends).
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

from forms import schema_problems

BPMN_NS = "http://www.omg.org/spec/BPMN/20100524/MODEL"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
_EXTENSIONS = (CAMUNDA_NS, "http://flowable.org/bpmn", "http://activiti.org/bpmn")
_TYPES: dict[str, dict[str, Any]] = {
    "long": {"type": "integer"},
    "integer": {"type": "integer"},
    "double": {"type": "number"},
    "boolean": {"type": "boolean"},
}
MAX_TEXT = 4000  # a text field's length, as the bundled forms allow


def has_form_key(element) -> bool:
    return any(element.get(f"{{{ns}}}formKey") for ns in _EXTENSIONS)


def translate(root, problems: list) -> dict[str, dict[str, Any]]:
    """Give each user task with fields and no form key the form its fields make; return the forms
    (key -> JSON Schema). `problems` gets bpmn.Problem objects."""
    from .bpmn import Problem  # bpmn calls this module: imported here to keep the import one-way

    made: dict[str, dict[str, Any]] = {}
    for task in root.iter(f"{{{BPMN_NS}}}userTask"):
        if has_form_key(task):
            continue
        fields = _fields(task)
        if not fields:
            continue
        schema, problem = _schema(task, fields)
        if problem:
            problems.append(Problem(task.get("id"), f"userTask '{task.get('id')}': {problem}"))
            continue
        key = "model_" + hashlib.sha256(json.dumps(schema, sort_keys=True).encode()).hexdigest()[:16]
        reasons = schema_problems(key, schema)
        if reasons:
            problems.append(Problem(task.get("id"), f"userTask '{task.get('id')}': its form fields {reasons[0]}"))
            continue
        task.set(f"{{{CAMUNDA_NS}}}formKey", key)
        made[key] = schema
    return made


def _fields(task) -> list[Any]:
    found = []
    for extensions in task.iterfind(f"{{{BPMN_NS}}}extensionElements"):
        for namespace in _EXTENSIONS:
            found.extend(extensions.iterfind(f"{{{namespace}}}formProperty"))
            found.extend(extensions.iterfind(f"{{{namespace}}}formData/{{{namespace}}}formField"))
    return found


def _constraints(field) -> set[str]:
    return {
        (c.get("name") or "").strip().lower()
        for namespace in _EXTENSIONS
        for c in field.iterfind(f"{{{namespace}}}validation/{{{namespace}}}constraint")
    }


def _schema(task, fields: list[Any]) -> tuple[dict[str, Any], str | None]:
    """The form's JSON Schema, or the sentence why the fields make none."""
    properties: dict[str, Any] = {}
    required: list[str] = []
    for field in fields:
        constraints = _constraints(field)
        if (field.get("writable") or "true").strip().lower() == "false" or "readonly" in constraints:
            continue
        name = (field.get("variable") or field.get("id") or "").strip()
        if not name:
            continue
        kind = (field.get("type") or "string").strip().lower()
        prop: dict[str, Any] = {"title": (field.get("name") or field.get("label") or name).strip()}
        if kind == "enum":
            values = [v for namespace in _EXTENSIONS for v in field.iterfind(f"{{{namespace}}}value") if v.get("id")]
            if not values:
                return {}, f"the enum form field '{name}' lists no values (add a value element per choice)"
            prop.update(type="string", enum=[v.get("id") for v in values])
        else:
            prop.update(_TYPES.get(kind, {"type": "string", "maxLength": MAX_TEXT}))
        properties[name] = prop
        if (field.get("required") or "").strip().lower() == "true" or "required" in constraints:
            required.append(name)
    schema: dict[str, Any] = {
        "title": (task.get("name") or task.get("id") or "").strip(),
        "type": "object",
        "additionalProperties": False,
        "properties": properties,
    }
    if required:
        schema["required"] = required
    return schema, None
