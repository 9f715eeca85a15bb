"""The real thing: `python -m api` (Hypercorn) in a subprocess, driven over HTTP."""

import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest

from tests.conftest import USERS, assert_problem, closed_port, course_user
from tests.live_server import (
    ROOT,
    SELECTION_GRANULARITY,
    Server,
    free_port,
    run_module,
    start_server,
)

pytestmark = pytest.mark.live

TIMEOUT_MS = 500
LOOP_ERRORS = ("Event loop is closed", "attached to a different loop", "another event loop")


@pytest.fixture(scope="module")
def unreachable(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    """A server whose real Motor client points at a local port nothing listens on."""
    server = start_server(
        tmp_path_factory.mktemp("unreachable"),
        MONGODB_URI=f"mongodb://127.0.0.1:{closed_port()}",
        MONGODB_TIMEOUT_MS=str(TIMEOUT_MS),
    )
    yield server
    server.stop()


def test_crud_round_trip(http: httpx.Client) -> None:
    created = http.post(USERS, json=course_user(email="round.trip@example.com"))
    assert created.status_code == 201
    location = created.headers["location"]

    assert http.get(location).json() == created.json()
    listed = http.get(USERS, params={"role": "DevOps Engineer", "page_size": 100}).json()
    assert created.json() in listed["items"]

    replaced = http.put(
        location,
        json=course_user(email="round.trip@example.com", role="SRE"),
        headers={"If-Match": created.headers["etag"]},
    )
    assert replaced.status_code == 200
    assert replaced.json()["role"] == "SRE"

    patched = http.patch(
        location, json={"active": False}, headers={"If-Match": replaced.headers["etag"]}
    )
    assert patched.status_code == 200
    assert patched.json()["active"] is False
    stale = http.patch(
        location, json={"active": True}, headers={"If-Match": replaced.headers["etag"]}
    )
    assert_problem(stale, 412, "precondition_failed")

    deleted = http.delete(location)
    assert deleted.status_code == 204
    assert deleted.content == b""
    assert_problem(http.get(location), 404, "not_found")


def test_empty_body_responses_are_not_500(http: httpx.Client) -> None:
    """Hypercorn 0.18.0's WSGI wrapper answers 500 for these; our ASGI bridge must not."""
    user = http.post(USERS, json=course_user(email="empty.bodies@example.com")).json()
    item = f"{USERS}/{user['id']}"

    for path in (item, USERS, "/health/live"):
        head = http.head(path)
        assert head.status_code == 200
        assert head.content == b""
        assert http.get(path).status_code == 200
    options = http.options(item)
    assert options.status_code == 200
    assert set(options.headers["allow"].split(", ")) == {
        "GET",
        "HEAD",
        "OPTIONS",
        "PUT",
        "PATCH",
        "DELETE",
    }
    etag = http.get(item).headers["etag"]
    not_modified = http.get(item, headers={"If-None-Match": etag})
    assert not_modified.status_code == 304
    assert not_modified.content == b""
    deleted = http.delete(item)
    assert deleted.status_code == 204
    assert deleted.content == b""


def test_concurrent_creates_are_all_served(server: Server) -> None:
    def create(index: int) -> httpx.Response:
        with httpx.Client(base_url=server.url, timeout=10) as client:
            return client.post(USERS, json=course_user(email=f"concurrent{index}@example.com"))

    with ThreadPoolExecutor(20) as pool:
        responses = list(pool.map(create, range(20)))

    assert [response.status_code for response in responses] == [201] * 20
    assert len({response.json()["id"] for response in responses}) == 20


def test_errors_over_http_are_problems(http: httpx.Client) -> None:
    assert_problem(http.get(f"{USERS}/not-an-id"), 404, "not_found")
    not_allowed = http.request("TRACE", USERS)
    assert_problem(not_allowed, 405, "method_not_allowed")
    assert not_allowed.headers["allow"] == "GET, HEAD, OPTIONS, POST"
    malformed = http.post(USERS, content=b'{"name"', headers={"content-type": "application/json"})
    assert_problem(malformed, 400, "malformed_json")
    assert_problem(http.post(USERS, content=b"name=x"), 415, "unsupported_media_type")
    too_large = http.post(
        USERS, content=b"x" * (1_048_576 + 1), headers={"content-type": "application/json"}
    )
    assert_problem(too_large, 413, "payload_too_large")

    def chunks() -> Iterator[bytes]:  # no Content-Length: sent chunked
        for _ in range(20):
            yield b"x" * 65536

    chunked = http.post(USERS, content=chunks(), headers={"content-type": "application/json"})
    assert_problem(chunked, 413, "payload_too_large")


def test_docs_and_spec_are_served_from_local_files(http: httpx.Client) -> None:
    docs = http.get("/docs")
    assert docs.status_code == 200
    assert "/docs/assets/swagger-ui-bundle.js" in docs.text
    assert "http://" not in docs.text.replace("http://127.0.0.1", "")
    assert "https://" not in docs.text
    for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "swagger-ui-standalone-preset.js"):
        assert http.get(f"/docs/assets/{asset}").status_code == 200
    committed = json.loads((ROOT / "openapi" / "openapi.json").read_text())
    assert http.get("/openapi.json").json() == committed


