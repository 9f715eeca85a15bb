"""createUsers: many users in one request, one outcome per item."""

from typing import Any

import pytest
from flask.testing import FlaskClient

from tests.conftest import assert_problem, course_user, create

BATCH = "/api/v1/users/batch"


def test_each_item_gets_the_outcome_a_single_create_would_have(client: FlaskClient) -> None:
    create(client, email="taken@example.com")
    items = [
        course_user(email="one@example.com"),
        course_user(email="TAKEN@example.com"),
        {"name": "", "email": "bad"},
        course_user(email="two@example.com"),
        course_user(email="One@Example.com"),  # duplicates item 0
    ]

    response = client.post(BATCH, json={"items": items})

    assert response.status_code == 200
    results = response.json["items"]
    assert [result["index"] for result in results] == [0, 1, 2, 3, 4]
    assert [result["status"] for result in results] == [201, 409, 422, 201, 409]
    assert (response.json["created"], response.json["failed"]) == (2, 3)
    assert results[0]["user"]["email"] == "one@example.com"
    assert results[1]["problem"]["code"] == "email_taken"
    assert set(results[2]["problem"]["errors"]) == {"name", "email"}
    assert results[4]["problem"]["code"] == "email_taken"
    stored = client.get("/api/v1/users?page_size=100").json
    assert stored["total"] == 3
    assert client.get(f"/api/v1/users/{results[3]['user']['id']}").json == results[3]["user"]


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"items": []},
        {"items": "x"},
        {"items": [1, 2]},
        [course_user()],
        {"items": [course_user()], "x": 1},
    ],
)
def test_a_body_that_is_not_a_list_of_objects_is_422(client: FlaskClient, body: Any) -> None:
    assert_problem(client.post(BATCH, json=body), 422, "validation_failed")


@pytest.mark.parametrize("app_config", [{"MAX_BATCH_ITEMS": 3}])
def test_a_batch_over_max_batch_items_is_422_and_creates_nothing(client: FlaskClient) -> None:
    items = [course_user(email=f"u{index}@example.com") for index in range(4)]

    response = client.post(BATCH, json={"items": items})

    assert "items" in assert_problem(response, 422, "validation_failed")["errors"]
    assert client.get("/api/v1/users").json["total"] == 0


def test_get_on_the_batch_route_is_405(client: FlaskClient) -> None:
    response = client.get(BATCH)

    assert_problem(response, 405, "method_not_allowed")
    assert response.headers["Allow"] == "OPTIONS, POST"
