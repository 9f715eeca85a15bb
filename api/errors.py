"""Every error response: one RFC 9457 shape, `application/problem+json`.

    {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "...",
     "instance": "/api/v1/users/...", "code": "not_found", "errors": {"field": ["message"]}}

`title` is the status's reason phrase as RFC 9110 words it ("Content Too Large") and `code`
the stable, machine-readable cause. `errors` is present for validation failures only, and lists
at most MAX_ERROR_FIELDS fields (`detail` says when there were more). Where each error comes
from:

    werkzeug HTTPException, raised by routing, Flask, webargs or abort()
      400 BadRequest              bad_request
      404 NotFound                not_found         unknown route or malformed id
      405 MethodNotAllowed        method_not_allowed    with Allow
      413 RequestEntityTooLarge   payload_too_large     body over MAX_BODY_BYTES
      422 UnprocessableEntity     validation_failed     with errors (webargs, marshmallow)
      429 RateLimitExceeded       rate_limited          Flask-Limiter's; with Retry-After
      500 InternalServerError     internal_error        any uncaught exception: logged, never shown
    ApiError                      raised by our views with its own status and code
      400 malformed_json, invalid_query, invalid_cursor, invalid_idempotency_key
      404 not_found, 412 precondition_failed, 415 unsupported_media_type, 422 validation_failed
      428 precondition_required (REQUIRE_IF_MATCH)
      409 not_deleted             restoreUser of a user that is not in the trash
      400 json_limit_exceeded, 414 uri_too_long                  (api/inputs.py)
      401 api_key_required, api_key_invalid, 403 insufficient_scope  (api/security.py)
    crud.EmailTaken               409 email_taken
    crud.TooManySkills            409 too_many_skills
    crud.KeyInUse                 409 idempotency_key_in_use   with Retry-After
    crud.KeyReused                422 idempotency_key_reused
    crud.VersionMismatch          412 precondition_failed
    db.DatabaseUnavailable        503 database_unavailable  with Retry-After
    cancelled at shutdown         503 shutting_down         with Retry-After (api/serving.py):
                                  still running when GRACEFUL_TIMEOUT is over
    answered before Flask (api/serving.py), with Connection: close or Retry-After
      408 body_timeout            the body did not arrive within BODY_TIMEOUT
      503 overloaded              the worker already has MAX_IN_FLIGHT requests
"""

import http
import itertools
import logging
from collections.abc import Callable, Mapping
from typing import Any
from urllib.parse import quote

import flask
import flask_smorest
from apispec import BasePlugin
from flask_smorest.utils import prepare_response
from werkzeug.exceptions import HTTPException, MethodNotAllowed

from api import crud
from api.db import DatabaseUnavailable
from api.schemas import ProblemSchema

log = logging.getLogger(__name__)

PROBLEM_JSON = "application/problem+json"

# What RFC 3986 allows unencoded in a path, besides letters, digits and "_.-~".
PATH_CHARACTERS = "/:@!$&'()*+,;="

# Seconds a client should wait before retrying when MongoDB is unavailable.
RETRY_AFTER_SECONDS = 5

# RFC 9110 renamed these; Python's http.HTTPStatus still has the RFC 7231 phrases.
RFC_9110_TITLES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}


def title(status: int) -> str:
    """The reason phrase of an HTTP status, as RFC 9110 gives it: a problem's `title`."""
    return RFC_9110_TITLES.get(status) or http.HTTPStatus(status).phrase


WEBARGS_LOCATIONS = {"json", "query", "querystring", "form", "headers", "cookies", "files", "path"}

CODES = {
    400: "bad_request",
    404: "not_found",
    405: "method_not_allowed",
    409: "conflict",
    412: "precondition_failed",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    422: "validation_failed",
    428: "precondition_required",
    429: "rate_limited",
    500: "internal_error",
    503: "service_unavailable",
}


