"""Hostile traffic at the serving layer, through a live Hypercorn on raw sockets: request
framing, underscore headers, slow clients, overload, file-handle exhaustion, answer sizes."""

import hashlib
import json
import os
import re
import resource
import signal
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import h11
import httpx
import pytest
from h11._receivebuffer import ReceiveBuffer

from api import framing, problems
from tests.conftest import USERS, assert_problem, course_user
from tests.live_server import Server, start_server

WRITE_KEY = "framing-write-key-2b3c4d5e6f708192a3b4"
API_KEYS = f"writer:read+write:{hashlib.sha256(WRITE_KEY.encode()).hexdigest()}"
BODY_TIMEOUT = 2


def address(server: Server) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").split(":")
    return host, int(port)


def exchange(server: Server, raw: bytes, *, timeout: float = 30) -> bytes:
    """Send `raw` on a new connection and read until the server closes it (or `timeout`)."""
    with socket.create_connection(address(server), timeout=timeout) as sock:
        sock.sendall(raw)
        answer = b""
        while chunk := sock.recv(65536):
            answer += chunk
    return answer


def status_of(answer: bytes) -> int:
    return int(answer.split(b"\r\n", 1)[0].split()[1])


def body_of(answer: bytes) -> dict:
    return json.loads(answer.split(b"\r\n\r\n", 1)[1])


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    server = start_server(
        tmp_path_factory.mktemp("framing"), API_KEYS=API_KEYS, BODY_TIMEOUT=str(BODY_TIMEOUT)
    )
    yield server
    server.stop()


SMUGGLED = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"
BODY = b'{"name": "Smuggler", "email": "smuggler@example.com"}'
HEADERS = b"Host: x\r\nContent-Type: application/json\r\nX-API-Key: " + WRITE_KEY.encode()
CHUNKED = b"%x\r\n%s\r\n0\r\n" % (len(BODY), BODY)
LENGTH = b"Content-Length: %d" % len(BODY)

# Each is refused by the strict readers, and h11 alone would have read it as a request.
REFUSED_HEADS = {
    "CL then TE": b"POST /api/v1/users HTTP/1.1\r\n%s\r\n%s\r\nTransfer-Encoding: chunked\r\n\r\n"
    % (HEADERS, LENGTH)
    + CHUNKED
    + b"\r\n",
    "TE then CL": b"POST /api/v1/users HTTP/1.1\r\n%s\r\nTransfer-Encoding: chunked\r\n%s\r\n\r\n"
    % (HEADERS, LENGTH)
    + CHUNKED
    + b"\r\n",
    "TE and CL in other cases": b"POST /api/v1/users HTTP/1.1\r\n%s\r\ntransfer-encoding: "
    b"Chunked\r\nCONTENT-LENGTH: 0\r\n\r\n" % HEADERS + CHUNKED + b"\r\n",
    "TE in HTTP/1.0": b"POST /api/v1/users HTTP/1.0\r\n%s\r\nTransfer-Encoding: chunked\r\n\r\n"
    % HEADERS
    + CHUNKED
    + b"\r\n",
    "folded with a space": b"POST /api/v1/users HTTP/1.1\r\n%s\r\nX-Note: a\r\n b\r\n%s\r\n\r\n"
    % (HEADERS, LENGTH)
    + BODY,
    "folded with a tab": b"POST /api/v1/users HTTP/1.1\r\n%s\r\n%s\r\nX-Note: a\r\n\tb\r\n\r\n"
    % (HEADERS, LENGTH)
    + BODY,
    "bare LF after the request line": b"POST /api/v1/users HTTP/1.1\n%s\r\n%s\r\n\r\n"
    % (HEADERS, LENGTH)
    + BODY,
    "bare LF after a header": b"POST /api/v1/users HTTP/1.1\r\n%s\n%s\r\n\r\n" % (HEADERS, LENGTH)
    + BODY,
    "bare LF ending the head": b"POST /api/v1/users HTTP/1.1\r\n%s\r\n%s\n\n" % (HEADERS, LENGTH)
    + BODY,
}
REFUSED_TRAILER = (
    b"POST /api/v1/users HTTP/1.1\r\n%s\r\nTransfer-Encoding: chunked\r\n\r\n" % HEADERS
    + CHUNKED
    + b"X-Trailer: 1\n\n"
)


