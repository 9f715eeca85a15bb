"""`python -m api` (Hypercorn) on real Motor over TCP, against the wire-protocol test server.

Every operation once through the whole stack; then the database going away under load and
coming back; then SIGTERM while requests are in flight.
"""

import contextlib
import itertools
import signal
import socket
import threading
import time
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

from api import problems
from tests.conftest import USERS, assert_problem, course_user
from tests.live_server import ROOT, SELECTION_GRANULARITY, Server, start_server
from tests.mongo_wire import WireServer

pytestmark = pytest.mark.live

DB = "live"


def start_on(wire: WireServer, tmp_path: Path, **settings: str) -> Server:
    """`python -m api` storing in database DB of `wire`."""
    return start_server(tmp_path, MONGODB_URI=wire.uri, MONGODB_DB=DB, **settings)


@pytest.fixture
def live(tmp_path: Path, wire: WireServer) -> Iterator[Server]:
    server = start_on(wire, tmp_path)
    yield server
    server.stop()


def test_every_operation_through_real_motor(live: Server, wire: WireServer) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        assert http.get("/health/ready").status_code == 200
        created = http.post(USERS, json=course_user())
        assert created.status_code == 201
        user, location, etag = created.json(), created.headers["location"], created.headers["etag"]
        assert_problem(
            http.post(USERS, json=course_user(email="PRIYANSHU@example.com")), 409, "email_taken"
        )
        for index in range(6):
            http.post(USERS, json=course_user(email=f"u{index}@example.com")).raise_for_status()

        assert http.get(location).json() == user
        assert http.get(location, headers={"If-None-Match": etag}).status_code == 304
        # The test server sends 2 users in a first batch, so a page of 5 needs getMore.
        first = http.get(USERS, params={"page_size": 5, "sort": "-created_at"}).json()
        second = http.get(USERS, params={"page": 2, "page_size": 5, "sort": "-created_at"}).json()
        assert [len(first["items"]), len(second["items"]), first["total"]] == [5, 2, 7]
        assert second["items"][-1] == user

        replaced = http.put(
            location, json=course_user(role="SRE", skills=[]), headers={"If-Match": etag}
        )
        assert replaced.status_code == 200
        stale = http.patch(location, json={"active": False}, headers={"If-Match": etag})
        assert_problem(stale, 412, "precondition_failed")
        current = {"If-Match": replaced.headers["etag"]}
        patched = http.patch(location, json={"experience": {"years": 6}}, headers=current)
        assert patched.json()["experience"] == {"years": 6, "companies": ["Company A", "Company B"]}
        assert http.delete(location).status_code == 204
        assert_problem(http.get(location), 404, "not_found")

    assert wire.received["getmore"] >= 1
    assert wire.received["findandmodify"] >= 3
    stored = {str(document["_id"]): document for document in wire.documents(DB)}
    living = {user_id for user_id, document in stored.items() if "deleted_at" not in document}
    assert len(living) == 6
    assert user["id"] not in living
    assert "email_key" not in stored[user["id"]]  # in the trash: the email is free
    versions = [
        (record["version"], record["operation"])
        for record in wire.documents(DB, "user_versions")
        if str(record["user_id"]) == user["id"]
    ]
    assert sorted(versions) == [(1, "create"), (2, "replace"), (3, "update"), (4, "delete")]


# --- the database goes away under load, and comes back ---------------------------------------

TIMEOUT_MS = 1000
# A 503 comes after the timeout plus one server-selection step (1.5 s). Failing fast means that,
# not PyMongo's default 30 s selection timeout nor the clients' 10 s: three times the expected
# time tells them apart and holds on a machine three times slower.
FAIL_FAST_S = 3 * (TIMEOUT_MS / 1000 + SELECTION_GRANULARITY)
# Long enough for every client to finish the call in flight when the database went away and
# then a whole call more, each taking up to FAIL_FAST_S.
OUTAGE_S = 2 * FAIL_FAST_S
CLIENTS = 6
CALLS_PER_CLIENT = 300


