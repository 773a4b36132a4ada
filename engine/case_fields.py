"""A case's business fields (risk level, category, community): the inbox filters on them.

They live in the case's variables and are copied onto its task rows (columns of `human_tasks`, each
with an index in due order, migration 0013) when a task is created and whenever a change alters them,
so a saved view ("my area, red cases") reads its rows by index instead of checking each row's case.
Not personal: the inbox rows show them.
"""

from __future__ import annotations

from typing import Any

CASE_FIELDS = ("risk_level", "category", "community")
MAX_LENGTH = 200  # the columns' width; a longer value (never a valid choice) is not copied, so never matches


def case_field_values(variables: dict[str, Any] | None) -> dict[str, str | None]:
    """The business fields of a case's variables as the task rows store them (text, or None)."""
    values: dict[str, str | None] = {}
    for name in CASE_FIELDS:
        value = (variables or {}).get(name)
        values[name] = value if isinstance(value, str) and len(value) <= MAX_LENGTH else None
    return values