# The error responses of the spec: what each status means here, with an example `code` and
# `detail` (Swagger UI and ReDoc show the example; SDKs type the body with ProblemSchema).
DOCUMENTED: dict[int, tuple[str, str, str]] = {
    400: (
        "The request body is not valid JSON (`malformed_json`); or the query arguments contradict "
        "each other (`invalid_query`), a cursor was not made by this API (`invalid_cursor`), or "
        "`Idempotency-Key` is malformed (`invalid_idempotency_key`).",
        "malformed_json",
        "The request body is not valid JSON.",
    ),
    401: (
        "A key is needed and `X-API-Key` is missing (`api_key_required`, with "
        "`WWW-Authenticate`) or is no configured key (`api_key_invalid`).",
        "api_key_required",
        "This operation needs an API key in the X-API-Key header.",
    ),
    403: (
        "The API key lacks the scope the method needs: `write`, or `read` with "
        "API_KEYS_FOR_READS (`insufficient_scope`).",
        "insufficient_scope",
        "This API key does not have the write scope.",
    ),
    404: (
        "No user has this id, or the id is not a 24-hex-character ObjectId.",
        "not_found",
        "No user with id 6566f0c4e1b2c3d4e5f60718.",
    ),
    405: (
        "The path does not support this method (`method_not_allowed`); `Allow` lists those "
        "it does.",
        "method_not_allowed",
        "The method is not allowed for the requested URL.",
    ),
    409: (
        "The email belongs to another user, compared case-insensitively (`email_taken`); the "
        "user already has 50 skills (`too_many_skills`); the first request with this "
        "`Idempotency-Key` is still running (`idempotency_key_in_use`, with `Retry-After`); or "
        "a user to restore from the trash is not in it (`not_deleted`).",
        "email_taken",
        "Another user already has this email address.",
    ),
    412: (
        "`If-Match` holds no current ETag of the user: it changed since it was read.",
        "precondition_failed",
        "The user has changed since the ETag given in If-Match; fetch it again.",
    ),
    413: (
        "The request body is larger than MAX_BODY_BYTES.",
        "payload_too_large",
        "The data value transmitted exceeds the capacity limit.",
    ),
    414: (
        "The query string is longer than MAX_QUERY_BYTES (`uri_too_long`).",
        "uri_too_long",
        "The query string is longer than 2048 bytes.",
    ),
    415: (
        "The request body is not `application/json`.",
        "unsupported_media_type",
        "Send the request body as JSON, with Content-Type: application/json.",
    ),
    422: (
        "The body or the query string does not match the schema; `errors` lists each field "
        "(`validation_failed`). Or the `Idempotency-Key` came with a different request before "
        "(`idempotency_key_reused`).",
        "validation_failed",
        "The request does not match the schema; see errors.",
    ),
    428: (
        "REQUIRE_IF_MATCH is on and the write has no `If-Match`: send the user's ETag.",
        "precondition_required",
        "This server requires If-Match with the user's current ETag on every write.",
    ),
    429: (
        "The client exceeded RATE_LIMIT (`rate_limited`); retry after `Retry-After` seconds.",
        "rate_limited",
        "Too many requests: retry after the time in Retry-After.",
    ),
    500: (
        "A bug: logged with its traceback on the server, never detailed to the client.",
        "internal_error",
        "The server failed to handle this request. The error has been logged.",
    ),
    503: (
        "MongoDB did not answer within MONGODB_TIMEOUT_MS (`database_unavailable`), or the "
        "worker already has MAX_IN_FLIGHT requests (`overloaded`); retry after `Retry-After` "
        "seconds.",
        "database_unavailable",
        "The database is not reachable right now; retry later.",
    ),
}
EXAMPLE_ERRORS = {
    409: {"email": ["Already in use (emails are compared case-insensitively)."]},
    422: {"email": ["Not a valid email address."], "experience.years": ["Not a valid integer."]},
}


def _header(description: str, example: Any, schema_type: str = "string") -> dict[str, Any]:
    return {"description": description, "schema": {"type": schema_type, "example": example}}


RETRY_AFTER = _header("Seconds to wait before retrying.", RETRY_AFTER_SECONDS, "integer")
# Sent by api/limits.py on every response of a rate-limited operation; components of the
# spec, which responses name (RATE_LIMIT_HEADER_REFS).
RATE_LIMIT_HEADERS = {
    "RateLimit-Limit": _header("Requests allowed in the window (RATE_LIMIT).", 600, "integer"),
    "RateLimit-Remaining": _header("Requests left in the current window.", 599, "integer"),
    "RateLimit-Reset": _header("Seconds until the window frees a request.", 60, "integer"),
    "RateLimit-Policy": _header("The limit and its window in seconds.", "600;w=60"),
}
RATE_LIMIT_HEADER_REFS = {name: name for name in RATE_LIMIT_HEADERS}
# Headers of an error response besides the rate-limit ones, by status.
ERROR_HEADERS: dict[int, dict[str, dict[str, Any]]] = {
    401: {
        "WWW-Authenticate": _header(
            "The challenge: which header carries the key.",
            'ApiKey realm="users-api", header="X-API-Key"',
        )
    },
    405: {"Allow": _header("The methods this path supports.", "GET, HEAD, OPTIONS")},
    409: {
        "Retry-After": _header(
            "With `idempotency_key_in_use` only: seconds to wait before retrying.", 1, "integer"
        )
    },
    429: {"Retry-After": RETRY_AFTER},
    503: {"Retry-After": RETRY_AFTER},
}
# Refused before the rate limiter counts the request (api/inputs.py), so without its headers.
UNCOUNTED = frozenset({414})


