"""The request's engine and actor, and small helpers every blueprint uses."""

from __future__ import annotations

from typing import Any

from flask import current_app, g, jsonify

from engine import Engine
from engine.identity import Actor

from . import parsing


def engine() -> Engine:
    return current_app.extensions["fengqiao"]


def actor() -> Actor:
    return g.actor


def args() -> dict[str, Any]:
    """The query parameters of this operation, validated against the OpenAPI document."""
    return parsing.query_args(parsing.current_operation()["query"])


def body(required: bool = True) -> dict[str, Any]:
    """The JSON body of this operation, validated against its request schema (or `{}`-only when it has none)."""
    operation = parsing.current_operation()
    return parsing.json_body(operation["validator"], required=required and operation["body"] is not None)


def created(payload: Any, status: int = 201):
    response = jsonify(payload)
    response.status_code = status
    return response


def no_content():
    return "", 204
