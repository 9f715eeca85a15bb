"""Rate limiting per client (api/limits.py)."""

import hashlib
import time
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from api import docs
from api.config import ConfigError, load_config
from tests.conftest import assert_problem, course_user
from tests.live_server import start_server

USERS = "/api/v1/users"
KEY = "limits-test-key-6c5b4a3f2e1d0c9b8a7f"
OTHER_KEY = "limits-test-key-0a9b8c7d6e5f4a3b2c1d"
API_KEYS = ",".join(
    f"{name}:read+write:{hashlib.sha256(key.encode()).hexdigest()}"
    for name, key in [("one", KEY), ("two", OTHER_KEY)]
)
THREE_A_MINUTE = load_config({"RATE_LIMIT": "3/minute", "API_KEYS": API_KEYS})


def status(client: FlaskClient, address: str, key: str | None = None) -> int:
    """GET the users from `address`, with `key` if given; return the status."""
    headers = {} if key is None else {"X-API-Key": key}
    return client.get(USERS, environ_base={"REMOTE_ADDR": address}, headers=headers).status_code


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
        assert client.options(USERS).status_code == 200

    assert client.get(USERS).status_code == 200


@pytest.mark.parametrize(
    "app_config", [load_config({"RATE_LIMIT": "3/minute", "RATE_LIMIT_ENABLED": "false"})]
)
def test_a_setting_turns_limiting_off(client: FlaskClient) -> None:
    responses = [client.get(USERS) for _ in range(10)]

    assert {response.status_code for response in responses} == {200}
    assert "RateLimit-Limit" not in responses[-1].headers


@pytest.mark.parametrize("app_config", [load_config({"RATE_LIMIT": "2/second;100/minute"})])
def test_with_several_rates_the_headers_show_the_tightest(client: FlaskClient) -> None:
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
