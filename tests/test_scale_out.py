"""N instances, one service: two `python -m api` processes on one MongoDB.

The MongoDB is the wire-protocol test server run on its own, as anyone can
(`python -m tests.mongo_wire --port N`): three processes, as behind a load balancer. Whatever
one instance did, the other must honour: idempotent retries, If-Match races, cursors and the
rate limit of a client.
"""

import itertools
import signal
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import USERS, course_user
from tests.live_server import ROOT, Server, free_port, start_server

pytestmark = pytest.mark.live

DB = "scale_out"


@pytest.fixture
def mongodb(tmp_path: Path) -> Iterator[str]:
    """`python -m tests.mongo_wire` on a free port; its MONGODB_URI."""
    port = free_port()
    log = (tmp_path / "mongo_wire.log").open("w+")
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.mongo_wire", "--port", str(port)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=log,
        text=True,
    )
    try:
        announced = process.stdout.readline() if process.stdout else ""
        log.seek(0)
        assert announced.strip().endswith(f"mongodb://127.0.0.1:{port}"), log.read()
        yield f"mongodb://127.0.0.1:{port}"
    finally:
        process.send_signal(signal.SIGTERM)
        code = process.wait(timeout=10)
        if process.stdout:
            process.stdout.close()
        log.close()
        assert code == 0


def start_two(tmp_path: Path, uri: str, **settings: str) -> list[Server]:
    return [start_server(tmp_path, MONGODB_URI=uri, MONGODB_DB=DB, **settings) for _ in "ab"]


@pytest.fixture
def instances(tmp_path: Path, mongodb: str) -> Iterator[list[httpx.Client]]:
    """A client of each of two instances on the same database."""
    servers = start_two(tmp_path, mongodb)
    clients = [httpx.Client(base_url=server.url, timeout=15) for server in servers]
    yield clients
    for client in clients:
        client.close()
    for server in servers:
        server.stop()


def test_an_idempotent_retry_on_the_other_instance_replays_the_first_answer(
    instances: list[httpx.Client],
) -> None:
    first, other = instances
    headers = {"Idempotency-Key": "retry-7f3a9c"}

    created = first.post(USERS, json=course_user(), headers=headers)
    retried = other.post(USERS, json=course_user(), headers=headers)

    assert created.status_code == retried.status_code == 201
    assert retried.json() == created.json()
    assert retried.headers["location"] == created.headers["location"]
    assert retried.headers["idempotent-replayed"] == "true"
    assert len(first.get(USERS).json()["items"]) == 1


def test_if_match_races_spread_over_both_instances_have_one_winner(
    instances: list[httpx.Client],
) -> None:
    created = instances[0].post(USERS, json=course_user())
    location, etag = created.headers["location"], created.headers["etag"]

    def patch(number: int) -> int:
        client = instances[number % 2]
        change = {"role": f"Role {number}"}
        return client.patch(location, json=change, headers={"If-Match": etag}).status_code

    with ThreadPoolExecutor(max_workers=8) as pool:
        statuses = sorted(pool.map(patch, range(16)))

    assert statuses == [200] + [412] * 15
    winner = instances[1].get(location)
    assert winner.headers["etag"] != etag
    assert winner.json()["role"].startswith("Role ")


def test_a_cursor_from_one_instance_pages_on_the_other(instances: list[httpx.Client]) -> None:
    for number in range(7):
        instances[number % 2].post(USERS, json=course_user(email=f"u{number}@example.com"))
    seen: list[str] = []
    cursor = None
    for client in itertools.islice(itertools.cycle(instances), 10):
        params: dict[str, Any] = {
            "page_size": 2,
            **({"cursor": cursor} if cursor else {"sort": "name"}),
        }
        page = client.get(USERS, params=params)
        assert page.status_code == 200, page.text
        seen += [user["email"] for user in page.json()["items"]]
        cursor = page.json().get("next_cursor")
        if cursor is None:
            break

    assert sorted(seen) == sorted(f"u{number}@example.com" for number in range(7))
    assert len(seen) == 7


def test_one_clients_limit_holds_across_both_instances(tmp_path: Path, mongodb: str) -> None:
    # An hour's window: a test straddling a window's end would see the next window's weighing.
    servers = start_two(tmp_path, mongodb, RATE_LIMIT="6/hour", RATE_LIMIT_ENABLED="true")
    try:
        clients = [httpx.Client(base_url=server.url, timeout=15) for server in servers]
        # Concurrently, alternating instances: the counts are shared, so 6 get through in all.
        with ThreadPoolExecutor(max_workers=6) as pool:
            statuses = list(pool.map(lambda n: clients[n % 2].get(USERS).status_code, range(12)))
        after = [client.get(USERS) for client in clients]
        for client in clients:
            client.close()
    finally:
        for server in servers:
            server.stop()

    assert sorted(statuses) == [200] * 6 + [429] * 6
    for refused in after:
        assert refused.status_code == 429
        assert refused.headers["ratelimit-remaining"] == "0"
        assert 1 <= int(refused.headers["retry-after"]) <= 3600
