"""Liveness and readiness."""

import pytest
from flask.testing import FlaskClient

from tests.conftest import assert_problem, closed_port


def test_liveness_is_ok(client: FlaskClient) -> None:
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


def test_readiness_is_ok_when_the_database_answers(client: FlaskClient) -> None:
    response = client.get("/health/ready")

    assert response.status_code == 200
    assert response.json == {"status": "ok"}


@pytest.mark.parametrize(
    "app_config",
    [{"MONGODB_URI": f"mongodb://127.0.0.1:{closed_port()}", "MONGODB_TIMEOUT_MS": 200}],
)
def test_liveness_stays_ok_and_readiness_is_503_when_the_database_is_down(
    client: FlaskClient,
) -> None:
    assert client.get("/health/live").status_code == 200

    response = client.get("/health/ready")

    assert_problem(response, 503, "database_unavailable")
    assert response.headers["Retry-After"] == "5"
