"""Every problem this API answers, defined once: status, code, detail and documentation.

A problem is an RFC 9457 body, `application/problem+json`:

    {"type": "about:blank", "title": "Not Found", "status": 404, "detail": "...",
     "instance": "/api/v1/users/...", "code": "not_found", "errors": {"field": ["message"]},
     "request_id": "..."}

`title` is the status's reason phrase as RFC 9110 words it ("Content Too Large") and `code`
the stable, machine-readable cause. `errors` is present for validation failures only, and lists
at most MAX_ERROR_FIELDS fields (`detail` says when there were more).

The same `Problem` is raised (`raise problems.USER_NOT_FOUND.error(user_id=...)`) and documented:
api/spec.py describes each error status of the spec from the problems of that status, in the
order they are defined here, and shows the first one as the example. A `detail` is a
`str.format` template; `example` holds the arguments the documentation fills it with.

Where each problem is raised, and which exception answers it (the handlers: api/errors.py):

    werkzeug HTTPException (routing, Flask, webargs)   HTTP_EXCEPTION_CODES by status
      404 not_found, 405 method_not_allowed (with Allow), 413 payload_too_large,
      422 validation_failed (webargs, with errors), 500 internal_error (logged, never shown)
    ApiError, raised with Problem.error()
      api/input_limits.py   400 malformed_json, json_limit_exceeded; 414 uri_too_long
      api/resources/        400 invalid_query, invalid_cursor; 404 not_found;
                            409 not_deleted (restoreUser); 412 precondition_failed;
                            415 unsupported_media_type;
                            422 validation_failed; 428 precondition_required
      api/idempotency.py    400 invalid_idempotency_key
      api/security.py       401 api_key_required, api_key_invalid; 403 insufficient_scope
      api/ratelimit.py      429 rate_limited (with Retry-After)
    storage outcomes (api/errors.py STORAGE_PROBLEMS)
      crud.EmailTaken 409 email_taken; crud.TooManySkills 409 too_many_skills;
      crud.VersionMismatch 412 precondition_failed; idempotency.KeyInUse 409
      idempotency_key_in_use (with Retry-After); idempotency.KeyReused 422
      idempotency_key_reused; db.DatabaseUnavailable 503 database_unavailable (with Retry-After)
    answered before Flask (api/serving.py)
      408 body_timeout (with Connection: close); 503 overloaded (with Retry-After);
      503 shutting_down (with Retry-After): still running when GRACEFUL_TIMEOUT is over
    answered by Hypercorn for a request h11 cannot read (api/framing.py), Connection: close
      400 malformed_request (ambiguous or malformed framing); 431 headers_too_large

This module imports nothing of the API: the JSON parser, the storage layer and the server can
all use it without depending on each other.
"""

import http
import itertools
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

PROBLEM_JSON = "application/problem+json"

# What RFC 3986 allows unencoded in a path, besides letters, digits and "_.-~".
PATH_CHARACTERS = "/:@!$&'()*+,;="

# Seconds a client should wait before retrying when MongoDB is unavailable.
RETRY_AFTER_SECONDS = 5

# Most fields an `errors` member lists, and most messages for each: the answer to a refused
# request stays small whatever it held (a list of 1,000 wrong values is 1,000 fields).
MAX_ERROR_FIELDS = 10
MAX_FIELD_MESSAGES = 3

# RFC 9110 renamed these; Python's http.HTTPStatus still has the RFC 7231 phrases.
RFC_9110_TITLES = {
    413: "Content Too Large",
    414: "URI Too Long",
    416: "Range Not Satisfiable",
    422: "Unprocessable Content",
}