@pytest.mark.parametrize("raw", REFUSED_HEADS.values(), ids=REFUSED_HEADS)
def test_h11_alone_reads_these_heads_and_the_strict_reader_refuses_them(raw: bytes) -> None:
    lenient, strict = ReceiveBuffer(), ReceiveBuffer()
    lenient += raw
    strict += raw

    assert isinstance(framing.h11_read_request_head(lenient), h11.Request)
    with pytest.raises(h11.LocalProtocolError) as refused:
        framing.read_request_head(strict)
    assert refused.value.error_status_hint == 400


def test_the_strict_reader_reads_a_proper_head_as_h11_does() -> None:
    raw = b"POST /api/v1/users HTTP/1.1\r\n%s\r\n%s\r\n\r\n" % (HEADERS, LENGTH) + BODY
    lenient, strict = ReceiveBuffer(), ReceiveBuffer()
    lenient += raw
    strict += raw

    assert framing.read_request_head(strict) == framing.h11_read_request_head(lenient)
    assert bytes(strict) == bytes(lenient) == BODY


@pytest.mark.parametrize(
    "raw", [*REFUSED_HEADS.values(), REFUSED_TRAILER], ids=[*REFUSED_HEADS, "bare LF trailer"]
)
def test_ambiguous_framing_is_400_and_the_connection_closes(live: Server, raw: bytes) -> None:
    answer = exchange(live, raw + SMUGGLED)

    assert status_of(answer) == 400
    assert b"connection: close" in answer.lower()
    assert answer.count(b"HTTP/1.1 ") == 1  # nothing after the refusal was read as a request
    assert_framing_problem(answer, 400, "malformed_request")
    with httpx.Client(base_url=live.url) as http:  # and nothing was created
        assert http.get(USERS, params={"q": "smuggler"}).json()["total"] == 0


def assert_framing_problem(answer: bytes, status: int, code: str) -> None:
    head = answer.split(b"\r\n\r\n", 1)[0].lower()
    assert b"content-type: application/problem+json" in head
    assert b"x-content-type-options: nosniff" in head
    problem = body_of(answer)
    assert problem["status"] == status
    assert problem["code"] == code
    assert problem["instance"] == "/"
    assert re.search(b"x-request-id: " + problem["request_id"].encode(), head)


@pytest.mark.parametrize(
    ("raw", "status", "code"),
    [
        (b"GET /\x00 HTTP/1.1\r\nHost: x\r\n\r\n", 400, "malformed_request"),
        (b"GET / HTTP/1.1\r\nBad Header: x\r\n\r\n", 400, "malformed_request"),
        (b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"a" * 20000, 431, "headers_too_large"),
    ],
    ids=["control byte in the target", "space in a header name", "head past 16 KiB unfinished"],
)
def test_what_h11_refuses_is_answered_as_a_problem(
    live: Server, raw: bytes, status: int, code: str
) -> None:
    answer = exchange(live, raw)

    assert status_of(answer) == status
    assert b"connection: close" in answer.lower()
    assert_framing_problem(answer, status, code)


def test_a_proper_chunked_body_with_a_trailer_is_still_served(live: Server) -> None:
    chunked = (
        b"POST /api/v1/users HTTP/1.1\r\n%s\r\nTransfer-Encoding: chunked\r\n"
        b"Connection: close\r\n\r\n"
        % HEADERS
        + CHUNKED.replace(b"smuggler@", b"smuggled@")
        + b"X-Trailer: 1\r\n\r\n"
    )

    assert status_of(exchange(live, chunked)) == 201


