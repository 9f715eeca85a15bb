"""Rate limiting per client (api/ratelimit.py), counted in memory and, for the tests marked
real_driver, in MongoDB through real Motor (api/counters.py)."""

import hashlib
import time
from pathlib import Path
from typing import Any

import flask
import httpx
import pytest
from flask.testing import FlaskClient

from api import create_app, docs
from api.config import ConfigError, load_config
from api.counters import MemoryCounters, MongoCounters
from api.ratelimit import Limiter, Verdict
from tests.conftest import USERS, assert_problem, course_user, database_name
from tests.live_server import start_server
from tests.mongo_wire import WireServer

KEY = "limits-test-key-6c5b4a3f2e1d0c9b8a7f"
OTHER_KEY = "limits-test-key-0a9b8c7d6e5f4a3b2c1d"
API_KEYS = ",".join(
    f"{name}:read+write:{hashlib.sha256(key.encode()).hexdigest()}"
    for name, key in [("one", KEY), ("two", OTHER_KEY)]
)


def settings(**environ: str) -> dict[str, Any]:
    """The parsed values of just these settings (the rest stay the app fixture's)."""
    return {name: value for name, value in load_config(environ).items() if name in environ}


THREE_A_MINUTE = settings(RATE_LIMIT="3/minute", API_KEYS=API_KEYS)
PREFLIGHT = {"Origin": "https://app.example.com", "Access-Control-Request-Method": "POST"}


def status(client: FlaskClient, address: str, key: str | None = None) -> int:
    """GET the users from `address`, with `key` if given; return the status."""
    headers = {} if key is None else {"X-API-Key": key}
    return client.get(USERS, environ_base={"REMOTE_ADDR": address}, headers=headers).status_code


@pytest.mark.real_driver
@pytest.mark.parametrize("app_config", [THREE_A_MINUTE])
def test_over_the_limit_a_client_gets_429_with_retry_after(client: FlaskClient) -> None:
    responses = [client.get(USERS) for _ in range(4)]

    assert [response.status_code for response in responses] == [200, 200, 200, 429]
    assert [response.headers["RateLimit-Remaining"] for response in responses] == [
        "2",
        "1",
        "0",
        "0",
    ]
    for response in responses:
        assert response.headers["RateLimit-Limit"] == "3"
        assert response.headers["RateLimit-Policy"] == "3;w=60"
        assert 0 <= int(response.headers["RateLimit-Reset"]) <= 60
    problem = assert_problem(responses[-1], 429, "rate_limited")
    assert "3 per 1 minute" in problem["detail"]
    assert 1 <= int(responses[-1].headers["Retry-After"]) <= 60
    assert "Retry-After" not in responses[0].headers


@pytest.mark.parametrize("app_config", [THREE_A_MINUTE])
def test_the_budget_is_shared_by_every_api_route_and_method(client: FlaskClient) -> None:
    created = client.post(USERS, json=course_user(), headers={"X-API-Key": KEY})
    client.get(created.headers["Location"], headers={"X-API-Key": KEY})
    client.patch(created.headers["Location"], json={"role": "SRE"}, headers={"X-API-Key": KEY})

    refused = client.delete(created.headers["Location"], headers={"X-API-Key": KEY})

    assert_problem(refused, 429, "rate_limited")
    assert client.get(created.headers["Location"]).status_code == 200  # not deleted


@pytest.mark.real_driver
@pytest.mark.parametrize("app_config", [THREE_A_MINUTE])
def test_clients_are_counted_apart_by_key_else_by_address(client: FlaskClient) -> None:
    assert [status(client, "10.0.0.1", KEY) for _ in range(4)] == [200, 200, 200, 429]
    # The same key from elsewhere is the same client; another key or no key is another one.
    assert status(client, "10.0.0.2", KEY) == 429
    assert status(client, "10.0.0.1", OTHER_KEY) == 200
    assert status(client, "10.0.0.1") == 200


