"""Fixtures: a fresh app and in-memory store per test; helpers shared by the HTTP tests."""

import socket
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

import flask
import pytest
from flask.testing import FlaskClient

from api import create_app

if TYPE_CHECKING:
    from tests.test_live import Server

PROBLEM_KEYS = {"type", "title", "status", "detail", "instance", "code"}


def course_user(**changes: Any) -> dict[str, Any]:
    """The user document of the course, with `changes` applied."""
    user = {
        "name": "Priyanshu",
        "email": "priyanshu@example.com",
        "role": "DevOps Engineer",
        "skills": ["Docker", "Kubernetes", "AWS"],
        "experience": {"years": 5, "companies": ["Company A", "Company B"]},
        "active": True,
    }
    user.update(changes)
    return user


def closed_port() -> int:
    """A local TCP port nothing listens on (bound, then released)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def assert_problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem response; return its body."""
    assert response.status_code == status, (
        response.text if hasattr(response, "text") else response.data
    )
    assert response.headers["Content-Type"] == "application/problem+json"
    body = response.json() if callable(response.json) else response.json
    assert set(body) >= PROBLEM_KEYS, body
    assert body["type"] == "about:blank"
    assert body["status"] == status
    assert body["code"] == code
    assert "Traceback" not in str(body)
    return body


@pytest.fixture
def app_config() -> dict[str, Any]:
    """Settings overriding the defaults for the `app` fixture; tests may change them."""
    return {}


@pytest.fixture
def app(app_config: dict[str, Any]) -> Iterator[flask.Flask]:
    app = create_app(app_config)
    yield app
    app.extensions["store"].close()


@pytest.fixture
def client(app: flask.Flask) -> FlaskClient:
    return app.test_client()


@pytest.fixture(scope="module")
def live_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator["Server"]:
    """`python -m api` on a free port, with its own in-memory store, for one test module."""
    from tests.test_live import start_server  # a test module: imported only when needed

    server = start_server(tmp_path_factory.mktemp("live-server"))
    yield server
    server.stop()


def create(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    """POST a course user with `changes`; return the created user."""
    response = client.post("/api/v1/users", json=course_user(**changes))
    assert response.status_code == 201, response.json
    return response.json