def documented_response(status: int, description: str) -> dict[str, Any]:
    """The spec's response for an error status: problem+json, with an example when documented."""
    response: dict[str, Any] = {"description": description, "schema": ProblemSchema}
    if status in DOCUMENTED:
        response["description"], code, detail = DOCUMENTED[status]
        response["example"] = {
            "type": "about:blank",
            "title": title(status),
            "status": int(status),  # not an HTTPStatus, which YAML cannot write
            "detail": detail,
            "instance": "/api/v1/users/6566f0c4e1b2c3d4e5f60718",
            "code": code,
            **({"errors": EXAMPLE_ERRORS[status]} if status in EXAMPLE_ERRORS else {}),
        }
    headers = {**ERROR_HEADERS.get(status, {})}
    if status not in UNCOUNTED:
        headers.update(RATE_LIMIT_HEADER_REFS)
    response["headers"] = headers
    return response


class ApiError(Exception):
    """An error a view answers with: its status, code and a sentence for the client."""

    def __init__(
        self,
        status: int,
        code: str,
        detail: str,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status = status
        self.code = code
        self.detail = detail
        self.errors = errors
        self.headers = dict(headers or {})


# Most fields an `errors` member lists, and most messages for each: the answer to a refused
# request stays small whatever it held (a list of 1,000 wrong values is 1,000 fields).
MAX_ERROR_FIELDS = 10
MAX_FIELD_MESSAGES = 3


def problem_document(
    status: int,
    code: str,
    detail: str,
    *,
    path: str,
    request_id: str | None,
    errors: Mapping[str, list[str]] | None = None,
) -> dict[str, Any]:
    """The problem details of an error of a request for `path`.

    `errors` lists at most MAX_ERROR_FIELDS fields (the first ones), each with at most
    MAX_FIELD_MESSAGES messages; when fields are left out, `detail` says how many there were.
    """
    if errors and len(errors) > MAX_ERROR_FIELDS:
        detail = f"{detail} The first {MAX_ERROR_FIELDS} of {len(errors)} fields are listed."
    body: dict[str, Any] = {
        "type": "about:blank",
        "title": title(status),
        "status": status,
        "detail": detail,
        # A URI reference: percent-encoded, whatever bytes a hostile path held.
        "instance": quote(path, safe=PATH_CHARACTERS),
        "code": code,
    }
    if errors:
        listed = itertools.islice(errors.items(), MAX_ERROR_FIELDS)
        body["errors"] = {field: messages[:MAX_FIELD_MESSAGES] for field, messages in listed}
    if request_id is not None:
        body["request_id"] = request_id
    return body


def problem_body(
    status: int, code: str, detail: str, *, errors: Mapping[str, list[str]] | None = None
) -> dict[str, Any]:
    """The problem details of an error of the current request (see problem_document)."""
    return problem_document(
        status,
        code,
        detail,
        path=flask.request.path,
        request_id=flask.g.get("request_id"),
        errors=errors,
    )


def email_taken_body() -> dict[str, Any]:
    return problem_body(
        409,
        "email_taken",
        "Another user already has this email address.",
        errors={"email": ["Already in use (emails are compared case-insensitively)."]},
    )


def problem(
    status: int,
    code: str,
    detail: str,
    *,
    errors: Mapping[str, list[str]] | None = None,
    headers: Mapping[str, str] | None = None,
) -> flask.Response:
    """Return the problem+json response for this error."""
    return problem_response(problem_body(status, code, detail, errors=errors), headers=headers)


def problem_response(
    body: Mapping[str, Any], *, headers: Mapping[str, str] | None = None
) -> flask.Response:
    response = flask.current_app.json.response(body)
    response.status_code = body["status"]
    response.mimetype = PROBLEM_JSON
    response.headers.update(headers or {})
    return response


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"dotted.path": ["message", ...]}."""
    if isinstance(messages, list):
        return {prefix or "_schema": [str(message) for message in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        flat.update(flatten_messages(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat


OperationDocumenter = Callable[[str, str, dict[str, Any]], None]


class OperationDocs(BasePlugin):
    """Lets the parts of the app that act on many operations at once (API keys, rate limits,
    input limits) document each operation they apply to.

    A documenter is called with the blueprint name, the HTTP method and the operation, and
    decides by the same rule that guards the requests, so a new route is documented as it is
    guarded.
    """

    def __init__(self) -> None:
        super().__init__()
        self.documenters: list[OperationDocumenter] = []

    def operation_helper(
        self, path: str | None = None, operations: dict[str, Any] | None = None, **kwargs: Any
    ) -> None:
        rule = kwargs.get("rule")
        if rule is None or operations is None:
            return
        blueprint = rule.endpoint.partition(".")[0]
        for method, operation in operations.items():
            for document in self.documenters:
                document(blueprint, method.upper(), operation)


def add_error_responses(operation: dict[str, Any], *statuses: int) -> None:
    """Document that `operation` can answer these error statuses (problem details)."""
    responses = {str(code): response for code, response in operation["responses"].items()}
    responses.update({str(status): http.HTTPStatus(status).name for status in statuses})
    operation["responses"] = dict(
        sorted(responses.items(), key=lambda item: (item[0] == "default", item[0]))
    )


def _document_method_not_allowed(_blueprint: str, _method: str, operation: dict[str, Any]) -> None:
    # Routing answers 405 with Allow to a method the path lacks, on every path.
    add_error_responses(operation, 405)


class Api(flask_smorest.Api):
    """flask-smorest's Api, answering and documenting every error as problem details."""

    ERROR_SCHEMA = ProblemSchema

    def __init__(self, app: flask.Flask, *, spec_kwargs: dict[str, Any], **kwargs: Any) -> None:
        self.operation_docs = OperationDocs()
        self.operation_docs.documenters.append(_document_method_not_allowed)
        plugins = [*spec_kwargs.get("extra_plugins", ()), self.operation_docs]
        super().__init__(app, spec_kwargs={**spec_kwargs, "extra_plugins": plugins}, **kwargs)

    def _register_responses(self) -> None:
        # flask-smorest documents error responses as application/json; ours are problem+json.
        responses = {
            status.name: documented_response(status, f"{title(status)}.")
            for status in http.HTTPStatus
            if status >= 400
        }
        responses[self.DEFAULT_ERROR_RESPONSE_NAME] = {
            **documented_response(500, ""),
            "description": "Any other error; a 500 is a bug.",
        }
        for name, header in RATE_LIMIT_HEADERS.items():
            self.spec.components.header(name, header, lazy=True)
        for name, response in responses.items():
            prepare_response(response, self.spec, PROBLEM_JSON)
            self.spec.components.response(name, response, lazy=True)

    def _register_pagination_header(self) -> None:
        # Our pages are an envelope with Link headers, not flask-smorest's X-Pagination header,
        # whose registration would publish an unused PaginationMetadata schema.
        pass

    def handle_http_exception(self, error: HTTPException) -> flask.Response:  # type: ignore[override]
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
            detail = "The request does not match the schema; see errors."
        if status >= 500:
            detail = "The server failed to handle this request. The error has been logged."
        return problem(
            status,
            CODES.get(status, http.HTTPStatus(status).name.lower()),
            detail,
            errors=flatten_messages(messages) if messages else None,
            headers=headers,
        )


