"""The wording of refusals: the HTTP server's own (written before the app) and werkzeug's keep
messages that fit them; neither repeats the request."""

from __future__ import annotations

import json

from werkzeug.exceptions import BadRequest

from web.errors import error_document


def test_the_servers_own_refusals_say_what_went_wrong_without_the_request():
    for status, code, words in (
        (400, "bad_request", "could not be read as HTTP"),
        (414, "uri_too_long", "URL is too long"),
        (431, "headers_too_large", "headers are too large"),
        (500, "internal_error", "internal error"),
    ):
        error = json.loads(error_document(status))["error"]
        assert error["code"] == code and words in error["message"] and error["details"] == []


def test_a_werkzeug_400_keeps_its_own_description(app):
    with app.test_request_context("/api/v1/process-definitions", method="POST"):
        response = app.handle_http_exception(BadRequest("the upload is not valid multipart data"))
    assert response.status_code == 400
    assert response.json["error"] == {
        "code": "bad_request",
        "message": "the upload is not valid multipart data",
        "details": [],
    }
