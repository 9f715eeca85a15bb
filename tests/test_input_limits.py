"""Hostile and malformed input (api/input_limits.py and the schemas' text rules), over HTTP."""

import json
from typing import Any

import flask
import pytest
from flask.testing import FlaskClient

from api import create_app, docs, input_limits
from tests.conftest import USERS, assert_problem, course_user, create

JSON = {"Content-Type": "application/json"}


def post_raw(client: FlaskClient, body: bytes | str, **headers: str) -> Any:
    return client.post(USERS, data=body, headers={**JSON, **headers})


def nested(depth: int) -> str:
    return '{"name": ' * depth + '"x"' + "}" * depth


def stored(client: FlaskClient) -> list[dict[str, Any]]:
    return client.get(f"{USERS}?page_size=100").json["items"]


# --- strict JSON -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"name": "Ada", "name": "Eve", "email": "ada@example.com"}',
        b'{"name": "Ada", "email": "ada@example.com", "experience": {"years": 1, "years": 2}}',
        b'{"name": "Ada", "email": "ada@example.com", "experience": {"years": NaN}}',
        b'{"name": "Ada", "email": "ada@example.com", "experience": {"years": Infinity}}',
        b'{"name": "\\ud800", "email": "ada@example.com"}',
        b'{"name": "\\udfff\\ud800", "email": "ada@example.com"}',
        b'{"name": "\xff\xfe", "email": "ada@example.com"}',
        '{"name": "Ada", "email": "ada@example.com"}'.encode("utf-16"),
        b'\xef\xbb\xbf{"name": "Ada", "email": "ada@example.com"}',
        b'{"name": "Ada", "email": "ada@example.com"',
        b'{"name": "Ada", "email": "a@example.com", "experience": {"years": 1%s}}' % (b"0" * 5000),
        b'{"name": "A\x00da", "email": "ada@example.com"}',
    ],
    ids=[
        "duplicate key",
        "nested duplicate key",
        "NaN",
        "Infinity",
        "lone surrogate",
        "reversed surrogate pair",
        "not UTF-8",
        "UTF-16",
        "byte order mark",
        "truncated",
        "5000-digit integer",
        "raw NUL byte in a string",
    ],
)
def test_a_body_that_is_not_strict_json_is_400_and_stores_nothing(
    client: FlaskClient, body: bytes
) -> None:
    response = post_raw(client, body)

    problem = assert_problem(response, 400, "malformed_json")
    assert problem["detail"].startswith("The request body is not valid JSON")
    assert stored(client) == []


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (nested(input_limits.MAX_DEPTH + 1), "nested deeper than 16 levels"),
        ("[" * 200_000 + "]" * 200_000, "nested deeper than 16 levels"),
        (
            json.dumps(course_user(skills=[str(n) for n in range(input_limits.MAX_ITEMS + 1)])),
            "an array of more than 1000 items",
        ),
        (
            json.dumps({**course_user(), **{f"k{n}": n for n in range(input_limits.MAX_KEYS)}}),
            "an object of more than 100 keys",
        ),
        (json.dumps({**course_user(), "k" * 101: 1}), "a key longer than 100 characters"),
        (json.dumps(course_user(name="x" * 10_001)), "a string longer than 10000 characters"),
    ],
    ids=["deep", "very deep", "long array", "many keys", "long key", "long string"],
)
def test_a_body_over_a_structural_limit_is_400_and_stores_nothing(
    client: FlaskClient, body: str, reason: str
) -> None:
    response = post_raw(client, body)

    problem = assert_problem(response, 400, "json_limit_exceeded")
    assert problem["detail"] == f"The request body exceeds a limit: {reason}."
    assert stored(client) == []


def test_bodies_at_the_structural_limits_reach_the_schema(client: FlaskClient) -> None:
    user = course_user(skills=[str(n) for n in range(input_limits.MAX_ITEMS)], name="x" * 10_000)

    response = client.post(USERS, json=user)

    problem = assert_problem(response, 422, "validation_failed")
    assert set(problem["errors"]) == {"name", "skills"}
    assert len(response.data) < 1000


def test_an_empty_json_body_names_the_required_fields(client: FlaskClient) -> None:
    problem = assert_problem(post_raw(client, b""), 422, "validation_failed")

    assert set(problem["errors"]) == {"name", "email"}


@pytest.mark.parametrize("body", ["null", "[]", '"Ada"', "42", "true"])
def test_a_json_body_that_is_not_an_object_is_422(client: FlaskClient, body: str) -> None:
    assert_problem(post_raw(client, body), 422, "validation_failed")


# --- text fields -----------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        "A\u0000da",  # NUL, escaped in JSON
        "Ada\n",
        "\tAda",
        "A\u0085da",  # C1 control
        "Ada\u2028",  # line separator
        "\u202eadA",  # right-to-left override: displays as "Ada"
        "A\u2067da\u2069",  # isolate
        "\u3000",  # blank: ideographic space only
        "\ufeff",
    ],
)
@pytest.mark.parametrize("field", ["name", "role", "skills", "experience", "email"])
def test_text_with_control_characters_or_blank_is_422(
    client: FlaskClient, text: str, field: str
) -> None:
    value: Any = {
        "skills": [text],
        "experience": {"years": 1, "companies": [text]},
        "email": f"{text}@example.com",
    }.get(field, text)
    response = client.post(USERS, json=course_user(**{field: value}))

    problem = assert_problem(response, 422, "validation_failed")

    assert any(key.startswith(field) for key in problem["errors"])
    assert text not in json.dumps(problem)


