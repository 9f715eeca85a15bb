"""The published contract: committed, valid, complete, and what the code generates."""

import http
import json
from pathlib import Path
from typing import Any

import pytest
import yaml
from flask.testing import FlaskClient
from jsonschema.exceptions import ValidationError
from openapi_schema_validator import OAS30Validator, OAS31Validator
from openapi_schema_validator import validate as validate_instance
from openapi_spec_validator import validate

from api import __version__, create_app, docs
from tests.conftest import USERS
from tests.test_sdk import run

OPENAPI = Path(__file__).resolve().parent.parent / "openapi"
# RFC 9110's reason phrases where Python's http.HTTPStatus still has RFC 7231's.
RFC_9110_TITLES = {413: "Content Too Large", 414: "URI Too Long", 422: "Unprocessable Content"}

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
    ("get", "/api/v1/users/{user_id}/versions"): "listUserVersions",
    ("get", "/api/v1/users/{user_id}/versions/{version}"): "getUserVersion",
    ("post", "/api/v1/users/{user_id}/versions/{version}/restore"): "restoreUserVersion",
    ("post", "/api/v1/users/{user_id}/restore"): "restoreUser",
    ("get", "/api/v1/users/stats"): "getUserStats",
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


# Parameters with no example, on purpose: only a cursor the API issued is valid.
NO_EXAMPLE = {("get", "/api/v1/users", "cursor")}