# The code of a werkzeug HTTPException (raised by routing, Flask or webargs), by status.
HTTP_EXCEPTION_CODES = {
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


def title(status: int) -> str:
    """The reason phrase of an HTTP status, as RFC 9110 gives it: a problem's `title`."""
    return RFC_9110_TITLES.get(status) or http.HTTPStatus(status).phrase


def http_exception_code(status: int) -> str:
    """The `code` of a werkzeug HTTPException of this status."""
    return HTTP_EXCEPTION_CODES.get(status) or http.HTTPStatus(status).name.lower()


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


@dataclass(frozen=True, eq=False)  # compared by identity: each is defined once
class Problem:
    """One cause of an error response, as it is raised and as the spec documents it."""

    status: int
    code: str
    # A str.format template of the arguments given to error() (`example` in the docs).
    detail: str
    # What it means, a clause of the spec's description of `status`; None when another problem
    # of the same status and code tells it already.
    doc: str | None = None
    example: Mapping[str, Any] = field(default_factory=dict)
    # `errors` it always carries; `example_errors`, those the docs show for it.
    errors: Mapping[str, list[str]] | None = None
    example_errors: Mapping[str, list[str]] | None = None
    headers: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        REGISTRY.append(self)

    def error(
        self,
        *,
        errors: Mapping[str, list[str]] | None = None,
        headers: Mapping[str, str] | None = None,
        **arguments: Any,
    ) -> ApiError:
        """The exception answering this problem, its detail filled with `arguments`."""
        return ApiError(
            self.status,
            self.code,
            self.detail.format(**arguments),
            errors=errors if errors is not None else self.errors,
            headers={**self.headers, **(headers or {})},
        )

    @property
    def example_detail(self) -> str:
        return self.detail.format(**self.example)


REGISTRY: list[Problem] = []

MALFORMED_JSON = Problem(
    400,
    "malformed_json",
    "The request body is not valid JSON: {reason}.",
    "the request body is not valid JSON",
    {"reason": "a syntax error"},
)
JSON_LIMIT_EXCEEDED = Problem(
    400,
    "json_limit_exceeded",
    "The request body exceeds a limit: {reason}.",
    "the body is nested deeper, or holds longer arrays, more keys or longer strings, than a "
    "user could need",
    {"reason": "nested deeper than 16 levels"},
)
MALFORMED_REQUEST = Problem(
    400,
    "malformed_request",
    "The request is not framed as RFC 9112 requires, read as strictly as a proxy would.",
    "the request is framed ambiguously or malformed, read as strictly as a proxy reads it; "
    "the server closes the connection",
)
PAGE_AND_CURSOR = Problem(
    400,
    "invalid_query",
    "Use either `page` or `cursor`, not both.",
    "the query arguments contradict each other",
)
EMPTY_RANGE = Problem(
    400, "invalid_query", "`{low}` is greater than `{high}`.", None, {"low": "a", "high": "b"}
)
CURSOR_WITH_SORT = Problem(
    400, "invalid_query", "A cursor keeps the sort of its first page: leave out `sort`."
)
INVALID_CURSOR = Problem(
    400,
    "invalid_cursor",
    "This cursor was not made by this API.",
    "a cursor was not made by this API",
)
INVALID_IDEMPOTENCY_KEY = Problem(
    400,
    "invalid_idempotency_key",
    "{header} must be 1 to 255 printable ASCII characters without spaces.",
    "`Idempotency-Key` is malformed",
    {"header": "Idempotency-Key"},
)
API_KEY_REQUIRED = Problem(
    401,
    "api_key_required",
    "Send an API key in the {header} header.",
    "a key is needed and `X-API-Key` is missing",
    {"header": "X-API-Key"},
)
API_KEY_INVALID = Problem(
    401,
    "api_key_invalid",
    "The {header} header holds no valid API key.",
    "`X-API-Key` is no configured key",
    {"header": "X-API-Key"},
)
INSUFFICIENT_SCOPE = Problem(
    403,
    "insufficient_scope",
    "The API key {name!r} lacks the {scope!r} scope.",
    "the API key lacks the scope the method needs: `write`, or `read` with API_KEYS_FOR_READS",
    {"name": "ci", "scope": "write"},
)
USER_NOT_FOUND = Problem(
    404,
    "not_found",
    "No user with id {user_id}.",
    "no user has this id, or the id is not a 24-hex-character ObjectId",
    {"user_id": "6566f0c4e1b2c3d4e5f60718"},
)
METHOD_NOT_ALLOWED = Problem(
    405,
    "method_not_allowed",
    "The method is not allowed for the requested URL.",
    "the path does not support this method; `Allow` lists those it does",
)
BODY_TIMEOUT = Problem(
    408,
    "body_timeout",
    "The request body did not arrive within {seconds} seconds.",
    "the request body did not arrive within BODY_TIMEOUT seconds of its head; the server "
    "closes the connection",
    {"seconds": 60},
    headers={"Connection": "close"},
)
EMAIL_TAKEN = Problem(
    409,
    "email_taken",
    "Another user already has this email address.",
    "the email belongs to another user, compared case-insensitively",
    errors={"email": ["Already in use (emails are compared case-insensitively)."]},
)
TOO_MANY_SKILLS = Problem(
    409,
    "too_many_skills",
    "The user already has the maximum number of skills; remove one first.",
    "the user already has 50 skills",
)
NOT_DELETED = Problem(
    409,
    "not_deleted",
    "The user {user_id} is not in the trash.",
    "a user to restore from the trash is not in it",
    {"user_id": "6566f0c4e1b2c3d4e5f60718"},
)
IDEMPOTENCY_KEY_IN_USE = Problem(
    409,
    "idempotency_key_in_use",
    "The first request with this Idempotency-Key is still being processed; retry shortly.",
    "the first request with this `Idempotency-Key` is still running",
    headers={"Retry-After": "1"},
)
PRECONDITION_FAILED = Problem(
    412,
    "precondition_failed",
    "The user has changed since the ETag given in If-Match; fetch it again.",
    "`If-Match` holds no current ETag of the user: it changed since it was read",
)
NO_USER_TO_MATCH = Problem(
    412,
    "precondition_failed",
    "If-Match: * and there is no such user.",
    "`If-Match: *` and there is no such user",
)
PAYLOAD_TOO_LARGE = Problem(
    413,
    "payload_too_large",
    "The data value transmitted exceeds the capacity limit.",
    "the request body is larger than MAX_BODY_BYTES",
)
URI_TOO_LONG = Problem(
    414,
    "uri_too_long",
    "The query string is longer than {limit} bytes.",
    "the query string is longer than MAX_QUERY_BYTES",
    {"limit": 2048},
)
UNSUPPORTED_MEDIA_TYPE = Problem(
    415,
    "unsupported_media_type",
    "Send the request body as JSON, with Content-Type: application/json.",
    "the request body is not `application/json`",
)
VALIDATION_FAILED = Problem(
    422,
    "validation_failed",
    "The request does not match the schema; see errors.",
    "the body or the query string does not match the schema; `errors` lists each field",
    example_errors={
        "email": ["Not a valid email address."],
        "experience.years": ["Not a valid integer."],
    },
)
TOO_MANY_ITEMS = Problem(422, "validation_failed", "The batch has too many items.")
INVALID_ITEM = Problem(422, "validation_failed", "The item does not match the schema; see errors.")
INVALID_SKILL = Problem(422, "validation_failed", "The skill in the path is not a valid skill.")
IDEMPOTENCY_KEY_REUSED = Problem(
    422,
    "idempotency_key_reused",
    "This Idempotency-Key was used for a different request; use a new key.",
    "the `Idempotency-Key` came with a different request before",
)
PRECONDITION_REQUIRED = Problem(
    428,
    "precondition_required",
    "This server requires If-Match with the user's current ETag on every write.",
    "REQUIRE_IF_MATCH is on and the write has no `If-Match`: send the user's ETag",
)
HEADERS_TOO_LARGE = Problem(
    431,
    "headers_too_large",
    "The request's head is larger than the server reads.",
    "the request's head is larger than 16 KiB; the server closes the connection",
)
RATE_LIMITED = Problem(
    429,
    "rate_limited",
    "Too many requests: at most {rate} per client. "
    "Retry after the number of seconds in Retry-After.",
    "the client exceeded RATE_LIMIT",
    {"rate": "600 per 1 minute"},
)
INTERNAL_ERROR = Problem(
    500,
    "internal_error",
    "The server failed to handle this request. The error has been logged.",
    "a bug: logged with its traceback on the server, never detailed to the client",
)
DATABASE_UNAVAILABLE = Problem(
    503,
    "database_unavailable",
    "The database is not reachable right now; retry later.",
    "MongoDB did not answer within MONGODB_TIMEOUT_MS",
    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
)
OVERLOADED = Problem(
    503,
    "overloaded",
    "The server is answering as many requests as it can; retry shortly.",
    "the worker already has MAX_IN_FLIGHT requests",
    headers={"Retry-After": "1"},  # the worker's queue drains in well under a second
)
SHUTTING_DOWN = Problem(
    503,
    "shutting_down",
    "The server is shutting down; retry the request.",
    "the server was shutting down while the request ran",
    headers={"Retry-After": str(RETRY_AFTER_SECONDS)},
)


def of_status(status: int) -> list[Problem]:
    """The problems answered with this status, in the order they are defined."""
    return [problem for problem in REGISTRY if problem.status == status]


def description(status: int) -> str:
    """The spec's description of an error status: what each of its problems means."""
    clauses = [f"{p.doc} (`{p.code}`)" for p in of_status(status) if p.doc is not None]
    text = "; or ".join(clauses)
    return f"{text[:1].upper()}{text[1:]}."


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


def flatten_messages(messages: Any, prefix: str = "") -> dict[str, list[str]]:
    """marshmallow's nested messages as {"dotted.path": ["message", ...]}."""
    if isinstance(messages, list):
        return {prefix or "_schema": [str(message) for message in messages]}
    flat: dict[str, list[str]] = {}
    for key, value in messages.items():
        flat.update(flatten_messages(value, f"{prefix}.{key}" if prefix else str(key)))
    return flat
