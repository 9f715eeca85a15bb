"""Rate limiting per client (Flask-Limiter): 429 with Retry-After and RateLimit headers.

A client is its API key when it presents a valid one, else its address, so wrong keys count
against the address they come from and guessing keys is slowed like anything else. RATE_LIMIT
is one budget per client shared by every API route (Flask-Limiter's application limits),
counted in a sliding window; probes, docs and CORS preflights are not limited. The counts live
in the worker's memory, so nothing on the request path waits for I/O; with WORKERS=N a client
gets up to N times the limit, and a restart forgets the counts. RATE_LIMIT_ENABLED=false turns
limiting off (load tests).

Headers as in draft-ietf-httpapi-ratelimit-headers-06, on every limited response:
`RateLimit-Limit`, `RateLimit-Remaining`, `RateLimit-Reset` (seconds until the window frees a
request) and `RateLimit-Policy` (`600;w=60`); `Retry-After` on a 429.
"""

import math
import time
from typing import Any

import flask
from flask_limiter import Limiter, RateLimitExceeded

from api import security
from api.errors import RATE_LIMIT_HEADER_REFS, Api, add_error_responses, problem


def client_key() -> str:
    """Whom a request is counted against: its valid API key, else its address."""
    key = security.api_key()
    if key is not None:
        return f"key:{key.name}"
    return f"address:{flask.request.remote_addr}"


def _exempt() -> bool:
    request = flask.request
    return request.method == "OPTIONS" or request.blueprint in security.OPEN_BLUEPRINTS


def _too_many_requests(error: RateLimitExceeded) -> flask.Response:
    return problem(
        429,
        "rate_limited",
        f"Too many requests: at most {error.description} per client. "
        "Retry after the number of seconds in Retry-After.",
    )


def _document(blueprint: str, _method: str, operation: dict[str, Any]) -> None:
    if blueprint in security.OPEN_BLUEPRINTS:
        return
    add_error_responses(operation, 429)
    # The operation's own responses; the error responses it shares document them already.
    for status, response in operation["responses"].items():
        if isinstance(response, dict):
            operation["responses"][status] = {
                **response,
                "headers": {**response.get("headers", {}), **RATE_LIMIT_HEADER_REFS},
            }


def init_app(app: flask.Flask, api: Api) -> None:
    """Count every limited request before anything else checks it; document the 429."""
    api.operation_docs.documenters.append(_document)
    if not app.config["RATE_LIMIT_ENABLED"]:
        return
    limiter = Limiter(
        client_key,
        app=app,
        application_limits=[app.config["RATE_LIMIT"]],
        storage_uri="memory://",
        strategy="sliding-window-counter",
        headers_enabled=False,  # its Reset is a timestamp and it adds Retry-After everywhere
    )
    limiter.request_filter(_exempt)
    app.register_error_handler(RateLimitExceeded, _too_many_requests)

    @app.after_request
    def rate_limit_headers(response: flask.Response) -> flask.Response:
        limit = limiter.current_limit
        if limit is None:  # not a limited request
            return response
        reset = max(0, math.ceil(limit.reset_at - time.time()))
        response.headers["RateLimit-Limit"] = str(limit.limit.amount)
        response.headers["RateLimit-Remaining"] = str(limit.remaining)
        response.headers["RateLimit-Reset"] = str(reset)
        response.headers["RateLimit-Policy"] = f"{limit.limit.amount};w={limit.limit.get_expiry()}"
        if response.status_code == 429:
            response.headers["Retry-After"] = str(max(1, reset))
        return response
