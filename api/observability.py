"""What the service shows operators: Prometheus metrics, request ids, timings, request logs.

- `/metrics` (getMetrics): requests by route template, method and status; their latency;
  requests in flight; MongoDB command durations and failures (PyMongo command monitoring; the
  in-memory store runs no commands, so reports none).
- `X-Request-ID`: taken from the request when it is 1 to 128 of `A-Za-z0-9._-`, else made up;
  echoed on every response and put in every problem body as `request_id`.
- `Server-Timing`: `db` (time in storage operations) and `app` (the whole request), in ms.
- With ACCESS_LOG, one structured log line per request (request id, method, route, status,
  duration, database time) on the `api.access` logger; refused requests (4xx) share a budget of
  REFUSED_LINES_PER_SECOND lines, and what the budget drops is counted in one line a second, so
  a flood of 404s or 429s cannot flood the log.

Labels take only bounded values, whatever clients send: `method` is one of KNOWN_METHODS or
`OTHER`, `route` a route template or `unmatched`, `status` a status the server answered.
"""

import logging
import random
import re
import threading
import time
from collections.abc import Callable
from typing import Any

import flask
from flask.views import MethodView
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    generate_latest,
)

from api.spec import Blueprint

access_log = logging.getLogger("api.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"})
UNMATCHED = "unmatched"
REFUSED_LINES_PER_SECOND = 10
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

blp = Blueprint("monitoring", __name__)


class Metrics:
    """The metrics of one app, in a registry of its own (so test apps do not collide)."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.requests = Counter(
            "http_requests_total",
            "HTTP requests answered, by route template, method and status.",
            ["method", "route", "status"],
            registry=self.registry,
        )
        self.latency = Histogram(
            "http_request_duration_seconds",
            "Time to answer HTTP requests, by route template, method and status.",
            ["method", "route", "status"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.in_flight = Gauge(
            "http_requests_in_flight", "HTTP requests being answered.", registry=self.registry
        )
        self.commands = Histogram(
            "mongodb_command_duration_seconds",
            "MongoDB command durations, by command and outcome.",
            ["command", "outcome"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self.command_failures = Counter(
            "mongodb_command_failures_total",
            "MongoDB commands that failed, by command.",
            ["command"],
            registry=self.registry,
        )
        # Label sets are bounded (methods, route templates, statuses), and so is this.
        self._series: dict[tuple[str, str, int], tuple[Any, Any]] = {}

    def observe_request(self, method: str, route: str, status: int, seconds: float) -> None:
        labels = (method if method in KNOWN_METHODS else "OTHER", route, status)
        series = self._series.get(labels)
        if series is None:  # labels() validates and locks: once per label set, not per request
            text = (labels[0], route, str(status))
            series = self._series[labels] = (
                self.requests.labels(*text),
                self.latency.labels(*text),
            )
        series[0].inc()
        series[1].observe(seconds)

    def observe_command(self, command: str, seconds: float, failed: bool) -> None:
        self.commands.labels(command, "failure" if failed else "success").observe(seconds)
        if failed:
            self.command_failures.labels(command).inc()


class LogBudget:
    """At most `per_second` lines a second; what it refuses is counted and reported once a
    second, in the next line it allows (or the next refusal after the second is over)."""

    def __init__(
        self,
        logger: logging.Logger,
        per_second: int,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.logger = logger
        self.per_second = per_second
        self.clock = clock
        self._lock = threading.Lock()  # the driver's threads log too
        self._second = 0
        self._used = 0
        self._dropped = 0

    def allow(self) -> bool:
        """Whether one more line fits in this second's budget."""
        now = int(self.clock())
        with self._lock:
            if now != self._second:
                dropped, self._second, self._used, self._dropped = self._dropped, now, 0, 0
                if dropped:
                    self.logger.warning("log budget: %d lines dropped in the last second", dropped)
            if self._used < self.per_second:
                self._used += 1
                return True
            self._dropped += 1
            return False


_refused_lines = LogBudget(access_log, REFUSED_LINES_PER_SECOND)