@pytest.mark.parametrize("app_config", [THREE_A_MINUTE])
def test_wrong_keys_count_against_the_address(client: FlaskClient) -> None:
    statuses = [status(client, "10.0.0.9", f"guess-{n}") for n in range(4)]

    assert statuses == [401, 401, 401, 429]
    assert status(client, "10.0.0.9") == 429


@pytest.mark.parametrize("app_config", [THREE_A_MINUTE])
def test_probes_docs_and_preflights_are_not_limited(client: FlaskClient) -> None:
    for _ in range(5):
        for path in ("/health/live", "/health/ready", "/openapi.json", "/docs"):
            response = client.get(path)
            assert response.status_code == 200
            assert "RateLimit-Limit" not in response.headers
        preflight = client.options(USERS, headers=PREFLIGHT)
        assert preflight.status_code == 200
        assert "RateLimit-Limit" not in preflight.headers

    assert client.get(USERS).status_code == 200


@pytest.mark.parametrize("app_config", [settings(RATE_LIMIT="4/minute", API_KEYS=API_KEYS)])
def test_unknown_paths_methods_and_malformed_requests_count(client: FlaskClient) -> None:
    """Whatever reaches the app counts, whether or not a route takes it."""
    key = {"X-API-Key": KEY}
    answers = [
        client.get("/api/v1/nothing-here", headers=key),
        client.put(USERS, json=course_user(), headers=key),
        client.post(USERS, data=b"{not json", headers=key, content_type="application/json"),
        client.get(USERS, query_string={"q": "x" * 3000}, headers=key),
    ]

    assert [answer.status_code for answer in answers] == [404, 405, 400, 414]
    assert [answer.headers["RateLimit-Remaining"] for answer in answers] == ["3", "2", "1", "0"]
    # An OPTIONS that is no CORS preflight counts (and is refused) like any request.
    assert_problem(client.options(USERS, headers=key), 429, "rate_limited")
    assert_problem(client.get("/health/nothing", headers=key), 429, "rate_limited")


@pytest.mark.parametrize(
    "app_config", [settings(RATE_LIMIT="3/minute", RATE_LIMIT_ENABLED="false")]
)
def test_a_setting_turns_limiting_off(client: FlaskClient) -> None:
    responses = [client.get(USERS) for _ in range(10)]

    assert {response.status_code for response in responses} == {200}
    assert "RateLimit-Limit" not in responses[-1].headers


@pytest.mark.real_driver
@pytest.mark.parametrize("app_config", [settings(RATE_LIMIT="2/second;100/minute")])
def test_with_several_rates_the_headers_show_the_tightest(client: FlaskClient) -> None:
    # The three requests fall in one clock second (a window of 2/second) when they start at
    # its beginning: across a boundary, the first weighs less than a whole request in the
    # next window (the previous window's share is rounded down), and the second has 1 left.
    time.sleep(1 - time.time() % 1)
    first, second, third = (client.get(USERS) for _ in range(3))

    assert (first.headers["RateLimit-Limit"], first.headers["RateLimit-Policy"]) == ("2", "2;w=1")
    assert second.headers["RateLimit-Remaining"] == "0"
    assert_problem(third, 429, "rate_limited")
    # Windows are counted per clock second, and the last one still weighs on the next: after
    # 2 s the requests above weigh nothing.
    time.sleep(2.05)
    assert client.get(USERS).status_code == 200


@pytest.mark.parametrize("value", ["lots", "600", "600/fortnight", "-1/minute"])
def test_an_invalid_rate_limit_is_refused(value: str) -> None:
    with pytest.raises(ConfigError, match="RATE_LIMIT="):
        load_config({"RATE_LIMIT": value})


