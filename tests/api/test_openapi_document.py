"""The OpenAPI document and the code cannot drift: every route is described and has an access
decision, every description and role entry has a route, and docs/api.md names every path."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from web import access, openapi

ROOT = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.backends("sqlite")


def routes(app) -> set[tuple[str, str]]:
    found = set()
    for rule in openapi.api_rules(app):
        path = re.sub(r"<(?:[^:>]+:)?(\w+)>", r"{\1}", rule.rule)
        found |= {(method, path) for method in rule.methods - {"HEAD", "OPTIONS"}}
    return found


def documented(document) -> set[tuple[str, str]]:
    return {(method.upper(), path) for path, item in document["paths"].items() for method in item}


def test_every_route_is_in_the_document_and_every_documented_operation_is_a_route(app, client):
    document = client.get("/api/v1/openapi.json").json
    assert document["openapi"] == "3.1.0"
    assert documented(document) == routes(app)


def test_every_endpoint_has_a_description_and_an_access_decision_and_nothing_is_left_over(app):
    endpoints = {rule.endpoint for rule in openapi.api_rules(app)}
    assert endpoints == set(openapi.OPERATIONS)
    assert endpoints - access.PUBLIC == set(access.ENDPOINT_ROLES)
    assert all(set(roles) <= {*access.HUMANS, "system"} for roles in access.ENDPOINT_ROLES.values())


def test_roles_in_the_document_are_the_roles_the_server_enforces(client):
    document = client.get("/api/v1/openapi.json").json
    for item in document["paths"].values():
        for operation in item.values():
            endpoint = operation["operationId"].replace("_", ".", 1)
            expected = access.roles_of(endpoint)
            assert operation.get("x-roles") == (list(expected) if expected is not None else None), endpoint
            assert ("security" in operation and operation["security"] == []) == (expected is None)


def test_every_schema_is_valid_json_schema_and_every_reference_resolves(client):
    document = client.get("/api/v1/openapi.json").json
    schemas = document["components"]["schemas"]
    for schema in schemas.values():
        Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"\$ref": "#/components/schemas/(\w+)"', json.dumps(document)))
    assert refs and refs <= set(schemas)


def test_every_path_is_explained_in_docs_api_md(app):
    text = (ROOT / "docs" / "api.md").read_text(encoding="utf-8")
    missing = sorted(
        f"{m} {p}" for m, p in routes(app) if f"{m} {p.removeprefix('/api/v1')}" not in text and f"{m} {p}" not in text
    )
    assert not missing, f"docs/api.md does not mention: {missing}"


def test_the_document_needs_no_token(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
