"""The course service's routes, kept as deprecated aliases."""

from flask.testing import FlaskClient
from werkzeug.test import TestResponse

from tests.conftest import assert_problem, course_user, create

DEPRECATION = {"Deprecation": "@1795219200", "Sunset": "Fri, 21 May 2027 00:00:00 GMT"}


def assert_deprecated(response: TestResponse, successor: str) -> None:
    headers = response.headers
    assert {name: headers[name] for name in DEPRECATION} == DEPRECATION
    assert f'<{successor}>; rel="successor-version"' in headers.getlist("Link")


def test_add_creates_like_create_user(client: FlaskClient) -> None:
    response = client.post("/add", json=course_user())

    assert response.status_code == 201
    assert client.get(response.headers["Location"]).json == response.json
    assert_deprecated(response, "/api/v1/users")


def test_add_refuses_what_create_user_refuses(client: FlaskClient) -> None:
    create(client)

    assert_problem(client.post("/add", json=course_user()), 409, "email_taken")
    assert_problem(client.post("/add", data="name=x"), 415, "unsupported_media_type")
    assert_problem(client.post("/add", json={"name": "x"}), 422, "validation_failed")


def test_users_is_a_bare_array(client: FlaskClient) -> None:
    users = [create(client, email=f"u{index}@example.com") for index in range(3)]

    response = client.get("/users")

    assert response.json == users
    assert_deprecated(response, "/api/v1/users")
    assert client.get("/users?page=2&page_size=2").json == users[2:]


def test_user_gets_like_get_user(client: FlaskClient) -> None:
    user = create(client)

    response = client.get(f"/user/{user['id']}")

    assert response.json == user
    assert response.headers["ETag"] == '"1"'
    assert_deprecated(response, f"/api/v1/users/{user['id']}")
    assert_problem(client.get("/user/not-an-id"), 404, "not_found")