def test_start_up_says_the_store_is_in_memory(server: Server) -> None:
    assert "in-memory" in server.output()
    assert "nothing is persisted" in server.output().lower()


def test_real_motor_answers_503_on_one_loop_every_time(unreachable: Server) -> None:
    """Repeated and concurrent requests through one real Motor client: always a fast 503.

    Were any request served on another event loop than the client's, Motor would fail with
    "attached to a different loop" or "Event loop is closed": a 500.
    """
    with httpx.Client(base_url=unreachable.url, timeout=10) as http:
        for path in [f"{USERS}/0123456789abcdef01234567", USERS, "/health/ready"] * 3:
            started = time.monotonic()
            response = http.get(path)
            elapsed = time.monotonic() - started
            assert_problem(response, 503, "database_unavailable")
            assert response.headers["retry-after"] == "5"
            # Expected after the timeout plus one selection step (1 s); three times that still
            # tells it from PyMongo's default 30 s selection timeout and the client's 10 s.
            limit = 3 * (TIMEOUT_MS / 1000 + SELECTION_GRANULARITY)
            assert elapsed < limit, f"{path}: 503 after {elapsed:.2f} s"
        created = http.post(USERS, json=course_user())
        assert_problem(created, 503, "database_unavailable")

    def fetch(_: int) -> int:
        with httpx.Client(base_url=unreachable.url, timeout=30) as client:
            return client.get(USERS).status_code

    started = time.monotonic()
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(fetch, range(20)))
    elapsed = time.monotonic() - started

    assert statuses == [503] * 20
    # Each request waits at least the timeout: served one after another, 20 would take at least
    # 20 timeouts (10 s) on any machine; concurrently, about one. Half the serial time leaves a
    # slow machine ample room.
    assert elapsed < 10 * TIMEOUT_MS / 1000, f"20 concurrent requests took {elapsed:.2f} s"
    output = unreachable.output()
    assert not [line for line in output.splitlines() if any(e in line for e in LOOP_ERRORS)]
    assert "Traceback" not in output


def test_sigterm_stops_the_server_with_exit_code_0(tmp_path: Path) -> None:
    server = start_server(tmp_path)

    assert server.stop() == 0


@pytest.mark.parametrize(
    ("settings", "message"),
    [
        ({"WORKERS": "2"}, "WORKERS=2 needs MONGODB_URI"),
        ({"PORT": "http"}, "PORT='http'"),
        ({"MONGODB_TIMEOUT_MS": "0"}, "MONGODB_TIMEOUT_MS='0': must be 1 or more"),
        ({"EVENT_LOOP": "trio"}, "EVENT_LOOP='trio': must be uvloop or asyncio"),
    ],
)
def test_invalid_configuration_stops_start_up_with_a_clear_message(
    settings: dict[str, str], message: str
) -> None:
    result = run_module("api", env=settings, timeout=30)

    assert result.returncode == 2
    assert message in result.stderr


@pytest.mark.parametrize(
    ("settings", "on_uvloop"), [({}, True), ({"EVENT_LOOP": "asyncio"}, False)]
)
def test_the_worker_runs_on_the_event_loop_configured(
    tmp_path: Path, settings: dict[str, str], on_uvloop: bool
) -> None:
    server = start_server(tmp_path, **settings)
    try:
        assert httpx.post(f"{server.url}{USERS}", json=course_user()).status_code == 201
        assert httpx.get(f"{server.url}{USERS}").json()["total"] == 1
        # Hypercorn loads uvloop's extension only for a uvloop worker.
        maps = Path(f"/proc/{server.process.pid}/maps").read_text()
    finally:
        server.stop()

    assert ("uvloop/loop." in maps) is on_uvloop


def test_the_asgi_app_runs_under_uvicorn_too(tmp_path: Path) -> None:
    """`api:create_asgi_app` is a plain ASGI app: uvicorn (uvloop, httptools) serves it as is."""
    port = free_port()
    log = tmp_path / "uvicorn.log"
    env = {key: value for key, value in os.environ.items() if key != "MONGODB_URI"}
    command = [
        *(sys.executable, "-m", "uvicorn", "--factory", "api:create_asgi_app"),
        *("--host", "127.0.0.1", "--port", str(port), "--lifespan", "on", "--no-access-log"),
    ]
    with log.open("wb") as sink:
        process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=sink, stderr=subprocess.STDOUT
        )
    server = Server(process, f"http://127.0.0.1:{port}", log)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{server.url}/health/live", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                assert time.monotonic() < deadline, server.output()
                time.sleep(0.1)
        with httpx.Client(base_url=server.url, timeout=10) as http:
            created = http.post(USERS, json=course_user(email="uvicorn@example.com"))
            assert created.status_code == 201
            location = created.headers["location"]
            assert http.get(location).json() == created.json()
            assert http.head(location).status_code == 200
            assert http.delete(location).status_code == 204
            assert http.get(location).status_code == 404
    finally:
        # uvicorn shuts down gracefully, then re-raises SIGTERM: -15 is its normal ending.
        assert server.stop() in (0, -signal.SIGTERM)
    assert "in-memory" in server.output()
    assert "Application shutdown complete" in server.output()