def test_an_underscore_header_is_never_read_as_the_dashed_one(live: Server) -> None:
    with httpx.Client(base_url=live.url) as http:
        user = course_user(email="underscore@example.com")
        refused = http.post(USERS, json=user, headers={"X_API_Key": WRITE_KEY})
        # Content_Length would be CONTENT_LENGTH in the environ: the body's length is h11's.
        other = http.post(USERS, json=user, headers={"X-API-Key": WRITE_KEY, "Content_Length": "2"})

    assert_problem(refused, 401, "api_key_required")
    assert other.status_code == 201
    assert other.json()["email"] == "underscore@example.com"


def test_a_trickling_body_is_answered_408_and_the_connection_closed(live: Server) -> None:
    head = b"POST /api/v1/users HTTP/1.1\r\n%s\r\nContent-Length: 1000\r\n\r\n" % HEADERS
    started = time.monotonic()
    with socket.create_connection(address(live), timeout=30) as sock:
        sock.sendall(head)
        answer = b""
        # One byte at a time, each well within Hypercorn's read timeout: only the deadline
        # of the whole body can end this.
        while time.monotonic() - started < 30:
            try:
                sock.sendall(b"x")
            except OSError:  # closed after the answer
                break
            sock.settimeout(BODY_TIMEOUT / 4)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            if not chunk:
                break
            answer += chunk
    elapsed = time.monotonic() - started

    assert status_of(answer) == 408, answer
    # As the spec documents it (api/problems.py), though api/serving.py answers it itself.
    problem = body_of(answer)
    assert problem["code"] == problems.BODY_TIMEOUT.code
    assert problem["detail"] == problems.BODY_TIMEOUT.detail.format(seconds=BODY_TIMEOUT)
    assert b"connection: close" in answer.lower()
    assert elapsed >= BODY_TIMEOUT  # it was the body's deadline, not a read's


@pytest.mark.parametrize(
    "raw",
    [
        b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\n",  # body: never
        b"GET /api/v1/users HTTP/1.1\r\nHost: x\r\n",  # head: never finished
    ],
    ids=["body never sent", "head never finished"],
)
def test_a_connection_that_stops_sending_is_closed(live: Server, raw: bytes) -> None:
    answer = exchange(live, raw)  # returns only once the server closes (30 s at most)

    assert answer == b"" or status_of(answer) == 408


KEEP_ALIVE_TIMEOUT = 5  # Hypercorn's default, which the README states
PROBE = b"GET /health/live HTTP/1.1\r\nHost: x\r\n\r\n"


def answered(sock: socket.socket) -> bytes:
    """One whole answer to a liveness probe read from `sock`, which stays open."""
    answer = b""
    while not answer.endswith(b'{"status":"ok"}\n'):
        chunk = sock.recv(65536)
        assert chunk, answer  # closed before the answer was whole
        answer += chunk
    return answer


def seconds_until_closed(sock: socket.socket) -> float:
    started = time.monotonic()
    assert sock.recv(65536) == b""  # nothing more is sent: the server closes
    return time.monotonic() - started


def test_an_idle_keep_alive_connection_is_closed_after_the_timeout(live: Server) -> None:
    with socket.create_connection(address(live), timeout=30) as sock:
        sock.sendall(PROBE)
        assert status_of(answered(sock)) == 200

        assert seconds_until_closed(sock) > KEEP_ALIVE_TIMEOUT - 1


def test_each_request_gives_a_kept_alive_connection_the_whole_timeout_again(live: Server) -> None:
    with socket.create_connection(address(live), timeout=30) as sock:
        for _ in range(4):  # 6 s on one connection, more than one timeout: the deadline moves
            sock.sendall(PROBE)
            assert status_of(answered(sock)) == 200
            time.sleep(KEEP_ALIVE_TIMEOUT * 0.4)
        sock.sendall(PROBE)
        assert status_of(answered(sock)) == 200


