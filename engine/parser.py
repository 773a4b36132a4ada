"""SpiffWorkflow's BPMN parser with what Fengqiao adds to it: business rule tasks bound to the
deployed decision tables (engine/decisions.py), call activities that pass variables as Camunda does
(engine/call_activities.py), input/output mappings and pass-through tasks (engine/io_mappings.py) and
signal end events.

SpiffWorkflow 3.2's end event parser knows message, cancel, error, escalation and terminate end
events only: a signal end event parsed as a plain end and threw nothing, without a word.
"""

from __future__ import annotations

from typing import Any

from SpiffWorkflow.bpmn.parser.BpmnParser import BpmnParser
from SpiffWorkflow.bpmn.parser.event_parsers import (
    CANCEL_EVENT_XPATH,
    ERROR_EVENT_XPATH,
    ESCALATION_EVENT_XPATH,
    MESSAGE_EVENT_XPATH,
    SIGNAL_EVENT_XPATH,
    TERMINATION_EVENT_XPATH,
    EndEventParser,
)
from SpiffWorkflow.bpmn.parser.util import full_tag
from SpiffWorkflow.bpmn.specs.defaults import EndEvent

from . import call_activities, event_subprocesses, io_mappings
from .decisions import DecisionTask, DecisionTaskParser


class _EndEventParser(EndEventParser):
    def create_task(self):
        event_definition = self.get_event_definition(
            [
                MESSAGE_EVENT_XPATH,
                SIGNAL_EVENT_XPATH,
                CANCEL_EVENT_XPATH,
                ERROR_EVENT_XPATH,
                ESCALATION_EVENT_XPATH,
                TERMINATION_EVENT_XPATH,
            ]
        )
        task = self._create_task(event_definition)
        task.connect(self.spec.end)
        return task


class Parser(BpmnParser):
    """The parser every deployed definition goes through (engine/repository.py)."""

    OVERRIDE_PARSER_CLASSES = {
        full_tag("businessRuleTask"): (DecisionTaskParser, DecisionTask),
        full_tag("endEvent"): (_EndEventParser, EndEvent),
        # event sub-processes armed while their scope is active, interrupting or not (engine/event_subprocesses.py)
        full_tag("startEvent"): (event_subprocesses.EventStartParser, event_subprocesses.EventStart),
        **call_activities.PARSER_CLASSES,  # Camunda's camunda:in / camunda:out, not SpiffWorkflow's copy-all
        **io_mappings.PARSER_CLASSES,  # plain and manual tasks pass through; sub-processes take input parameters
    }

    PROCESS_PARSER_CLASS = event_subprocesses.ScopeProcessParser

    def __init__(self, *args, decision_tables: dict[str, dict[str, Any]] | None = None, **kwargs):
        super().__init__(*args, **kwargs)
        self.decision_tables = decision_tables or {}

    def get_spec(self, process_id, required=True):
        spec = super().get_spec(process_id, required)
        if spec is not None:  # camunda:inputOutput, read from the process's (already checked) XML
            io_mappings.attach(spec, self.get_process_parser(process_id).node)
        return spec
