"""Every error handler: each exception a request can end in, answered as problem details.

What each problem is, and where it is raised, is api/problems.py. This module turns them into
responses: `ApiError` (a problem raised by our code), werkzeug's HTTPExceptions (routing,
Flask, webargs: `http_exception_response`, which api/spec.py's Api calls, as flask-smorest
wants), and the outcomes of storage that always answer the same problem (STORAGE_PROBLEMS).
"""

import logging
from collections.abc import Mapping
from typing import Any, cast

import flask
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from api import crud, idempotency, problems
from api.db import DatabaseUnavailable
from api.problems import ApiError, problem_document, title

log = logging.getLogger(__name__)

WEBARGS_LOCATIONS = {"json", "query", "querystring", "form", "headers", "cookies", "files", "path"}

# Storage outcomes that always answer the same problem.
STORAGE_PROBLEMS: dict[type[Exception], problems.Problem] = {
    crud.EmailTaken: problems.EMAIL_TAKEN,
    crud.VersionMismatch: problems.PRECONDITION_FAILED,
    crud.TooManySkills: problems.TOO_MANY_SKILLS,
    idempotency.KeyReused: problems.IDEMPOTENCY_KEY_REUSED,
    idempotency.KeyInUse: problems.IDEMPOTENCY_KEY_IN_USE,
    DatabaseUnavailable: problems.DATABASE_UNAVAILABLE,
}


def problem_body(error: ApiError) -> dict[str, Any]:
    """The problem details of an error of the current request."""
    return problem_document(
        error.status,
        error.code,
        error.detail,
        # The path as the client asked for it, behind ROOT_PATH too.
        path=flask.request.script_root + flask.request.path,
        request_id=flask.g.get("request_id"),
        errors=error.errors,
    )


def problem_response(
    body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
) -> flask.Response:
    """A problem+json response with this body."""
    # Flask types its JSON provider's response as werkzeug's; the app's is a flask.Response.
    response = cast(flask.Response, flask.current_app.json.response(body))
    response.status_code = body["status"]
    response.mimetype = problems.PROBLEM_JSON
    response.headers.update(headers or {})
    return response


def api_error_response(error: ApiError) -> flask.Response:
    """The response answering an ApiError."""
    return problem_response(problem_body(error), headers=error.headers)


def http_exception_response(error: HTTPException) -> flask.Response:
    """The response answering a werkzeug HTTPException, with its headers (Allow on a 405)."""
    status = error.code or 500
    data = getattr(error, "data", None) or {}
    headers = dict(data.get("headers") or {})
    if isinstance(error, MethodNotAllowed) and error.valid_methods:
        # flask-smorest drops the Allow header werkzeug puts on 405s; RFC 9110 requires it.
        headers["Allow"] = ", ".join(sorted(error.valid_methods))
    messages = data.get("errors") or data.get("messages")
    if messages and set(messages) <= WEBARGS_LOCATIONS:
        # webargs nests messages under the request location; a request fails validation
        # in one location at a time, so the field names alone are unambiguous.
        messages = {field: m for located in messages.values() for field, m in located.items()}
    detail = data.get("message") or error.description or title(status)
    if status == 422 and messages:
        detail = problems.VALIDATION_FAILED.detail
    if status >= 500:
        detail = problems.INTERNAL_ERROR.detail
    return api_error_response(
        ApiError(
            status,
            problems.http_exception_code(status),
            detail,
            errors=problems.flatten_messages(messages) if messages else None,
            headers=headers,
        )
    )


def _storage_problem(error: Exception) -> flask.Response:
    if isinstance(error, DatabaseUnavailable):
        log.warning("MongoDB unavailable: %s", error)
    return api_error_response(STORAGE_PROBLEMS[type(error)].error())


def init_app(app: flask.Flask) -> None:
    """Register the handlers of the errors that are not HTTPExceptions."""
    app.register_error_handler(ApiError, api_error_response)
    for exception in STORAGE_PROBLEMS:
        app.register_error_handler(exception, _storage_problem)