@dataclass
class Call:
    """One request and what came back."""

    operation: str  # create, update, get or delete
    path: str
    sent: Any
    started: float
    ended: float = 0.0
    status: int | None = None  # None: no response (connection error, or the 10 s client timeout)
    headers: dict[str, str] = field(default_factory=dict)
    body: Any = None

    @property
    def seconds(self) -> float:
        return self.ended - self.started


OPERATIONS = {"create": "POST", "update": "PATCH", "get": "GET", "delete": "DELETE"}


def send_request(
    http: httpx.Client,
    operation: str,
    path: str,
    body: Any = None,
    headers: dict[str, str] | None = None,
) -> Call:
    result = Call(operation, path, body, time.monotonic())
    try:
        response = http.request(OPERATIONS[operation], path, json=body, headers=headers)
        result.status, result.headers = response.status_code, dict(response.headers)
        result.body = response.json() if response.content else None
    except httpx.TransportError:
        pass
    result.ended = time.monotonic()
    return result


class Load:
    """CLIENTS threads creating, updating, reading and deleting users until stopped.

    Each client works on users of its own, one request at a time, at most CALLS_PER_CLIENT.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.calls: list[Call] = []
        self._stopping = threading.Event()
        self._threads = [threading.Thread(target=self._client, args=(n,)) for n in range(CLIENTS)]

    def __enter__(self) -> "Load":
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *_: object) -> None:
        self._stopping.set()
        for thread in self._threads:
            thread.join(timeout=30)
        assert not any(thread.is_alive() for thread in self._threads), "a client hangs"

    def _client(self, number: int) -> None:
        calls: list[Call] = []

        def send(*args: Any) -> Call:
            calls.append(send_request(http, *args))
            return calls[-1]

        with httpx.Client(base_url=self.url, timeout=10) as http:
            for index in itertools.count():
                if self._stopping.is_set() or len(calls) >= CALLS_PER_CLIENT:
                    break
                created = send("create", USERS, course_user(email=f"c{number}.{index}@example.com"))
                if created.status != 201:
                    continue
                location = created.headers["location"]
                etag = {"If-Match": created.headers["etag"]}
                send("update", location, {"role": f"role {number}.{index}"}, etag)
                send("get", location)
                if index % 3 == 0:
                    send("delete", location)
        self.calls.extend(calls)  # list.extend is atomic

    def between(self, start: float, end: float) -> list[Call]:
        return [call for call in self.calls if call.started >= start and call.ended <= end]


def wait_until_ready(http: httpx.Client, within: float) -> float:
    """Poll readiness until it answers 200; return when it did."""
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        if http.get("/health/ready").status_code == 200:
            return time.monotonic()
        time.sleep(0.05)
    pytest.fail(f"not ready {within} s after the database came back")


def test_an_outage_under_load_fails_fast_loses_no_write_and_recovers(
    tmp_path: Path, wire: WireServer
) -> None:
    live = start_on(
        wire,
        tmp_path,
        MONGODB_TIMEOUT_MS=str(TIMEOUT_MS),
        RATE_LIMIT_ENABLED="false",  # a load test: 6 clients from one address
    )
    try:
        with httpx.Client(base_url=live.url, timeout=10) as probe, Load(live.url) as load:
            time.sleep(1.0)
            wire.stop()
            down = time.monotonic()
            time.sleep(0.3)
            started = time.monotonic()
            ready = probe.get("/health/ready")
            assert time.monotonic() - started <= FAIL_FAST_S
            assert_problem(ready, 503, "database_unavailable")
            assert ready.headers["retry-after"] == "5"
            assert probe.get("/health/live").status_code == 200
            time.sleep(OUTAGE_S - 0.3)
            wire.start()
            up = time.monotonic()
            recovered = wait_until_ready(probe, within=30)
            # Each client finishes its call in flight, then makes at least one more.
            time.sleep(FAIL_FAST_S + 1.0)
    finally:
        live.stop()

    calls = load.calls
    assert [call for call in calls if call.status is None] == [], "a request got no response"
    assert {call.status for call in calls} <= {200, 201, 204, 503}
    assert max(call.seconds for call in calls) <= FAIL_FAST_S
    unavailable = [call for call in calls if call.status == 503]
    for call in unavailable:
        assert call.body["code"] == "database_unavailable"
        assert call.headers["retry-after"] == "5"
    during = load.between(down, up)
    assert len(during) >= CLIENTS
    assert {call.status for call in during} == {503}
    after = [call for call in calls if call.started >= recovered]
    assert len(after) >= CLIENTS
    assert {call.status for call in after} <= {200, 201, 204}
    assert_acknowledged_writes_are_stored(
        calls, wire.documents(DB), wire.documents(DB, "user_versions")
    )
    # Sent while the database was down from start to end: these cannot have been stored.
    never_stored = emails_sent(during)
    assert never_stored.isdisjoint(document["email"] for document in wire.documents(DB))
    assert "Traceback" not in live.output()


def emails_sent(calls: list[Call]) -> set[str]:
    return {call.sent["email"] for call in calls if call.operation == "create"}


def assert_acknowledged_writes_are_stored(
    calls: list[Call], stored: list[dict[str, Any]], versions: list[dict[str, Any]]
) -> None:
    """Every 201, 200 and 204 a client got is what the database holds, and every 201 and 200
    of a write is a version in its history."""
    by_id = {str(document["_id"]): document for document in stored}
    assert {document["email"] for document in stored} <= emails_sent(calls)
    deleted = {call.path.rsplit("/", 1)[1] for call in calls if call.status == 204}
    assert all("deleted_at" in by_id[user_id] for user_id in deleted)  # in the trash
    recorded = {(str(record["user_id"]), record["version"]) for record in versions}
    for call in calls:
        if call.status in (200, 201) and call.operation != "get":
            assert (call.body["id"], int(call.headers["etag"].strip('"'))) in recorded
    # A write answered 503 (or not at all) may have been applied before its connection broke
    # ("Failure behaviour"): after one, the user may be at a later version than its last 200.
    unsure = {
        call.path.rsplit("/", 1)[1]
        for call in calls
        if call.operation in ("update", "delete") and call.status not in (200, 204)
    }
    for call in calls:
        if call.status not in (200, 201) or call.operation == "get":
            continue
        user_id = call.body["id"]
        if user_id in deleted:
            continue
        document = by_id[user_id]
        if call.operation == "create":
            assert document["email"] == call.body["email"]
        elif user_id in unsure:
            assert document["version"] >= int(call.headers["etag"].strip('"'))
        else:
            assert document["role"] == call.body["role"]
            assert f'"{document["version"]}"' == call.headers["etag"]


# --- SIGTERM while requests are in flight ---------------------------------------------------

# Far above what draining the requests below takes: exiting before it is over shows the server
# waits for its requests, not for the end of the grace period, however slow the machine.
GRACE_S = 10
# Every database reply is this late, so the requests are still in flight while the listener
# closes (which takes milliseconds).
DB_DELAY_S = 1.0
DATA_COMMANDS = ("insert", "find", "findandmodify", "delete", "aggregate")


def sent_to_database(wire: WireServer) -> int:
    return sum(wire.received[name] for name in DATA_COMMANDS)


def refuses_connections(port: int, within: float) -> bool:
    deadline = time.monotonic() + within
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        except ConnectionRefusedError:
            return True
        time.sleep(0.02)
    return False


@contextlib.contextmanager
def in_flight(live: Server, requests: list[tuple[Any, ...]]) -> Iterator[list[Future[Call]]]:
    """Send each request on a connection of its own, concurrently."""

    def send(request: tuple[Any, ...]) -> Call:
        with httpx.Client(base_url=live.url, timeout=30) as http:
            return send_request(http, *request)

    with ThreadPoolExecutor(len(requests)) as pool:
        yield [pool.submit(send, request) for request in requests]


def test_sigterm_completes_requests_in_flight_then_closes_the_client_and_exits_0(
    tmp_path: Path, wire: WireServer
) -> None:
    live = start_on(wire, tmp_path, GRACEFUL_TIMEOUT=str(GRACE_S), MONGODB_TIMEOUT_MS="5000")
    with httpx.Client(base_url=live.url, timeout=10) as http:
        users = [http.post(USERS, json=course_user(email=f"seed{n}@example.com")) for n in range(3)]
    port = int(live.url.rsplit(":", 1)[1])
    wire.delay = DB_DELAY_S
    before = sent_to_database(wire)
    requests = [
        ("create", USERS, course_user(email="late@example.com")),
        ("get", users[0].headers["location"]),
        ("update", users[1].headers["location"], {"role": "SRE"}),
        ("delete", users[2].headers["location"]),
        ("get", f"{USERS}?page_size=50"),
        ("create", USERS, course_user(email="later@example.com")),
    ]
    try:
        with in_flight(live, requests) as futures:
            deadline = time.monotonic() + 5
            while sent_to_database(wire) - before < len(requests):
                assert time.monotonic() < deadline, "the requests did not reach the database"
                time.sleep(0.01)
            signalled = time.monotonic()
            live.process.send_signal(signal.SIGTERM)

            assert refuses_connections(port, within=DB_DELAY_S)
            assert not any(future.done() for future in futures), "refused only after the fact"
            calls = [future.result() for future in futures]
        code = live.process.wait(timeout=GRACE_S + 5)
        stopped = time.monotonic() - signalled
    finally:
        live.stop()

    assert [call.status for call in calls] == [201, 200, 200, 204, 200, 201]
    assert code == 0
    assert stopped < GRACE_S
    # PyMongo sends endSessions only when the client is closed.
    assert wire.received["endsessions"] == 1
    assert "MongoDB client closed" in live.output()
    assert "Traceback" not in live.output()
    stored = {document["email"]: document for document in wire.documents(DB)}
    live_users = {email for email, document in stored.items() if "deleted_at" not in document}
    assert live_users == {f"{name}@example.com" for name in ("seed0", "seed1", "late", "later")}
    assert "deleted_at" in stored["seed2@example.com"]  # the 204: in the trash
    assert stored["seed1@example.com"]["role"] == "SRE"


def test_sigterm_answers_503_to_a_request_outlasting_the_grace_period_and_exits_0(
    tmp_path: Path, wire: WireServer
) -> None:
    grace, timeout_s = 1, 3
    live = start_on(
        wire, tmp_path, GRACEFUL_TIMEOUT=str(grace), MONGODB_TIMEOUT_MS=str(timeout_s * 1000)
    )
    with httpx.Client(base_url=live.url, timeout=10) as http:
        assert http.get("/health/ready").status_code == 200
    wire.delay = 10.0
    try:
        with in_flight(live, [("get", USERS)]) as futures:
            deadline = time.monotonic() + 5
            while wire.received["find"] == 0:
                assert time.monotonic() < deadline, "the request did not reach the database"
                time.sleep(0.01)
            signalled = time.monotonic()
            live.process.send_signal(signal.SIGTERM)
            (cut,) = [future.result() for future in futures]
            code = live.process.wait(timeout=timeout_s + 10)
            stopped = time.monotonic() - signalled
    finally:
        live.stop()

    assert cut.status == 503
    assert cut.body["code"] == problems.SHUTTING_DOWN.code
    assert cut.body["detail"] == problems.SHUTTING_DOWN.detail  # as documented
    assert cut.headers["retry-after"] == "5"
    # Cut at the end of the grace period: before the operation's timeout could have ended it.
    assert cut.ended - signalled < timeout_s
    assert code == 0
    # Motor runs each operation in a thread that cancelling cannot stop, and the process exits
    # once those threads are done: the operation's timeout (3 s, plus closing the client) bounds
    # that, not the 10 s the database takes to answer.
    assert stopped < wire.delay
    # Python 3.11's asyncio logs a traceback for each connection task Hypercorn cancels at the
    # end of the grace period (CPython gh-113538, fixed in 3.12.2); none may come from the app.
    assert 'File "' + str(ROOT / "api") not in live.output()
