"""Metrics, request ids, Server-Timing and request logs."""

import io
import json
import logging
import re

import pytest
from flask import Flask
from flask.testing import FlaskClient
from prometheus_client.parser import text_string_to_metric_families

from api.__main__ import configure_logging
from api.observability import LogBudget
from tests.conftest import USERS, assert_problem, course_user, create


def samples(client: FlaskClient) -> dict[tuple[str, frozenset[tuple[str, str]]], float]:
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.mimetype == "text/plain"
    return {
        (sample.name, frozenset(sample.labels.items())): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def test_requests_are_counted_by_route_template_method_and_status(client: FlaskClient) -> None:
    user = create(client)
    client.get(f"{USERS}/{user['id']}")
    client.get(f"{USERS}/0123456789abcdef01234567")
    client.get("/nowhere")

    found = samples(client)

    def count(method: str, route: str, status: str) -> float:
        labels = frozenset({"method": method, "route": route, "status": status}.items())
        return found[("http_requests_total", labels)]

    item = "/api/v1/users/<objectid:user_id>"
    assert count("POST", USERS, "201") == 1
    assert count("GET", item, "200") == 1
    assert count("GET", item, "404") == 1
    assert count("GET", "unmatched", "404") == 1
    latency = frozenset({"method": "GET", "route": item, "status": "200", "le": "+Inf"}.items())
    assert found[("http_request_duration_seconds_bucket", latency)] == 1
    assert found[("http_requests_in_flight", frozenset())] == 1  # the /metrics request itself


def test_labels_stay_bounded_whatever_the_method_and_path(client: FlaskClient) -> None:
    for n in range(5):
        client.open(f"/nowhere/{n}", method=f"BREW{n}")
        client.open(f"{USERS}/{n}", method="PROPFIND")

    found = samples(client)
    requests = {dict(labels)["method"] for name, labels in found if name == "http_requests_total"}
    routes = {dict(labels)["route"] for name, labels in found if name == "http_requests_total"}
    assert requests == {"OTHER"}
    assert routes == {"unmatched"}


def test_the_log_budget_drops_lines_past_it_and_says_how_many() -> None:
    logger = logging.getLogger("tests.budget")
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger.addHandler(handler)
    now = [100.0]
    try:
        budget = LogBudget(logger, per_second=3, clock=lambda: now[0])
        first_second = [budget.allow() for _ in range(10)]
        now[0] += 1
        next_second = [budget.allow() for _ in range(2)]
    finally:
        logger.removeHandler(handler)

    assert first_second == [True] * 3 + [False] * 7
    assert next_second == [True, True]
    assert stream.getvalue() == "log budget: 7 lines dropped in the last second\n"


def test_mongodb_commands_are_observed(app: Flask, client: FlaskClient) -> None:
    app.extensions["metrics"].observe_command("find", 0.004, False)
    app.extensions["metrics"].observe_command("insert", 0.2, True)

    found = samples(client)

    failures = frozenset({"command": "insert"}.items())
    assert found[("mongodb_command_failures_total", failures)] == 1
    success = frozenset({"command": "find", "outcome": "success", "le": "0.005"}.items())
    assert found[("mongodb_command_duration_seconds_bucket", success)] == 1


@pytest.mark.parametrize("given", ["abc-123", "A.b_c-9", "x" * 128])
def test_a_valid_request_id_is_echoed_and_put_in_problems(client: FlaskClient, given: str) -> None:
    response = client.get(f"{USERS}/0123456789abcdef01234567", headers={"X-Request-ID": given})

    assert response.headers["X-Request-ID"] == given
    assert assert_problem(response, 404, "not_found")["request_id"] == given


@pytest.mark.parametrize("given", [None, "", "has space", "x" * 129, "é", "a\tb"])
def test_otherwise_a_request_id_is_made_up(client: FlaskClient, given: str | None) -> None:
    headers = {} if given is None else {"X-Request-ID": given}

    first = client.get("/health/live", headers=headers).headers["X-Request-ID"]
    second = client.get("/health/live", headers=headers).headers["X-Request-ID"]

    assert re.fullmatch(r"[0-9a-f]{32}", first)
    assert first != second


def test_server_timing_reports_database_and_total_time(client: FlaskClient) -> None:
    stored = client.post(USERS, json=course_user()).headers["Server-Timing"]
    alive = client.get("/health/live").headers["Server-Timing"]

    db, total = (
        float(x) for x in re.fullmatch(r"db;dur=([\d.]+), app;dur=([\d.]+)", stored).groups()
    )
    assert 0 < db <= total
    assert alive.startswith("db;dur=0.00, app;dur=")


@pytest.mark.parametrize("app_config", [{"ACCESS_LOG": True}])
def test_access_log_is_one_structured_record_per_request(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        client.get(f"{USERS}/0123456789abcdef01234567", headers={"X-Request-ID": "rid-1"})

    (record,) = [record for record in caplog.records if record.name == "api.access"]
    fields = vars(record)  # the `extra` of the log call are attributes of the record
    assert fields["request_id"] == "rid-1"
    assert fields["route"] == "/api/v1/users/<objectid:user_id>"
    assert fields["status"] == 404
    assert fields["duration_ms"] > 0


def test_without_access_log_requests_are_not_logged(
    client: FlaskClient, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.INFO, logger="api.access"):
        client.get("/health/live")

    assert [record for record in caplog.records if record.name == "api.access"] == []


def test_json_log_format_writes_one_json_object_per_line() -> None:
    stream = io.StringIO()
    root = logging.getLogger()
    saved = root.handlers[:], root.level
    try:
        configure_logging("INFO", "json")
        handler = root.handlers[0]
        assert isinstance(handler, logging.StreamHandler)
        handler.setStream(stream)
        logging.getLogger("api.access").info("request", extra={"request_id": "r1", "status": 201})
    finally:
        root.handlers[:] = saved[0]
        root.setLevel(saved[1])

    line = json.loads(stream.getvalue().strip())
    assert line["message"] == "request"
    assert line["level"] == "INFO"
    assert (line["request_id"], line["status"]) == ("r1", 201)
