"""Fixtures: a fresh app and store per test; helpers shared by the HTTP tests.

The store is in memory (mongomock-motor), or, for tests marked `real_driver`, also real Motor
over TCP against the wire-protocol test server (tests/mongo_wire.py): each such test runs once
per backend.
"""

import socket
import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import flask
import pytest
import pytest_asyncio
from flask.testing import FlaskClient

from api import create_app
from api.db import Store
from tests.mongo_wire import WireServer

# The users collection, as the HTTP tests call it.
USERS = "/api/v1/users"

pytest_plugins = ["tests.live_server"]  # the `server` and `http` fixtures of the live tests

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


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if not metafunc.definition.get_closest_marker("real_driver"):
        return
    own_configs = [
        config
        for mark in metafunc.definition.iter_markers("parametrize")
        if mark.args[0] == "app_config"
        for config in mark.args[1]
    ]
    # A test that picks its own MONGODB_URI uses that server whatever the backend: run it once.
    if not any("MONGODB_URI" in config for config in own_configs):
        metafunc.parametrize("backend", ["memory", "wire"])


@pytest.fixture
def backend() -> str:
    """Where the `app` fixture stores: "memory", or "wire" for tests marked real_driver."""
    return "memory"


@pytest.fixture(scope="session")
def wire_server() -> Iterator[WireServer]:
    """One wire-protocol server for the session; tests using it get a database each."""
    with WireServer() as server:
        yield server


@pytest.fixture
def wire() -> Iterator[WireServer]:
    """A wire-protocol server of the test's own, free to be stopped or slowed down."""
    with WireServer() as server:
        yield server


def database_name() -> str:
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture
def app(
    app_config: dict[str, Any], backend: str, request: pytest.FixtureRequest
) -> Iterator[flask.Flask]:
    if backend == "wire":
        server: WireServer = request.getfixturevalue("wire_server")
        # The test's own settings win, so a test may still point at an unreachable server.
        app_config = {"MONGODB_URI": server.uri, "MONGODB_DB": database_name(), **app_config}
    app = create_app(app_config)
    yield app
    app.extensions["store"].close()


@pytest_asyncio.fixture
async def store() -> AsyncIterator[Store]:
    """A fresh in-memory store, for storage functions called directly."""
    store = Store(uri=None, database="test", timeout_ms=1000)
    yield store
    store.close()


@pytest.fixture
def client(app: flask.Flask) -> FlaskClient:
    return app.test_client()


def create(client: FlaskClient, **changes: Any) -> dict[str, Any]:
    """POST a course user with `changes`; return the created user."""
    response = client.post("/api/v1/users", json=course_user(**changes))
    assert response.status_code == 201, response.json
    return response.json