def parameters(spec: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Every parameter of every operation, with where it is."""
    return [
        (f"{method} {path} {parameter['name']}", parameter)
        for (method, path), operation in operations(spec).items()
        for parameter in [
            *spec["paths"][path].get("parameters", []),
            *operation.get("parameters", []),
        ]
    ]


def is_optional(parameter: dict[str, Any]) -> bool:
    return not parameter.get("required") and parameter["in"] in {"query", "header"}


def test_every_parameter_has_a_description_and_a_valid_example(spec: dict[str, Any]) -> None:
    for where, parameter in parameters(spec):
        assert parameter.get("description"), where
        if tuple(where.split(" ")) in NO_EXAMPLE:
            assert not {"example", "examples"} & set(parameter["schema"]), where
        elif is_optional(parameter):
            # Where Swagger UI takes no input value from (see the next test).
            example = (
                parameter["x-example"]
                if spec["openapi"].startswith("3.0")
                else parameter["schema"]["examples"][0]
            )
            validate_instance(example, parameter["schema"], cls=validator(spec))
        else:
            assert_example_is_valid(spec, parameter["schema"], where)


def test_no_optional_parameter_has_a_value_swagger_ui_would_send(spec: dict[str, Any]) -> None:
    # Swagger UI 5 fills "Try it out" with a parameter's `examples`, `example`, or its schema's
    # `example` or `default`, and sends it untouched: an optional filter, condition or key
    # would be in every request. A default is what the server assumes anyway.
    for where, parameter in parameters(spec):
        if is_optional(parameter):
            assert not {"example", "examples", "content", "default"} & set(parameter), where
            assert "example" not in parameter["schema"], where


def test_every_request_body_response_and_header_is_described(spec: dict[str, Any]) -> None:
    for key, operation in operations(spec).items():
        if "requestBody" in operation:
            assert operation["requestBody"]["description"], key
        for status, reference in operation["responses"].items():
            response = resolve(spec, reference)
            assert response["description"], (key, status)
            for name, header in response.get("headers", {}).items():
                header = resolve(spec, header)
                assert header["description"], (key, status, name)
                assert "example" in header["schema"], (key, status, name)


def test_every_error_response_shows_a_valid_example_problem(spec: dict[str, Any]) -> None:
    problem = spec["components"]["schemas"]["Problem"]
    for name, response in spec["components"]["responses"].items():
        example = response["content"]["application/problem+json"]["example"]
        validate_instance(example, problem, cls=validator(spec))
        expected = 500 if name == "DEFAULT_ERROR" else http.HTTPStatus[name]
        assert example["status"] == expected, name
        assert example["title"] == RFC_9110_TITLES.get(expected, http.HTTPStatus(expected).phrase)


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


def by_id(spec: dict[str, Any], operation_id: str) -> dict[str, Any]:
    (operation,) = [op for op in operations(spec).values() if op["operationId"] == operation_id]
    return operation


def test_responses_require_what_the_server_always_sets_and_requests_keep_it_read_only(
    spec: dict[str, Any],
) -> None:
    schemas = spec["components"]["schemas"]
    user, user_input = schemas["User"], schemas["UserInput"]
    server_set = {"id", "created_at", "updated_at"}

    assert server_set | {"name", "email"} <= set(user["required"])
    assert set(user_input["required"]) == {"name", "email"}
    for name in server_set:
        assert user_input["properties"][name]["readOnly"] is True
    for operation_id in ("createUser", "replaceUser", "legacyAddUser"):
        body = by_id(spec, operation_id)["requestBody"]["content"]["application/json"]["schema"]
        assert body == {"$ref": "#/components/schemas/UserInput"}, operation_id
    batch_item = schemas["UserBatch"]["properties"]["items"]["items"]
    assert batch_item == {"$ref": "#/components/schemas/UserInput"}
    for operation_id in ("createUser", "getUser", "updateUser", "addUserSkill"):
        success = next(iter(by_id(spec, operation_id)["responses"].values()))
        schema = success["content"]["application/json"]["schema"]
        assert schema == {"$ref": "#/components/schemas/User"}, operation_id


def test_a_merge_patch_may_remove_experience_with_null(spec: dict[str, Any]) -> None:
    patch = spec["components"]["schemas"]["UserPatch"]
    experience = patch["properties"]["experience"]
    # Validated as a strict validator reads the document: references resolved in it.
    schema = {**experience, "components": spec["components"]}

    validate_instance(None, schema, cls=validator(spec))
    validate_instance({"years": 6}, schema, cls=validator(spec))
    with pytest.raises(ValidationError):
        validate_instance({"years": 6, "unknown": 1}, schema, cls=validator(spec))
    with pytest.raises(ValidationError):
        validate_instance("none", schema, cls=validator(spec))


def test_request_examples_are_what_each_operation_takes(spec: dict[str, Any]) -> None:
    patch = by_id(spec, "updateUser")["requestBody"]["content"]["application/merge-patch+json"]
    assert set(patch["example"]) < {"role", "experience", "skills", "active", "name", "email"}
    assert len(patch["example"]) <= 2  # a small patch, not a whole user

    emails = []
    for operation_id in ("createUsers", "replaceUser", "legacyAddUser"):
        content = by_id(spec, operation_id)["requestBody"]["content"]["application/json"]
        example = content["example"]
        emails += [item["email"] for item in example.get("items", [example])]
    # Tried in turn in Swagger UI, creates do not collide (PUT replaces the course user).
    creates = [email for email in emails if email != "priyanshu@example.com"]
    assert len(set(creates)) == len(creates) == 3


def response_headers(spec: dict[str, Any], operation_id: str, status: str) -> set[str]:
    response = resolve(spec, by_id(spec, operation_id)["responses"][status])
    return set(response.get("headers", {}))


RATE_LIMIT = {"RateLimit-Limit", "RateLimit-Remaining", "RateLimit-Reset", "RateLimit-Policy"}
# Blueprints neither keyed nor limited (api/security.py OPEN_BLUEPRINTS).
UNLIMITED = {"getLiveness", "getReadiness"}


def test_every_header_the_server_sends_is_documented(spec: dict[str, Any]) -> None:
    for (method, path), operation in operations(spec).items():
        operation_id = operation["operationId"]
        responses = operation["responses"]
        # Routing answers 405 with Allow for a method the path lacks, on every path.
        assert "Allow" in response_headers(spec, operation_id, "405"), (method, path)
        if operation_id in UNLIMITED:
            continue
        for status in responses:
            if status not in {"408", "414"}:  # refused before the limiter counts them
                assert response_headers(spec, operation_id, status) >= RATE_LIMIT, (path, status)
        if "requestBody" in operation:  # answered by the server when the body is late
            assert "Connection" in response_headers(spec, operation_id, "408"), (method, path)
        assert "Retry-After" in response_headers(spec, operation_id, "429")
        assert "WWW-Authenticate" in response_headers(spec, operation_id, "401")
        if "409" in responses:
            assert "Retry-After" in response_headers(spec, operation_id, "409")
        if "503" in responses:
            assert "Retry-After" in response_headers(spec, operation_id, "503")
        if "304" in responses:
            assert "ETag" in response_headers(spec, operation_id, "304")
        if operation.get("deprecated"):
            for status in [s for s in responses if s.startswith(("2", "3"))]:
                headers = response_headers(spec, operation_id, status)
                assert {"Deprecation", "Sunset", "Link"} <= headers, (operation_id, status)
    assert "Idempotent-Replayed" in response_headers(spec, "createUser", "201")
    assert "Idempotent-Replayed" not in response_headers(spec, "legacyAddUser", "201")


def test_a_deployment_sets_the_server_url_the_documents_name() -> None:
    app = create_app({"OPENAPI_SERVER_URL": "https://users.example.com"})

    for document in docs.documents(app).values():
        assert [server["url"] for server in document["servers"]] == ["https://users.example.com"]


def test_problem_titles_are_rfc_9110_reason_phrases(client: FlaskClient) -> None:
    too_large = client.post(USERS, data="x" * 2_000_000, content_type="application/json")
    too_long = client.get(f"{USERS}?q={'a' * 3000}")
    invalid = client.post(USERS, json={"name": ""})

    assert too_large.json["title"] == "Content Too Large"
    assert too_long.json["title"] == "URI Too Long"
    assert invalid.json["title"] == "Unprocessable Content"


CONTRACT_TOOLS = Path(__file__).resolve().parent / "contract"
LINTERS: dict[str, list[str | Path]] = {
    # Redocly CLI, `recommended`: exit 1 on an error; warnings are reported, so looked for too.
    "redocly": ["lint", "--config", CONTRACT_TOOLS / "redocly.yaml"],
    # Spectral, `spectral:oas`: a non-zero exit on any result, down to hints.
    "spectral": [
        *("lint", "--ruleset", CONTRACT_TOOLS / ".spectral.yaml", "--fail-severity", "hint"),
    ],
}


@pytest.mark.contract
@pytest.mark.parametrize("linter", sorted(LINTERS))
def test_outside_linters_find_nothing_in_the_committed_files(linter: str) -> None:
    tool = CONTRACT_TOOLS / "node_modules" / ".bin" / linter
    assert tool.exists(), f"{tool} is missing: ./scripts/test installs tests/contract's npm tools"
    output = run(
        tool,
        *LINTERS[linter],
        *published_files(),
        # Nothing leaves the machine: no usage report, no update check.
        env={"REDOCLY_TELEMETRY": "off", "REDOCLY_SUPPRESS_UPDATE_NOTICE": "true"},
    )

    assert "warning" not in output.lower(), output
