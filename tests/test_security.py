"""API keys (api/security.py): who may read and who may write."""

import hashlib
import logging
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
from flask.testing import FlaskClient

from api import create_app, openapi_document
from api.config import load_config
from tests.conftest import assert_problem, course_user
from tests.test_live import ROOT, start_server

USERS = "/api/v1/users"
# Keys as a client holds them; the service is configured with their SHA-256 only.
WRITER = "writer-3a1f9c0d8e7b6a5f4e3d2c1b0a9f8e7d"
READER = "reader-0f1e2d3c4b5a69788796a5b4c3d2e1f0"
BOTH = "both-5c4b3a2918f7e6d5c4b3a2f1e0d9c8b7"
KEYS = {WRITER: "write", READER: "read", BOTH: "read+write"}


def entry(name: str, key: str, scopes: str) -> str:
    return f"{name}:{scopes}:{hashlib.sha256(key.encode()).hexdigest()}"


API_KEYS = ",".join(entry(f"k{n}", key, scopes) for n, (key, scopes) in enumerate(KEYS.items()))


def settings(**environ: str) -> dict[str, Any]:
    return load_config({"API_KEYS": API_KEYS, **environ})


def keyed(key: str | None) -> dict[str, str]:
    return {} if key is None else {"X-API-Key": key}


@pytest.fixture
def user(client: FlaskClient) -> dict[str, Any]:
    response = client.post(USERS, json=course_user(), headers=keyed(BOTH))
    assert response.status_code == 201
    return response.json


def write(client: FlaskClient, method: str, user: dict[str, Any], key: str | None) -> Any:
    path = USERS if method == "POST" else f"{USERS}/{user['id']}"
    body = {
        "POST": course_user(email="new@example.com"),
        "PUT": course_user(role="SRE"),
        "PATCH": {"role": "SRE"},
        "DELETE": None,
    }[method]
    return client.open(path, method=method, json=body, headers=keyed(key))


def unchanged(client: FlaskClient, user: dict[str, Any]) -> bool:
    listed = client.get(USERS, headers=keyed(READER)).json
    return listed["items"] == [user]


# --- writes ----------------------------------------------------------------------------------

METHODS = ["POST", "PUT", "PATCH", "DELETE"]


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
def test_a_write_without_a_key_is_401_and_changes_nothing(
    client: FlaskClient, user: dict[str, Any], method: str
) -> None:
    response = write(client, method, user, None)

    problem = assert_problem(response, 401, "api_key_required")
    assert "X-API-Key" in problem["detail"]
    assert response.headers["WWW-Authenticate"].startswith("ApiKey ")
    assert unchanged(client, user)


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("key", ["wrong", "", WRITER.upper(), WRITER + " ", READER[:-1]])
def test_a_write_with_a_wrong_key_is_401_and_changes_nothing(
    client: FlaskClient, user: dict[str, Any], method: str, key: str
) -> None:
    response = write(client, method, user, key)

    assert_problem(response, 401, "api_key_invalid")
    assert unchanged(client, user)


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
def test_a_write_with_a_read_only_key_is_403_and_changes_nothing(
    client: FlaskClient, user: dict[str, Any], method: str
) -> None:
    response = write(client, method, user, READER)

    problem = assert_problem(response, 403, "insufficient_scope")
    assert problem["detail"] == "The API key 'k1' lacks the 'write' scope."
    assert unchanged(client, user)


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("key", [WRITER, BOTH])
def test_a_write_with_a_write_key_is_done(
    client: FlaskClient, user: dict[str, Any], method: str, key: str
) -> None:
    response = write(client, method, user, key)

    assert response.status_code == {"POST": 201, "DELETE": 204}.get(method, 200)
    assert not unchanged(client, user)


# --- reads -----------------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [settings()])
@pytest.mark.parametrize("key", [None, READER, WRITER, BOTH])
def test_reads_need_no_key_by_default(
    client: FlaskClient, user: dict[str, Any], key: str | None
) -> None:
    assert client.get(f"{USERS}/{user['id']}", headers=keyed(key)).json == user
    assert client.head(USERS, headers=keyed(key)).status_code == 200


@pytest.mark.parametrize("app_config", [settings()])
def test_a_read_with_a_wrong_key_is_401_even_when_reads_are_open(client: FlaskClient) -> None:
    assert client.get(USERS).status_code == 200
    assert_problem(client.get(USERS, headers=keyed("wrong")), 401, "api_key_invalid")