@pytest.mark.parametrize(
    "name",
    [
        "مريم الأحمد",  # Arabic, right to left
        "דוד לוי",  # Hebrew
        "Zoë \u200fأحمد\u200e",  # mixed directions with the implicit marks
        "王小明",
        "Ådne 🚀",  # outside the Basic Multilingual Plane: a surrogate pair in JSON escapes
        "a" * 100,
    ],
)
def test_unicode_text_round_trips_exactly(client: FlaskClient, name: str) -> None:
    body = json.dumps(course_user(name=name, role=name[::-1]), ensure_ascii=True)

    response = post_raw(client, body)

    assert response.status_code == 201, response.json
    assert response.json["name"] == name
    assert client.get(response.headers["Location"]).json["name"] == name
    assert client.get(USERS, query_string={"role": name[::-1]}).json["total"] == 1


@pytest.mark.parametrize(
    "email",
    [
        f"{'a' * 243}@example.com",  # 255 characters
        "a@" + "b" * 300 + ".com",
        "a@example.com\u0000",
        '"a\x01"@example.com',  # a control character in a quoted local part
    ],
)
def test_unacceptable_emails_are_422(client: FlaskClient, email: str) -> None:
    response = client.post(USERS, json=course_user(email=email))

    assert "email" in assert_problem(response, 422, "validation_failed")["errors"]


def test_the_longest_email_is_accepted(client: FlaskClient) -> None:
    email = f"{'a' * 64}@{'b' * 63}.{'c' * 63}.{'d' * 57}.com"  # 254 characters

    assert len(email) == 254
    assert create(client, email=email)["email"] == email


# --- query strings ---------------------------------------------------------------------------


def test_a_query_string_over_max_query_bytes_is_414(client: FlaskClient) -> None:
    response = client.get(f"{USERS}?role={'x' * 2048}")

    assert_problem(response, 414, "uri_too_long")
    assert client.get(f"{USERS}?role={'x' * 100}&page=1").status_code == 200


@pytest.mark.parametrize("app_config", [{"MAX_QUERY_BYTES": 10}])
def test_max_query_bytes_is_a_setting(client: FlaskClient) -> None:
    assert client.get(f"{USERS}?page=1").status_code == 200
    assert_problem(client.get(f"{USERS}?page=1&x=12"), 414, "uri_too_long")


@pytest.mark.parametrize("query", ["role=%00", "skill=a%0Ab", "role=%E2%80%AEx", "role[$ne]=x"])
def test_query_values_follow_the_text_rules(client: FlaskClient, query: str) -> None:
    assert_problem(client.get(f"{USERS}?{query}"), 422, "validation_failed")


# --- content types ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "content_type",
    [
        None,
        "text/plain",
        "application/x-www-form-urlencoded",
        "multipart/form-data; boundary=x",
        "application/xml",
        "application/jsonp",
        "json",
    ],
)
@pytest.mark.parametrize("method", ["POST", "PUT", "PATCH"])
def test_a_write_whose_body_is_not_declared_json_is_415_and_changes_nothing(
    client: FlaskClient, method: str, content_type: str | None
) -> None:
    user = create(client)
    path = USERS if method == "POST" else f"{USERS}/{user['id']}"
    headers = {"Content-Type": content_type} if content_type else {}

    response = client.open(
        path, method=method, data=json.dumps(course_user(name="X")), headers=headers
    )

    assert_problem(response, 415, "unsupported_media_type")
    assert stored(client) == [user]


@pytest.mark.parametrize(
    "content_type",
    ["application/json; charset=utf-8", "Application/JSON", "application/merge-patch+json"],
)
def test_json_content_type_variants_are_accepted(client: FlaskClient, content_type: str) -> None:
    user = create(client)

    response = client.patch(
        f"{USERS}/{user['id']}", data='{"role": "SRE"}', headers={"Content-Type": content_type}
    )

    assert response.status_code == 200
    assert response.json["role"] == "SRE"


# --- method overrides and debug mode ---------------------------------------------------------


@pytest.mark.parametrize("header", ["X-HTTP-Method-Override", "X-HTTP-Method", "X-Method-Override"])
def test_method_override_headers_are_ignored(client: FlaskClient, header: str) -> None:
    user = create(client)
    item = f"{USERS}/{user['id']}"

    assert client.get(item, headers={header: "DELETE"}).json == user
    assert_problem(client.post(item, headers={header: "DELETE"}), 405, "method_not_allowed")
    assert client.get(f"{item}?_method=DELETE").status_code == 200
    assert stored(client) == [user]


def test_debug_mode_cannot_be_turned_on(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")
    monkeypatch.setenv("FLASK_ENV", "development")
    app = create_app({"DEBUG": True, "PROPAGATE_EXCEPTIONS": True, "TESTING": True})

    async def broken() -> str:
        raise RuntimeError(f"internal detail in {__file__}")

    app.add_url_rule("/broken", view_func=broken)
    response = app.test_client().get("/broken")

    assert app.debug is False
    assert_problem(response, 500, "internal_error")
    assert __file__ not in response.text
    app.extensions["store"].close()


def test_served_app_ignores_flask_debug_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("FLASK_DEBUG", "1")

    app: flask.Flask = create_app()

    assert app.debug is False
    app.extensions["store"].close()


def test_every_operation_documents_414() -> None:
    spec = docs.documents(create_app({}))["openapi"]

    for item in spec["paths"].values():
        for method, operation in item.items():
            if method != "parameters":
                assert operation["responses"]["414"] == {
                    "$ref": "#/components/responses/REQUEST_URI_TOO_LONG"
                }