def request_id(given: str | None) -> str:
    """The request's id: the client's when well-formed, else a new one."""
    if given is not None and REQUEST_ID.fullmatch(given):
        return given
    # 128 random bits, as a uuid4's hex: unique, not secret (os.urandom would be a syscall).
    return f"{random.getrandbits(128):032x}"


def server_timing(storage_seconds: float, elapsed_seconds: float) -> str:
    return f"db;dur={storage_seconds * 1000:.2f}, app;dur={elapsed_seconds * 1000:.2f}"


def record(
    metrics: Metrics,
    *,
    access_log_on: bool,
    request_id: str,
    method: str,
    route: str,
    path: str,
    status: int,
    elapsed: float,
    storage: float,
) -> None:
    """Count an answered request, and log it when ACCESS_LOG is on (within the budget)."""
    metrics.observe_request(method, route, status, elapsed)
    if access_log_on and (status < 400 or status >= 500 or _refused_lines.allow()):
        access_log.info(
            "request",
            extra={
                "request_id": request_id,
                "method": method,
                "route": route,
                "path": path,
                "status": status,
                "duration_ms": round(elapsed * 1000, 3),
                "db_ms": round(storage * 1000, 3),
            },
        )


def _metrics() -> Metrics:
    metrics: Metrics = flask.current_app.extensions["metrics"]
    return metrics


# The objects behind Flask's context proxies: each hook reads them once, not per attribute.
def _current_g() -> Any:
    return flask.g._get_current_object()


def add_storage_time(seconds: float) -> None:
    """The store's `observe_operation` (api/db.py): the time of a storage operation, added to
    the request's that ran it (Server-Timing's `db`, the access log's `db_ms`)."""
    if flask.has_app_context():
        g = _current_g()
        if "storage_seconds" in g:
            g.storage_seconds += seconds


def start() -> None:
    """Before the view: the clock, the request id, requests in flight."""
    g = _current_g()
    g.started = time.perf_counter()
    g.storage_seconds = 0.0
    g.request_id = request_id(flask.request.headers.get("X-Request-ID"))
    _metrics().in_flight.inc()


def finish(response: flask.Response) -> flask.Response:
    """After the view: X-Request-ID and Server-Timing; count and log the request."""
    g = _current_g()
    if "started" not in g:  # a response made outside a request's hooks (shutdown's 503)
        return response
    elapsed = time.perf_counter() - g.started
    storage = g.storage_seconds
    # The objects behind the proxies, read once (each proxy access looks them up again).
    # Flask types its proxies as the objects themselves, so mypy sees no _get_current_object.
    request: flask.Request = flask.request._get_current_object()  # type: ignore[attr-defined]
    app: flask.Flask = flask.current_app._get_current_object()  # type: ignore[attr-defined]
    rule = request.url_rule
    headers = response.headers
    # Added, not set: nothing else writes them, and set() would search every header first.
    headers.add("X-Request-ID", g.request_id)
    headers.add("Server-Timing", server_timing(storage, elapsed))
    record(
        app.extensions["metrics"],
        access_log_on=app.config["ACCESS_LOG"],
        request_id=g.request_id,
        method=request.method,
        route=rule.rule if rule is not None else UNMATCHED,
        path=request.path,
        status=response.status_code,
        elapsed=elapsed,
        storage=storage,
    )
    return response


def leave(_error: BaseException | None) -> None:
    """Teardown: the request is no longer in flight."""
    if "started" in _current_g():
        _metrics().in_flight.dec()


@blp.route("/metrics")
class MetricsView(MethodView):
    @blp.doc(
        operationId="getMetrics",
        responses={
            "200": {
                "description": "Prometheus text exposition format.",
                "content": {CONTENT_TYPE_LATEST.split(";")[0]: {"schema": {"type": "string"}}},
            }
        },
    )
    def get(self) -> flask.Response:
        """Metrics for Prometheus

        Request counts and latency by route template, method and status; requests in flight;
        MongoDB command durations and failures.
        """
        body = generate_latest(_metrics().registry)
        return flask.Response(body, mimetype=CONTENT_TYPE_LATEST)