@pytest.mark.parametrize("app_config", [settings(API_KEYS_FOR_READS="true")])
def test_reads_need_a_read_key_when_configured(client: FlaskClient, user: dict[str, Any]) -> None:
    item = f"{USERS}/{user['id']}"

    assert_problem(client.get(item), 401, "api_key_required")
    assert_problem(client.get(USERS, headers=keyed("wrong")), 401, "api_key_invalid")
    problem = assert_problem(client.get(item, headers=keyed(WRITER)), 403, "insufficient_scope")
    assert "'read'" in problem["detail"]
    assert client.get(item, headers=keyed(READER)).json == user
    assert client.get(item, headers=keyed(BOTH)).json == user


@pytest.mark.parametrize("app_config", [settings(API_KEYS_FOR_READS="true")])
@pytest.mark.parametrize(
    "path",
    ["/health/live", "/health/ready", "/docs", "/openapi.json", "/docs/assets/swagger-ui.css"],
)
def test_probes_and_docs_need_no_key(client: FlaskClient, path: str) -> None:
    with client.get(path, headers=keyed("wrong")) as response:
        assert response.status_code == 200


@pytest.mark.parametrize("app_config", [settings(API_KEYS_FOR_READS="true")])
def test_preflights_and_unknown_routes_need_no_key(client: FlaskClient) -> None:
    assert client.options(USERS).status_code == 200
    assert_problem(client.get("/api/v1/nope"), 404, "not_found")


# --- keys stay secret ------------------------------------------------------------------------


@pytest.mark.parametrize("app_config", [settings()])
def test_keys_appear_in_no_response_and_no_log(
    client: FlaskClient, user: dict[str, Any], caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    seen = []
    for key in [*KEYS, "a-wrong-key-0123456789"]:
        for method in METHODS:
            response = write(client, method, user, key)
            seen.append(response.get_data(as_text=True) + str(response.headers))

    for key in [*KEYS, "a-wrong-key-0123456789"]:
        assert not any(key in text for text in seen)
        assert key not in caplog.text


def test_without_keys_writes_are_open_and_start_up_says_so(
    caplog: pytest.LogCaptureFixture,
) -> None:
    app = create_app({})

    assert app.test_client().post(USERS, json=course_user()).status_code == 201
    assert "API_KEYS is not set" in caplog.text
    app.extensions["store"].close()


@pytest.mark.live
def test_a_live_server_logs_no_key(tmp_path: Path) -> None:
    server = start_server(tmp_path, API_KEYS=API_KEYS, ACCESS_LOG="true", LOG_LEVEL="DEBUG")
    try:
        with httpx.Client(base_url=server.url) as http:
            created = http.post(USERS, json=course_user(), headers=keyed(BOTH))
            assert created.status_code == 201
            assert http.get(USERS, headers=keyed(READER)).status_code == 200
            assert http.post(USERS, json=course_user(), headers=keyed("guess")).status_code == 401
            deleted = http.delete(created.headers["location"], headers=keyed(READER))
            assert deleted.status_code == 403
    finally:
        server.stop()

    output = server.output()
    assert '"POST /api/v1/users' in output  # the access log is on
    assert "API_KEYS is not set" not in output
    for key in [*KEYS, "guess"]:
        assert key not in output


# --- contract and tooling --------------------------------------------------------------------


def test_the_spec_documents_the_key_and_what_each_operation_needs() -> None:
    spec = openapi_document(create_app({}))

    assert spec["components"]["securitySchemes"]["ApiKey"] == {
        "type": "apiKey",
        "in": "header",
        "name": "X-API-Key",
        "description": spec["components"]["securitySchemes"]["ApiKey"]["description"],
    }
    for path, item in spec["paths"].items():
        for method, operation in item.items():
            if method == "parameters":
                continue
            if path.startswith("/health"):
                assert operation["security"] == []
                continue
            if method == "get":
                assert operation["security"] == [{}, {"ApiKey": []}]
            else:
                assert operation["security"] == [{"ApiKey": []}]
            assert operation["responses"]["401"] == {"$ref": "#/components/responses/UNAUTHORIZED"}
            assert operation["responses"]["403"] == {"$ref": "#/components/responses/FORBIDDEN"}


def test_new_api_key_makes_a_key_and_its_entry() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "api", "new-api-key", "ci", "--scopes", "read"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )

    lines = result.stdout.splitlines()
    key, api_keys = lines[1].strip(), lines[3].strip()
    assert api_keys == entry("ci", key, "read")
    assert len(key) >= 40
    (configured,) = load_config({"API_KEYS": api_keys})["API_KEYS"]
    assert (configured.name, configured.scopes) == ("ci", frozenset({"read"}))