def _api_error(error: ApiError) -> flask.Response:
    return problem(
        error.status, error.code, error.detail, errors=error.errors, headers=error.headers
    )


def _email_taken(_error: crud.EmailTaken) -> flask.Response:
    return problem_response(email_taken_body())


# Storage outcomes that always answer the same problem: status, code, detail, headers.
FIXED_PROBLEMS: dict[type[Exception], tuple[int, str, str, dict[str, str]]] = {
    crud.VersionMismatch: (
        412,
        "precondition_failed",
        "The user has changed since the ETag given in If-Match; fetch it again.",
        {},
    ),
    crud.TooManySkills: (
        409,
        "too_many_skills",
        "The user already has the maximum number of skills; remove one first.",
        {},
    ),
    crud.KeyReused: (
        422,
        "idempotency_key_reused",
        "This Idempotency-Key was used for a different request; use a new key.",
        {},
    ),
    crud.KeyInUse: (
        409,
        "idempotency_key_in_use",
        "The first request with this Idempotency-Key is still being processed; retry shortly.",
        {"Retry-After": "1"},
    ),
}


def _fixed_problem(error: Exception) -> flask.Response:
    status, code, detail, headers = FIXED_PROBLEMS[type(error)]
    return problem(status, code, detail, headers=headers)


def _database_unavailable(error: DatabaseUnavailable) -> flask.Response:
    log.warning("MongoDB unavailable: %s", error)
    return problem(
        503,
        "database_unavailable",
        "The database is not reachable right now; retry later.",
        headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
    )


def init_app(app: flask.Flask) -> None:
    """Register the handlers of the errors that are not HTTPExceptions."""
    app.register_error_handler(ApiError, _api_error)
    app.register_error_handler(crud.EmailTaken, _email_taken)
    for exception in FIXED_PROBLEMS:
        app.register_error_handler(exception, _fixed_problem)
    app.register_error_handler(DatabaseUnavailable, _database_unavailable)
