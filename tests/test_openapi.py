"""The published contract: committed, valid, complete, and what the code generates."""

import http
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from openapi_schema_validator import OAS30Validator, OAS31Validator
from openapi_schema_validator import validate as validate_instance
from openapi_spec_validator import validate

from api import __version__, create_app, docs

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
def app_documents() -> dict[str, dict[str, Any]]:
    """Every published document, by file stem, as the code generates it."""
    return docs.documents(create_app({}))


@pytest.fixture(scope="module", params=sorted(docs.DOCUMENTS))
def spec(request: pytest.FixtureRequest, app_documents: dict[str, Any]) -> dict[str, Any]:
    """Each published document in turn: the contract holds in every version."""
    return app_documents[request.param]


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


def published_files() -> list[Path]:
    return [OPENAPI / f"{stem}.{ext}" for stem in docs.DOCUMENTS for ext in ("json", "yaml")]


@pytest.mark.parametrize("path", published_files(), ids=lambda path: path.name)
def test_committed_files_are_what_the_code_generates(
    app_documents: dict[str, Any], path: Path
) -> None:
    committed = path.read_text()

    assert committed == docs.render(app_documents[path.stem], path.suffix[1:]), (
        f"{path} is stale: run ./scripts/export-openapi"
    )


def test_exactly_the_published_files_are_committed() -> None:
    committed = {path.name for path in OPENAPI.iterdir()}

    assert committed == {path.name for path in published_files()}


@pytest.mark.parametrize("path", published_files(), ids=lambda path: path.name)
def test_each_committed_file_is_valid_openapi_of_its_version(path: Path) -> None:
    document = yaml.safe_load(path.read_text())  # JSON is YAML too

    assert document["openapi"] == docs.DOCUMENTS[path.stem]
    validate(document)


def test_both_versions_describe_the_same_operations(app_documents: dict[str, Any]) -> None:
    def outline(spec: dict[str, Any]) -> dict[tuple[str, str], Any]:
        return {
            key: (
                operation["operationId"],
                sorted(operation["responses"]),
                [(p["in"], p["name"]) for p in operation.get("parameters", [])],
            )
            for key, operation in operations(spec).items()
        }

    latest, compatible = app_documents["openapi"], app_documents["openapi-3.0"]
    assert outline(compatible) == outline(latest)
    assert compatible["components"]["schemas"].keys() == latest["components"]["schemas"].keys()


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


def test_info_names_the_api_its_version_license_contact_and_servers(
    spec: dict[str, Any],
) -> None:
    info = spec["info"]

    assert info["title"] == "Users API"
    assert info["version"] == __version__
    assert "/openapi-3.0.json" in info["description"]
    assert info["license"]["name"] == "MIT"
    assert info["contact"]["email"]
    assert spec["servers"][0]["url"] == "/"  # Swagger UI "Try it out" calls the serving host
    assert all(server["description"] for server in spec["servers"])
    assert all(tag["description"] for tag in spec["tags"])


def validator(spec: dict[str, Any]) -> type:
    return OAS31Validator if spec["openapi"].startswith("3.1") else OAS30Validator


def assert_example_is_valid(spec: dict[str, Any], schema: dict[str, Any], where: str) -> None:
    assert "example" in schema, f"{where}: no example"
    if "$ref" not in json.dumps(schema):  # the examples of referenced schemas are checked there
        validate_instance(schema["example"], schema, cls=validator(spec))


def test_every_schema_and_field_has_a_description_and_a_valid_example(
    spec: dict[str, Any],
) -> None:
    for name, schema in spec["components"]["schemas"].items():
        assert schema.get("description"), name
        for field, prop in schema["properties"].items():
            assert prop.get("description"), f"{name}.{field}: no description"
            assert_example_is_valid(spec, prop, f"{name}.{field}")
            if "items" in prop and "$ref" not in prop["items"]:
                assert prop["items"].get("description"), f"{name}.{field} items"
                assert_example_is_valid(spec, prop["items"], f"{name}.{field} items")


def test_every_schema_refuses_unknown_fields_as_the_service_does(spec: dict[str, Any]) -> None:
    for name, schema in spec["components"]["schemas"].items():
        assert schema["additionalProperties"] is False, name


# Parameters with no example, on purpose: only a cursor the API issued is valid, and Swagger UI
# would put an example in "Try it out", sent together with `page` (a 400).
NO_EXAMPLE = {("get", "/api/v1/users", "cursor")}


def test_every_parameter_has_a_description_and_a_valid_example(spec: dict[str, Any]) -> None:
    for (method, path), operation in operations(spec).items():
        shared = spec["paths"][path].get("parameters", [])
        for parameter in [*shared, *operation.get("parameters", [])]:
            where = f"{method} {path} {parameter['name']}"
            assert parameter.get("description"), where
            if (method, path, parameter["name"]) in NO_EXAMPLE:
                assert "example" not in parameter["schema"], where
            else:
                assert_example_is_valid(spec, parameter["schema"], where)


def test_every_request_body_response_and_header_is_described(spec: dict[str, Any]) -> None:
    for key, operation in operations(spec).items():
        if "requestBody" in operation:
            assert operation["requestBody"]["description"], key
        for status, reference in operation["responses"].items():
            response = resolve(spec, reference)
            assert response["description"], (key, status)
            for name, header in response.get("headers", {}).items():
                assert header["description"], (key, status, name)
                assert "example" in header["schema"], (key, status, name)


def test_every_error_response_shows_a_valid_example_problem(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    for name, response in spec["components"]["responses"].items():
        example = response["content"]["application/problem+json"]["example"]
        validate_instance(example, problem, cls=validator(spec))
        expected = 500 if name == "DEFAULT_ERROR" else http.HTTPStatus[name]
        assert example["status"] == expected, name
        assert example["title"] == http.HTTPStatus(expected).phrase, name


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