def test_sigterm_closes_idle_keep_alive_connections_at_once(tmp_path: Path) -> None:
    server = start_server(tmp_path)
    idle = [socket.create_connection(address(server), timeout=30) for _ in range(3)]
    try:
        for sock in idle:
            sock.sendall(PROBE)
            assert status_of(answered(sock)) == 200
        server.process.send_signal(signal.SIGTERM)

        # Closed when the worker terminates, not when their keep-alive timeout is over.
        assert max(seconds_until_closed(sock) for sock in idle) < KEEP_ALIVE_TIMEOUT - 1
        assert server.process.wait(timeout=30) == 0
    finally:
        for sock in idle:
            sock.close()
        server.stop()


def probe_latency(server: Server) -> float:
    """Seconds for a liveness probe on a new connection, as a kubelet makes it."""
    started = time.perf_counter()
    answer = exchange(server, b"GET /health/live HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
    assert status_of(answer) == 200
    return time.perf_counter() - started


def test_liveness_answers_while_hundreds_of_slow_bodies_are_held(tmp_path: Path) -> None:
    server = start_server(tmp_path)  # the default BODY_TIMEOUT: the bodies stay held
    held = []
    try:
        for _ in range(300):
            sock = socket.create_connection(address(server), timeout=30)
            sock.sendall(b"POST /api/v1/users HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\n{")
            held.append(sock)
        latencies = [probe_latency(server) for _ in range(5)]
    finally:
        for sock in held:
            sock.close()
        server.stop()

    assert max(latencies) < 1.0, latencies  # Kubernetes' default probe timeout


LIST = f"{USERS}?page_size=100&fields=id,name,email,role,skills,experience,active,created_at"


def seed(server: Server, count: int) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for start in range(0, count, 100):
            items = [course_user(email=f"load{n}@example.com") for n in range(start, start + 100)]
            assert http.post(f"{USERS}/batch", json={"items": items}).status_code == 200


def hammer(server: Server, stop: threading.Event, seen: list[httpx.Response]) -> None:
    with httpx.Client(base_url=server.url, timeout=60) as http:
        while not stop.is_set():
            try:
                seen.append(http.get(LIST))
            except httpx.TransportError:  # the server stopped listening (SIGTERM)
                return


def test_under_saturating_load_probes_answer_and_clients_get_200_or_503(tmp_path: Path) -> None:
    server = start_server(tmp_path, MAX_IN_FLIGHT="4")
    seen: list[httpx.Response] = []
    stop = threading.Event()
    try:
        seed(server, 500)
        # The cost of one page on this machine, on an idle server: the probe's bound scales to it.
        with httpx.Client(base_url=server.url, timeout=60) as http:
            one_page = statistics.median(http.get(LIST).elapsed.total_seconds() for _ in range(3))
        clients = [threading.Thread(target=hammer, args=(server, stop, seen)) for _ in range(24)]
        for client in clients:
            client.start()
        time.sleep(1)
        latencies = [probe_latency(server) for _ in range(10)]
        stop.set()
        for client in clients:
            client.join()
        with httpx.Client(base_url=server.url) as http:
            metrics = http.get("/metrics").text
    finally:
        stop.set()
        server.stop()

    statuses = {response.status_code for response in seen}
    assert statuses <= {200, 503}, statuses
    shed = [response for response in seen if response.status_code == 503]
    assert shed, "24 clients on MAX_IN_FLIGHT=4: some must be shed"
    problem = assert_problem(shed[0], 503, "overloaded")
    assert shed[0].headers["Retry-After"] == "1"
    assert shed[0].headers["X-Request-ID"] == problem["request_id"]
    assert shed[0].headers["Cache-Control"] == "no-store"
    assert 'route="/api/v1/users",status="503"' in metrics
    # A probe waits behind about two steps of requests at most, never behind the queue.
    assert max(latencies) < max(1.0, 4 * one_page), (latencies, one_page)


def test_sigterm_under_cpu_heavy_load_exits_within_the_bound(tmp_path: Path) -> None:
    graceful = 2
    server = start_server(tmp_path, GRACEFUL_TIMEOUT=str(graceful), MAX_IN_FLIGHT="32")
    seen: list[httpx.Response] = []
    stop = threading.Event()
    seed(server, 500)
    clients = [threading.Thread(target=hammer, args=(server, stop, seen)) for _ in range(24)]
    for client in clients:
        client.start()
    time.sleep(1)
    started = time.monotonic()
    server.process.send_signal(signal.SIGTERM)
    code = server.process.wait(timeout=60)
    exited = time.monotonic() - started
    stop.set()
    for client in clients:
        client.join()

    assert code == 0
    assert {response.status_code for response in seen} <= {200, 503}
    # GRACEFUL_TIMEOUT, then the steps already running, then the store closing: a margin
    # for a loaded machine, far below what an unbounded queue would take.
    assert exited < graceful + 10, exited


def served_again(url: str, within: float) -> bool:
    """Whether GET `url` is answered 200 within `within` seconds, trying again while the
    connection is refused or closed unanswered."""
    deadline = time.monotonic() + within
    while True:
        try:
            return httpx.get(url, timeout=within).status_code == 200
        except httpx.TransportError:
            if time.monotonic() > deadline:
                return False
            time.sleep(0.1)


@pytest.mark.parametrize("loop", ["uvloop", "asyncio"])
def test_out_of_file_handles_it_serves_again_and_logs_once_a_second(
    tmp_path: Path, loop: str
) -> None:
    server = start_server(tmp_path, EVENT_LOOP=loop)
    pid = server.process.pid
    spare = 10
    limit = len(os.listdir(f"/proc/{pid}/fd")) + spare
    started = time.monotonic()
    resource.prlimit(pid, resource.RLIMIT_NOFILE, (limit, limit))
    # Beyond the handles, asyncio leaves connections waiting, uvloop closes them at once.
    held = [socket.create_connection(address(server), timeout=30) for _ in range(4 * spare)]
    try:
        time.sleep(3)  # accept() fails meanwhile, for want of a handle
        for sock in held:
            sock.close()
        held.clear()
        assert served_again(f"{server.url}/health/live", within=30)
        assert served_again(f"{server.url}{USERS}", within=30)
    finally:
        for sock in held:
            sock.close()
        server.stop()
    elapsed = time.monotonic() - started

    output = server.output()
    lines = [line for line in output.splitlines() if "cannot accept connections" in line]
    assert lines, output[-2000:]
    # One line a second, not one per failed accept (asyncio retries them by the thousand).
    assert len(lines) <= elapsed + 2, (len(lines), elapsed)
    assert "Traceback" not in output


def test_refused_answers_stay_small(live: Server) -> None:
    refused = {
        "100 empty items": {"items": [{}] * 100},
        "100 items of wrong types": {
            "items": [{"name": 1, "email": 1, "role": 1, "skills": 1, "active": 1}] * 100
        },
        "1,000 wrong skills": {"items": [{"name": "a", "email": "a@b.co", "skills": [1] * 1000}]},
        "100 items of 50 wrong skills": {"items": [{"skills": [1] * 50}] * 100},
        "100 wrong companies": {
            "items": [{"name": "a", "experience": {"companies": [1] * 50}}] * 100
        },
        "1,000 non-objects": {"items": [1] * 1000},
    }
    with httpx.Client(base_url=live.url, headers={"X-API-Key": WRITE_KEY}) as http:
        for name, body in refused.items():
            raw = json.dumps(body, separators=(",", ":")).encode()
            response = http.post(
                f"{USERS}/batch", content=raw, headers={"Content-Type": "application/json"}
            )
            assert response.status_code in (200, 422), name
            assert len(response.content) <= 4096 + 2 * len(raw), (name, len(response.content))
            problems = [
                item["problem"] for item in response.json().get("items", []) if "problem" in item
            ]
            for problem in [response.json(), *problems]:
                assert len(problem.get("errors", {})) <= 10, name
