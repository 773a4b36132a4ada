"""One error shape for every response: `{"error": {"code", "message", "details"}}`.

Engine errors are mapped to a status once, by their `kind`; the web layer's own refusals are
`ApiError`s; werkzeug's HTTP errors (404, 405, 413 ...) get the same shape. An unexpected exception
is logged with its traceback and answered with a bare 500 that says nothing about the cause.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Flask, Response, current_app, jsonify, request
from werkzeug.exceptions import HTTPException

from engine.errors import EngineError

log = logging.getLogger("fengqiao.web")

STATUS_BY_KIND = {
    "invalid": 422,
    "query": 400,
    "validation": 422,
    "not_found": 404,
    "conflict": 409,
    "forbidden": 403,
    "too_large": 413,
    "unavailable": 503,
}

HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_failed",
    429: "too_many_requests",
    431: "headers_too_large",
    503: "unavailable",
}

HTTP_MESSAGES = {
    404: "no such resource",
    405: "method not allowed on this resource",
    413: "the request body is too large",
    414: "the request URL is too long",
    429: "too many requests; try again later",
    431: "the request headers are too large",
}


# the HTTP server's own refusals (error_document), where werkzeug's wording for the status would mislead
SERVER_MESSAGES = {400: "the request could not be read as HTTP", 500: "an internal error occurred; it has been logged"}


class ApiError(Exception):
    """A refusal decided by the web layer (malformed input, missing token, unknown object ...)."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        details: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ):
        super().__init__(message)
        self.status, self.code, self.message = status, code, message
        self.details = details or []
        self.headers = headers or {}


def not_found(what: str = "resource") -> ApiError:
    """The answer for objects that do not exist and for those the caller may not know exist."""
    return ApiError(404, "not_found", f"no such {what}")


def forbidden(message: str) -> ApiError:
    return ApiError(403, "forbidden", message)


def error_response(
    status: int,
    code: str,
    message: str,
    details: list[dict[str, Any]] | None = None,
    headers: dict[str, str] | None = None,
) -> Response:
    response = jsonify({"error": {"code": code, "message": message, "details": details or []}})
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response


def error_document(status: int) -> bytes:
    """The one error shape as bytes, for refusals written before a request reaches the app (the
    HTTP server's own 400/414/431 ...); a fixed message, never the refused request's text."""
    code = "internal_error" if status >= 500 else HTTP_CODES.get(status, "http_error")
    message = SERVER_MESSAGES.get(status) or HTTP_MESSAGES.get(status, "the request was refused")
    return json.dumps({"error": {"code": code, "message": message, "details": []}}).encode()


def register(app: Flask) -> None:
    @app.errorhandler(EngineError)
    def engine_error(exc: EngineError):
        status = STATUS_BY_KIND.get(exc.kind, 422)
        return error_response(status, exc.code, exc.message, _safe_details(exc.details))

    @app.errorhandler(ApiError)
    def api_error(exc: ApiError):
        return error_response(exc.status, exc.code, exc.message, exc.details, exc.headers)

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        status = exc.code or 500
        if status >= 500:
            return _internal(exc)
        page = current_app.extensions.get("fengqiao.page_error")
        if page is not None and status in (404, 405) and not request.path.startswith("/api/"):
            return page(status)  # a browser off the API's paths (a mistyped page address) gets a page
        # werkzeug's own headers (Allow on 405, Retry-After on 429), minus its HTML content type
        headers = {k: v for k, v in exc.get_headers() if k.lower() != "content-type"}
        if status == 401:
            headers["WWW-Authenticate"] = 'Bearer realm="fengqiao"'
        message = HTTP_MESSAGES.get(status) or (exc.description or exc.name).split("\n")[0][:200]
        return error_response(status, HTTP_CODES.get(status, "http_error"), message, [], headers)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        return _internal(exc)


def _internal(exc: BaseException) -> Response:
    log.error("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "an internal error occurred; it has been logged")


def _safe_details(details: Any) -> list[dict[str, Any]]:
    """Details as a list of JSON objects, whatever an engine error carried."""
    if not isinstance(details, list):
        return []
    return [d for d in details if isinstance(d, dict)][:100]
