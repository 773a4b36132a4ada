"""Fengqiao's HTTP API and workbench pages: a Flask app factory, one blueprint per area.

    gunicorn 'web:create_app()'          # production: settings from FENGQIAO_* variables
    fengqiao serve --port 8000           # the embedded default

The web layer parses, authorises (web.access), calls one engine facade and renders; it knows nothing
of SpiffWorkflow. Every API answer is JSON; every error is `{"error": {"code", "message", "details"}}`.
The browser pages (web/pages) live beside it with sessions, CSRF and translations (docs/pages.md).
"""

from __future__ import annotations

from typing import cast

from flask import Flask, current_app, request
from flask.json.provider import DefaultJSONProvider

import webhooks
from engine import Engine, Settings

from . import (
    admin,
    attachments,
    auth,
    collaboration,
    copies,
    definitions,
    errors,
    external_tasks,
    health,
    history,
    incidents,
    instances,
    messages,
    metrics,
    notifications,
    pages,
    reports,
    signals,
    tasks,
    webhook_api,
)
from .openapi import OpenApi

BLUEPRINTS = (
    health.bp,
    auth.bp,
    definitions.bp,
    instances.bp,
    tasks.bp,
    attachments.bp,
    messages.bp,
    signals.bp,
    history.bp,
    incidents.bp,
    admin.bp,
    notifications.bp,
    webhook_api.bp,
    collaboration.bp,
    copies.bp,
    external_tasks.bp,
    reports.bp,
)
DEPLOY_ENDPOINTS = ("definitions.deploy", "definitions.validate")
MAX_DOCUMENTS = definitions.MAX_DOCUMENTS


def create_app(engine: Engine | None = None, settings: Settings | None = None) -> Flask:
    """The WSGI app over `engine` (built from `settings`, else from the environment, when not given)."""
    if engine is None:
        engine = Engine(settings or Settings.from_env())
    app = Flask(__name__)
    json_provider = cast(DefaultJSONProvider, app.json)
    json_provider.ensure_ascii = False
    json_provider.sort_keys = False
    app.config["MAX_CONTENT_LENGTH"] = max(
        engine.settings.max_bpmn_bytes * MAX_DOCUMENTS + 64 * 1024, engine.settings.attachment_max_bytes + 256 * 1024
    )
    app.config["MAX_FORM_MEMORY_SIZE"] = 64 * 1024
    app.extensions["fengqiao"] = engine
    webhooks.install(engine)  # the notification relay joins the sweeper this process may run
    errors.register(app)
    metrics.init_app(app, engine)  # first: its timing starts before the other request hooks
    app.before_request(_limit_body)
    for blueprint in BLUEPRINTS:
        app.register_blueprint(blueprint)
    pages.init_app(app)  # before auth: its login form shares the API's rate limit
    auth.init_app(app)
    app.extensions["fengqiao.openapi"] = OpenApi(app)
    app.after_request(_headers)
    return app


def _limit_body() -> None:
    """JSON bodies are small; only BPMN uploads may reach MAX_CONTENT_LENGTH, attachments their own limit."""
    settings = current_app.extensions["fengqiao"].settings
    if request.endpoint in attachments.UPLOAD_ENDPOINTS:
        # one file at its largest, or several smaller ones, plus the multipart envelope
        request.max_content_length = settings.attachment_max_bytes + 256 * 1024
    elif request.endpoint not in DEPLOY_ENDPOINTS:
        request.max_content_length = settings.max_request_bytes


def _headers(response):
    response.headers.setdefault("Cache-Control", "no-store")
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
