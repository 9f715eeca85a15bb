"""The steps every request goes through, in order: the one place where they are registered.

    before the view, in this order           after the view, on every response, in this order
    1. observability.start   clock, id      1. empty bodies (204, 304) lose Content-Type
    2. the rate limit (api/ratelimit.py) 429  2. security.secure_headers  nosniff, CSP, no-store
    3. input_limits.limit_query_string 414  3. CORS headers (CORS_ORIGINS)
    4. security.authenticate   401, 403     4. the RateLimit-* headers (api/ratelimit.py)
       and the key's name for history       5. observability.finish   X-Request-ID, metrics, log
    teardown: observability.leave (requests in flight)

The limit comes first, so that every request that reaches the app counts, refused ones included
(guessing keys, 404s, long query strings). Every
step is a plain function that reads the request once; views add nothing of their own.

`GET /health/live` is answered before all of this, at the ASGI layer (api/serving.py), with
the same headers, metrics and log line.
"""

import flask

from api import input_limits, observability, ratelimit, security
from api.observability import Metrics
from api.spec import Api


def drop_content_type_of_empty(response: flask.Response) -> flask.Response:
    """204 and 304 have no body, so a Content-Type would describe nothing."""
    if response.status_code in (204, 304):
        response.headers.pop("Content-Type", None)
    return response


def init_app(app: flask.Flask, api: Api, metrics: Metrics) -> None:
    """Register every step, in order, and what each documents on the operations it guards."""
    app.extensions["metrics"] = metrics
    input_limits.init_app(api)
    security.init_app(app, api)
    # Flask runs before_request functions in the order registered, after_request functions in
    # the reverse order: the last registered runs first.
    app.before_request(observability.start)
    app.after_request(observability.finish)
    app.teardown_request(observability.leave)
    ratelimit.init_app(app, api)  # its check first: refused requests (414, 401) count too
    app.before_request(input_limits.limit_query_string)
    app.before_request(security.authenticate)
    security.enable_cors(app)
    app.after_request(security.secure_headers)
    app.after_request(drop_content_type_of_empty)