def test_the_storage_follows_the_store_unless_a_setting_picks_it(wire_server: WireServer) -> None:
    wire = {"MONGODB_URI": wire_server.uri, "MONGODB_DB": database_name()}

    def counters(config: dict[str, Any]) -> type:
        return type(create_app(config).extensions["limiter"].counters)

    assert counters({}) is MemoryCounters
    assert counters(wire) is MongoCounters
    assert counters({**wire, **settings(RATE_LIMIT_STORAGE="memory")}) is MemoryCounters
    with pytest.raises(ConfigError, match="RATE_LIMIT_STORAGE=mongodb needs MONGODB_URI"):
        load_config({"RATE_LIMIT_STORAGE": "mongodb"})
    with pytest.raises(ConfigError, match="RATE_LIMIT_STORAGE='redis'"):
        load_config({"RATE_LIMIT_STORAGE": "redis"})


def judge_at(rate: str, *moments: float) -> list[Verdict]:
    """One request of one client at each Unix time, on an app limited to `rate`."""
    app = create_app(settings(RATE_LIMIT=rate))
    limiter: Limiter = app.extensions["limiter"]
    with app.app_context():
        return [limiter.judge("address:10.0.0.1", moment) for moment in moments]


def test_reset_is_never_more_than_the_window() -> None:
    # A request at the very start of a clock minute: the window frees it 60 s later, not 61.
    start = 1_800_000_000.0  # a multiple of 60

    first, second, refused = judge_at("2/minute", start, start + 0.2, start + 59.9)

    assert (first.reset, first.remaining) == (60, 1)
    assert (second.reset, second.remaining) == (60, 0)
    assert (refused.allowed, refused.reset, refused.remaining) == (False, 1, 0)


def test_the_previous_window_weighs_by_the_share_still_within_the_period() -> None:
    start = 1_800_000_000.0
    verdicts = judge_at(
        "4/minute",
        *(start + second for second in (0, 1, 2, 3)),  # 4 in the first minute
        # 10 s into the next one, 5/6 of the first is still within the last 60 s: 4 * 5/6
        # weighs 3 requests, so one more gets through, and the next is refused (not counted).
        start + 70,
        start + 71,
        # At 44 s, over a quarter of it weighs 1 request (plus the one at 70 s): two more.
        start + 104,
        start + 104.4,
        start + 104.8,
    )

    assert [verdict.allowed for verdict in verdicts] == [True] * 5 + [False, True, True, False]
    allowed, refused = verdicts[4:6]
    assert allowed.remaining == 0
    # The first minute's share falls to 2 requests at 15 s into this one, 4 s later.
    assert (refused.reset, refused.remaining) == (4, 0)


@pytest.mark.real_driver
@pytest.mark.parametrize("app_config", [settings(RATE_LIMIT="3/minute")])
def test_two_instances_on_one_database_share_the_budget(
    app: flask.Flask, app_config: dict[str, Any]
) -> None:
    """Two apps on the same store count together through MongoDB; in memory they cannot."""
    store = {name: app.config[name] for name in ("MONGODB_URI", "MONGODB_DB")}
    other = create_app({**app_config, **store})
    first, second = app.test_client(), other.test_client()
    try:
        statuses = [client.get(USERS).status_code for client in (first, second, first, second)]
    finally:
        other.extensions["store"].close()

    shared = app.config["MONGODB_URI"] is not None
    assert statuses == ([200, 200, 200, 429] if shared else [200, 200, 200, 200])


def test_every_api_operation_documents_429(app: Any) -> None:
    # Everything but the probes and the docs (which are not in the document) is limited.
    for path, item in docs.documents(app)["openapi"]["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            limited = operation["tags"] != ["health"]
            assert ("429" in operation["responses"]) is limited, (method, path)


@pytest.mark.live
def test_a_live_server_limits_over_http(tmp_path: Path) -> None:
    server = start_server(tmp_path, RATE_LIMIT="5/minute", RATE_LIMIT_ENABLED="true")
    try:
        with httpx.Client(base_url=server.url) as http:
            statuses = [http.get(USERS).status_code for _ in range(6)]
            refused = http.post(USERS, json=course_user())
    finally:
        server.stop()

    assert statuses == [200] * 5 + [429]
    assert_problem(refused, 429, "rate_limited")
    assert int(refused.headers["retry-after"]) >= 1
    assert refused.headers["ratelimit-remaining"] == "0"
