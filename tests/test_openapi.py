"""The published contract: committed, valid, complete, and what the code generates."""

import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask import Flask
from flask.testing import FlaskClient
from openapi_spec_validator import validate

from api import create_app, openapi_document

OPENAPI = Path(__file__).resolve().parent.parent / "openapi"

OPERATIONS = {
    ("get", "/api/v1/users"): "listUsers",
    ("post", "/api/v1/users"): "createUser",
    ("get", "/api/v1/users/{user_id}"): "getUser",
    ("put", "/api/v1/users/{user_id}"): "replaceUser",
    ("patch", "/api/v1/users/{user_id}"): "updateUser",
    ("delete", "/api/v1/users/{user_id}"): "deleteUser",
    ("get", "/health/live"): "getLiveness",
    ("get", "/health/ready"): "getReadiness",
    ("post", "/api/v1/users/batch"): "createUsers",
    ("put", "/api/v1/users/{user_id}/skills/{skill}"): "addUserSkill",
    ("delete", "/api/v1/users/{user_id}/skills/{skill}"): "removeUserSkill",
    ("post", "/add"): "legacyAddUser",
    ("get", "/users"): "legacyListUsers",
    ("get", "/user/{user_id}"): "legacyGetUser",
    ("get", "/metrics"): "getMetrics",
}


@pytest.fixture(scope="module")
def spec() -> dict[str, Any]:
    return openapi_document(create_app({}))


def operations(spec: dict[str, Any]) -> dict[tuple[str, str], dict[str, Any]]:
    return {
        (method, path): operation
        for path, item in spec["paths"].items()
        for method, operation in item.items()
        if method != "parameters"
    }


def resolve(spec: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        *_, section, name = node["$ref"].split("/")
        node = spec["components"][section][name]
    return node


def test_committed_json_is_what_the_code_generates(spec: dict[str, Any]) -> None:
    committed = json.loads((OPENAPI / "openapi.json").read_text())

    assert committed == spec, "openapi/ is stale: run ./scripts/export-openapi"


def test_committed_yaml_is_what_the_code_generates(spec: dict[str, Any]) -> None:
    committed = yaml.safe_load((OPENAPI / "openapi.yaml").read_text())

    assert committed == spec, "openapi/ is stale: run ./scripts/export-openapi"


def test_the_spec_is_valid_openapi_3_1(spec: dict[str, Any]) -> None:
    assert spec["openapi"] == "3.1.0"
    validate(spec)


def test_operation_ids_are_the_stable_contract(spec: dict[str, Any]) -> None:
    found = {key: operation.get("operationId") for key, operation in operations(spec).items()}

    assert found == OPERATIONS


def test_only_the_course_routes_are_deprecated(spec: dict[str, Any]) -> None:
    deprecated = {op["operationId"] for op in operations(spec).values() if op.get("deprecated")}

    assert deprecated == {"legacyAddUser", "legacyListUsers", "legacyGetUser"}


def test_every_operation_has_a_summary_a_description_and_a_tag(spec: dict[str, Any]) -> None:
    for key, operation in operations(spec).items():
        assert operation.get("summary"), key
        assert operation.get("description"), key
        assert operation.get("tags"), key


def test_every_error_response_is_a_documented_problem(spec: dict[str, Any]) -> None:
    for key, operation in operations(spec).items():
        errors = {status for status in operation["responses"] if status.startswith(("4", "5"))}
        assert "default" in operation["responses"], key
        for status in [*errors, "default"]:
            response = resolve(spec, operation["responses"][status])
            content = response["content"]
            assert list(content) == ["application/problem+json"], (key, status)
            assert content["application/problem+json"]["schema"] == {
                "$ref": "#/components/schemas/Problem"
            }


@pytest.mark.parametrize(
    ("operation_id", "statuses"),
    [
        ("listUsers", {"400", "422", "503"}),
        ("createUser", {"400", "409", "413", "415", "422", "503"}),
        ("createUsers", {"400", "409", "413", "415", "422", "503"}),
        ("getUser", {"404", "503"}),
        ("replaceUser", {"400", "404", "409", "412", "413", "415", "422", "428", "503"}),
        ("updateUser", {"400", "404", "409", "412", "413", "415", "422", "428", "503"}),
        ("deleteUser", {"404", "412", "428", "503"}),
        ("addUserSkill", {"404", "409", "412", "422", "428", "503"}),
        ("removeUserSkill", {"404", "412", "422", "428", "503"}),
        ("getReadiness", {"503"}),
    ],
)
def test_each_operation_documents_the_errors_it_can_answer(
    spec: dict[str, Any], operation_id: str, statuses: set[str]
) -> None:
    (operation,) = [op for op in operations(spec).values() if op["operationId"] == operation_id]

    assert statuses <= set(operation["responses"])


def test_the_served_spec_is_the_generated_one(app: Flask, client: FlaskClient) -> None:
    assert client.get("/openapi.json").json == openapi_document(app)


def test_swagger_ui_loads_only_local_assets(client: FlaskClient) -> None:
    page = client.get("/docs").text

    assert "/docs/assets/swagger-ui-bundle.js" in page
    assert "/openapi.json" in page
    assert "://" not in page
    with client.get("/docs/assets/swagger-ui-bundle.js") as asset:
        assert asset.status_code == 200
        assert asset.mimetype == "text/javascript"
