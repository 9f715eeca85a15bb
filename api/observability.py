"""What the service shows operators: Prometheus metrics, request ids, timings, request logs.

- `/metrics` (getMetrics): requests by route template, method and status; their latency;
  requests in flight; MongoDB command durations and failures (PyMongo command monitoring; the
  in-memory store runs no commands, so reports none).
- `X-Request-ID`: taken from the request when it is 1 to 128 of `A-Za-z0-9._-`, else made up;
  echoed on every response and put in every problem body as `request_id`.
- `Server-Timing`: `db` (time in storage operations) and `app` (the whole request), in ms.
- With ACCESS_LOG, one structured log line per request (request id, method, route, status,
  duration, database time) on the `api.access` logger.
"""

import logging
import re
import time
import uuid

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

from api.db import count_storage_time
from api.resources import Blueprint

access_log = logging.getLogger("api.access")

REQUEST_ID = re.compile(r"[A-Za-z0-9._-]{1,128}")
LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10)

blp = Blueprint("monitoring", __name__, description="Metrics for Prometheus.")


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

    def observe_command(self, command: str, seconds: float, failed: bool) -> None:
        self.commands.labels(command, "failure" if failed else "success").observe(seconds)
        if failed:
            self.command_failures.labels(command).inc()


def _metrics() -> Metrics:
    return flask.current_app.extensions["metrics"]


def _start() -> None:
    flask.g.started = time.perf_counter()
    flask.g.storage_seconds = count_storage_time()
    given = flask.request.headers.get("X-Request-ID", "")
    flask.g.request_id = given if REQUEST_ID.fullmatch(given) else uuid.uuid4().hex
    _metrics().in_flight.inc()


def _finish(response: flask.Response) -> flask.Response:
    if "started" not in flask.g:  # a response made outside a request's hooks (shutdown's 503)
        return response
    elapsed = time.perf_counter() - flask.g.started
    storage = sum(flask.g.storage_seconds)
    rule = flask.request.url_rule
    route = rule.rule if rule is not None else "unmatched"
    method, status = flask.request.method, str(response.status_code)
    metrics = _metrics()
    metrics.requests.labels(method, route, status).inc()
    metrics.latency.labels(method, route, status).observe(elapsed)
    response.headers["X-Request-ID"] = flask.g.request_id
    response.headers["Server-Timing"] = f"db;dur={storage * 1000:.2f}, app;dur={elapsed * 1000:.2f}"
    if flask.current_app.config["ACCESS_LOG"]:
        access_log.info(
            "request",
            extra={
                "request_id": flask.g.request_id,
                "method": method,
                "route": route,
                "path": flask.request.path,
                "status": response.status_code,
                "duration_ms": round(elapsed * 1000, 3),
                "db_ms": round(storage * 1000, 3),
            },
        )
    return response


def _leave(_error: BaseException | None) -> None:
    if "started" in flask.g:
        _metrics().in_flight.dec()


def init_app(app: flask.Flask, metrics: Metrics) -> None:
    """Measure every request of `app` into `metrics`."""
    app.extensions["metrics"] = metrics
    app.before_request(_start)
    app.after_request(_finish)
    app.teardown_request(_leave)


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
