"""The crash windows of history (api/history.py), through `python -m api` (Hypercorn) on real
Motor, with the wire-protocol server stopped in the middle of a write.

A write is two steps: the user (one find-and-modify, or the insert of a create), then its
version (one insert). The server is stopped once, without answering, before or after the
command of one step is applied; the client gets a 503. Then the server comes back, and what
the API serves and what the next write stores are checked against the README's guarantees.
"""

import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from tests.conftest import USERS, assert_problem, course_user
from tests.live_server import Server
from tests.mongo_wire import WireServer
from tests.test_live_wire import DB, start_on, wait_until_ready

pytestmark = pytest.mark.live

VERSIONS = "user_versions"


def on(command: str, collection: str, moment: str) -> Callable[[str, dict[str, Any]], str | None]:
    """Stop the server `moment` ("before" or "after") it applies this command to this
    collection."""

    def interrupt(name: str, document: dict[str, Any]) -> str | None:
        target = document.get(command) or document.get(command.lower())
        return moment if name == command.lower() and target == collection else None

    return interrupt


@pytest.fixture
def live(tmp_path: Path, wire: WireServer) -> Iterator[Server]:
    server = start_on(wire, tmp_path, MONGODB_TIMEOUT_MS="1000")
    yield server
    server.stop()


def recorded(wire: WireServer, user_id: str) -> list[tuple[int, str | None]]:
    """The versions stored for the user: (version, operation), oldest first."""
    records = [r for r in wire.documents(DB, VERSIONS) if str(r["user_id"]) == user_id]
    return sorted((record["version"], record["operation"]) for record in records)


def stored_user(wire: WireServer, user_id: str) -> dict[str, Any]:
    return next(d for d in wire.documents(DB) if str(d["_id"]) == user_id)


def back(wire: WireServer, http: httpx.Client) -> None:
    """Wait for the interrupted server to be stopped, start it again, wait for readiness."""
    deadline = time.monotonic() + 10
    while wire.running and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not wire.running
    wire.start()
    wait_until_ready(http, within=30)


def served(http: httpx.Client, user_id: str) -> list[int]:
    response = http.get(f"{USERS}/{user_id}/versions")
    assert response.status_code == 200, response.text
    return [item["version"] for item in response.json()["items"]]


@pytest.mark.parametrize(
    "interrupt",
    [
        pytest.param(on("findAndModify", "users", "after"), id="user-stored-answer-lost"),
        pytest.param(on("insert", VERSIONS, "before"), id="user-stored-version-not"),
    ],
)
def test_an_update_that_stored_the_user_but_not_its_version_is_repaired_by_the_next_write(
    live: Server, wire: WireServer, interrupt: Callable[[str, dict[str, Any]], str | None]
) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        user = http.post(USERS, json=course_user()).json()
        path = f"{USERS}/{user['id']}"

        wire.interrupt = interrupt
        assert_problem(http.patch(path, json={"role": "SRE"}), 503, "database_unavailable")

        # The database holds the user at version 2, and no version 2.
        assert stored_user(wire, user["id"])["version"] == 2
        assert recorded(wire, user["id"]) == [(1, "create")]
        back(wire, http)
        # What is served has no gap: the current version is read from the user itself.
        assert served(http, user["id"]) == [2, 1]
        current = http.get(f"{path}/versions/2").json()
        assert current["operation"] == "update"
        assert current["user"]["role"] == "SRE"

        assert http.patch(path, json={"active": False}).status_code == 200

        assert recorded(wire, user["id"]) == [(1, "create"), (2, "update"), (3, "update")]
        assert http.get(f"{path}/versions/2").json() == current
    assert "Traceback" not in live.output()


def test_a_create_whose_version_was_not_stored_is_served_and_repaired(
    live: Server, wire: WireServer
) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        wire.interrupt = on("insert", VERSIONS, "before")
        assert_problem(http.post(USERS, json=course_user()), 503, "database_unavailable")
        back(wire, http)
        (user,) = http.get(USERS).json()["items"]  # the create was stored
        assert recorded(wire, user["id"]) == []
        assert served(http, user["id"]) == [1]

        assert http.put(f"{USERS}/{user['id']}/skills/Go").status_code == 200

        assert recorded(wire, user["id"]) == [(1, "create"), (2, "add_skill")]


def test_a_version_stored_whose_answer_was_lost_is_kept_once(
    live: Server, wire: WireServer
) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        user = http.post(USERS, json=course_user()).json()
        path = f"{USERS}/{user['id']}"
        wire.interrupt = on("insert", VERSIONS, "after")
        # Both steps were applied, but the answer never came: the client sees a 503.
        assert_problem(http.patch(path, json={"role": "SRE"}), 503, "database_unavailable")
        back(wire, http)
        assert recorded(wire, user["id"]) == [(1, "create"), (2, "update")]

        assert http.patch(path, json={"role": "Lead"}).status_code == 200

        assert recorded(wire, user["id"]) == [(1, "create"), (2, "update"), (3, "update")]
        assert served(http, user["id"]) == [3, 2, 1]


def test_a_write_stopped_before_the_user_was_stored_records_nothing(
    live: Server, wire: WireServer
) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        user = http.post(USERS, json=course_user()).json()
        path = f"{USERS}/{user['id']}"
        wire.interrupt = on("findAndModify", "users", "before")
        assert_problem(http.delete(path), 503, "database_unavailable")
        back(wire, http)

        assert "deleted_at" not in stored_user(wire, user["id"])
        assert recorded(wire, user["id"]) == [(1, "create")]
        assert http.delete(path).status_code == 204
        assert recorded(wire, user["id"]) == [(1, "create"), (2, "delete")]
        restored = http.post(f"{path}/restore")
        assert restored.status_code == 200
        assert recorded(wire, user["id"]) == [(1, "create"), (2, "delete"), (3, "restore")]
        # Back from the trash, no version expires any more.
        records = [r for r in wire.documents(DB, VERSIONS) if str(r["user_id"]) == user["id"]]
        assert all("expire_at" not in record for record in records)


def test_a_deleted_users_versions_expire_with_it(live: Server, wire: WireServer) -> None:
    with httpx.Client(base_url=live.url, timeout=10) as http:
        user = http.post(USERS, json=course_user()).json()
        http.patch(f"{USERS}/{user['id']}", json={"role": "SRE"})
        assert http.delete(f"{USERS}/{user['id']}").status_code == 204

    deleted_at = stored_user(wire, user["id"])["deleted_at"]
    records = [r for r in wire.documents(DB, VERSIONS) if str(r["user_id"]) == user["id"]]
    assert len(records) == 3
    expiries = {record["expire_at"] for record in records}
    assert len(expiries) == 1
    assert (expiries.pop() - deleted_at).total_seconds() == 2_592_000  # TRASH_TTL_SECONDS
